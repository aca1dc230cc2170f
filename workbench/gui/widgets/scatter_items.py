"""The map's graphics items: `SharedStyleScatter` (a ScatterPlotItem whose points share a few QBrush objects, so
its symbol atlas is looked up once per distinct style) and `MapViewBox` (a ViewBox whose left drag pans or draws a
box or a lasso). Kept apart from scatter.py for size; scatter.py re-exports both.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from workbench.gui.signals import emit

_ids = np.frompyfunc(id, 1, 1)


class SharedStyleScatter(pg.ScatterPlotItem):
    """A ScatterPlotItem that looks up its symbol atlas once per distinct style instead of once per point, and only
    when it is about to paint.

    pyqtgraph keys every point's (symbol, size, pen, brush) in Python, about 1 s for 100,000 points. Here the points
    share a handful of QBrush objects, so the styles are factorised by object identity with numpy and only the
    distinct ones go through the atlas: the same source rectangles, about ten times faster. Deferring the lookup to
    the next paint means new coordinates and their colours cost one lookup, not two.
    """

    _stale = False  # set before pyqtgraph's __init__ calls updateSpots

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        opts = self.opts  # the default style in the atlas from the start: bounding rects include the symbol width
        self.fragmentAtlas[[(opts["symbol"], opts["size"], opts["pen"], opts["brush"])]]
        self._updateMaxSpotSizes()

    def updateSpots(self, dataSet=None):  # noqa: N802, N803 - pyqtgraph's names
        if not (self.opts["pxMode"] and self.opts["useCache"]):
            return super().updateSpots(dataSet)
        self._stale = True
        # The bounds now, not at the next paint: setData zeroed the spot size, and an item of one point with no size
        # has an empty bounding rect, so its update repainted nothing and a clicked point showed no ring until the
        # next zoom. Cheap: in pxMode the size is the atlas's widest symbol (the default style is always in it).
        self.prepareGeometryChange()
        self._updateMaxSpotSizes()
        self.invalidate()

    def paint(self, p, *args):
        if self._stale:
            self.lookup_styles()
        super().paint(p, *args)

    def lookup_styles(self) -> None:
        """Give every point without one its source rectangle in the symbol atlas (one lookup per distinct style)."""
        self._stale = False
        data = self.data
        todo = data["sourceRect"]["w"] == 0
        if todo.any():
            symbol, size, pen, brush = self._style(["symbol", "size", "pen", "brush"], data=data, idx=todo)
            code = np.zeros(len(size), dtype=np.int64)
            for column in (_ids(symbol), np.asarray(size, np.float64).view(np.int64), _ids(pen), _ids(brush)):
                distinct, inverse = np.unique(np.asarray(column, dtype=np.int64), return_inverse=True)
                code = code * len(distinct) + inverse.reshape(-1)  # one integer per distinct style
            _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
            coords = self.fragmentAtlas[[(symbol[i], size[i], pen[i], brush[i]) for i in first]]
            rects = np.array([tuple(c) for c in coords], dtype=data["sourceRect"].dtype)
            data["sourceRect"][todo] = rects[inverse.reshape(-1)]
            self._maybeRebuildAtlas()  # may reset the rectangles and mark them stale again
            if self._stale:
                self.lookup_styles()
        self._updateMaxSpotSizes(data=data)

    def setPointsVisible(self, visible, update=True, dataSet=None, mask=None):  # noqa: N802, N803 - pyqtgraph's
        """Visibility changes no style, so the atlas rectangles stay (pyqtgraph would look every point up again)."""
        data = self.data if dataSet is None else dataSet
        data["visible"] = visible if mask is None or np.isscalar(visible) else np.asarray(visible)[mask]
        if update:
            self.invalidate()

    def mouseClickEvent(self, ev):  # noqa: N802 - pyqtgraph's name
        ev.ignore()  # the map hit-tests clicks with its KD-tree; pyqtgraph's per-item search would take them

    def set_brushes(self, groups: np.ndarray, brushes: list[QBrush]) -> None:
        """Point i gets brushes[groups[i]] (the same object for a whole group) and the item's default symbol, size
        and pen; its atlas rectangle is set here, from one atlas lookup per brush, so the next paint looks no point
        up (a per-point lookup of 60,000 points held the GUI thread for ~0.25 s on the first paint of a map)."""
        table = np.empty(len(brushes), dtype=object)  # filled one by one: numpy must not look inside a QBrush
        for i, brush in enumerate(brushes):
            table[i] = brush
        self.data["brush"] = table[groups]
        self.data["sourceRect"] = self._default_rects(brushes)[groups]
        self.updateSpots()

    def set_xy(self, x: np.ndarray, y: np.ndarray) -> None:
        """New points at (x, y) in the default style: setData(x=x, y=y) with its record array made by np.zeros (numpy
        fills np.empty's object fields one by one, ~60 ms at 60,000 points on the GUI thread; zeros then None is ~8)
        and every atlas rectangle set at once."""
        self.clear()
        data = np.zeros(len(x), dtype=self.data.dtype)
        for name in ("symbol", "pen", "brush", "data", "item"):
            data[name] = None  # what np.empty gives and pyqtgraph reads as "the item's default"
        data["size"], data["visible"] = -1, True
        data["x"], data["y"] = x, y
        self.data = data
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.bounds = [None, None]
        self.invalidate()
        self.set_default_styles()
        self.sigPlotChanged.emit(self)

    def set_default_styles(self) -> None:
        """Every point in the item's default style, its atlas rectangle set at once (after setData of new points)."""
        self.data["sourceRect"] = self._default_rects([self.opts["brush"]])[0]
        self.updateSpots()

    def _default_rects(self, brushes: list) -> np.ndarray:
        """The atlas rectangles of the item's default symbol, size and pen with each of `brushes`."""
        opts = self.opts
        coords = self.fragmentAtlas[[(opts["symbol"], opts["size"], opts["pen"], b) for b in brushes]]
        return np.array([tuple(c) for c in coords], dtype=self.data["sourceRect"].dtype)

    def set_grouped(
        self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, brushes: list[QBrush], capacity: int
    ) -> None:
        """Show only the points (x[i], y[i]) with brushes[groups[i]] and the item's other defaults, in an array of
        `capacity` slots allocated once and reused (the slots beyond len(x) are hidden): the map's level of detail
        reloads its points with numpy passes only. pyqtgraph allocates a record array with object fields per
        setData, ~1-3 us a point (measured), and looks each point's style up; here the atlas is asked once per brush.
        """
        k = len(x)
        if k == 0:  # nothing to show (the density level): hide what is there, allocate nothing
            self.setPointsVisible(False)
            return
        if len(self.data) != max(capacity, k):
            self.setData(x=np.zeros(max(capacity, k)), y=np.zeros(max(capacity, k)))
            self.lookup_styles()  # every slot gets the default style's rectangle, once
        data = self.data
        if brushes and k:
            table = np.empty(len(brushes), dtype=object)
            for i, brush in enumerate(brushes):
                table[i] = brush
            rects = self._default_rects(brushes)
            data["brush"][:k] = table[groups]
            data["sourceRect"][:k] = rects[groups]
        data["x"][:k], data["y"][:k] = x, y
        data["x"][k:], data["y"][k:] = (x[0], y[0]) if k else (0.0, 0.0)  # hidden, and inside the bounds
        data["visible"][:k], data["visible"][k:] = True, False
        self.prepareGeometryChange()
        self.bounds = [None, None]
        self.informViewBoundsChanged()
        self.invalidate()


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag pans, or draws a box or a lasso, and whose left click reports the map position."""

    drawn = Signal(object, object)  # polygon (M, 2) in map coordinates, Qt.KeyboardModifiers
    clicked = Signal(object)  # QPointF in map coordinates

    def __init__(self):
        super().__init__(lockAspect=True)
        self.tool = "pan"
        self._trace: list[QPointF] = []
        self.outline = QGraphicsPathItem()
        pen = QPen(QColor("#222222"), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)  # width in pixels, whatever the zoom
        self.outline.setPen(pen)
        self.outline.setBrush(QBrush(QColor(30, 30, 30, 25)))
        self.outline.setZValue(100)
        self.outline.hide()
        self.addItem(self.outline, ignoreBounds=True)

    def mouseClickEvent(self, ev):  # noqa: N802 - pyqtgraph's name
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            emit(self.clicked, self.mapSceneToView(ev.scenePos()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph's name
        if self.tool == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._trace = [self.mapSceneToView(ev.buttonDownScenePos())]
        self._trace.append(self.mapSceneToView(ev.scenePos()))
        polygon = self._polygon()
        path = QPainterPath()
        path.moveTo(*polygon[0])
        for x, y in polygon[1:]:
            path.lineTo(x, y)
        path.closeSubpath()
        self.outline.setPath(path)
        self.outline.show()
        if ev.isFinish():
            self.outline.hide()
            emit(self.drawn, polygon, ev.modifiers())

    def _polygon(self) -> np.ndarray:
        points = np.array([(p.x(), p.y()) for p in self._trace], dtype=np.float64)
        if self.tool == "box":
            (x0, y0), (x1, y1) = points[0], points[-1]
            return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        return points
