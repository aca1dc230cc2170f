"""The embedding map: up to 1,000,000 points, drawn at a level of detail that fits the view, hit-tested exactly.

- Up to LOD_POINTS points: all of them in one `SharedStyleScatter` (pxMode, one QBrush object per colour group,
  shared by all its points); hidden groups are masked with setPointsVisible, never removed.
- More points than that (level of detail, `refresh_lod`, run by a timer at most ~20 times a second after a pan or
  zoom): while more than LOD_POINTS visible points are in view, a density image of them (scatter_density.py: a 2-D
  histogram coloured by the groups' colours, ~50-90 ms at 1,000,000); once few enough are in view, only those points
  (and those of a LOD_MARGIN band around the view, so that a short pan reloads nothing) go to the scatter item
  (`shown_rows`), into slots allocated once. Finding them is one vectorised comparison over the coordinates (~5 ms
  at 1,000,000), cheaper than any index.
- Hit-testing: a grid index over all the map coordinates (scatter_index.py) for hover, click and lasso, and
  analysis.selection's box over all points, at every level, so all are exact whatever is drawn. The aspect ratio is
  locked (a 2-D embedding has no preferred axis), so a radius in pixels is one radius in map units and the index
  never needs rebuilding on zoom.
- The selection, the current point's neighbours and the current point are drawn by three more small scatter items on
  top (at the density level, a selection with too many points in view is drawn as a dark density image).
- Tools: pan (drag pans, wheel zooms), box and lasso (drag draws; Shift adds to the selection).
- Memory: coordinates float32, groups in the smallest integer type, per-point flags as bool; no per-point Python
  object except the scatter item's, which holds at most LOD_POINTS points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QGraphicsItem, QWidget

from workbench.analysis.selection import points_in_box, points_in_polygon
from workbench.gui.signals import emit
from workbench.gui.widgets.scatter_density import DensityLayer, bins_for_view, density_image
from workbench.gui.widgets.scatter_index import GridIndex
from workbench.gui.widgets.scatter_items import MapViewBox, SharedStyleScatter

__all__ = ["HIT_RADIUS_PX", "LOD_POINTS", "MapViewBox", "ScatterMap", "SharedStyleScatter"]

HIT_RADIUS_PX = 6
POINT_SIZE = 5
TOOLS = ("pan", "box", "lasso")
LOD_POINTS = 100_000  # more visible points than this in view: the density image instead of symbols
LOD_MARGIN = 0.25  # zoomed in, the points of a quarter view around the view are loaded too (a pan needs no reload)
LOD_INTERVAL_MS = 50  # the level of detail follows a pan or zoom at most 20 times a second
SELECTION_RGB = (20, 20, 20)


def smallest_int(values: np.ndarray) -> np.ndarray:
    """values in the smallest integer dtype that holds them (uint8 for up to 256 colour groups)."""
    values = np.asarray(values)
    if values.size == 0:
        return values.astype(np.uint8)
    lo, hi = int(values.min()), int(values.max())
    return values.astype(np.result_type(np.min_scalar_type(lo), np.min_scalar_type(hi)), copy=False)


def _show_points(item: SharedStyleScatter, x: np.ndarray, y: np.ndarray) -> None:
    """An overlay's points; hidden when it has none, so that a paint of the map does not call into an empty item's
    Python paint and bounds (each call from Qt into Python waits for the GIL while a worker holds it)."""
    item.setData(x=x, y=y)
    item.setVisible(len(x) > 0)


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
        self.density, self.selection_density = DensityLayer(), DensityLayer()
        items = (self.density.item, self.points, self.selection_density.item, self.selected_item)
        for z, item in enumerate((*items, self.neighbour_item, self.current_item)):
            item.setZValue(z)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the ViewBox (KD-tree hit test)
            item.setAcceptHoverEvents(False)
            self.addItem(item, ignoreBounds=isinstance(item, pg.ImageItem))
        self.lod_points = LOD_POINTS
        self.level = "points"  # what the last refresh drew: "points" or "density"
        self.shown_rows: np.ndarray | None = None  # rows in the scatter item, in its order; None: every row
        self._loaded_box: tuple | None = None  # the view box (with its margin) that shown_rows were loaded for
        self._lod_timer = QTimer(self)
        self._lod_timer.setSingleShot(True)
        self._lod_timer.setInterval(LOD_INTERVAL_MS)
        self._lod_timer.timeout.connect(self.refresh_lod)
        self.vb.sigRangeChanged.connect(self._range_changed)
        self.xy = np.zeros((0, 2), dtype=np.float32)
        self._x = self._y = np.zeros(0, dtype=np.float32)  # contiguous columns of xy, for the per-frame passes
        self._rgb = np.zeros((0, 3), dtype=np.uint8)
        self.groups = np.zeros(0, dtype=np.uint8)
        self.visible = np.zeros(0, dtype=bool)
        self.selected = np.zeros(0, dtype=bool)
        self.current = -1
        self.neighbour_rows = np.zeros(0, dtype=np.int64)
        self.hover_row = -1
        self._index: GridIndex | None = None
        self._brushes: list[QBrush] = []
        self.empty_text = ""
        self.vb.clicked.connect(self._on_clicked)
        self.vb.drawn.connect(self._on_drawn)

    # ---- content
    def set_points(self, xy: np.ndarray, keep_view: bool = False) -> None:
        """New coordinates (N, 2); selection and groups are kept when N is unchanged (a PCA -> UMAP swap)."""
        xy = np.asarray(xy, dtype=np.float32).reshape(-1, 2)
        n = xy.shape[0]
        if n != len(self.xy):
            self._brushes = []
            self._rgb = np.zeros((0, 3), dtype=np.uint8)
            self.groups = np.zeros(n, dtype=np.uint8)
            self.visible = np.ones(n, dtype=bool)
            self.selected = np.zeros(n, dtype=bool)
            self.current = -1
            self.neighbour_rows = np.zeros(0, dtype=np.int64)
        self.xy = xy
        self._x, self._y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        self._index = GridIndex(xy) if n else None
        self.density.clear()
        self.selection_density.clear()
        if self.lod():
            self.shown_rows, self._loaded_box = None, None
            self.points.setPointsVisible(False)  # kept: the slots are reused when zoomed in
        else:
            self.shown_rows = None
            self.level = "points"
            self.points.set_xy(self._x, self._y)
            if self._brushes and len(self.groups) == n:  # new coordinates, same points: keep their colours
                self.points.set_brushes(self.groups, self._brushes)
            if not self.visible.all():
                self.points.setPointsVisible(self.visible)
        if not keep_view:
            self.fit_view()
        if self.lod():
            self._lod_timer.start()  # drawn by the timer, or at once by set_groups (which usually follows)
        self._draw_selection()
        self._draw_current()
        self.viewport().update()

    def lod(self) -> bool:
        """Whether the map has too many points to keep them all in the scatter item (level of detail)."""
        return len(self.xy) > self.lod_points

    def _range_changed(self, *_args) -> None:
        if self.lod() and not self._lod_timer.isActive():
            self._lod_timer.start()  # throttled, not debounced: the level follows a long pan every 50 ms

    def refresh_lod(self) -> None:
        """Draw what the view needs now: the density image while more than lod_points visible points are in view,
        else those points as symbols. The selection follows the same rule. Nothing to do below lod_points."""
        self._lod_timer.stop()
        if not self.lod():
            self._draw_selection()
            return
        box, shape, in_view = self._view()
        keep = in_view & self.visible
        if np.count_nonzero(keep) > self.lod_points:
            self.level = "density"
            shown = np.ones(max(len(self._rgb), 1), dtype=bool)
            rgb = self._rgb if len(self._rgb) else np.full((1, 3), 120, dtype=np.uint8)
            self.density.show(density_image(self._x, self._y, self.groups, rgb, shown, box, shape, keep=keep))
            self._show_rows(np.zeros(0, dtype=np.int64), None)
        else:
            self.level = "points"
            self.density.clear()
            self._load_points(box, keep)
        self._draw_selection(in_view, box, shape)

    def _view(self) -> tuple[tuple, tuple[int, int], np.ndarray]:
        """The view's box (x0, y0, x1, y1), its histogram bins, and which points are in it."""
        rect = self.vb.viewRect()
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())  # y up: top() is the smaller y
        return box, bins_for_view(self.vb.width(), self.vb.height()), self._in_box(box)

    def _in_box(self, box) -> np.ndarray:
        x, y = self._x, self._y
        return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])

    def _load_points(self, box, keep: np.ndarray) -> None:
        """The visible points in view, and in a margin of LOD_MARGIN views around it while they stay within
        lod_points, so that a short pan draws what is already loaded instead of reloading."""
        loaded = self._loaded_box
        w, h = box[2] - box[0], box[3] - box[1]
        if (
            self.shown_rows is not None
            and loaded is not None
            and loaded[0] <= box[0]
            and loaded[1] <= box[1]
            and box[2] <= loaded[2]
            and box[3] <= loaded[3]
            and loaded[2] - loaded[0] <= 3 * w * (1 + 2 * LOD_MARGIN)  # not zoomed far in since: fewer will do
        ):
            return
        wide = (box[0] - LOD_MARGIN * w, box[1] - LOD_MARGIN * h, box[2] + LOD_MARGIN * w, box[3] + LOD_MARGIN * h)
        rows = np.flatnonzero(self._in_box(wide) & self.visible)
        if len(rows) > self.lod_points:
            rows, wide = np.flatnonzero(keep), box
        self._show_rows(rows, wide)

    def _show_rows(self, rows: np.ndarray, box) -> None:
        """Only these rows in the scatter item (the level of detail's points), loaded for the view box `box`."""
        self._loaded_box = box
        if self.shown_rows is not None and np.array_equal(rows, self.shown_rows):
            return
        self.shown_rows = rows
        self.points.set_grouped(self._x[rows], self._y[rows], self.groups[rows], self._brushes, self.lod_points)

    def fit_view(self) -> None:
        """Zoom and pan so that every point is in view."""
        if not self.lod():
            self.vb.autoRange(padding=0.04)
            return
        (x0, y0), (x1, y1) = self.xy.min(axis=0), self.xy.max(axis=0)  # the scatter item holds only some points
        self.vb.setRange(xRange=(float(x0), float(x1)), yRange=(float(y0), float(y1)), padding=0.04)

    def set_groups(self, groups: np.ndarray, colours: list[QColor]) -> None:
        """Point i is drawn with colours[groups[i]]; all groups become visible."""
        self.groups = smallest_int(groups)
        self._brushes = [QBrush(c) for c in colours]
        self._rgb = np.array([(c.red(), c.green(), c.blue()) for c in colours], dtype=np.uint8).reshape(-1, 3)
        if self.lod():
            self.shown_rows = None  # recoloured: the shown points need their new brushes
        else:
            self.points.set_brushes(self.groups, self._brushes)
        self.set_hidden_groups(set())

    def set_hidden_groups(self, hidden: set[int]) -> None:
        if hidden:
            shown = np.ones(max(int(self.groups.max(initial=0)) + 1, max(hidden) + 1), dtype=bool)
            shown[list(hidden)] = False
            self.visible = shown[self.groups]  # a table lookup: one pass over the points
        else:
            self.visible = np.ones(len(self.groups), dtype=bool)
        if self.lod():
            self.shown_rows = None  # the loaded points change with the visible groups
            self.refresh_lod()
        else:
            self.points.setPointsVisible(self.visible)
        if hidden:  # hidden points leave the selection
            self.select(self.selected & self.visible)

    def point_count(self) -> int:
        """How many points the map holds (at the density level most of them are not in the scatter item)."""
        return len(self.xy)

    # ---- rows under the cursor
    def row_at(self, scene_pos: QPointF) -> int:
        """The visible point nearest to a scene position within HIT_RADIUS_PX pixels, or -1."""
        if self._index is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            return -1
        pos = self.vb.mapSceneToView(scene_pos)
        radius = HIT_RADIUS_PX * max(self.vb.viewPixelSize())
        return self._index.nearest(pos.x(), pos.y(), radius, None if self.visible.all() else self.visible)

    def widget_pos(self, row: int) -> QPoint:
        """Where a point is drawn, in this widget's coordinates (tests and the benchmark aim the mouse with it)."""
        scene = self.vb.mapViewToScene(QPointF(float(self.xy[row, 0]), float(self.xy[row, 1])))
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
        inside = points_in_polygon(self.xy, polygon) if self._index is None else self._index.in_polygon(polygon)
        self._select_mask(inside, add)

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
        x, y = (float(v) for v in self.xy[row])
        self.vb.setRange(
            xRange=(x - rect.width() / 2, x + rect.width() / 2),
            yRange=(y - rect.height() / 2, y + rect.height() / 2),
            padding=0,
        )

    def _draw_selection(self, in_view=None, box=None, shape=None) -> None:
        """Ring the selected points; at the level of detail only those in view, as a dark density image when more
        than lod_points of them are (the arguments: refresh_lod's view mask, rectangle and bins)."""
        if not self.lod():
            rows = self.selected_rows()
            self.selection_density.clear()
        elif not self.selected.any():
            self.selection_density.clear()
            rows = np.zeros(0, dtype=np.int64)
        else:
            if in_view is None:  # the selection changed, not the view
                box, shape, in_view = self._view()
            mask = in_view & self.selected
            if np.count_nonzero(mask) > self.lod_points:
                one = np.zeros(len(self.xy), dtype=np.uint8)
                dark = np.array([SELECTION_RGB], dtype=np.uint8)
                image = density_image(self._x, self._y, one, dark, np.ones(1, bool), box, shape, keep=mask)
                self.selection_density.show(image)
                rows = np.zeros(0, dtype=np.int64)
            else:
                self.selection_density.clear()
                rows = np.flatnonzero(mask)
        _show_points(self.selected_item, self._x[rows], self._y[rows])

    def _draw_current(self) -> None:
        rows = np.array([self.current] if 0 <= self.current < len(self.xy) else [], dtype=np.int64)
        _show_points(self.current_item, self._x[rows], self._y[rows])
        near = self.neighbour_rows[(self.neighbour_rows >= 0) & (self.neighbour_rows < len(self.xy))]
        near = near if len(rows) else np.zeros(0, dtype=np.int64)
        _show_points(self.neighbour_item, self._x[near], self._y[near])

    # ---- empty state
    def drawForeground(self, painter, rect) -> None:  # noqa: N802 - Qt's name
        super().drawForeground(painter, rect)
        if self.empty_text and len(self.xy) == 0:
            painter.resetTransform()
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text
            )
