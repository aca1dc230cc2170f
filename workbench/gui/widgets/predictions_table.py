"""The predictions of a propagation as a table: path, predicted label, confidence, the user's label; sortable by any
column (least confident first is one click), a click on a row jumps to the image on the map.

A virtual model over numpy arrays: nothing is built per row, so a million predictions open at once; sorting is one
numpy argsort on numbers (the paths are already in the scan's sorted order; labels sort by their sorted names' ids).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from workbench.gui.signals import emit

COLUMNS = ("Image", "Predicted", "Confidence", "Your label")
_Index = QModelIndex | QPersistentModelIndex


class PredictionsModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.paths: list[str] = []
        self.names: list[str] = []
        self.predicted = np.zeros(0, np.int64)
        self.confidence = np.zeros(0, np.float32)
        self.user = np.zeros(0, np.int64)  # id into names, -1 none
        self.order = np.zeros(0, np.int64)  # view row -> data row

    def set_predictions(
        self, paths: Sequence[str], names: Sequence[str], predicted, confidence, user_ids, *, order_by: int = 2
    ) -> None:
        self.beginResetModel()
        self.paths, self.names = list(paths), list(names)
        self.predicted = np.asarray(predicted, np.int64)
        self.confidence = np.asarray(confidence, np.float32)
        self.user = np.asarray(user_ids, np.int64)
        self.order = self._order(order_by, Qt.SortOrder.AscendingOrder)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's names and defaults
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            return None
        row = int(self.order[index.row()])
        if role == Qt.ItemDataRole.UserRole:
            return row
        column = index.column()
        if column == 0:
            return self.paths[row]
        if column == 1:
            return self.names[self.predicted[row]]
        if column == 2:
            return f"{float(self.confidence[row]):.1%}"
        return self.names[self.user[row]] if self.user[row] >= 0 else ""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self.order = self._order(column, order)
        self.layoutChanged.emit()

    def _order(self, column: int, order: Qt.SortOrder) -> np.ndarray:
        n = len(self.paths)
        keys = {0: np.arange(n), 1: self.predicted, 2: self.confidence, 3: self.user}.get(column, np.arange(n))
        rows = np.argsort(keys, kind="stable")
        return rows[::-1].copy() if order == Qt.SortOrder.DescendingOrder else rows

    def row_of(self, index: _Index) -> int:
        return int(self.order[index.row()])


class PredictionsTable(QTableView):
    """set_predictions(...); `jump(row)` when a row is clicked."""

    jump = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_ = PredictionsModel(self)
        self.setModel(self.model_)
        self.setSortingEnabled(True)
        self.sortByColumn(2, Qt.SortOrder.AscendingOrder)  # least confident first: where to look
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setToolTip("Click a column to sort by it; click a row to show the image on the map.")
        self.clicked.connect(lambda index: emit(self.jump, self.model_.row_of(index)))

    def set_predictions(self, paths, names, predicted, confidence, user_ids) -> None:
        header = self.horizontalHeader()
        self.model_.set_predictions(
            paths, names, predicted, confidence, user_ids, order_by=header.sortIndicatorSection()
        )
        self.model_.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
