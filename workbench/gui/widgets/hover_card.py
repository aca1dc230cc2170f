"""The card that follows the cursor over the map: the hovered image's thumbnail, its file name and label.

`HoverThumbnails` ties the map's `hovered` signal to a card and a ThumbnailModel (the Data workspace's lazily
decoding model): a cached thumbnail shows at once; otherwise the placeholder shows and the decoded image replaces
it, unless the cursor has moved on by the time a decoding thread is free (then it is never decoded).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.widgets.scatter import ScatterMap
from workbench.gui.widgets.thumbnails import ThumbnailModel

OFFSET = QPoint(18, 18)  # below and to the right of the cursor, clear of the point itself


class HoverCard(QFrame):
    """A child of the workspace, raised above the map; never takes the mouse. `shown(row)` fires once the row's
    real thumbnail (not the placeholder) is on screen."""

    shown = Signal(int)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("hoverCard")
        self.setStyleSheet("QFrame#hoverCard { background: white; border: 1px solid #888; border-radius: 4px; }")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setStyleSheet("font-size: 11px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.image)
        layout.addWidget(self.text)
        self.row = -1
        self.final = False
        self.hide()

    def show_row(self, row: int, pixmap: QPixmap, text: str, at: QPoint, final: bool) -> None:
        """Show `row` next to `at` (parent coordinates); final=False for a placeholder while the image decodes."""
        self.row, self.final = row, final
        self.image.setPixmap(
            pixmap.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        )
        self.text.setText(text)
        self.adjustSize()
        self.move_near(at)
        self.show()
        self.raise_()
        if final:
            emit(self.shown, row)

    def move_near(self, at: QPoint) -> None:
        """Next to the cursor, flipped to the other side where it would leave the parent."""
        pos = at + OFFSET
        bounds = self.parentWidget().rect()
        if pos.x() + self.width() > bounds.right():
            pos.setX(at.x() - OFFSET.x() - self.width())
        if pos.y() + self.height() > bounds.bottom():
            pos.setY(at.y() - OFFSET.y() - self.height())
        self.move(pos)

    def clear(self) -> None:
        self.row, self.final = -1, False
        self.hide()


class HoverThumbnails(QObject):
    """The hover behaviour of the map: `card` (a child of `host`) shows the point under the cursor."""

    def __init__(self, host: QWidget, scatter: ScatterMap):
        super().__init__(host)
        self.host, self.scatter = host, scatter
        self.card = HoverCard(host)
        self.thumbs = ThumbnailModel(self)
        self.thumbs.is_visible = lambda row: row == scatter.hover_row  # moved on: not decoded
        self.thumbs.dataChanged.connect(self._on_thumbnail)
        scatter.hovered.connect(self._on_hovered)
        self._at = QPoint()

    def set_report(self, report: ScanReport) -> None:
        """The images behind the points, row for row."""
        self.card.clear()
        self.thumbs.set_report(report)

    def shutdown(self) -> None:
        self.thumbs.shutdown()

    def _on_hovered(self, row: int, pos: QPoint) -> None:
        if row < 0 or self.thumbs.report() is None:
            self.card.clear()
            return
        self._at = self.scatter.viewport().mapTo(self.host, pos)
        if row == self.card.row and self.card.isVisible():
            self.card.move_near(self._at)
        else:
            self._show(row)

    def _show(self, row: int) -> None:
        pixmap = self.thumbs.data(self.thumbs.index(row), Qt.ItemDataRole.DecorationRole)  # placeholder + request
        final = row in self.thumbs.cached_rows() or self.thumbs.failure(row) is not None
        text = f"{Path(self.thumbs.report().paths[row]).name}\n{self.thumbs.label(row)}"
        self.card.show_row(row, pixmap, text, self._at, final)

    def _on_thumbnail(self, first: QModelIndex, _last: QModelIndex, _roles=None) -> None:
        if first.row() == self.card.row == self.scatter.hover_row and not self.card.final:
            self._show(first.row())
