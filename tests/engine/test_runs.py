"""Reading run folders: summaries, the runs list, the per-step curves and following a log another process writes.

The fixtures are written by hand (not through RunDir), because what is tested is the parsing of files as a
training process (possibly on another machine, possibly killed mid-write) leaves them.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.engine import run_summary
from workbench.engine.run_summary import MetricsFollower, RunSummary, list_runs, read_loss_curve, read_summary
from workbench.engine.runs import STEP_FIELDS, RunDir

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"method": {"name": "simclr", "temperature": 0.1}, "model": {"encoder": "small-cnn"}, "train": {}}
HEADER = "step,epoch,loss,lr,images_per_s,time_s\n"
RUN_FILE_NAMES = {
    "config.json",
    "run.json",
    "metrics.csv",
    "epochs.csv",
    "scan_report.json",
    "preview.png",
    "checkpoints",
    "last.pt",
}


def make_run(folder: Path, *, status: str | bytes | None = None, metrics: str | None = None, **files: str) -> Path:
    """A run folder with a hand-written config.json and whatever else is given (run.json as text or raw bytes)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    if isinstance(status, bytes):
        (folder / "run.json").write_bytes(status)
    elif status is not None:
        (folder / "run.json").write_text(status, encoding="utf-8")
    if metrics is not None:
        (folder / "metrics.csv").write_text(metrics, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def metrics_rows(first: int, last: int) -> str:
    return "".join(f"{i},1,{1 / i:.6g},0.001,100,{i / 10:g}\n" for i in range(first, last + 1))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# ---- summaries -------------------------------------------------------------------------------------------


def test_summary_of_a_finished_run(tmp_path):
    run = make_run(
        tmp_path / "20260102-030405-simclr-small-cnn",
        status=json.dumps({"status": "finished", "step": 40, "message": "done", "loss": 1.25}),
        metrics=HEADER + metrics_rows(1, 40),
        **{
            "epochs.csv": "epoch,step,time_s,loss,knn_top1\n1,20,2.0,3.0,0.25\n2,40,4.0,2.0,0.5\n",
            "scan_report.json": json.dumps({"root": "/data", "paths": ["a.png", "b.png", "c.png"], "labels": []}),
        },
    )
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"weights")
    stamp = time.mktime((2026, 1, 2, 3, 4, 0, 0, 0, -1))
    os.utime(run / "config.json", (stamp, stamp))
    before = snapshot(run)

    info = read_summary(run)

    assert info == RunSummary(
        path=run,
        name="20260102-030405-simclr-small-cnn",
        date="2026-01-02 03:04",
        status="finished",
        method="simclr",
        encoder="small-cnn",
        images=3,
        step=40,
        loss=1.25,  # run.json's loss wins over the last row's
        knn=0.5,
        config=CONFIG,
        images_per_s=100.0,  # the median of the last rows' speeds
    )
    assert info.explorable and not info.resumable  # a finished run has weights but nothing left to resume
    assert snapshot(run) == before  # readers never write


def test_a_stopped_run_with_a_checkpoints_folder_is_resumable(tmp_path):
    run = make_run(tmp_path / "r", status=json.dumps({"status": "stopped", "step": 7}))
    (run / "checkpoints").mkdir()
    info = read_summary(run)
    assert info.resumable and not info.explorable  # no last.pt yet: nothing to embed with
    assert (info.images, info.loss, info.knn, info.step) == (None, None, None, 7)


def test_a_half_written_last_metrics_line_is_ignored(tmp_path):
    # The writer was stopped in the middle of row 6: its cells are all there but the last is cut ("0.6" of "0.65").
    run = make_run(
        tmp_path / "r", status=json.dumps({"status": "running", "step": 3}), metrics=HEADER + metrics_rows(1, 5)
    )
    with open(run / "metrics.csv", "a", encoding="utf-8") as f:
        f.write("6,1,9.5,0.001,100,0.6")
    info = read_summary(run)
    assert (info.status, info.step, info.loss) == ("running", 5, pytest.approx(0.2))  # row 5, not the cut row 6
    assert read_loss_curve(run)[:, 0].tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("status", ["", "{", '{"status": "runn', "[1, 2]", "null", b"\xff\xfe{"])
