"""The scan report as a panel: images found, labels with counts, sizes and formats, skipped files (expandable)."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.data.scan import ScanReport, SkippedFile

MAX_SKIPPED_ROWS = 5000  # more than this is listed as a count only (the CLI report has them all)
_SHOWN_SIZES = 6


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in range(1, len(headers)):
        table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    return table


def _item(value: object, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(f"{value:,}" if isinstance(value, int) else str(value))
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class ScanSummary(QWidget):
    """Fill with set_report(report, sizes); add_skipped() appends files that failed to decode later."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.labels_table = _table(["label (subfolder)", "images"])
        self.skipped_button = QToolButton()
        self.skipped_button.setCheckable(True)
        self.skipped_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_button.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.skipped_button.toggled.connect(self._toggle_skipped)
        self.skipped_table = _table(["path", "reason"])
        self.skipped_table.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.headline)
        layout.addWidget(self.details)
        layout.addWidget(self.labels_table, 2)
        layout.addWidget(self.skipped_button)
        layout.addWidget(self.skipped_table, 1)
        layout.addStretch(0)  # keeps the text at the top while both tables are hidden
        self._skipped: list[SkippedFile] = []
        self.set_report(None)

    def set_report(self, report: ScanReport | None, sizes: dict[str, int] | None = None, sampled: int = 0) -> None:
        self._skipped = list(report.skipped) if report else []
        self._skipped_paths = {s.path for s in self._skipped}
        self.labels_table.setRowCount(0)
        if report is None:
            self.headline.clear()
            self.details.clear()
            self.labels_table.hide()
            self._fill_skipped()
            return
        n = len(report.paths)
        self.headline.setText(f"<b>{n:,} image{'s' if n != 1 else ''}</b> in {report.root}")
        counts = Counter(report.labels)
        rows = [(name, counts.get(i, 0)) for i, name in enumerate(report.class_names)]
        if counts.get(-1):
            rows.append(("(unlabelled)", counts[-1]))
        self.labels_table.setVisible(bool(report.class_names))
        self.labels_table.setRowCount(len(rows))
        for r, (name, count) in enumerate(rows):
            self.labels_table.setItem(r, 0, _item(name))
            self.labels_table.setItem(r, 1, _item(count, align_right=True))
        lines = ["Formats: " + (", ".join(f"{k} {v:,}" for k, v in report.formats.items()) or "—")]
        if sizes:
            ranked = sorted(sizes.items(), key=lambda kv: -kv[1])
            shown = ", ".join(f"{k.replace('x', ' × ')} px ({v:,})" for k, v in ranked[:_SHOWN_SIZES])
            more = f", and {len(ranked) - _SHOWN_SIZES} other sizes" if len(ranked) > _SHOWN_SIZES else ""
            of = f" (of a sample of {sampled:,})" if sampled < n else ""
            lines.append(f"Sizes{of}: {shown}{more}")
        if not report.class_names:
            lines.append("No labels: the images are not in subfolders (labels are optional).")
        self.details.setText("<br>".join(lines))
        self._fill_skipped()

    def add_skipped(self, path: str, reason: str) -> None:
        """A file that the scan listed but that failed to decode (found by the check or the thumbnails)."""
        if path in self._skipped_paths:
            return
        self._skipped.append(SkippedFile(path, reason))
        self._skipped_paths.add(path)
        row = self.skipped_table.rowCount()
        if row < MAX_SKIPPED_ROWS:
            self.skipped_table.insertRow(row)
            self.skipped_table.setItem(row, 0, _item(path))
            self.skipped_table.setItem(row, 1, _item(reason))
        self._update_button()

    def skipped_count(self) -> int:
        return len(self._skipped)

    def _fill_skipped(self) -> None:
        shown = self._skipped[:MAX_SKIPPED_ROWS]
        self.skipped_table.setRowCount(len(shown))
        for r, s in enumerate(shown):
            self.skipped_table.setItem(r, 0, _item(s.path))
            self.skipped_table.setItem(r, 1, _item(s.reason))
        self._update_button()

    def _update_button(self) -> None:
        n = len(self._skipped)
        if n == 0:
            self.skipped_button.setChecked(False)
        self.skipped_button.setText(f"Skipped files ({n:,})")
        self.skipped_button.setEnabled(n > 0)
        expanded = self.skipped_button.isChecked()
        self.skipped_button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)

    def _toggle_skipped(self, on: bool) -> None:
        self.skipped_table.setVisible(on)
        self._update_button()
