"""The model-free data checks as a panel: one row per issue with its count; click a row to show only those images.

Filled by set_checks(DataChecks) once the Data workspace's background pass ends; set_running() shows that pass's
progress and a Cancel button. The "Exclude selected from training" button asks the workspace to add the grid's
selection to the run's exclusion list (data.exclude); the files themselves are never touched.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.data.checks import ISSUES, DataChecks

_TIPS = {
    "exact_duplicates": "Files with identical bytes (the same SHA-1).",
    "near_duplicates": "Images whose difference hash (dHash) differs in a few bits at most: copies, re-encodes.",
    "blurry": "Little fine detail: the variance of the Laplacian is small relative to the contrast.",
    "dark": "Even the brightest pixels are dark.",
    "light": "Even the darkest pixels are nearly white.",
    "low_information": "Very few grey levels (low entropy): blank, constant or two-tone images.",
    "grayscale": "Grayscale images in a folder that is mostly in colour.",
    "odd_aspect_ratio": "Width/height far from the folder's typical aspect ratio.",
    "odd_size": "Much larger or smaller than the folder's typical image.",
}


class DataChecksPanel(QWidget):
    """`issue_clicked(kind)`: a row was clicked (the issue kind, a key of checks.ISSUES).
    `exclude_requested()`: the user asks to exclude the grid's selection from training.
    `cancel_requested()`: stop the running checks."""

    issue_clicked = Signal(str)
    exclude_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("<b>Data checks</b>")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit())
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["issue", "images"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Click an issue to show only its images.")
        self.table.cellClicked.connect(lambda row, _col: self.issue_clicked.emit(self._kinds[row]))
        self.exclude_button = QPushButton("Exclude selected from training")
        self.exclude_button.setToolTip(
            "Adds the selected images to the run's exclusion list (data.exclude); the files are not touched."
        )
        self.exclude_button.clicked.connect(lambda: self.exclude_requested.emit())
        self.excluded_label = QLabel()
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title, 1)
        head.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.excluded_label)
        layout.addWidget(self.exclude_button)
        self._kinds: list[str] = list(ISSUES)
        self._checks: DataChecks | None = None
        self.set_checks(None)
        self.set_excluded(0)

    def set_running(self, running: bool, text: str = "") -> None:
        self.cancel_button.setVisible(running)
        if running or text:
            self.status.setText(text or "Checking images…")

    def set_checks(self, checks: DataChecks | None) -> None:
        self._checks = checks
        self.table.setRowCount(len(self._kinds) if checks is not None else 0)
        self.table.setVisible(checks is not None)
        if checks is None:
            self.status.setText("Not checked yet.")
            return
        for row, kind in enumerate(self._kinds):
            groups = checks.groups.get(kind)
            label = ISSUES[kind] + (f" ({len(groups):,} groups)" if groups else "")
            name, count = QTableWidgetItem(label), QTableWidgetItem(f"{checks.count(kind):,}")
            name.setToolTip(_TIPS.get(kind, ""))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, count)
        flagged = len({r for rows in checks.flagged.values() for r in rows})
        checked = len(checks.paths) - checks.unchecked
        self.status.setText(f"{flagged:,} of {checked:,} images flagged by at least one check.")

    def count_text(self, kind: str) -> str:
        """The count shown for `kind` (tests read the panel as the user sees it)."""
        item = self.table.item(self._kinds.index(kind), 1)
        return item.text() if item is not None else ""

    def select_issue(self, kind: str | None) -> None:
        if kind is None or kind not in self._kinds:
            self.table.clearSelection()
        else:
            self.table.selectRow(self._kinds.index(kind))

    def set_excluded(self, n: int) -> None:
        self.excluded_label.setText(f"{n:,} image{'s' if n != 1 else ''} excluded from training" if n else "")
        self.excluded_label.setVisible(n > 0)