def test_an_empty_or_damaged_run_json_reads_as_unknown(tmp_path, status):
    run = make_run(tmp_path / "r", status=status, metrics=HEADER + metrics_rows(1, 12))
    info = read_summary(run)
    assert (info.status, info.step, info.loss) == ("unknown", 12, pytest.approx(1 / 12, rel=1e-5))
    assert RunDir(run).status()["status"] == "unknown"


def test_odd_values_in_run_json_do_not_raise(tmp_path):
    run = make_run(tmp_path / "r", status=json.dumps({"status": "running", "step": "many", "loss": True}))
    info = read_summary(run)
    assert (info.step, info.loss) == (0, None)


@pytest.mark.parametrize(
    "record, best",
    [
        ({"best_step": 120, "best_holdout_acc": 0.875}, (0.875, 120, "87.5% at step 120")),
        ({"best_step": 0, "best_holdout_acc": 1}, (1.0, 0, "100.0% at step 0")),  # the start itself was the best
        ({}, (None, None, "")),  # an SSL run, or a fine-tune without held-out labels
        ({"best_step": 3}, (None, None, "")),
        ({"best_step": True, "best_holdout_acc": 0.5}, (None, None, "")),
        ({"best_step": "3", "best_holdout_acc": 0.5}, (None, None, "")),
        ({"best_step": 3, "best_holdout_acc": 1.5}, (None, None, "")),
        ({"best_step": -1, "best_holdout_acc": 0.5}, (None, None, "")),
    ],
)
def test_a_fine_tunes_best_checkpoint_from_run_json(tmp_path, record, best):
    from workbench.engine.run_table import RUN_COLUMNS, run_cells

    run = make_run(tmp_path / "r", status=json.dumps({"status": "finished", "step": 200, **record}))
    info = read_summary(run)
    assert (info.best_holdout, info.best_step) == best[:2]
    assert run_cells(info)[[c.title for c in RUN_COLUMNS].index("Best held-out")] == best[2]


@pytest.mark.parametrize("metrics", ["", "step,epo", HEADER, HEADER + "1,1,0.5"])
def test_empty_and_half_written_metrics_files(tmp_path, metrics):
    run = make_run(tmp_path / "r", status=json.dumps({"status": "created", "step": 0}), metrics=metrics)
    info = read_summary(run)
    assert (info.step, info.loss) == (0, None)
    assert read_loss_curve(run).shape == (0, len(STEP_FIELDS))


def test_folders_that_are_not_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    make_run(tmp_path / "damaged").joinpath("config.json").write_text("{", encoding="utf-8")  # half-written
    make_run(tmp_path / "list").joinpath("config.json").write_text("[]", encoding="utf-8")
    (tmp_path / "a-file.txt").write_text("not a folder", encoding="utf-8")
    make_run(tmp_path / "20260101-000000-real")
    for name in ("empty", "damaged", "list", "missing"):
        assert read_summary(tmp_path / name) is None
    assert [r.name for r in list_runs(tmp_path)] == ["20260101-000000-real"]
    assert list_runs(tmp_path / "missing") == []


def test_list_runs_is_newest_first(tmp_path):
    for name in ("20260101-120000-simclr-small-cnn", "20260301-080000-byol-small-cnn", "20260201-235959-mae-vit"):
        make_run(tmp_path / name)
    assert [r.name for r in list_runs(tmp_path)] == [
        "20260301-080000-byol-small-cnn",
        "20260201-235959-mae-vit",
        "20260101-120000-simclr-small-cnn",
    ]


def test_the_summary_reads_only_the_tail_of_a_long_log(tmp_path, monkeypatch):
    run = make_run(
        tmp_path / "r", status=json.dumps({"status": "running", "step": 0}), metrics=HEADER + metrics_rows(1, 100_000)
    )
    size = (run / "metrics.csv").stat().st_size
    read: dict[str, int] = {}

    class Counting:
        def __init__(self, f, name):
            self.f, self.name = f, name

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, attr):
            return getattr(self.f, attr)

        def read(self, *args):
            return self._count(self.f.read(*args))

        def readline(self, *args):
            return self._count(self.f.readline(*args))

        def _count(self, data):
            read[self.name] = read.get(self.name, 0) + len(data)
            return data

    def counting_open(path, *args, **kwargs):
        return Counting(open(path, *args, **kwargs), Path(path).name)

    monkeypatch.setattr(run_summary, "open", counting_open, raising=False)
    info = read_summary(run)
    assert (info.step, info.loss) == (100_000, pytest.approx(1e-5))
    assert size > 2_000_000 and 0 < read["metrics.csv"] <= len(HEADER) + run_summary.TAIL_BYTES


