"""The Train workspace's line of what to expect: before Start, how long the recipe takes and how many steps it gets
(gui/train_estimate.py); after a run, a warning when it was too short to learn. The folder's images are counted on
a worker (a walk of the folder, nothing decoded); the newest count wins."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QWidget

from workbench.config import ExperimentConfig
from workbench.engine.run_summary import RunSummary
from workbench.gui.signals import emit
from workbench.gui.train_estimate import MIN_USEFUL_STEPS, Estimate, estimate, measured_speed, short_run_text
from workbench.gui.worker import TaskRunner, TaskState


def _count_images(folder: str, state: TaskState) -> int:
    from workbench.data.scan import scan_folder

    return len(scan_folder(folder, should_stop=state.should_stop).paths)


class EstimateLine(QLabel):
    """`update(config, runs, devices)` redraws the estimate; `counted` fires once the folder's images are counted."""

    counted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setToolTip(
            "From the images/s of past runs here with the same encoder, image size and device (else a built-in "
            "guess); the per-epoch monitor and checkpoints add a little."
        )
        self.images: int | None = None  # the folder's image count, once known
        self.folder = ""
        self.last: Estimate | None = None
        self._runner = TaskRunner(self)
        self._runner.failed.connect(lambda _text: None)  # an unreadable folder: Start says why, in the banner

    def set_folder(self, folder: str | Path, images: int | None = None) -> None:
        """The folder runs will train on; its images are counted on a worker unless `images` says how many."""
        folder = str(folder)
        if folder == self.folder and (images is None or images == self.images):
            return
        self.folder, self.images = folder, None
        self._runner.cancel(notify=False)
        if folder and images is not None:
            self._counted(folder, images)
        elif folder:
            self._runner.start(lambda state: _count_images(folder, state), lambda n, f=folder: self._counted(f, n))

    def update_estimate(self, config: ExperimentConfig, runs: list[RunSummary], devices: list[str]) -> Estimate:
        self.last = estimate(config, self.images, measured_speed(config, runs, devices))
        self._show(f"Expect: {self.last.text}", self.last.too_short)
        return self.last

    def show_finished(self, steps: int, status: str) -> None:
        """After a run: warn when it had too few steps to learn."""
        if steps < MIN_USEFUL_STEPS and status in ("finished", "stopped"):
            self._show(short_run_text(steps, f"This run {status} after only"), True)

    def shutdown(self) -> None:
        self._runner.shutdown()

    def _show(self, text: str, warn: bool) -> None:
        self.setText(text)
        self.setStyleSheet("color: #a05a00;" if warn else "color: #333;")

    def _counted(self, folder: str, images: int) -> None:
        if folder == self.folder:
            self.images = images
            emit(self.counted)
