"""The pyqtgraph pieces of the live curves, built so that a new training step costs the GUI thread little.

A new point would otherwise repaint a lot: the view range follows the data exactly, so every new step or new
minimum regenerates both axes; a tick label that gets wider resizes the left axis and relayouts every plot of the
window; pyqtgraph's grid is drawn by the axes over the whole plot, so each curve change replays both axes'
pictures (ticks, labels, lines). Here instead:

- SteadyViewBox: auto-range as pyqtgraph's (the "A" button, a mouse pan turns it off), but the range only
  changes when data leave it (growing with headroom: y by a tenth, x to the next round number, at least
  min_x_span: 10 steps) or fill less than 1/LOOSE of it, so most steps leave the axes as they are;
- axes of a fixed size (left: room for LABEL_CHARS characters, labels in scientific notation when longer),
  their drawing cached as a pixmap (DeviceCoordinateCache): a repaint over them is a copy;
- GridLines: the grid as one cheap item under the curves, lines at the axes' own ticks.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QFontMetrics, QPen
from PySide6.QtWidgets import QGraphicsItem

GROW = 0.1  # headroom added (fraction of the data's span) when data leave the view
NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)  # where a growing x range ends (times 10**k)
LOOSE = 1.8  # the view is refitted when the data span less than 1/LOOSE of it
LABEL_CHARS = "-8.88e-08"  # the widest left-axis label: longer ones switch to scientific notation (3 digits)
GRID_COLOURS = ("#dcdcdc", "#eeeeee")  # major, minor lines: opaque, light on the white background


class SteadyViewBox(pg.ViewBox):
    """pyqtgraph's auto-range with hysteresis: the range moves only when the data outgrow it or shrink in it."""

    _refit = True  # auto-range was just switched on (the "A" button): fit the data afresh, whatever the view

    def __init__(self, min_x_span: float = 1.0):
        super().__init__()
        self.min_x_span = min_x_span  # the x range of a run's first steps: it then grows far less often

    def enableAutoRange(self, *args, **kwargs):  # noqa: N802 - pyqtgraph's name (also its way to turn it off)
        self._refit = True  # used by the next auto-range only: none comes while it is off
        super().enableAutoRange(*args, **kwargs)

    def setRange(self, rect=None, xRange=None, yRange=None, *args, **kwargs):  # noqa: N802, N803 - pyqtgraph's
        if self._updatingRange and kwargs.get("disableAutoRange") is False:  # asked by updateAutoRange
            xRange, yRange = self._steady(0, xRange), self._steady(1, yRange)
            self._refit = False
            if xRange is None and yRange is None:
                return
        super().setRange(rect, xRange, yRange, *args, **kwargs)

    def _steady(self, axis: int, target) -> tuple[float, float] | None:
        """The range to set for data spanning `target` (padded already), or None to keep the current one."""
        if target is None:
            return None
        low, high = float(target[0]), float(target[1])
        span = high - low
        if not math.isfinite(span):
            return None
        if axis == 0:  # steps or epochs: at least min_x_span (one step: the range starts half a step before it)
            least = max(span, self.min_x_span, 1.0)
            low -= 0.5 if span <= 0 else 0.0
        else:  # values: a constant one (a learning rate without a schedule) in the middle of +-10 % of it
            magnitude = max(abs(low), abs(high))
            least = span if span > 1e-6 * magnitude else (0.2 * magnitude or 2.0)
        pad = self.suggestPadding(axis) * span / (1 + 2 * self.suggestPadding(axis))  # pyqtgraph's margin
        current_low, current_high = self.viewRange()[axis]
        if (
            not self._refit
            and current_low <= low + pad
            and high - pad <= current_high
            and current_high - current_low <= LOOSE * least
        ):
            return None  # the data (without the margin) are all in view, and fill enough of it
        if axis == 0:  # steps and epochs grow to the right, to a round number
            return (low, max(low + least, nice_ceil(high + GROW * span)))
        grow = GROW * span if least == span else (least - span) / 2
        return (low - grow, high + grow)


def nice_ceil(value: float) -> float:
    """The smallest NICE number times a power of ten that is at least `value` (a positive one)."""
    if not (value > 0 and math.isfinite(value)):
        return value
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in NICE if m * power >= value * (1 - 1e-9))


