"""A run's start and end leave the Train window's layout alone: no text that changes then (the status bar's message,
the estimate, the health line, the progress bar) resizes the curves, so no plot is relaid out while the training
thread takes the CPU (issue 16: each such relayout of the five plots was the GUI thread's largest pass)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

import workbench.methods  # noqa: F401  (registries: the catalog worker then imports nothing)
from workbench.config import ExperimentConfig
from workbench.engine.run_table import RUNS_DIR_ENV
from workbench.gui.widgets.elided_label import ElidedLabel


class ResizeCounter(QObject):
    """Counts the resize events a widget receives."""

    def __init__(self, widget):
        super().__init__()
        self.sizes = []
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Resize:
            self.sizes.append(event.size().toTuple())
        return False


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setenv(RUNS_DIR_ENV, str(folder))
    return folder


def test_a_status_message_with_line_breaks_keeps_the_label_one_line_high(qtbot):
    label = ElidedLabel("one line")
    qtbot.addWidget(label)
    one_line = label.sizeHint().height()
    label.setText("Found 64 images in '/data'.\n2 classes.\nAll readable.")  # a scan's report, as fit() sends it
    assert label.sizeHint().height() == one_line == label.fontMetrics().height()
    assert label.minimumSizeHint().height() == one_line


def test_start_and_end_of_a_run_do_not_resize_the_curves(qtbot, make_window, image_folder, runs_dir):
    window = make_window(image_folder)
    window.resize(1400, 900)
    view = window.train_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.catalog is not None and view.estimate.images is not None, timeout=30_000)
    config = ExperimentConfig()
    config.model.encoder = "small-cnn"
    config.method.proj_hidden_dim, config.method.proj_output_dim = 64, 32
    config.train.batch_size, config.train.workers, config.train.device = 8, 0, "cpu"
    config.train.epochs, config.train.max_steps = 2, 4
    view.form.set_config(config)
    QApplication.processEvents()  # the layout settles on the texts shown before Start
    graphics = view.curves.graphics
    size_before = graphics.size().toTuple()
    resizes = ResizeCounter(graphics)
    view.start_button.click()
    qtbot.waitUntil(lambda: not view.is_training(), timeout=20_000)
    QApplication.processEvents()  # the layout requests posted by the last texts
    assert view.last_result.status == "finished"
    assert "Epoch 2" in view.health.text() and view.estimate.text()  # the lines did change text
    assert window.status_text.text()  # and the status bar showed the run's messages
    assert resizes.sizes == [] and graphics.size().toTuple() == size_before


def test_a_health_or_estimate_line_of_one_line_more_keeps_the_controls_height(qtbot):
    from workbench.gui.widgets.train_settings import TrainControls

    controls = TrainControls()
    qtbot.addWidget(controls)
    controls.resize(600, controls.sizeHint().height())
    controls.show()
    qtbot.waitExposed(controls)
    height = controls.heightForWidth(600)  # what the layout above gives it at this width
    for label in (controls.health, controls.estimate):
        short = label.text()
        long = "Epoch 2: alignment 0.515 · uniformity -1.94 · std 0.061 · effective rank 11.2 · kNN 0.87 " * 2
        label.setText(long)
        QApplication.processEvents()
        line = label.fontMetrics().lineSpacing()
        assert label.heightForWidth(label.width()) >= 2 * line > label.fontMetrics().height()  # two lines of text
        assert label.heightForWidth(label.width()) < 3 * line
        assert controls.heightForWidth(600) == height
        label.setText(short)
        QApplication.processEvents()
        assert controls.heightForWidth(600) == height
