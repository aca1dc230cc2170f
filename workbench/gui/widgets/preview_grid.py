"""K rows x (original + V views), each cell an S x S image enlarged by a whole number, nearest-neighbour."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from workbench.gui.widgets.thumbnails import array_to_qimage

GAP = 6  # pixels between cells
HEADER = 22  # column titles
ORIGINAL_GAP = 10  # extra space between the original and its views


class PreviewGrid(QWidget):
    """set_images(originals (K, S0, S0, 3), views (V, K, S, S, 3)) — uint8 arrays; repaints at any size."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.originals: np.ndarray | None = None
        self.views: np.ndarray | None = None
        self._images: list[list[QImage]] = []  # per row: original, view 1, ..., view V
        self.message = "Preparing the preview…"
        self._left = 0  # x offset that centres the grid

    def set_images(self, originals: np.ndarray, views: np.ndarray) -> None:
        self.originals, self.views = originals, views
        self._images = [
            [array_to_qimage(originals[k])] + [array_to_qimage(views[v, k]) for v in range(views.shape[0])]
            for k in range(originals.shape[0])
        ]
        self.update()

    def set_message(self, text: str) -> None:
        """Shown instead of the grid (no images yet, or why there is no preview)."""
        self.message = text
        self._images = []
        self.originals = self.views = None
        self.update()

    def cell_size(self) -> int:
        """Side of one cell in pixels: the largest whole multiple of S that fits (at least S)."""
        if not self._images:
            return 0
        rows, cols = len(self._images), len(self._images[0])
        side = self._images[0][-1].width()
        avail_w = (self.width() - ORIGINAL_GAP - GAP * (cols + 1)) / cols
        avail_h = (self.height() - HEADER - GAP * (rows + 1)) / rows
        fit = min(avail_w, avail_h)
        return side * max(1, int(fit // side)) if fit >= side else max(8, int(fit))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(640, 480)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        if not self._images:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # nearest-neighbour zoom
        cell = self.cell_size()
        cols = len(self._images[0])
        self._left = 0
        self._left = max(0, (self.width() - self._x(cols, cell)) // 2)  # centre the grid
        titles = ["original"] + [f"view {v + 1}" for v in range(cols - 1)]
        for c, title in enumerate(titles):
            x = self._x(c, cell)
            painter.setPen(self.palette().text().color())
            painter.drawText(QRect(x, 0, cell, HEADER), Qt.AlignmentFlag.AlignCenter, title)
        for r, row in enumerate(self._images):
            y = HEADER + GAP + r * (cell + GAP)
            for c, image in enumerate(row):
                target = QRect(self._x(c, cell), y, cell, cell)
                painter.drawImage(target, image)
                if c == 0:
                    painter.setPen(QPen(QColor("#888888"), 1))
                    painter.drawRect(target.adjusted(-1, -1, 0, 0))
        painter.end()

    def _x(self, col: int, cell: int) -> int:
        return self._left + GAP + col * (cell + GAP) + (ORIGINAL_GAP if col > 0 else 0)