class IntegerAxis(pg.AxisItem):
    """An axis for steps or epochs: ticks at whole numbers only (never 0.5 steps), labelled without decimals."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph's names
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            if spacing < 1:
                continue  # a level between whole numbers: the next level (spacing 1 or more) has the integers
            whole = [v for v in values if abs(v - round(v)) < 1e-6]
            if whole:
                levels.append((spacing, whole))
        if not levels and np.floor(maxVal) >= np.ceil(minVal):  # zoomed in below one step: the integers inside
            levels.append((1.0, list(np.arange(np.ceil(minVal), np.floor(maxVal) + 1))))
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        return [f"{int(round(v * scale)):,}" for v in values]


class ValueAxis(pg.AxisItem):
    """A left axis of fixed width: labels that would not fit (a learning rate of 0.000025) in scientific notation.

    Three significant digits at most, so ticks closer than a thousandth of their value (a flat curve) may repeat
    a label rather than overflow the axis."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        strings = super().tickStrings(values, scale, spacing)
        if all(len(s) <= len(LABEL_CHARS) - 1 for s in strings):
            return strings
        largest = max((abs(v * scale) for v in values), default=0.0)
        step = abs(spacing * scale)
        digits = int(min(2, max(0, math.ceil(math.log10(largest / step))))) if largest > 0 and step > 0 else 0
        return [f"{v * scale:.{digits}e}" for v in values]


class GridLines(pg.GraphicsObject):
    """The plot's grid: one drawLines at the axes' tick positions, recomputed only when the view range changes."""

    def __init__(self, plot: pg.PlotItem):
        super().__init__()
        self._plot = plot
        self._lines: list[list[QLineF]] | None = None
        self._pens = [QPen(pg.mkColor(colour), 0) for colour in GRID_COLOURS]  # width 0: one pixel, cosmetic
        self.setZValue(-1e6)  # under the curves
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # a repaint under a new point: a copy
        view = plot.getViewBox()
        view.sigRangeChanged.connect(self._changed)
        view.sigResized.connect(self._changed)

    def _changed(self, *_args) -> None:
        self.prepareGeometryChange()
        self._lines = None
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._plot.getViewBox().viewRect()

    def _compute(self) -> list[list[QLineF]]:
        view = self._plot.getViewBox()
        (x0, x1), (y0, y1) = view.viewRange()
        size = view.size()
        lines: list[list[QLineF]] = [[], []]
        for name, low, high, pixels, vertical in (
            ("bottom", x0, x1, size.width(), True),
            ("left", y0, y1, size.height(), False),
        ):
            if pixels <= 0:
                continue
            levels = self._plot.getAxis(name).tickValues(low, high, pixels)
            for level, (_spacing, values) in enumerate(levels[:2]):
                for v in values:
                    if low <= v <= high:
                        lines[level].append(QLineF(v, y0, v, y1) if vertical else QLineF(x0, v, x1, v))
        return lines

    def paint(self, painter, *_args) -> None:
        if self._lines is None:
            self._lines = self._compute()
        for pen, lines in zip(reversed(self._pens), reversed(self._lines), strict=True):  # minor first
            if lines:
                painter.setPen(pen)
                painter.drawLines(lines)


def add_plot(
    graphics: pg.GraphicsLayoutWidget, row: int, col: int, title: str, colspan: int = 1, min_x_span: float = 1.0
) -> pg.PlotItem:
    """A plot with a steady view range (x at least `min_x_span` wide), fixed-size cached axes and the cheap grid."""
    left, bottom = ValueAxis("left"), IntegerAxis("bottom")
    plot = graphics.addPlot(
        row=row,
        col=col,
        colspan=colspan,
        title=title,
        viewBox=SteadyViewBox(min_x_span),
        axisItems={"left": left, "bottom": bottom},
    )
    font = QFontMetrics(left.style["tickFont"] or graphics.font())
    left.setWidth(font.horizontalAdvance(LABEL_CHARS) + left.style["tickTextOffset"][0] + 4)
    bottom.setHeight(font.height() + bottom.style["tickTextOffset"][1] + 2)
    for axis in (left, bottom):
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.getViewBox().addItem(GridLines(plot), ignoreBounds=True)
    return plot
