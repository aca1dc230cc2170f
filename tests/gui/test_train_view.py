"""Train workspace: controls from the registries, start/pause/resume/stop on a worker, live curves, runs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication, QMessageBox

import workbench.methods  # noqa: F401  (registries: the catalog worker then imports nothing; see the report)
from tests.gui.conftest import assert_no_work_left
from workbench.config import ExperimentConfig
from workbench.engine.run_summary import list_runs
from workbench.engine.run_table import RUNS_DIR_ENV
from workbench.gui.train_tasks import EMA_WEIGHT, DebiasedEMA, ema, health_text
from workbench.gui.widgets.curves import LiveCurves


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setenv(RUNS_DIR_ENV, str(folder))
    return folder


def tiny(view, epochs: int, max_steps: int | None = None) -> None:
    """A few-step recipe: small-cnn, batch 8 on 16 images (2 steps per epoch), cpu, no worker threads."""
    config = ExperimentConfig()
    config.model.encoder = "small-cnn"
    config.method.proj_hidden_dim, config.method.proj_output_dim = 64, 32
    config.train.batch_size, config.train.workers, config.train.device = 8, 0, "cpu"
    config.train.epochs, config.train.max_steps = epochs, max_steps
    view.form.set_config(config)


def train_window(qtbot, make_window, folder):
    window = make_window(folder)
    view = window.train_view
    window.tabs.setCurrentWidget(view)  # the catalog (registries, devices) loads when the tab is first shown
    qtbot.waitUntil(lambda: view.catalog is not None and view.folder == str(folder), timeout=30_000)
    return window, view


def last_step(view) -> int:
    view.flush()
    steps = view.curves.steps()
    return int(steps[-1]) if len(steps) else 0


def wait_idle(qtbot, view, timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: not view.is_training(), timeout=timeout)


def test_controls_come_from_the_registries_and_follow_the_other_workspaces(qtbot, make_window, image_folder, runs_dir):
    window, view = train_window(qtbot, make_window, image_folder)
    form = view.form
    encoders = [form.encoder.itemText(i) for i in range(form.encoder.count())]
    methods = [form.method.itemText(i) for i in range(form.method.count())]
    assert "small-cnn" in encoders and "resnet18" in encoders and {"simclr", "seed-contrastive"} <= set(methods)
    assert form.method_info.text() and "temperature" in form.shown_hyperparameters()  # simclr is contrastive
    devices = {form.device.itemText(i): form.device.model().item(i).isEnabled() for i in range(form.device.count())}
    assert devices["cpu"] and devices["auto"] and devices["mps"] == (view.catalog.devices.count("mps") == 1)
    assert form.device_info.text().startswith("detected: ")
    form.lr.setValue(0.5)
    form.batch_size.setValue(17)
    view.recommended.click()
    assert form.lr.value() == pytest.approx(ExperimentConfig().optim.lr) and form.batch_size.value() == 256
    window.augment_view.image_size.setValue(48)  # the training resolution is shared with Augment
    assert form.image_size.value() == 48 and view.config().data.image_size == 48
    window.augment_view.apply_preset("simclr")
    assert "simclr" in view.augment_summary.text() and view.config().augment.name == "simclr"
    view.augment_summary.linkActivated.emit("augment")
    assert window.tabs.currentWidget() is window.augment_view
    assert view.config().data.path == str(image_folder)


def test_each_method_shows_its_own_hyperparameters_with_its_defaults(qtbot, make_window, image_folder, runs_dir):
    from workbench.methods import list_methods, method_class

    _, view = train_window(qtbot, make_window, image_folder)
    form = view.form
    assert [form.method.itemText(i) for i in range(form.method.count())] == list_methods()
    for name in list_methods():
        cls = method_class(name)
        form.method.setCurrentText(name)
        form.method.activated.emit(form.method.currentIndex())  # as when a user picks it
        assert set(form.shown_hyperparameters()) == set(cls.hyperparameters), name
        config = view.config()
        for field, default in cls.hyperparameters.items():
            assert getattr(config.method, field) == pytest.approx(default), (name, field)
        if cls.supported_encoders is not None:
            assert config.model.encoder in cls.supported_encoders
    form.method.setCurrentText("simclr")
    form.method.activated.emit(form.method.currentIndex())
    form.hyper["temperature"].setValue(0.25)
    assert view.config().method.temperature == pytest.approx(0.25) and view.config().method.momentum is None


def test_start_draws_live_curves_and_finishes_a_listed_run(qtbot, make_window, image_folder, runs_dir):
    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=2, max_steps=4)
    with qtbot.waitSignal(view.training_changed, timeout=5_000):
        view.start_button.click()
    assert not view.start_button.isEnabled() and view.stop_button.isEnabled()
    wait_idle(qtbot, view)
    assert view.last_result.status == "finished"
    assert list(view.curves.steps()) == [1, 2, 3, 4]
    assert view.curves.loss_curve.getData()[0] is not None and len(view.curves.ema_curve.getData()[1]) == 4
    assert [e for e, _ in view.curves.epochs] == [1, 2] and "std" in view.curves.epochs[-1][1]
    assert "std" in view.health.text() and "kNN" in view.health.text()  # labelled folder: kNN is shown
    runs = list_runs(runs_dir)
    assert len(runs) == 1 and runs[0].status == "finished" and runs[0].images == 16 and runs[0].knn is not None
    assert view.runs.topLevelItemCount() == 1 and view.runs.topLevelItem(0).text(2) == "finished"
    assert not view.samples.isVisible()  # simclr has no reconstructions to show
    with qtbot.waitSignal(view.explore_requested, timeout=1_000) as opened:
        view.runs_panel.explore_button.click()  # a finished run opens in Explore
    assert opened.args == [view.run_dir]
    assert window.tabs.currentWidget() is window.explore_view and window.explore_view.run_dir == view.run_dir


def test_a_generative_method_shows_its_reconstructions_live(qtbot, make_window, image_folder, runs_dir):
    _, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=2, max_steps=4)
    view.form.method.setCurrentText("autoencoder")
    view.form.method.activated.emit(view.form.method.currentIndex())
    view.start_button.click()
    wait_idle(qtbot, view)
    assert view.last_result.status == "finished", view.progress.format()
    assert view.samples.isVisible() and view.samples.has_image() and view.samples.epoch is not None
    assert (view.run_dir / "preview.png").is_file()


def test_pause_stop_and_resume_continue_the_step_numbers(qtbot, make_window, image_folder, runs_dir):
    _, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1000)
    view.start_button.click()
    qtbot.waitUntil(lambda: last_step(view) >= 2, timeout=20_000)
    view.pause_button.click()
    assert view.pause_button.text() == "Resume" and view.progress.format().endswith("paused")
    qtbot.waitUntil(lambda: view.job.pause_polls >= 1, timeout=10_000)  # fit() waits; the step in flight is reported
    paused_at = last_step(view)
    polls = view.job.pause_polls
    qtbot.waitUntil(lambda: view.job.pause_polls >= polls + 3, timeout=10_000)  # still waiting, three polls later
    assert last_step(view) == paused_at and view.is_training()
    view.pause_button.click()
    qtbot.waitUntil(lambda: last_step(view) > paused_at, timeout=10_000)
    view.stop_button.click()
    wait_idle(qtbot, view)
    stopped_at = last_step(view)
    status = json.loads((view.run_dir / "run.json").read_text())
    assert status["status"] == "stopped" and status["step"] == stopped_at
    assert view.runs.selected_runs()[0].status == "stopped" and view.runs_panel.resume_button.isEnabled()

    view.runs_panel.resume_button.click()  # the stopped run is selected
    qtbot.waitUntil(lambda: last_step(view) >= stopped_at + 2, timeout=20_000)
    view.stop_button.click()
    wait_idle(qtbot, view)
    steps = view.curves.steps()
    assert steps[0] == 1 and np.all(np.diff(steps) == 1)  # one curve, continued: no restart, no gap
    assert len(list_runs(runs_dir)) == 1


def test_closing_during_training_asks_then_stops_cleanly(qtbot, make_window, image_folder, runs_dir, monkeypatch):
    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1000)
    view.start_button.click()
    qtbot.waitUntil(lambda: last_step(view) >= 1, timeout=20_000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert not window.close() and view.is_training()  # "No": keep training
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert window.close()
    assert not view.is_training()
    assert_no_work_left()
    assert json.loads((view.run_dir / "run.json").read_text())["status"] == "stopped"


def _nan(out):
    out.loss = out.loss * float("nan")
    return out


def _oom(out):

    raise torch.OutOfMemoryError("CUDA out of memory (simulated)")


@pytest.mark.parametrize(
    ("break_step", "expected"),
    [(_nan, "loss became nan at step 1"), (_oom, "Out of memory on cpu at step 1 with batch size 8")],
)
def test_training_errors_become_the_engine_sentence(
    qtbot, make_window, image_folder, runs_dir, monkeypatch, break_step, expected
):
    from workbench.methods.simclr import SimCLR

    real_step = SimCLR.step
    monkeypatch.setattr(SimCLR, "step", lambda self, views: break_step(real_step(self, views)))
    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=2)
    with qtbot.waitSignal(view.failed, timeout=20_000) as failed:
        view.start_button.click()
    assert expected in failed.args[0]
    wait_idle(qtbot, view)
    assert expected in window.banner._label.text() and not window.banner.isHidden()
    assert view.start_button.isEnabled() and list_runs(runs_dir)[0].status == "failed"


def test_a_folder_without_images_is_a_sentence_not_a_crash(qtbot, make_window, image_folder, runs_dir, tmp_path):
    _, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    view.set_folder(empty)
    with qtbot.waitSignal(view.failed, timeout=20_000) as failed:
        view.start_button.click()
    wait_idle(qtbot, view)
    assert "empty" in failed.args[0] and view.start_button.isEnabled()
    assert list_runs(runs_dir) == []  # bad data leaves no run folder behind


def test_the_train_workspace_runs_alone(qapp, image_folder, runs_dir):
    from tests.gui.test_standalone import _run_until
    from workbench.gui import train_view

    window = _run_until(qapp, lambda w: w.catalog is not None, train_view.main, image_folder)
    assert window.workspace.folder == str(image_folder) and window.workspace.start_button.isEnabled()


def test_overlaying_runs_and_health_warning(qtbot, make_window, image_folder, runs_dir):
    _, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1, max_steps=1)
    for _ in range(2):
        view.start_button.click()
        wait_idle(qtbot, view)
    first = min(r.path for r in list_runs(runs_dir))
    view.runs.selectAll()  # the last run is drawn live; the other selected one is overlaid
    QApplication.processEvents()
    assert list(view.curves.overlays) == [first.name] and len(view.curves.overlays[first.name].getData()[0]) == 1
    text, collapsing = health_text({"std": 0.01, "alignment": 0.5, "knn_top1_train_split": 0.75}, best_std=0.1)
    assert collapsing and "kNN (train split) 75.0%" in text
    assert not health_text({"std": 0.09}, best_std=0.1)[1]


def debiased_ema_loop(values: list[float], w: float) -> list[float]:
    """TensorBoard's smoothing written out: the biased average started at 0, divided by 1 - w^t."""
    out, last = [], 0.0
    for t, v in enumerate(values, start=1):
        last = last * w + (1 - w) * v
        out.append(last / (1 - w**t))
    return out


