"""One image shown large with its path, size and label; decoded off the GUI thread (photos can be big)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from workbench.data.decode import open_image
from workbench.gui.signals import emit
from workbench.gui.widgets.thumbnails import array_to_qimage
from workbench.gui.worker import TaskRunner, TaskState

MAX_DECODED_SIDE = 2048  # larger photos are reduced in the worker; the panel is never that big anyway


def _load(path: Path, state: TaskState) -> tuple[QImage, int, int]:
    image = open_image(path)  # RGB, EXIF orientation applied; DecodeError carries the reason
    width, height = image.size
    state.check()
    image.thumbnail((MAX_DECODED_SIDE, MAX_DECODED_SIDE))
    return array_to_qimage(np.asarray(image)), width, height


class _ScaledImage(QLabel):
    """Keeps the pixmap fitted to the label: whole-number nearest-neighbour zoom for small images."""

    def __init__(self):
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(160, 160))
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._source: QPixmap | None = None

    def set_source(self, pixmap: QPixmap | None) -> None:
        self._source = pixmap
        self._refit()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._source is None or self._source.isNull():
            self.setPixmap(QPixmap())
            return
        w, h = self._source.width(), self._source.height()
        fit = min(self.width() / w, self.height() / h)
        if fit >= 1:  # enlarge pixel-exactly: a 28 px image stays crisp
            zoom = max(1, int(fit))
            self.setPixmap(self._source.scaled(w * zoom, h * zoom, mode=Qt.TransformationMode.FastTransformation))
        else:
            self.setPixmap(
                self._source.scaled(
                    self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )


class ImageDetail(QWidget):
    """show(path, label) decodes in the background; `shown(path)` fires once the image is on screen."""

    shown = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image = _ScaledImage()
        self.caption = QLabel("Click a thumbnail to see the image here.")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.caption)
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._on_failed)

    def show_image(self, path: Path, label: str) -> None:
        path = Path(path)
        self.caption.setText(f"{path}\nloading…")
        self.runner.start(lambda state: _load(path, state), lambda result: self._on_loaded(path, label, result))

    def clear(self) -> None:
        self.runner.cancel(notify=False)
        self.image.set_source(None)
        self.caption.setText("Click a thumbnail to see the image here.")

    def _on_loaded(self, path: Path, label: str, result: tuple[QImage, int, int]) -> None:
        image, width, height = result
        self.image.set_source(QPixmap.fromImage(image))
        self.caption.setText(f"{path}\n{width} × {height} px · label: {label}")
        emit(self.shown, str(path))

    def _on_failed(self, text: str) -> None:
        self.image.set_source(None)
        self.caption.setText(f"Cannot show this image: {text}")
