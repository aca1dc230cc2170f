"""Near-duplicate pairs (cosine similarity above a threshold) listed with both thumbnails; double-click to jump."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.duplicates import DEFAULT_THRESHOLD, MAX_PAIRS, DuplicatePair
from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.widgets.neighbours import subset_report
from workbench.gui.widgets.thumbnails import ThumbnailModel

HEADERS = ("Image", "Near-duplicate", "Similarity")


class PairsModel(QAbstractTableModel):
    """Rows are pairs; columns 0 and 1 show the two images (thumbnail + relative path), column 2 the similarity.
    Thumbnails come from a ThumbnailModel over the interleaved paths [a0, b0, a1, b1, …]."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.thumbs = ThumbnailModel(self)
        self.thumbs.dataChanged.connect(self._thumb_changed)
        self.pairs: list[DuplicatePair] = []

    def set_pairs(self, report: ScanReport, pairs: list[DuplicatePair]) -> None:
        self.beginResetModel()
        self.pairs = list(pairs)
        self.thumbs.set_report(report)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self.pairs)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else 3

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if column == 2:
            return f"{self.pairs[row].similarity:.4f}" if role == Qt.ItemDataRole.DisplayRole else None
        source = self.thumbs.index(2 * row + column)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.thumbs.report().paths[2 * row + column]
        if role in (Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole):
            return self.thumbs.data(source, role)
        return None

    def _thumb_changed(self, first: QModelIndex, _last: QModelIndex, _roles=None) -> None:
        index = self.index(first.row() // 2, first.row() % 2)
        emit(self.dataChanged, index, index, [Qt.ItemDataRole.DecorationRole])


class DuplicatesPanel(QWidget):
    """`find_requested(threshold)` on the button; `jump(row)` on a double-click (the pair's first or second image)."""

    find_requested = Signal(float)
    jump = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.5, 1.0)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.005)
        self.threshold.setValue(DEFAULT_THRESHOLD)
        self.threshold.setToolTip("Pairs whose embeddings have at least this cosine similarity are listed.")
        self.find_button = QPushButton("Find near-duplicates")
        self.find_button.clicked.connect(lambda: emit(self.find_requested, float(self.threshold.value())))
        self.summary = QLabel("Finds pairs of images whose embeddings are almost the same.")
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("cosine similarity ≥"))
        bar.addWidget(self.threshold)
        bar.addWidget(self.find_button)
        bar.addStretch(1)
        self.model = PairsModel(self)
        self.model.thumbs.is_visible = self._thumb_visible
        self.table = QTableView()
        self.table.setModel(self.model)
        size = self.model.thumbs.thumb_size
        self.table.setIconSize(QSize(size, size))
        self.table.verticalHeader().setDefaultSectionSize(size + 8)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.doubleClicked.connect(self._on_double_clicked)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self._rows = np.zeros(0, dtype=np.int64)  # interleaved embedding rows of the pairs

    def set_pairs(self, root: Path, paths: list[str], labels, class_names: list[str], pairs, threshold: float) -> None:
        self._rows = np.array([r for p in pairs for r in (p.first, p.second)], dtype=np.int64)
        self.model.set_pairs(subset_report(root, paths, labels, class_names, self._rows), pairs)
        n = len(pairs)
        self.summary.setText(
            f"{n:,} pair{'s' if n != 1 else ''} with cosine similarity ≥ {threshold:.3f}"
            + (" (the most similar shown)" if n >= MAX_PAIRS else "")
            + ("." if n else "; lower the threshold to find looser matches.")
        )

    def clear(self) -> None:
        self._rows = np.zeros(0, dtype=np.int64)
        self.model.set_pairs(ScanReport("", [], [], []), [])
        self.summary.setText("Finds pairs of images whose embeddings are almost the same.")

    def pair_rows(self) -> list[tuple[int, int]]:
        return [(p.first, p.second) for p in self.model.pairs]

    def shutdown(self) -> None:
        self.model.thumbs.shutdown()

    def _on_double_clicked(self, index: QModelIndex) -> None:
        pair = self.model.pairs[index.row()]
        emit(self.jump, pair.second if index.column() == 1 else pair.first)

    def _thumb_visible(self, row: int) -> bool:
        rect = self.table.visualRect(self.model.index(row // 2, row % 2))
        return rect.isValid() and rect.intersects(self.table.viewport().rect())
