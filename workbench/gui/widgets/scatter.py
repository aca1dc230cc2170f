"""The embedding map: up to 100,000+ points in one pyqtgraph ScatterPlotItem, hit-tested through a KD-tree.

- Points: one `SharedStyleScatter` (pxMode, one QBrush object per colour group, shared by all its points); hidden
  groups are masked with setPointsVisible, never removed.
- Hit-testing: scipy's cKDTree over the map coordinates. The aspect ratio is locked (a 2-D embedding has no
  preferred axis), so a radius in pixels is one radius in map units and the tree never needs rebuilding on zoom.
- The selection, the current point's neighbours and the current point are drawn by three more small scatter items on
  top.
- Tools: pan (drag pans, wheel zooms), box and lasso (drag draws; Shift adds to the selection).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QWidget

from workbench.analysis.selection import points_in_box, points_in_polygon
from workbench.gui.signals import emit

HIT_RADIUS_PX = 6
POINT_SIZE = 5
TOOLS = ("pan", "box", "lasso")
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
        """Point i gets brushes[groups[i]] (the same object for a whole group)."""
        table = np.empty(len(brushes), dtype=object)  # filled one by one: numpy must not look inside a QBrush
        for i, brush in enumerate(brushes):
            table[i] = brush
        self.data["brush"] = table[groups]
        self.data["sourceRect"] = 0
        self.updateSpots()


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


class ScatterMap(pg.PlotWidget):
    """The map. Feed it coordinates (set_points) and colour groups (set_groups); it reports hover and click rows.

    Signals carry rows (indices into the points): `hovered(row, widget position)` with row -1 when the cursor leaves
    every point, `clicked(row)`, `selection_changed(count)`.
    """

    hovered = Signal(int, QPoint)
    clicked = Signal(int)
    selection_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        self.vb = MapViewBox()
        super().__init__(parent, viewBox=self.vb, background="w")
        self.setMouseTracking(True)
        self.hideButtons()
        for axis in ("left", "bottom"):
            self.getPlotItem().hideAxis(axis)
        self.points = SharedStyleScatter(pxMode=True, size=POINT_SIZE, pen=None, hoverable=False)
        self.selected_item = SharedStyleScatter(
            pxMode=True, size=POINT_SIZE + 4, hoverable=False, pen=pg.mkPen("#111111", width=1.2), brush=None
        )
        self.neighbour_item = SharedStyleScatter(
            pxMode=True, size=POINT_SIZE + 6, hoverable=False, pen=pg.mkPen("#d62728", width=1.3), brush=None
        )
        self.current_item = SharedStyleScatter(
            pxMode=True, size=POINT_SIZE + 10, hoverable=False, pen=pg.mkPen("#d62728", width=2.5), brush=None
        )
        # The points are drawn once into a device-pixel cache, so the hover card, the selection and the current point
        # redraw without repainting 100,000 points (hover: ~90 ms -> ~15 ms); pan and zoom re-render it as before.
        self.points.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        for z, item in enumerate((self.points, self.selected_item, self.neighbour_item, self.current_item)):
            item.setZValue(z)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the ViewBox (KD-tree hit test)
            item.setAcceptHoverEvents(False)
            self.addItem(item)
        self.xy = np.zeros((0, 2), dtype=np.float64)
        self.groups = np.zeros(0, dtype=np.int64)
        self.visible = np.zeros(0, dtype=bool)
        self.selected = np.zeros(0, dtype=bool)
        self.current = -1
        self.neighbour_rows = np.zeros(0, dtype=np.int64)
        self.hover_row = -1
        self._tree = None
        self._brushes: list[QBrush] = []
        self.empty_text = ""
        self.vb.clicked.connect(self._on_clicked)
        self.vb.drawn.connect(self._on_drawn)

    # ---- content
    def set_points(self, xy: np.ndarray, keep_view: bool = False) -> None:
        """New coordinates (N, 2); selection and groups are kept when N is unchanged (a PCA -> UMAP swap)."""
        from scipy.spatial import cKDTree  # imported here: not on the GUI start-up path

        xy = np.asarray(xy, dtype=np.float64)
        n = xy.shape[0]
        if n != len(self.xy):
            self._brushes = []
            self.groups = np.zeros(n, dtype=np.int64)
            self.visible = np.ones(n, dtype=bool)
            self.selected = np.zeros(n, dtype=bool)
            self.current = -1
            self.neighbour_rows = np.zeros(0, dtype=np.int64)
        self.xy = xy
        self._tree = cKDTree(xy) if n else None
        self.points.setData(x=xy[:, 0], y=xy[:, 1])
        if self._brushes and len(self.groups) == n:  # new coordinates, same points: keep their colours
            self.points.set_brushes(self.groups, self._brushes)
        if not self.visible.all():
            self.points.setPointsVisible(self.visible)
        self._draw_selection()
        self._draw_current()
        if not keep_view:
            self.fit_view()
        self.viewport().update()

    def fit_view(self) -> None:
        """Zoom and pan so that every point is in view."""
        self.vb.autoRange(padding=0.04)

    def set_groups(self, groups: np.ndarray, colours: list[QColor]) -> None:
        """Point i is drawn with colours[groups[i]]; all groups become visible."""
        self.groups = np.asarray(groups, dtype=np.int64)
        self._brushes = [QBrush(c) for c in colours]
        self.points.set_brushes(self.groups, self._brushes)
        self.set_hidden_groups(set())

    def set_hidden_groups(self, hidden: set[int]) -> None:
        self.visible = ~np.isin(self.groups, list(hidden)) if hidden else np.ones(len(self.groups), dtype=bool)
        self.points.setPointsVisible(self.visible)
        if hidden:  # hidden points leave the selection
            self.select(self.selected & self.visible)

    def point_count(self) -> int:
        return len(self.points.data)

    # ---- rows under the cursor
    def row_at(self, scene_pos: QPointF) -> int:
        """The visible point nearest to a scene position within HIT_RADIUS_PX pixels, or -1."""
        if self._tree is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            return -1
        pos = self.vb.mapSceneToView(scene_pos)
        radius = HIT_RADIUS_PX * max(self.vb.viewPixelSize())
        k = min(16, len(self.xy))
        dist, idx = self._tree.query([pos.x(), pos.y()], k=k, distance_upper_bound=radius)
        for d, i in zip(np.atleast_1d(dist), np.atleast_1d(idx), strict=True):
            if np.isfinite(d) and self.visible[i]:
                return int(i)
        return -1

    def widget_pos(self, row: int) -> QPoint:
        """Where a point is drawn, in this widget's coordinates (tests and the benchmark aim the mouse with it)."""
        scene = self.vb.mapViewToScene(QPointF(*self.xy[row]))
        return self.mapFromScene(scene)

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        # Here rather than the scene's sigMouseMoved, which pyqtgraph drops when moves come faster than 100 Hz:
        # the last move before the cursor rests must always be answered.
        super().mouseMoveEvent(ev)
        pos = ev.position().toPoint()
        row = self.row_at(self.mapToScene(pos))
        self.hover_row = row
        emit(self.hovered, row, pos)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().leaveEvent(event)
        self.hover_row = -1
        emit(self.hovered, -1, QPoint())

    def _on_clicked(self, pos: QPointF) -> None:
        row = self.row_at(self.vb.mapViewToScene(pos))
        if row >= 0:
            emit(self.clicked, row)

    # ---- selection and the current point
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got '{tool}'.")
        self.vb.tool = tool

    def _on_drawn(self, polygon: np.ndarray, modifiers) -> None:
        add = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        if self.vb.tool == "box":
            self.select_box(polygon[0], polygon[2], add=add)
        else:
            self.select_polygon(polygon, add=add)

    def select_polygon(self, polygon: np.ndarray, add: bool = False) -> None:
        self._select_mask(points_in_polygon(self.xy, polygon), add)

    def select_box(self, corner, opposite, add: bool = False) -> None:
        self._select_mask(points_in_box(self.xy, tuple(corner), tuple(opposite)), add)

    def _select_mask(self, mask: np.ndarray, add: bool) -> None:
        mask &= self.visible
        self.select(self.selected | mask if add else mask)

    def select(self, mask: np.ndarray) -> None:
        self.selected = np.asarray(mask, dtype=bool).copy()
        self._draw_selection()
        emit(self.selection_changed, int(self.selected.sum()))

    def selected_rows(self) -> np.ndarray:
        return np.flatnonzero(self.selected)

    def set_current(self, row: int, neighbours=()) -> None:
        """Ring one point (the one shown in the detail panel) and, more lightly, its neighbours; -1 clears both."""
        self.current = row
        self.neighbour_rows = np.asarray(neighbours if row >= 0 else (), dtype=np.int64).reshape(-1)
        self._draw_current()

    def set_neighbours(self, rows) -> None:
        """Ring the current point's neighbours (they arrive after the click, from a background task)."""
        self.neighbour_rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        self._draw_current()

    def centre_on(self, row: int) -> None:
        rect = self.vb.viewRect()
        x, y = self.xy[row]
        self.vb.setRange(
            xRange=(x - rect.width() / 2, x + rect.width() / 2),
            yRange=(y - rect.height() / 2, y + rect.height() / 2),
            padding=0,
        )

    def _draw_selection(self) -> None:
        rows = self.selected_rows()
        self.selected_item.setData(x=self.xy[rows, 0], y=self.xy[rows, 1])

    def _draw_current(self) -> None:
        rows = [self.current] if 0 <= self.current < len(self.xy) else []
        self.current_item.setData(x=self.xy[rows, 0], y=self.xy[rows, 1])
        near = self.neighbour_rows[(self.neighbour_rows >= 0) & (self.neighbour_rows < len(self.xy))] if rows else []
        self.neighbour_item.setData(x=self.xy[near, 0], y=self.xy[near, 1])

    # ---- empty state
    def drawForeground(self, painter, rect) -> None:  # noqa: N802 - Qt's name
        super().drawForeground(painter, rect)
        if self.empty_text and len(self.xy) == 0:
            painter.resetTransform()
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text
            )
