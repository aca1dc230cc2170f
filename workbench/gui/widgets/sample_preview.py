"""The live picture of a generative method: its reconstructions or samples (RUN/preview.png), scaled up crisply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.engine.runs import RunDir


def to_pixmap(image: np.ndarray) -> QPixmap:
    """uint8 (H, W, 3) -> QPixmap (copied, so the array may be freed)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w, _ = image.shape
    return QPixmap.fromImage(QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class SamplePreview(QWidget):
    """Title + image; hidden until a generative run sends (or has saved) a preview."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.picture, 1)
        self._pixmap: QPixmap | None = None
        self.epoch: int | None = None
        self.hide()

    def set_image(self, epoch: int, image: np.ndarray) -> None:
        self.epoch = epoch
        self._show(to_pixmap(image), f"<b>Reconstructions / samples</b> — epoch {epoch} (top: inputs)")

    def load_run(self, run_dir: Path | None) -> None:
        """Show a finished run's last preview, or hide when it has none."""
        path = RunDir(run_dir).preview_path if run_dir is not None else None
        pixmap = QPixmap(str(path)) if path is not None and path.is_file() else QPixmap()
        if pixmap.isNull():
            self.clear()
        else:
            self._show(pixmap, f"<b>Reconstructions / samples</b> — {run_dir.name}")

    def set_png(self, data: bytes, title: str) -> None:
        """Show a PNG read elsewhere (a followed run's preview.png, read on a worker thread)."""
        pixmap = QPixmap()
        if pixmap.loadFromData(data, "PNG"):
            self._show(pixmap, f"<b>Reconstructions / samples</b> — {title}")

    def clear(self) -> None:
        self._pixmap, self.epoch = None, None
        self.picture.clear()
        self.hide()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def _show(self, pixmap: QPixmap, title: str) -> None:
        self._pixmap = pixmap
        self.title.setText(title)
        self._rescale()
        self.show()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        # Whole-number scale with nearest-neighbour pixels: small images stay sharp instead of blurred.
        area, w, h = self.picture.size(), max(self._pixmap.width(), 1), max(self._pixmap.height(), 1)
        scale = max(1, min(area.width() // w, area.height() // h))
        self.picture.setPixmap(
            self._pixmap.scaled(
                self._pixmap.width() * scale,
                self._pixmap.height() * scale,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        )