def test_the_summary_uses_the_log_header_not_a_fixed_column_order(tmp_path):
    # A method's extra columns follow the base ones; epochs.csv may add knn_top1 after the first epoch.
    run = make_run(
        tmp_path / "r",
        metrics="step,epoch,loss,lr,images_per_s,time_s,alignment\n1,1,4.0,0.1,10,1,0.5\n2,1,3.0,0.1,10,2,0.4\n",
        **{"epochs.csv": "epoch,step,time_s,loss,knn_top1\n1,2,2.0,3.0,\n2,4,4.0,2.0,0.75\n3,6,6.0,1.0,\n"},
    )
    info = read_summary(run)
    assert (info.step, info.loss, info.knn) == (2, 3.0, 0.75)  # the last knn_top1 that has a value


# ---- curves and following a live log ---------------------------------------------------------------------


def test_read_loss_curve_returns_step_loss_lr_images_per_s(tmp_path):
    run = make_run(
        tmp_path / "r",
        metrics="step,epoch,loss,lr,images_per_s,time_s,std\n1,1,4.0,0.1,10,1,0.5\n2,1,3.0,0.2,20,2,0.4\n3,1,2",
    )
    curve = read_loss_curve(run)
    assert curve.dtype == np.float64
    assert curve.tolist() == [[1, 4.0, 0.1, 10], [2, 3.0, 0.2, 20]]
    assert read_loss_curve(tmp_path / "missing").shape == (0, 4)


def test_the_follower_returns_only_complete_new_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    follower = MetricsFollower(path)
    assert follower.read() == []  # not written yet
    path.write_text("step,epoch,lo", encoding="utf-8")
    assert follower.read() == []  # half a header
    with open(path, "a", encoding="utf-8") as f:
        f.write("ss,lr,images_per_s,time_s\n1,1,4.0,0.1,10,1\n2,1,3.0,0.1,10,2\n3,1,2.")
    assert [r["step"] for r in follower.read()] == ["1", "2"]
    assert follower.columns == ["step", "epoch", "loss", "lr", "images_per_s", "time_s"]
    assert follower.read() == []  # nothing new: row 3 is still being written
    with open(path, "a", encoding="utf-8") as f:
        f.write("5,0.1,10,3\n4,1,1.5,0.1,10,4\n")
    rows = follower.read()
    assert [(r["step"], r["loss"]) for r in rows] == [("3", "2.5"), ("4", "1.5")] and not follower.restarted
    assert follower.offset == path.stat().st_size


def test_the_follower_starts_over_when_the_log_is_replaced(tmp_path):
    # A resumed run trims its log back to the last checkpoint by writing a new file and renaming it over the old one.
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + metrics_rows(1, 6), encoding="utf-8")
    follower = MetricsFollower(RunDir(tmp_path).metrics_path)
    assert len(follower.read()) == 6
    replacement = tmp_path / "metrics.csv.tmp"
    replacement.write_text(HEADER + metrics_rows(1, 4), encoding="utf-8")
    os.replace(replacement, path)
    rows = follower.read()
    assert follower.restarted and [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert follower.read() == [] and not follower.restarted


# ---- boundaries --------------------------------------------------------------------------------------------


def test_reading_runs_does_not_import_torch():
    code = "import sys, workbench.engine.run_summary as r; r.list_runs('.'); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def _string_literals(tree: ast.AST) -> list[ast.Constant]:
    """String constants in code, docstrings and other bare string statements left out."""
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare
    ]


def test_only_run_files_py_knows_the_run_folder_file_names():
    """`run / "config.json"`, `"checkpoints/last.pt"` or f"{run}/metrics.csv" outside engine/run_files.py would let a
    second, diverging idea of the run layout grow; RunDir's paths and the readers here are the one way in."""
    offenders = []
    for folder in ("workbench", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "workbench" / "engine" / "run_files.py":
                continue
            for node in _string_literals(ast.parse(path.read_text(encoding="utf-8"))):
                parts = [p for p in node.value.strip().split("/") if p]
                if parts and all(p in RUN_FILE_NAMES for p in parts):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders
