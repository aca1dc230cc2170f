"""The map's legend: one entry per colour group with its count; clicking an entry hides or shows that group."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from workbench.gui.signals import emit

# Tableau 10, then lighter variants: distinct on white and for the common colour-vision deficiencies.
_CATEGORICAL = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
]
_SEQUENTIAL = ["#c6d4e1", "#6baed6", "#fd8d3c", "#d62728"]  # outlier bands: quiet to loud
UNLABELLED = QColor("#b0b0b0")


def categorical_colours(n: int) -> list[QColor]:
    """n distinct colours; beyond 20 the hues go round the wheel."""
    if n <= len(_CATEGORICAL):
        return [QColor(c) for c in _CATEGORICAL[:n]]
    return [QColor.fromHsv(int(360 * i / n) % 360, 170 + 60 * (i % 2), 200 - 40 * (i % 3)) for i in range(n)]


def sequential_colours(n: int) -> list[QColor]:
    return [QColor(c) for c in _SEQUENTIAL[:n]] if n <= len(_SEQUENTIAL) else categorical_colours(n)


def _swatch(colour: QColor) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(colour)
    return QIcon(pix)


class Legend(QListWidget):
    """set_groups(names, counts, colours); `toggled(group, visible)` when an entry is clicked."""

    toggled = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip("Click an entry to hide or show its points.")
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.itemClicked.connect(self._toggle)
        self._hidden: set[int] = set()

    def set_groups(self, names: list[str], counts: list[int], colours: list[QColor]) -> None:
        self.clear()
        self._hidden.clear()
        for group, (name, count, colour) in enumerate(zip(names, counts, colours, strict=True)):
            item = QListWidgetItem(_swatch(colour), f"{name}  ({count:,})")
            item.setData(Qt.ItemDataRole.UserRole, group)
            self.addItem(item)

    def hidden_groups(self) -> set[int]:
        return set(self._hidden)

    def entry(self, group: int) -> QListWidgetItem:
        return self.item(group)

    def set_group_visible(self, group: int, visible: bool) -> None:
        item = self.item(group)
        (self._hidden.discard if visible else self._hidden.add)(group)
        font = item.font()
        font.setStrikeOut(not visible)
        item.setFont(font)
        item.setForeground(self.palette().text() if visible else self.palette().placeholderText())
        emit(self.toggled, group, visible)

    def _toggle(self, item: QListWidgetItem) -> None:
        group = int(item.data(Qt.ItemDataRole.UserRole))
        self.set_group_visible(group, group in self._hidden)
