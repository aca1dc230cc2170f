"""The training loop: a real tiny run, its files, stop/resume, time budget, NaN handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.config import ExperimentConfig, MethodConfig
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.engine.runs import RunDir, read_csv
from workbench.errors import ConfigError, RunError, TrainingError
from workbench.methods import resolve_config


def tiny_config(data: Path, **train) -> ExperimentConfig:
    config = ExperimentConfig()
    config.data.path = str(data)
    config.model.encoder = "small-cnn"
    config.method.proj_hidden_dim = 64
    config.method.proj_output_dim = 32
    config.optim.warmup_fraction = 0.1
    config.train.batch_size = 8
    config.train.workers = 0
    config.train.device = "cpu"
    # fp32, not "auto": tests compare runs bit for bit, and on a CPU with native bf16 auto's timing check can choose
    # differently for two fresh runs of a tiny model (its gain is near the threshold); tests/engine/test_precision.py
    config.train.precision = "fp32"
    config.train.monitor_every_epochs = 1
    for key, value in train.items():
        setattr(config.train, key, value)
    return config


class StopAfter(NullReporter):
    def __init__(self, steps: int):
        self.steps, self.seen = steps, 0

    def step(self, report) -> None:
        self.seen = report.step

    def should_stop(self) -> bool:
        return self.seen >= self.steps


def test_tiny_run_learns_and_writes_its_files(image_folder, tmp_path):
    config = tiny_config(image_folder, max_steps=40, epochs=100)
    config.optim.lr = 3e-3
    result = fit(config, tmp_path / "run")
    assert result.status == "finished" and result.step == 40
    run = RunDir.open(tmp_path / "run")
    rows = read_csv(run.path / "metrics.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 41))
    assert {"step", "epoch", "loss", "lr", "images_per_s", "time_s", "mi_bound"} <= set(rows[0])
    losses = [float(r["loss"]) for r in rows]
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.05  # it learns
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times) and times[0] > 0
    assert all(float(r["images_per_s"]) > 0 for r in rows)
    # the resolved config reproduces the run, and the scan report is saved
    saved = run.load_config()
    assert saved == resolve_config(config) and saved.method.temperature == 0.1 and saved.method.proj_layers == 2
    assert json.loads((run.path / "scan_report.json").read_text())["paths"]
    state = torch.load(run.checkpoint_path("last"), weights_only=True)
    assert state["position"]["step"] == 40
    epochs = read_csv(run.path / "epochs.csv")
    assert len(epochs) == 20 and {"uniformity", "std", "effective_rank", "alignment", "knn_top1_train_split"} <= set(
        epochs[0]
    )
    assert run.status()["status"] == "finished"


def test_stop_then_resume_continues_the_same_curve_and_weights(image_folder, tmp_path):
    straight = fit(tiny_config(image_folder, max_steps=6), tmp_path / "straight")
    stopped = fit(tiny_config(image_folder, max_steps=6), tmp_path / "run", reporter=StopAfter(3))
    assert stopped.status == "stopped" and stopped.step == 3
    assert RunDir.open(tmp_path / "run").status()["status"] == "stopped"
    resumed = fit(tiny_config(image_folder, max_steps=6), tmp_path / "run", resume=True)
    assert resumed.status == "finished" and resumed.step == 6
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    ref = read_csv(tmp_path / "straight" / "metrics.csv")
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref]  # same data order and augmentations
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    assert straight.step == resumed.step
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_resume_trims_rows_logged_after_the_last_checkpoint(image_folder, tmp_path):
    fit(tiny_config(image_folder, max_steps=4), tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv", "a") as f:  # as if killed after logging steps 5-6
        f.write("5,3,1.0,0.001,10,1.0\n6,3,1.0,0.0")
    fit(tiny_config(image_folder, max_steps=8), tmp_path / "run", resume=True)
    steps = [int(r["step"]) for r in read_csv(tmp_path / "run" / "metrics.csv")]
    assert steps == list(range(1, 9))


@pytest.mark.slow  # a wall-clock bound, kept generous for a loaded machine (tests/engine/test_timing.py: exact)
def test_time_budget_ends_the_run(image_folder, tmp_path):
    result = fit(tiny_config(image_folder, time_budget_s=1.5, epochs=10_000), tmp_path / "run")
    assert result.status == "finished" and "time budget" in result.message
    assert result.step >= 1 and result.time_s < 10


def test_non_finite_loss_stops_with_a_clear_message(image_folder, tmp_path, monkeypatch):
    from workbench.methods.simclr import SimCLR

    real_step, calls = SimCLR.step, []

    def step_that_diverges_at_step_3(self, views):
        out = real_step(self, views)
        calls.append(1)
        if len(calls) >= 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(SimCLR, "step", step_that_diverges_at_step_3)
    with pytest.raises(TrainingError, match=r"step 3\b.*learning rate"):
        # fp32: on a CPU with native bf16, "auto" would time two extra steps (engine/precision.py) and shift the count
        fit(tiny_config(image_folder, max_steps=5, precision="fp32"), tmp_path / "run")
    run = RunDir.open(tmp_path / "run")
    assert run.status()["status"] == "failed"
    assert [r["step"] for r in read_csv(run.path / "metrics.csv")] == ["1", "2"]  # the NaN is never logged
    assert torch.load(run.checkpoint_path(), weights_only=True)["position"]["step"] == 2  # resumable


def test_run_folder_rules(image_folder, tmp_path):
    with pytest.raises(ConfigError, match="inside the image folder"):
        fit(tiny_config(image_folder, max_steps=1), image_folder / "run")
    fit(tiny_config(image_folder, max_steps=1), tmp_path / "run")
    with pytest.raises(RunError, match="already holds a run"):
        fit(tiny_config(image_folder, max_steps=1), tmp_path / "run")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty"):
        fit(tiny_config(image_folder, max_steps=1), tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_non_finite_message_without_a_temperature(image_folder, tmp_path, monkeypatch):
    from workbench.methods.byol import BYOL

    real_step = BYOL.step

    def diverges(self, views):
        out = real_step(self, views)
        out.loss = out.loss * float("inf")
        return out

    monkeypatch.setattr(BYOL, "step", diverges)
    config = tiny_config(image_folder, max_steps=2)
    config.method = MethodConfig(name="byol", proj_hidden_dim=32, proj_output_dim=16, pred_hidden_dim=16)
    with pytest.raises(TrainingError) as info:
        fit(config, tmp_path / "run")
    message = str(info.value)
    assert "step 1" in message and "learning rate" in message and "temperature" not in message
    assert "--" not in message  # no CLI flag names: the GUI shows the same sentence


def test_out_of_memory_is_one_gui_neutral_sentence(image_folder, tmp_path, monkeypatch):
    from workbench.methods.simclr import SimCLR

    def oom(self, views):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(SimCLR, "step", oom)
    with pytest.raises(TrainingError, match="Out of memory .* smaller batch size or image size") as info:
        fit(tiny_config(image_folder, max_steps=2), tmp_path / "run")
    assert "--" not in str(info.value)
    assert RunDir.open(tmp_path / "run").status()["status"] == "failed"
