"""Duplicates: files with identical content (by hash), then near-identical pairs (cosine similarity of the embeddings
above a threshold), each listed with both thumbnails; double-click an image to jump to it on the map."""

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
    QSizePolicy,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.duplicates import DEFAULT_THRESHOLD, MAX_PAIRS, DuplicatePair
from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.widgets.neighbours import subset_report
from workbench.gui.widgets.thumbnails import ThumbnailModel

HEADERS = ("Image", "Duplicate", "Similarity")
HINT = "Finds files with the same content, and pairs of images whose embeddings are almost the same."
IDENTICAL = "identical file"


def identical_pairs(groups: list[list[int]]) -> list[DuplicatePair]:
    """Each group of identical files as pairs of its first file with each other one (similarity 1)."""
    return [DuplicatePair(rows[0], other, 1.0) for rows in groups for other in rows[1:]]


class PairsModel(QAbstractTableModel):
    """Rows are pairs; columns 0 and 1 show the two images (thumbnail + relative path; the tooltip has the full path
    and label), column 2 the similarity. Thumbnails come from a ThumbnailModel over the interleaved paths
    [a0, b0, a1, b1, …]."""

    def __init__(self, parent=None, identical: bool = False):
        super().__init__(parent)
        self.identical = identical  # pairs of identical files: column 2 says so
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
            return "Match" if self.identical and section == 2 else HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if column == 2:
            if role != Qt.ItemDataRole.DisplayRole:
                return None
            return IDENTICAL if self.identical else f"{self.pairs[row].similarity:.4f}"
        report, item = self.thumbs.report(), 2 * row + column
        if role == Qt.ItemDataRole.DisplayRole:
            return report.paths[item]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{Path(report.root) / report.paths[item]}\nlabel: {self.thumbs.label(item)}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbs.data(self.thumbs.index(item), role)
        return None

    def _thumb_changed(self, first: QModelIndex, _last: QModelIndex, _roles=None) -> None:
        index = self.index(first.row() // 2, first.row() % 2)
        emit(self.dataChanged, index, index, [Qt.ItemDataRole.DecorationRole])


class ThumbnailAboveText(QStyledItemDelegate):
    """The thumbnail above its path, so the path has the column's whole width (elided in the middle when longer)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex) -> None:  # noqa: N802 - Qt's name
        super().initStyleOption(option, index)
        if index.column() == 2:
            return
        option.decorationPosition = QStyleOptionViewItem.Position.Top
        option.decorationAlignment = Qt.AlignmentFlag.AlignHCenter
        option.displayAlignment = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop


def _wrapping_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    # Never squeezed below its wrapped height by the tables under it (a cut-off sentence otherwise).
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


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
        self.threshold.setToolTip(
            "Pairs whose embeddings have at least this cosine similarity are listed; the default lists "
            "near-identical images (re-encoded or resized copies), lower it for look-alikes."
        )
        self.find_button = QPushButton("Find duplicates")
        self.find_button.clicked.connect(lambda: emit(self.find_requested, float(self.threshold.value())))
        self.summary = _wrapping_label(HINT)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("cosine similarity ≥"))
        bar.addWidget(self.threshold)
        bar.addWidget(self.find_button)
        bar.addStretch(1)
        self.identical_summary = _wrapping_label("")
        self.identical_model = PairsModel(self, identical=True)
        self.identical_table = self._table(self.identical_model)
        rows = self.identical_table.verticalHeader().defaultSectionSize()  # room for one pair without scrolling
        self.identical_table.setMinimumHeight(rows + self.identical_table.horizontalHeader().sizeHint().height() + 4)
        self.model = PairsModel(self)
        self.table = self._table(self.model)
        identical_box, near_box = QWidget(), QWidget()
        for box, label, table in (
            (identical_box, self.identical_summary, self.identical_table),
            (near_box, self.summary, self.table),
        ):
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.addWidget(label)
            box_layout.addWidget(table, 1)
        self.identical_box = identical_box
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(identical_box)
        splitter.addWidget(near_box)
        splitter.setSizes([200, 400])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self._rows = np.zeros(0, dtype=np.int64)  # interleaved embedding rows of the near pairs
        self.identical_box.hide()

    def _table(self, model: PairsModel) -> QTableView:
        table = QTableView()
        table.setModel(model)
        model.thumbs.is_visible = lambda row, t=table, m=model: self._thumb_visible(t, m, row)
        size = model.thumbs.thumb_size
        table.setIconSize(QSize(size, size))
        table.setItemDelegate(ThumbnailAboveText(table))
        table.verticalHeader().setDefaultSectionSize(size + table.fontMetrics().height() + 12)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # the file name at the end stays readable
        table.setWordWrap(False)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.doubleClicked.connect(lambda index, m=model: self._on_double_clicked(m, index))
        return table

    def set_pairs(
        self,
        root: Path,
        paths: list[str],
        labels,
        class_names: list[str],
        pairs,
        threshold: float,
        identical: list[list[int]] | None = None,
    ) -> None:
        """Show the near pairs (and, when given, the groups of identical files: their pairs leave the near list)."""
        if identical:
            group_of = {row: g for g, rows in enumerate(identical) for row in rows}
            pairs = [p for p in pairs if group_of.get(p.first, -1) != group_of.get(p.second, -2)]
        self._rows = np.array([r for p in pairs for r in (p.first, p.second)], dtype=np.int64)
        self.model.set_pairs(subset_report(root, paths, labels, class_names, self._rows), pairs)
        n = len(pairs)
        text = f"{n:,} pair{'s' if n != 1 else ''} of embeddings with cosine similarity ≥ {threshold:.3f}"
        if n >= MAX_PAIRS:
            text += f". Only the {n:,} most similar are listed: raise the threshold to see all of a smaller set."
        else:
            text += "." if n else "; lower the threshold to find looser matches."
        self.summary.setText(text)
        if identical is not None:
            same = identical_pairs(identical)
            rows = np.array([r for p in same for r in (p.first, p.second)], dtype=np.int64)
            self.identical_model.set_pairs(subset_report(root, paths, labels, class_names, rows), same)
            files = sum(len(g) for g in identical)
            self.identical_summary.setText(
                f"{len(identical):,} group{'s' if len(identical) != 1 else ''} of identical files (the same content; "
                f"{files:,} files)."
                if identical
                else "No two files have identical content."
            )
            self.identical_box.setVisible(True)
            self.identical_table.setVisible(bool(identical))

    def clear(self) -> None:
        self._rows = np.zeros(0, dtype=np.int64)
        empty = ScanReport("", [], [], [])
        self.model.set_pairs(empty, [])
        self.identical_model.set_pairs(empty, [])
        self.identical_box.hide()
        self.summary.setText(HINT)

    def pair_rows(self) -> list[tuple[int, int]]:
        return [(p.first, p.second) for p in self.model.pairs]

    def identical_rows(self) -> list[tuple[int, int]]:
        return [(p.first, p.second) for p in self.identical_model.pairs]

    def shutdown(self) -> None:
        self.model.thumbs.shutdown()
        self.identical_model.thumbs.shutdown()

    def _on_double_clicked(self, model: PairsModel, index: QModelIndex) -> None:
        pair = model.pairs[index.row()]
        emit(self.jump, pair.second if index.column() == 1 else pair.first)

    @staticmethod
    def _thumb_visible(table: QTableView, model: PairsModel, row: int) -> bool:
        rect = table.visualRect(model.index(row // 2, row % 2))
        return rect.isValid() and rect.intersects(table.viewport().rect())