@pytest.mark.parametrize("w", [0.0, 0.6, 0.9, 0.99])
def test_the_loss_ema_is_debiased_and_continues_across_chunks(w: float) -> None:
    values = np.random.default_rng(0).normal(5.0, 1.0, 50) - np.linspace(0, 3, 50)
    expected = debiased_ema_loop(list(values), w)
    assert np.allclose(ema(values, w), expected)
    smoother = DebiasedEMA(w)  # the live curve: drained in chunks of uneven size
    chunks = [smoother(part) for part in np.split(values, [1, 4, 4, 13, 30])]
    assert np.allclose(np.concatenate(chunks), expected)
    assert ema(np.array([7.0]), w)[0] == pytest.approx(7.0)  # no lag toward 0 or the first value


def test_the_ema_after_nine_steps_follows_the_loss() -> None:
    loss = np.array([10.0, 9, 8, 7, 6, 5, 4, 3, 2])
    assert ema(loss)[-1] == pytest.approx(3.41, abs=0.01)  # an EMA started at the first value, alpha 0.1: 7.13


def test_the_curves_smooth_with_the_spin_box_weight_across_drains_and_a_resume(qtbot) -> None:
    curves = LiveCurves()
    qtbot.addWidget(curves)
    rows = np.column_stack([np.arange(1, 21), np.linspace(4, 1, 20) ** 2, np.full(20, 0.1), np.full(20, 100.0)])
    curves.append_steps(rows[:12])  # a resumed run: the saved curve read whole, then live drains
    curves.append_steps(rows[12:13])
    curves.append_steps(rows[13:])
    assert curves.ema_weight.value() == pytest.approx(EMA_WEIGHT)
    assert np.allclose(curves.series["ema"].view, debiased_ema_loop(list(rows[:, 1]), EMA_WEIGHT))
    curves.ema_weight.setValue(0.6)  # recomputed whole, and the next drains continue with it
    curves.append_steps(rows[:3])
    assert np.allclose(curves.series["ema"].view, debiased_ema_loop(list(rows[:, 1]) + list(rows[:3, 1]), 0.6))
    curves.set_overlays({"other": rows})
    curves.ema_weight.setValue(0.0)
    assert np.allclose(curves.overlays["other"].getData()[1], rows[:, 1])  # overlays follow the weight
    curves.clear()  # a new run starts its EMA afresh
    curves.append_steps(rows[:1])
    assert curves.series["ema"].view.tolist() == [rows[0, 1]]


# A run row's summary (tails of long logs, half-written files) is tested in tests/engine/test_runs.py.


def test_images_excluded_in_the_data_workspace_are_left_out_of_the_run(qtbot, make_window, image_folder, runs_dir):
    window, view = train_window(qtbot, make_window, image_folder)
    report = window.data_view.report()
    left_out = sorted(report.paths)[:3]
    window.data_view.set_excluded(left_out)
    assert view.config().data.exclude == left_out
    tiny(view, epochs=1)
    view.start_button.click()
    wait_idle(qtbot, view, timeout=60_000)
    config = json.loads((view.run_dir / "config.json").read_text())
    assert config["data"]["exclude"] == left_out
    scanned = json.loads((view.run_dir / "scan_report.json").read_text())
    assert len(scanned["paths"]) == len(report.paths) - 3 and not set(left_out) & set(scanned["paths"])
