"""The Train workspace's two control areas: the recipe on the left (form, Recommended, Run on a cluster…, the
augmentation's summary) and the run controls above the curves (Start, Pause, Stop, the progress bar, the per-epoch
health line). Widgets only: the Train workspace wires them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QVBoxLayout, QWidget

from workbench.augment.spec import AugmentSpec
from workbench.gui.train_tasks import spec_transforms
from workbench.gui.widgets.train_form import TrainForm


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


class TrainControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.start, self.pause, self.stop = QPushButton("Start"), QPushButton("Pause"), QPushButton("Stop")
        self.start.setToolTip("Train a new run with these settings")
        self.pause.setToolTip("Pause (the paused time is not counted) or resume the running training")
        self.stop.setToolTip("Finish the current step, save a checkpoint and stop (the run can be resumed)")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.health = QLabel("Per-epoch health appears after the first epoch.")
        self.health.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.start, self.pause, self.stop):
            buttons.addWidget(button)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.health)
