"""The Train workspace's runs list, refreshed at every epoch: it shows what `list_runs` reads from the folders (new
runs, status changes, new rows, deleted runs), and the selected runs' overlaid loss curves what `read_loss_curve`
reads, while reading again only the folders and logs that changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import workbench.gui.run_listing as run_listing
from workbench.config import ExperimentConfig
from workbench.engine.run_summary import list_runs, read_loss_curve
from workbench.engine.runs import SCAN_REPORT_FILE, RunDir
from workbench.gui.run_listing import Overlays, RunListing


def make_run(runs_dir: Path, name: str, images: int) -> RunDir:
    config = ExperimentConfig()
    config.model.encoder = "small-cnn"
    run = RunDir.create(runs_dir / name, config)
    run.save_json(SCAN_REPORT_FILE, {"root": "/images", "paths": [f"{i:05d}.png" for i in range(images)]})
    run.set_status("running", step=0)
    return run


def step_row(step: int) -> dict[str, float]:
    return {"step": step, "epoch": 1, "loss": 2.0 / step, "lr": 0.1, "images_per_s": 50.0, "time_s": float(step)}


def test_the_listing_follows_every_change_and_rereads_only_changed_runs(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    old = make_run(runs_dir, "20260101-100000-simclr-small-cnn", images=300)
    old.set_status("finished", step=40, message="finished 40 steps")
    live = make_run(runs_dir, "20260102-100000-simclr-small-cnn", images=500)
    (runs_dir / "notes").mkdir()  # not a run folder: never listed
    reads: list[str] = []
    real = run_listing.read_summary

    def counting(path):
        reads.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(run_listing, "read_summary", counting)
    listing = RunListing()
    assert listing.list(runs_dir) == list_runs(runs_dir)  # the same rows, newest first
    assert [r.images for r in listing.list(runs_dir)] == [500, 300]

    reads.clear()
    for step in (1, 2):
        live.append_metrics(step_row(step))
    runs = listing.list(runs_dir)
    assert runs == list_runs(runs_dir) and runs[0].step == 2 and runs[0].loss == 1.0  # the live run's new rows
    assert reads == [live.path.name]  # neither the finished run nor the folder that is no run is read again

    live.set_status("finished", step=2, message="finished 2 steps")  # run.json replaced: same size possible
    new = make_run(runs_dir, "20260103-100000-byol-small-cnn", images=20)
    shutil.rmtree(old.path)
    runs = listing.list(runs_dir)
    assert runs == list_runs(runs_dir)
    assert [(r.name, r.status) for r in runs] == [(new.path.name, "running"), (live.path.name, "finished")]
    live.close()
    new.close()
    old.close()


class Drawn:
    """Stands in for LiveCurves: what was last overlaid, and how often."""

    def __init__(self) -> None:
        self.overlays: dict[str, np.ndarray] = {}
        self.draws = 0

    def set_overlays(self, curves: dict[str, np.ndarray]) -> None:
        self.overlays, self.draws = dict(curves), self.draws + 1


def test_overlaid_curves_show_each_selected_runs_log_and_redraw_only_on_change(tmp_path):
    runs_dir = tmp_path / "runs"
    a = make_run(runs_dir, "20260101-100000-simclr-small-cnn", images=10)
    b = make_run(runs_dir, "20260102-100000-simclr-small-cnn", images=10)
    for step in (1, 2, 3):
        a.append_metrics(step_row(step))
        b.append_metrics(step_row(step))
    drawn = Drawn()
    overlays = Overlays(drawn)
    overlays.show([a.path, b.path])
    assert set(drawn.overlays) == {a.path.name, b.path.name}
    assert np.array_equal(drawn.overlays[a.path.name], read_loss_curve(a.path))
    overlays.show([a.path, b.path])  # the list refreshed at an epoch, the same selection restored
    assert drawn.draws == 1
    b.append_metrics(step_row(4))  # a run another process writes goes on
    overlays.show([a.path, b.path])
    assert drawn.draws == 2 and np.array_equal(drawn.overlays[b.path.name], read_loss_curve(b.path))
    assert list(drawn.overlays[b.path.name][:, 0]) == [1, 2, 3, 4]
    overlays.show([a.path])
    assert list(drawn.overlays) == [a.path.name]
    overlays.show([])
    assert drawn.overlays == {} and drawn.draws == 4
    a.close()
    b.close()
