"""The scan report as a panel: images found, labels with counts (click one to show only its images), sizes and
formats, links to images already listed (left out or kept), skipped files (expandable)."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
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
PATH_SHARE = 0.45  # of the skipped table's width; the reason gets the rest (no horizontal scrolling)
UNLABELLED = -1


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


def _item(value: object, align_right: bool = False, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(f"{value:,}" if isinstance(value, int) else str(value))
    if tip:
        item.setToolTip(tip)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _skipped_table() -> QTableWidget:
    """Path and reason side by side within the panel's width: the path elided in the middle (its file name stays),
    each cell's tooltip has both in full."""
    table = _table(["path", "reason"])
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return table


class ScanSummary(QWidget):
    """Fill with set_report(report, sizes); add_skipped() appends files that failed to decode later.

    `label_clicked(label)`: a row of the labels table was clicked (the class index, UNLABELLED for "(unlabelled)").
    `keep_links_changed(keep)`: the user asks to keep (or leave out) links to images already in the folder."""

    label_clicked = Signal(int)
    keep_links_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.labels_table = _table(["label (subfolder)", "images"])
        self.labels_table.setToolTip("Click a label to show only its images.")
        self.labels_table.cellClicked.connect(lambda row, _col: self.label_clicked.emit(self._label_of_row[row]))
        self.links_note = QLabel()
        self.links_note.setWordWrap(True)
        self.keep_links = QCheckBox("Keep links to images already listed")
        self.keep_links.setToolTip(
            "A symbolic link to an image that the folder already holds is the same image twice. Left out by default "
            "(each image counts once); check to count each link as an image of its own."
        )
        self.keep_links.toggled.connect(self.keep_links_changed)
        self.skipped_button = QToolButton()
        self.skipped_button.setCheckable(True)
        self.skipped_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_button.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.skipped_button.toggled.connect(self._toggle_skipped)
        self.skipped_table = _skipped_table()
        self.skipped_table.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.headline)
        layout.addWidget(self.details)
        layout.addWidget(self.labels_table, 2)
        layout.addWidget(self.links_note)
        layout.addWidget(self.keep_links)
        layout.addWidget(self.skipped_button)
        layout.addWidget(self.skipped_table, 1)
        layout.addStretch(0)  # keeps the text at the top while both tables are hidden
        self._skipped: list[SkippedFile] = []
        self._label_of_row: list[int] = []
        self.set_report(None)

    def set_report(self, report: ScanReport | None, sizes: dict[str, int] | None = None, sampled: int = 0) -> None:
        self._skipped = list(report.skipped) if report else []
        self._skipped_paths = {s.path for s in self._skipped}
        self.labels_table.setRowCount(0)
        self._show_links(report)
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
        self._label_of_row = list(range(len(report.class_names)))
        if counts.get(UNLABELLED):
            rows.append(("(unlabelled)", counts[UNLABELLED]))
            self._label_of_row.append(UNLABELLED)
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
            self._set_skipped_row(row, path, reason)
        self._update_button()

    def skipped_count(self) -> int:
        return len(self._skipped)

    def select_label(self, label: int | None) -> None:
        """Mark the label whose images the grid shows (None: all of them)."""
        row = self._label_of_row.index(label) if label in self._label_of_row else -1
        if row < 0:
            self.labels_table.clearSelection()
        else:
            self.labels_table.selectRow(row)

    def _show_links(self, report: ScanReport | None) -> None:
        note = report.duplicate_links_note() if report else ""
        self.links_note.setText(note)
        self.links_note.setToolTip(
            "\n".join(f"{x.path} → {x.same_as}" for x in report.duplicate_links[:50]) if note else ""
        )
        self.links_note.setVisible(bool(note))
        self.keep_links.setVisible(bool(note))
        self.keep_links.blockSignals(True)  # showing the report's state is not a request to rescan
        self.keep_links.setChecked(bool(report and report.duplicate_links_kept))
        self.keep_links.blockSignals(False)

    def _fill_skipped(self) -> None:
        shown = self._skipped[:MAX_SKIPPED_ROWS]
        self.skipped_table.setRowCount(len(shown))
        for r, s in enumerate(shown):
            self._set_skipped_row(r, s.path, s.reason)
        self._update_button()

    def _set_skipped_row(self, row: int, path: str, reason: str) -> None:
        tip = f"{path}\n{reason}"
        self.skipped_table.setItem(row, 0, _item(path, tip=tip))
        self.skipped_table.setItem(row, 1, _item(reason, tip=tip))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.skipped_table.horizontalHeader().resizeSection(0, int(self.width() * PATH_SHARE))

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
