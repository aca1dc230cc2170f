"""The Train workspace's two control areas: the recipe on the left (form, Recommended, Run on a cluster…, the
augmentation's summary) and the run controls above the curves (Start, Pause, Stop, the progress bar, the per-epoch
health line, what to expect). Widgets only: the Train workspace wires them. The progress bar draws its text in
two colours, split where the filled part ends, so every letter is readable on both parts."""

from __future__ import annotations

import json

from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QStyleOptionProgressBar,
    QVBoxLayout,
    QWidget,
)

from workbench.augment.spec import AugmentSpec
from workbench.config import ExperimentConfig
from workbench.errors import WorkbenchError
from workbench.gui.train_tasks import spec_transforms
from workbench.gui.widgets.train_form import TrainForm
from workbench.gui.widgets.train_hints import EstimateLine
from workbench.gui.worker import TaskRunner

RESERVED_LINES = 2  # of the health and estimate lines: what they take in a window of usual width
RECIPE_KEY = "train/recipe"  # the form's settings as an ExperimentConfig dict (no folder, no augmentation)


def remember_recipe(store: QSettings, form: TrainForm, runner: TaskRunner | None = None) -> None:
    """Save the form's settings (the image size too: it is Augment's training resolution as well) for the next
    launch; the folder and the augmentation are the Data and Augment workspaces' to remember. With `runner` (at
    Start) the file is written on that worker: QSettings.sync() flushes it to disk (fdatasync, 10-100 ms), and even
    a setValue on `store` would have Qt sync it on the GUI thread a moment later."""
    data = form.config().to_dict()
    data["train"]["epochs"] = form.epochs.value()  # a timed run's config holds a huge epoch count: keep the spin's
    data["data"] = {"image_size": form.image_size.value()}
    data.pop("augment", None)
    text = json.dumps(data)
    if runner is None:
        store.setValue(RECIPE_KEY, text)
        store.sync()
    else:  # the worker's own QSettings on the same file (one object per thread); `store` rereads it at its sync
        path, fmt = store.fileName(), store.format()
        runner.start(lambda _state: _write_setting(path, fmt, RECIPE_KEY, text), lambda _none: None)


def _write_setting(path: str, fmt: QSettings.Format, key: str, value: str) -> None:
    settings = QSettings(path, fmt)
    settings.setValue(key, value)
    settings.sync()


def recall_recipe(store: QSettings, form: TrainForm) -> bool:
    """Show the saved settings; False, nothing changed, when there are none or they no longer make a config."""
    text = store.value(RECIPE_KEY)
    if not text:
        return False
    try:
        config = ExperimentConfig.from_dict(json.loads(str(text)))
    except (WorkbenchError, ValueError, TypeError):  # a stale setting never blocks start-up
        return False
    form.set_config(config)
    return True


def augment_summary(spec: AugmentSpec) -> str:
    """One rich-text line: the spec's name and each view's transforms, with the link back to Augment."""
    views = "; ".join(f"view {i + 1}: {', '.join(spec_transforms(v)) or 'none'}" for i, v in enumerate(spec.views))
    return f'Augmentation <b>{spec.name}</b> ({views}). <a href="augment">Edit in Augment</a>'


class TrainSettings(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.form = TrainForm()
        self.recommended = QPushButton("Recommended")
        self.recommended.setToolTip("The engine's default recipe (keeps the folder, augmentation and image size)")
        self.cluster_button = QPushButton("Run on a cluster…")
        self.cluster_button.setToolTip("Save these settings as a config file and get the torchrun / Slurm commands")
        self.augment_summary = QLabel()
        self.augment_summary.setWordWrap(True)
        self.augment_summary.setTextFormat(Qt.TextFormat.RichText)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.recommended)
        buttons.addWidget(self.cluster_button)
        layout.addLayout(buttons)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.augment_summary)
        self.setMinimumWidth(330)


class LegibleProgressBar(QProgressBar):
    """A progress bar whose text is the highlighted-text colour over the filled part and the window-text colour over
    the rest (styles that draw one colour over both leave part of the text unreadable)."""

    def filled_width(self) -> int:
        span = self.maximum() - self.minimum()
        fraction = (self.value() - self.minimum()) / span if span > 0 else 0.0
        return round(self.contentsRect().width() * min(max(fraction, 0.0), 1.0))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        option = QStyleOptionProgressBar()
        self.initStyleOption(option)
        option.textVisible = False
        painter = QPainter(self)
        self.style().drawControl(QStyle.ControlElement.CE_ProgressBar, option, painter, self)
        if not self.isTextVisible():
            return
        rect, split = self.contentsRect(), self.contentsRect().left() + self.filled_width()
        align = Qt.AlignmentFlag.AlignCenter
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width() - 8)
        for clip, role in (
            (QRect(rect.left(), rect.top(), split - rect.left(), rect.height()), QPalette.ColorRole.HighlightedText),
            (QRect(split, rect.top(), rect.right() - split + 1, rect.height()), QPalette.ColorRole.WindowText),
        ):
            painter.setClipRect(clip)
            painter.setPen(self.palette().color(role))
            painter.drawText(rect, align, text)
        painter.end()


def reserve_lines(label: QLabel, lines: int) -> None:
    """Keep room for `lines` lines of a word-wrapped label, its text at the top: a text of one line more or less then
    leaves the layout as it is, where it would resize the curves below and relayout all their plots (tens of ms of
    the GUI thread, at a run's start and end when training competes for the CPU). A longer text still grows it."""
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    margins = label.contentsMargins()
    label.setMinimumHeight(lines * label.fontMetrics().lineSpacing() + margins.top() + margins.bottom())


class TrainControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.start, self.pause, self.stop = QPushButton("Start"), QPushButton("Pause"), QPushButton("Stop")
        self.start.setToolTip("Train a new run with these settings")
        self.pause.setToolTip("Pause (the paused time is not counted) or resume the running training")
        self.stop.setToolTip("Finish the current step, save a checkpoint and stop (the run can be resumed)")
        self.progress = LegibleProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setValue(0)  # a bar with no value shows no text
        self.progress.setFormat("idle")
        self.health = QLabel("Per-epoch health appears after the first epoch.")
        self.health.setWordWrap(True)
        self.estimate = EstimateLine()
        for label in (self.estimate, self.health):  # their texts change at Start, at each epoch and at the end
            reserve_lines(label, RESERVED_LINES)
        buttons = QHBoxLayout()
        for button in (self.start, self.pause, self.stop):
            buttons.addWidget(button)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.estimate)
        layout.addWidget(self.health)


def workspace_layout(left: QWidget, controls: QWidget, right: tuple[QWidget, ...]) -> QSplitter:
    """The recipe on the left; on the right the run controls above a vertical splitter of `right` (the curves, the
    preview, the runs)."""
    right_split = QSplitter(Qt.Orientation.Vertical)
    for widget in right:
        right_split.addWidget(widget)
    right_split.setSizes([480, 140, 180])
    column = QWidget()
    column_layout = QVBoxLayout(column)
    column_layout.setContentsMargins(0, 0, 0, 0)
    column_layout.addWidget(controls)
    column_layout.addWidget(right_split, 1)
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(left)
    splitter.addWidget(column)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([360, 900])
    return splitter


def confirm_stop(parent: QWidget) -> bool:
    """Closing the window while training: ask first (True: stop and close)."""
    answer = QMessageBox.question(
        parent,
        "Training is running",
        "A training run is in progress. Stop it (it stays resumable) and close?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes
