"""The Fine-tune tab of Explore: how long and how fast to fine-tune, where the new run goes, Start / Cancel, the live
loss (per step) and held-out accuracy (per monitor pass), and "Predict with it" once a fine-tuned run exists.

A plain widget: it holds the settings and draws what it is given; explore_finetune.py runs the work. The curves are
two pyqtgraph plots fed from numpy buffers, redrawn only when new points came (the controller calls `redraw` a few
times a second): fixed axis widths and no grid, so a redraw never relayouts the tab.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.signals import emit

AXIS_WIDTH = 44  # px: the left axes stay put as the numbers grow
STEPS, SECONDS = "steps", "seconds"
HINT = "Label images of at least 2 classes (Labels tab), then fine-tune the run's encoder on them."


class _Curve:
    """One growing line: x and y in numpy buffers, drawn by `redraw` only when points were added."""

    def __init__(self, plot: pg.PlotWidget, colour: str, symbol: str | None = None):
        self.x, self.y, self.dirty = np.zeros(0), np.zeros(0), False
        self.item = plot.plot([], [], pen=pg.mkPen(colour, width=1.5), symbol=symbol, symbolSize=5)
        self.item.setDownsampling(auto=True, method="peak")
        self.item.setClipToView(True)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x):
            self.x = np.concatenate([self.x, np.asarray(x, np.float64)])
            self.y = np.concatenate([self.y, np.asarray(y, np.float64)])
            self.dirty = True

    def clear(self) -> None:
        self.x, self.y, self.dirty = np.zeros(0), np.zeros(0), True

    def redraw(self) -> None:
        if self.dirty:
            self.item.setData(self.x, self.y)
            self.dirty = False


def _plot(title: str, x_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    plot.setBackground("w")
    plot.setMenuEnabled(False)
    plot.getAxis("left").setWidth(AXIS_WIDTH)
    plot.setLabel("bottom", x_label)
    plot.setMinimumHeight(130)
    return plot


class FinetunePanel(QWidget):
    """`settings()` for Start; `set_output`, `set_running`, `set_can_predict`, `set_message`, `set_progress`; the
    curves: `clear_curves`, `add_steps`, `add_passes`, `redraw`."""

    start_requested = Signal()
    cancel_requested = Signal()
    predict_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.stop_by = QComboBox()
        self.stop_by.addItem("a number of steps", STEPS)
        self.stop_by.addItem("a time budget", SECONDS)
        self.steps = QSpinBox(minimum=1, maximum=1_000_000, value=300, suffix=" steps")
        self.seconds = QSpinBox(minimum=5, maximum=7 * 24 * 3600, value=120, suffix=" s")
        self.length = QStackedWidget()
        self.length.addWidget(self.steps)
        self.length.addWidget(self.seconds)
        self.length.setFixedHeight(self.steps.sizeHint().height())
        self.stop_by.currentIndexChanged.connect(self.length.setCurrentIndex)
        self.lr = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=1e-4, value=1e-3)
        self.lr.setToolTip("The head's peak learning rate (AdamW); the encoder learns at a tenth of it.")
        self.from_trained = QCheckBox("Start from the run's trained weights")
        self.from_trained.setChecked(True)
        self.from_trained.setToolTip("Unticked: from its untrained weights (training from scratch, the baseline).")
        self.self_training = QCheckBox("Also learn from the unlabelled images (self-training)")
        self.self_training.setChecked(True)  # finetune()'s default: better with a few labels (benchmarks/RESULTS.md)
        self.self_training.setToolTip(
            "Every image of the folder without a label trains too, towards the start probe's predictions."
        )
        self.output = QLabel("–")
        self.output.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Stop after", self.stop_by)
        form.addRow("", self.length)
        form.addRow("Learning rate", self.lr)
        form.addRow("", self.from_trained)
        form.addRow("", self.self_training)
        form.addRow("New run", self.output)

        self.start = QPushButton("Start fine-tune")
        self.cancel = QPushButton("Cancel")
        self.predict = QPushButton("Predict with it")
        self.predict.setToolTip("Predict a class for every image of the folder on the map (Predictions tab).")
        buttons = QHBoxLayout()
        for button in (self.start, self.cancel, self.predict):
            buttons.addWidget(button)
        self.start.clicked.connect(lambda: emit(self.start_requested))
        self.cancel.clicked.connect(lambda: emit(self.cancel_requested))
        self.predict.clicked.connect(lambda: emit(self.predict_requested))
        self.progress = QProgressBar(textVisible=True)
        self.progress.setFormat("idle")
        self.message = QLabel(HINT)
        self.message.setWordWrap(True)

        self.loss_plot = _plot("Loss", "step")
        self.acc_plot = _plot("Held-out accuracy", "epoch (0: the start)")
        self.acc_plot.setYRange(0.0, 1.0)
        self.acc_plot.enableAutoRange(axis="y", enable=False)
        self.loss = _Curve(self.loss_plot, "#1f77b4")
        self.accuracy = _Curve(self.acc_plot, "#d62728", symbol="o")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.acc_plot, 1)
        self.set_running(False)
        self.set_can_predict(False)

    # ---- settings
    def settings(self) -> dict:
        """The finetune() arguments these controls give: steps or time_budget_s, lr, start ("last" or "init"),
        self_training."""
        by_time = self.stop_by.currentData() == SECONDS
        return {
            "steps": None if by_time else int(self.steps.value()),
            "time_budget_s": float(self.seconds.value()) if by_time else None,
            "lr": float(self.lr.value()),
            "start": "last" if self.from_trained.isChecked() else "init",
            "self_training": self.self_training.isChecked(),
        }

    def set_defaults(self, steps: int, lr: float) -> None:
        self.steps.setValue(steps)
        self.lr.setValue(lr)

    # ---- state
    def set_output(self, path: Path | None) -> None:
        self.output.setText(path.name if path is not None else "–")
        self.output.setToolTip(str(path) if path is not None else "")

    def set_running(self, running: bool, can_start: bool = True) -> None:
        self.start.setEnabled(not running and can_start)
        self.cancel.setEnabled(running)
        for control in (self.stop_by, self.length, self.lr, self.from_trained, self.self_training):
            control.setEnabled(not running)
        if running:
            self.predict.setEnabled(False)

    def set_can_predict(self, can: bool) -> None:
        self.predict.setEnabled(can)

    def set_message(self, text: str) -> None:
        self.message.setText(text)

    def set_progress(self, maximum: int, value: int, text: str) -> None:
        self.progress.setRange(0, max(maximum, 0))
        self.progress.setValue(min(value, max(maximum, 0)))
        self.progress.setFormat(text)

    # ---- curves
    def clear_curves(self) -> None:
        self.loss.clear()
        self.accuracy.clear()
        self.redraw()

    def add_steps(self, steps: np.ndarray, losses: np.ndarray) -> None:
        finite = np.isfinite(losses)
        self.loss.add(np.asarray(steps)[finite], np.asarray(losses)[finite])

    def add_passes(self, passes: np.ndarray, accuracies: np.ndarray) -> None:
        self.accuracy.add(passes, accuracies)

    def redraw(self) -> None:
        self.loss.redraw()
        self.accuracy.redraw()
