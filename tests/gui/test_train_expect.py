"""Train workspace, what a newcomer needs: an estimate before Start and a warning after a too-short run, the
untrained level on the per-epoch plots, resumes that keep their plots and creation date, remembered settings, a
new folder clearing the curves, a legible progress bar and whole-number step/epoch axes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

import workbench.methods  # noqa: F401  (registries: the catalog worker then imports nothing)
from tests.gui.test_train_view import runs_dir, tiny, train_window, wait_idle  # noqa: F401  (runs_dir is a fixture)
from workbench.config import ExperimentConfig
from workbench.engine.run_summary import read_summary
from workbench.engine.runs import RunDir, read_csv
from workbench.gui.train_tasks import read_epochs, read_untrained
from workbench.gui.widgets.curves import LiveCurves


@pytest.mark.usefixtures("runs_dir")
def test_before_start_an_estimate_and_after_a_short_run_a_warning_and_the_untrained_level(
    qtbot, make_window, image_folder
):
    _, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=2)
    qtbot.waitUntil(lambda: view.estimate.images == 16, timeout=10_000)  # the folder is counted on a worker
    first = view.estimate.last
    assert "built-in guess" in first.text and first.steps == 4 and first.too_short  # 2 epochs x 16 // 8
    assert view.estimate.text().startswith("Expect: ≈") and "Only 4 steps" in view.estimate.text()
    view.start_button.click()
    wait_idle(qtbot, view)
    assert view.last_result.step == first.steps  # the estimate counted the steps fit() takes
    assert "This run finished after only 4 steps" in view.estimate.text()
    untrained = json.loads((view.run_dir / "untrained.json").read_text())  # the monitor on the initial weights
    x, y = view.curves.untrained_curves["knn_top1_train_split"].getData()
    assert list(y) == [untrained["knn_top1_train_split"]] * 2 and list(x) == [0.0, 2.0]
    assert "untrained kNN" in [label.text for _, label in view.curves.health_plot.legend.items]
    # The next estimate uses the speed this run measured (the median of its logged images/s).
    speeds = [float(r["images_per_s"]) for r in read_csv(view.run_dir / "metrics.csv")]
    view.form.epochs.setValue(100)  # 200 steps: long enough, no warning
    last = view.estimate.last
    assert f"measured in {view.run_dir.name}" in last.text and f"~{np.median(speeds):,.0f} img/s" in last.text
    assert last.steps == 200 and not last.too_short and "Only" not in view.estimate.text()


def test_the_untrained_level_is_the_monitor_of_the_initial_weights(image_folder, tmp_path):
    from tests.engine.test_fit import tiny_config
    from workbench.data import load_images
    from workbench.engine.fit import fit
    from workbench.engine.monitor import epoch_metrics
    from workbench.engine.trainer import build_method

    config = tiny_config(image_folder, max_steps=2)
    fit(config, tmp_path / "run")
    run = RunDir.open(tmp_path / "run")
    state = run.load_checkpoint(run.INIT_CHECKPOINT)
    saved = ExperimentConfig.from_dict(state["config"])
    method = build_method(saved)
    method.load_state_dict(state["model"])
    data = load_images(image_folder, saved.data.image_size, cache_dir=tmp_path / "cache", workers=0)
    expected = epoch_metrics(method, data, saved.augment, saved, torch.device("cpu"))
    untrained = read_untrained(run.path)
    assert untrained.keys() >= expected.keys() and untrained["step"] == 0
    for key, value in expected.items():
        assert untrained[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


@pytest.mark.usefixtures("runs_dir")
def test_resume_after_a_relaunch_reloads_the_per_epoch_plots_and_keeps_the_creation_date(
    qtbot, make_window, image_folder
):
    import os

    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1000)
    view.start_button.click()
    measured = lambda: [e for e, values in view.curves.epochs if "std" in values]  # noqa: E731
    try:  # the monitor runs within its time share: wait for an epoch it measured, past the second
        qtbot.waitUntil(lambda: bool(measured()) and len(view.curves.epochs) >= 2, timeout=60_000)
    finally:
        view.stop_button.click()
        wait_idle(qtbot, view)
    run_dir = view.run_dir
    created = json.loads((run_dir / "run.json").read_text())["created"]
    window.close()
    os.utime(run_dir / "config.json", (1e9, 1e9))  # 2001: the Date must not come from a file's time

    window, view = train_window(qtbot, make_window, image_folder)  # a relaunch
    view.runs.select(run_dir)
    epochs = read_epochs(RunDir(run_dir).epochs_path)
    with qtbot.waitSignal(view.training_changed, timeout=5_000):
        view.runs_panel.resume_button.click()
    try:
        assert [e for e, _ in view.curves.epochs][: len(epochs)] == [e for e, _ in epochs] and len(epochs) >= 2
        last_measured = [e for e, values in epochs if "std" in values][-1]
        assert view.curves.untrained and view.health.text().startswith(f"Epoch {last_measured}:")
        qtbot.waitUntil(lambda: len(view.curves.epochs) > len(epochs), timeout=30_000)
    finally:  # a failed check must not leave the window training (closing it would ask)
        view.stop_button.click()
        wait_idle(qtbot, view)
    numbers = [e for e, _ in view.curves.epochs]
    assert numbers == list(range(1, len(numbers) + 1))  # continued, none repeated
    assert json.loads((run_dir / "run.json").read_text())["created"] == created
    assert read_summary(run_dir).date == time.strftime("%Y-%m-%d %H:%M", time.localtime(created))


@pytest.mark.usefixtures("runs_dir")
def test_the_train_settings_are_remembered_across_launches(qtbot, make_window, image_folder, settings_dir):
    from PySide6.QtCore import Qt

    window, view = train_window(qtbot, make_window, image_folder)
    form = view.form
    form.method.setFocus()
    qtbot.keyClicks(form.method, "byol")  # typing a name in a closed combo box picks it
    qtbot.waitUntil(lambda: form.method.currentText() == "byol", timeout=2_000)
    form.stop_by.setFocus()
    qtbot.keyClick(form.stop_by, Qt.Key.Key_Down)  # time budget
    form.budget.setValue(1.5)
    form.batch_size.setValue(64)
    window.close()
    assert any(settings_dir.rglob("*.ini"))  # written in the test's own folder, never the user's

    _, view = train_window(qtbot, make_window, image_folder)
    config = view.config()
    assert (config.method.name, config.train.time_budget_s, config.train.batch_size) == ("byol", 90.0, 64)
    assert view.form.stop_by.currentText() == "time budget" and view.form.epochs.value() == 100


@pytest.mark.usefixtures("runs_dir")
def test_opening_another_folder_clears_the_previous_runs_curves(qtbot, make_window, image_folder, tmp_path):
    from tests.conftest import write_class_folder

    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1, max_steps=2)
    view.start_button.click()
    wait_idle(qtbot, view)
    assert view.curves.point_count() == 2 and view.curves.epochs
    other = write_class_folder(tmp_path / "other")
    window.open_folder(other)
    qtbot.waitUntil(lambda: view.folder == str(other), timeout=20_000)
    assert view.curves.point_count() == 0 and view.curves.epochs == [] and not view.curves.untrained
    assert view.progress.format() == "idle" and view.health.text().startswith("Per-epoch health appears")


def test_the_progress_text_is_drawn_in_a_contrasting_colour_on_the_filled_part(qtbot) -> None:
    from PySide6.QtGui import QColor, QPalette

    from workbench.gui.widgets.train_settings import LegibleProgressBar

    bar = LegibleProgressBar()
    qtbot.addWidget(bar)
    bar.resize(400, 24)
    bar.setRange(0, 100)
    bar.setValue(50)
    bar.setFormat("█" * 60)  # a full-width text: its colour at each pixel is that of the text
    image = bar.grab().toImage()
    light, dark = (
        bar.palette().color(QPalette.ColorRole.HighlightedText),
        bar.palette().color(QPalette.ColorRole.WindowText),
    )
    split = bar.contentsRect().left() + bar.filled_width()
    y = bar.height() // 2

    def near(x: int, colour: QColor) -> bool:
        pixel = image.pixelColor(x, y)
        return (
            max(abs(pixel.red() - colour.red()), abs(pixel.green() - colour.green()), abs(pixel.blue() - colour.blue()))
            < 40
        )

    inside, outside = range(split - 60, split - 20), range(split + 20, split + 60)
    assert all(near(x, light) for x in inside) and all(near(x, dark) for x in outside)


def test_step_and_epoch_axes_tick_at_whole_numbers_only(qtbot) -> None:
    from workbench.gui.widgets.curves import IntegerAxis

    curves = LiveCurves()
    qtbot.addWidget(curves)
    for plot in (curves.loss_plot, curves.lr_plot, curves.speed_plot, curves.health_plot, curves.std_plot):
        assert isinstance(plot.getAxis("bottom"), IntegerAxis)
    axis = curves.loss_plot.getAxis("bottom")
    for low, high in ((1, 3), (0.8, 2.2), (1.1, 1.9), (0, 40), (1, 100_000)):
        levels = axis.tickValues(low, high, 400)
        values = [v for _, level in levels for v in level]
        assert all(float(v).is_integer() for v in values), (low, high, values)
        assert all("." not in text for text in axis.tickStrings(values, 1.0, 1.0))
        assert values or np.floor(high) < np.ceil(low)
