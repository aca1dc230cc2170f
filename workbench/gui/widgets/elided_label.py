"""A one-line label for status and progress texts: it elides what does not fit and never widens the window.

A plain QLabel asks for the width of its whole text, so each longer status message made the window wider (and it
never shrank back). This one asks for a small minimum, paints the text elided ("…", at the end or in the middle for
paths) and shows the full text as a tooltip when it is cut. It is one line high whatever the text (a message with
line breaks made the status bar taller for a moment, and the window above it relaid out). Qt has no elided label
of its own (superqt's QElidingLabel would add a dependency for these few lines).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_WIDTH = 40  # pixels the label asks for at least: "…" and a few letters
MAX_HINT = 480  # the most it asks for (what a layout gives it when there is room)


class ElidedLabel(QLabel):
    """setText() as for a QLabel (plain text, one line); `elide` is Qt.TextElideMode (ElideRight by default)."""

    def __init__(
        self, text: str = "", parent: QWidget | None = None, elide: Qt.TextElideMode = Qt.TextElideMode.ElideRight
    ):
        super().__init__(parent)
        self._elide = elide
        self._shown: tuple[str, int, str] | None = None  # (text, width, elided): one elision per change, not per paint
        self.setTextFormat(Qt.TextFormat.PlainText)
        # Preferred, not Ignored: with room the text gets its width; without, the layout may shrink it to the minimum.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text == self.text():
            return  # a progress text set again: no relayout, no repaint, no elision
        super().setText(text)
        self._update_tooltip()

    def is_elided(self) -> bool:
        return self.displayed_text() != self.text()

    def displayed_text(self) -> str:
        """The text as painted at the current width (elided once per text and width: paints reuse it)."""
        text, width = self.text(), self.contentsRect().width()
        if self._shown is None or self._shown[:2] != (text, width):
            self._shown = text, width, self._elided(text, width)
        return self._shown[2]

    def _elided(self, text: str, width: int) -> str:
        return self.fontMetrics().elidedText(text, self._elide, width)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(MIN_WIDTH, self._line_height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        # The text's width, capped, so that a layout with room shows it whole but a long one never pushes hard.
        width = min(self.fontMetrics().horizontalAdvance(self.text()) + 8, MAX_HINT)
        return QSize(max(MIN_WIDTH, width), self._line_height())

    def _line_height(self) -> int:
        # One line whatever the text: a message with line breaks (a scan's report) is painted on one line, and
        # asking for its lines' height would resize the status bar and relayout the whole window above it.
        margins = self.contentsMargins()
        return self.fontMetrics().height() + margins.top() + margins.bottom() + 2 * self.margin()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._update_tooltip()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        align = self.alignment() | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), int(align) | int(Qt.TextFlag.TextSingleLine), self.displayed_text())
        painter.end()

    def _update_tooltip(self) -> None:
        self.setToolTip(self.text() if self.is_elided() else "")
