"""TensorBoard event files beside the CSV logs: read back with TensorBoard's own event reader, they hold every step and
epoch of metrics.csv / epochs.csv exactly once with the same values, also after a stop or a kill and a resume; without
the tensorboard package, training goes on and one line says how to get it."""

from __future__ import annotations

import io
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_class_folder
from tests.engine.test_fit import StopAfter, tiny_config
from workbench.cli import main
from workbench.config import MethodConfig
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.engine.runs import read_csv
from workbench.engine.tensorboard import TENSORBOARD_MISSING, CurveLog
from workbench.errors import WorkbenchWarning

pytestmark = pytest.mark.usefixtures("one_torch_thread")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
AXES = ("step", "epoch", "time_s")
BASE = {"loss": "train/loss", "lr": "train/lr", "images_per_s": "train/images_per_s"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_class_folder(tmp_path_factory.mktemp("tb") / "images", per_class=8, size=32)  # 2 steps an epoch


def read_events(run: Path) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})  # 0: keep all
    acc.Reload()
    return acc


def expected_curves(run: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} as the CSV logs hold them, with the documented tag names."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for row in read_csv(run / "metrics.csv"):
        for key, value in row.items():
            if key not in AXES and value != "":
                curves.setdefault(BASE.get(key, f"method/{key}"), []).append((int(row["step"]), float(value)))
    for row in read_csv(run / "epochs.csv"):
        for key, value in row.items():
            if key not in AXES and value != "":
                curves.setdefault(f"epoch/{key}", []).append((int(row["step"]), float(value)))
    return curves


def assert_events_match_the_csvs(run: Path) -> dict[str, list[tuple[int, float]]]:
    acc, expected = read_events(run), expected_curves(run)
    assert sorted(acc.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        events = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in events] == [s for s, _ in points], tag  # each step once, in order
        np.testing.assert_allclose([v for _, v in events], [v for _, v in points], rtol=2e-5, err_msg=tag)
    return expected


def test_a_run_writes_every_step_and_epoch_value_once(folder, tmp_path):
    fit(tiny_config(folder, max_steps=4), tmp_path / "run")
    expected = assert_events_match_the_csvs(tmp_path / "run")
    method_values = [c for c in read_csv(tmp_path / "run" / "metrics.csv")[0] if c not in (*AXES, *BASE)]
    assert method_values and {f"method/{c}" for c in method_values} <= set(expected)  # SimCLR's mi_bound, ...
    assert {"train/loss", "train/lr", "train/images_per_s", "epoch/loss", "epoch/knn_top1_train_split"} <= set(expected)
    assert [s for s, _ in expected["train/loss"]] == [1, 2, 3, 4]
    assert [s for s, _ in expected["epoch/loss"]] == [2, 4]  # at each epoch's last step (health: when measured)


def test_a_stopped_and_resumed_run_continues_the_same_curves(folder, tmp_path):
    run = tmp_path / "run"
    assert fit(tiny_config(folder, max_steps=6), run, reporter=StopAfter(3)).step == 3
    assert fit(tiny_config(folder, max_steps=6), run, resume=True).step == 6
    expected = assert_events_match_the_csvs(run)
    assert [s for s, _ in expected["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert len(list(run.glob("events.out.tfevents.*"))) == 2  # one file per process, one run in TensorBoard


def test_what_a_killed_run_logged_past_its_checkpoint_is_replaced(folder, tmp_path):
    """As if killed after step 5, mid-write, with its last checkpoint at step 2 (an epoch end): the resume trims the
    CSVs to step 2, and TensorBoard shows steps 3-5 of the resumed process only (images/s tells them apart)."""
    run = tmp_path / "run"
    fit(tiny_config(folder, max_steps=5, checkpoint_every_epochs=1), run)
    stale = {s: v for s, v in expected_curves(run)["train/images_per_s"]}
    shutil.copy(run / "checkpoints" / "epoch-0001.pt", run / "checkpoints" / "last.pt")
    (events,) = run.glob("events.out.tfevents.*")
    with open(events, "ab") as f:
        f.write(b"\x2a\x00\x00\x00\x00\x00\x00\x00\x01\x02")  # a record cut short by the kill
    fit(tiny_config(folder, max_steps=6, checkpoint_every_epochs=1), run, resume=True)
    expected = assert_events_match_the_csvs(run)
    assert [s for s, _ in expected["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _ in expected["epoch/loss"]] == [2, 4, 6]  # epoch 1's row (step 2) replayed, not lost
    speeds = dict(expected["train/images_per_s"])
    assert speeds[1] == pytest.approx(stale[1], rel=2e-5) and speeds[2] == pytest.approx(stale[2], rel=2e-5)
    assert any(speeds[s] != pytest.approx(stale[s], rel=2e-5) for s in (3, 4, 5))  # the resumed process's values


def test_a_generative_run_logs_its_previews_once_per_step(folder, tmp_path):
    config = tiny_config(folder, max_steps=3)
    config.method = MethodConfig(name="autoencoder")
    config.model.encoder = "auto"
    fit(config, tmp_path / "run")
    acc = read_events(tmp_path / "run")
    images = acc.Images("preview")
    steps = [e.step for e in images]
    assert steps == sorted(set(steps)) and set(steps) <= {1, 2, 3} and steps[-1] == 3  # the last: the final weights
    last = Image.open(io.BytesIO(images[-1].encoded_image_string))
    assert last.size == Image.open(tmp_path / "run" / "preview.png").size


def test_without_tensorboard_training_goes_on_and_one_line_says_how_to_get_it(folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` now raises ImportError
    reporter = Messages()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(tiny_config(folder, max_steps=3), tmp_path / "run", reporter=reporter)
    assert result.status == "finished" and len(read_csv(tmp_path / "run" / "metrics.csv")) == 3
    assert [m for m in reporter.seen if "TensorBoard" in m] == [TENSORBOARD_MISSING]  # among the run's messages
    assert "pip install tensorboard" in TENSORBOARD_MISSING
    assert not [w for w in caught if issubclass(w.category, WorkbenchWarning)]
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_the_command_line_shows_the_missing_tensorboard_as_one_line(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    tiny = ["--encoder", "small-cnn", "--batch-size", "8", "--workers", "0", "--device", "cpu"]
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--max-steps", "2", *tiny]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "tensorboard" in line.lower()]
    assert lines == [TENSORBOARD_MISSING], err
    assert "Traceback" not in err and "UserWarning" not in err


class Messages(NullReporter):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def message(self, text: str) -> None:
        self.seen.append(text)


class FailingWriter:
    def __init__(self):
        self.calls = 0

    def _get_file_writer(self):
        self.calls += 1
        raise OSError(28, "No space left on device")


def test_a_failing_writer_warns_once_and_then_stays_quiet():
    from tensorboard.compat.proto.summary_pb2 import Summary

    writer = FailingWriter()
    log = CurveLog(writer, Summary)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, 4):
            log.scalars(step, {"train/loss": 1.0})
        log.flush()
        log.close()
    assert writer.calls == 1
    assert [str(w.message) for w in caught] == [
        "TensorBoard curves stopped: [Errno 28] No space left on device (training goes on)."
    ]
