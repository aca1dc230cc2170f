"""The clicked point: its image large with path and label, and its k nearest neighbours as a gallery with distances.
Double-click a neighbour to jump to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListView, QSpinBox, QSplitter, QVBoxLayout, QWidget

from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.widgets.image_detail import ImageDetail
from workbench.gui.widgets.thumbnails import ThumbnailModel, ThumbnailView

DEFAULT_K = 12
POINT_HINT = "Click a point on the map to see its image and its nearest neighbours."


class HintedThumbnailView(ThumbnailView):
    """A thumbnail grid whose empty state says what fills it here (not the Data workspace's drop hint)."""

    def __init__(self, hint: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.hint = hint

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        QListView.paintEvent(self, event)
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.viewport().rect().adjusted(8, 8, -8, -8), flags, self.hint)


def subset_report(root: Path, paths: list[str], labels: np.ndarray, class_names: list[str], rows) -> ScanReport:
    """A ScanReport of some rows of an embedding, so the thumbnail models can show them."""
    rows = np.asarray(rows, dtype=np.int64)
    return ScanReport(str(root), [paths[r] for r in rows], [int(v) for v in labels[rows]], list(class_names))


class NeighbourModel(ThumbnailModel):
    """Thumbnails of the neighbours; the text under each is its cosine distance."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = np.zeros(0, dtype=np.int64)  # embedding rows, nearest first
        self.distances = np.zeros(0, dtype=np.float32)

    def set_neighbours(self, report: ScanReport, rows: np.ndarray, distances: np.ndarray) -> None:
        self.rows, self.distances = np.asarray(rows), np.asarray(distances)
        self.set_report(report)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if index.isValid() and role == Qt.ItemDataRole.DisplayRole:
            return f"{self.distances[index.row()]:.3f}"
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            return f"{super().data(index, role)}\ncosine distance: {self.distances[index.row()]:.4f}"
        return super().data(index, role)


class NeighboursPanel(QWidget):
    """`jump(row)` when a neighbour is double-clicked; `k_changed(k)` when the user asks for more or fewer."""

    jump = Signal(int)
    k_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.detail = ImageDetail()
        self.detail.caption.setText(POINT_HINT)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100)
        self.k_spin.setValue(DEFAULT_K)
        self.k_spin.setToolTip("How many nearest neighbours (cosine similarity of the embeddings) to show.")
        self.k_spin.valueChanged.connect(lambda k: emit(self.k_changed, int(k)))
        self.title = QLabel("Nearest neighbours in embedding space (cosine distance)")
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(QLabel("k"))
        head.addWidget(self.k_spin)
        self.model = NeighbourModel(self)
        self.gallery = HintedThumbnailView("The nearest neighbours of the clicked point appear here.")
        self.gallery.setModel(self.model)
        size = self.model.thumb_size
        self.gallery.setGridSize(QSize(size + 12, size + 26))  # room for the distance under each image
        self.gallery.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.gallery.setToolTip("Double-click a neighbour to jump to it.")
        self.gallery.doubleClicked.connect(lambda index: emit(self.jump, int(self.model.rows[index.row()])))
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(head)
        lower_layout.addWidget(self.gallery, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.detail)
        splitter.addWidget(lower)
        splitter.setSizes([300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def k(self) -> int:
        return int(self.k_spin.value())

    def show_point(self, path: Path, label: str) -> None:
        self.detail.show_image(path, label)

    def set_neighbours(self, report: ScanReport, rows: np.ndarray, distances: np.ndarray) -> None:
        self.model.set_neighbours(report, rows, distances)

    def clear(self) -> None:
        self.detail.clear()
        self.detail.caption.setText(POINT_HINT)
        self.model.set_neighbours(ScanReport("", [], [], []), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def shutdown(self) -> None:
        self.detail.runner.shutdown()
        self.model.shutdown()
