"""The map's level of detail: past lod_points points in view a density image (checked against np.histogram2d of the
visible points), zoomed in only the points around the view in the scatter item, and hover, click, box and lasso
exact at both levels against brute force over all points."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from workbench.gui.widgets import scatter_density
from workbench.gui.widgets.scatter import HIT_RADIUS_PX, LOD_MARGIN, ScatterMap
from workbench.gui.widgets.scatter_density import ALPHA_MIN, density_image

N, GROUPS, LOD = 30_000, 4, 3_000
COLOURS = [QColor(230, 25, 75), QColor(60, 180, 75), QColor(0, 130, 200), QColor(245, 130, 48)]


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    groups = rng.integers(0, GROUPS, N)
    centres = np.array([(0, 0), (6, 1), (2, 7), (-5, 4)], dtype=np.float64)
    xy = centres[groups] + rng.normal(size=(N, 2)) * np.where(groups == 1, 0.4, 1.5)[:, None]  # group 1 dense
    return xy.astype(np.float32), groups


@pytest.fixture
def scatter(qtbot, data):
    xy, groups = data
    s = ScatterMap()
    s.lod_points = LOD
    qtbot.addWidget(s)
    s.resize(700, 500)
    s.show()
    qtbot.waitExposed(s)
    s.set_points(xy)
    s.set_groups(groups, COLOURS)
    return s


def _rgb(colours) -> np.ndarray:
    return np.array([(c.red(), c.green(), c.blue()) for c in colours], dtype=np.float64)


def _reference(xy, groups, keep, rect, shape, colours):
    """counts, alpha and mean colour per bin from np.histogram2d, with the documented alpha formula."""
    x, y = xy[keep, 0].astype(np.float64), xy[keep, 1].astype(np.float64)
    edges = dict(bins=shape, range=[[rect[0], rect[2]], [rect[1], rect[3]]])
    counts, _, _ = np.histogram2d(x, y, **edges)
    alpha = np.zeros(shape, dtype=np.int64)
    full = counts > 0
    top = counts.max()
    alpha[full] = np.round(ALPHA_MIN + (255 - ALPHA_MIN) * np.log(counts[full]) / np.log(top)) if top > 1 else ALPHA_MIN
    rgb = _rgb(colours)[groups[keep]]
    mean = np.zeros((*shape, 3))
    for c in range(3):
        total, _, _ = np.histogram2d(x, y, weights=rgb[:, c], **edges)
        mean[..., c][full] = total[full] / counts[full]
    return counts.astype(np.int64), alpha, np.round(mean).astype(np.int64), full


def _in_rect(xy, rect):
    return (xy[:, 0] >= rect[0]) & (xy[:, 0] <= rect[2]) & (xy[:, 1] >= rect[1]) & (xy[:, 1] <= rect[3])


def _view_rect(s):
    r = s.vb.viewRect()
    return (r.left(), r.top(), r.right(), r.bottom())


def _check_density(s, xy, groups, hidden=(), colours=COLOURS):
    d = s.density.density
    assert s.level == "density" and d is not None and s.density.item.isVisible()
    assert np.allclose(d.rect, _view_rect(s))  # the image covers the view
    keep = _in_rect(xy, d.rect) & ~np.isin(groups, list(hidden))
    counts, alpha, mean, full = _reference(xy, groups, keep, d.rect, d.counts.shape, colours)
    np.testing.assert_array_equal(d.counts, counts)
    np.testing.assert_array_equal(d.rgba[..., 3], alpha)
    np.testing.assert_array_equal(d.rgba[..., :3][full], mean[full])
    assert not s.points.data["visible"].any()  # no symbols at this level


def test_zoomed_out_draws_a_density_image_equal_to_histogram2d(scatter, data):
    xy, groups = data
    assert scatter.point_count() == N and scatter.xy.dtype == np.float32 and scatter.groups.dtype == np.uint8
    _check_density(scatter, xy, groups)
    d = scatter.density.density
    assert d.counts.sum() == N  # every point is in the fitted view
    nx, ny = d.counts.shape
    for i, j in [(0, 0), (nx - 1, 3), (5, ny - 1)]:  # image pixel (i, j) lies on bin (i, j) of the map: not flipped
        at = scatter.density.item.mapToParent(QPointF(i + 0.5, j + 0.5))
        bin_w, bin_h = (d.rect[2] - d.rect[0]) / nx, (d.rect[3] - d.rect[1]) / ny
        assert at.x() == pytest.approx(d.rect[0] + (i + 0.5) * bin_w) and at.y() == pytest.approx(
            d.rect[1] + (j + 0.5) * bin_h
        )


def test_recolouring_and_hidden_groups_change_the_image(scatter, data):
    xy, groups = data
    colours = [QColor(10, 10, 10), QColor(250, 250, 0), QColor(0, 250, 250), QColor(120, 0, 120)]
    scatter.set_groups(groups, colours)
    _check_density(scatter, xy, groups, colours=colours)
    scatter.set_hidden_groups({0, 3})  # groups 1 and 2 alone: 15,000 points, still past LOD
    _check_density(scatter, xy, groups, hidden=(0, 3), colours=colours)
    d = scatter.density.density
    yellow = (d.counts > 0) & (d.rgba[..., 0] == 250) & (d.rgba[..., 1] == 250) & (d.rgba[..., 2] == 0)
    assert yellow.sum() > 100  # the bins of group 1 alone: exactly its colour


@pytest.mark.parametrize("per_group_max", [8_000_000, 0])  # one (bin, group) count, or three weighted counts
def test_density_image_alone_excludes_hidden_groups(monkeypatch, per_group_max):
    monkeypatch.setattr(scatter_density, "PER_GROUP_MAX", per_group_max)
    x = np.array([0.1, 0.1, 0.9, 0.9], dtype=np.float32)
    y = np.array([0.1, 0.1, 0.9, 0.9], dtype=np.float32)
    groups = np.array([0, 1, 1, 1], dtype=np.uint8)
    colours = np.array([(255, 0, 0), (0, 0, 255)], dtype=np.uint8)
    d = density_image(x, y, groups, colours, np.array([True, True]), (0, 0, 1, 1), (2, 2))
    assert d.counts.tolist() == [[2, 0], [0, 2]] and tuple(d.rgba[0, 0, :3]) == (128, 0, 128)
    d = density_image(x, y, groups, colours, np.array([False, True]), (0, 0, 1, 1), (2, 2))
    assert d.counts.tolist() == [[1, 0], [0, 2]] and tuple(d.rgba[0, 0, :3]) == (0, 0, 255)
    assert d.rgba[0, 1, 3] == 0 and d.rgba[0, 0, 3] == ALPHA_MIN and d.rgba[1, 1, 3] == 255


def _zoom_in(s, qtbot, centre, factor):
    """Zoom in and wait for the throttled refresh (nothing calls refresh_lod here) to switch to points."""
    s.vb.scaleBy((factor, factor), center=QPointF(*centre))
    qtbot.waitUntil(lambda: s.level == "points", timeout=5000)


def test_zoomed_in_only_the_points_around_the_view_go_to_the_scatter_item(scatter, data, qtbot):
    xy, groups = data
    _zoom_in(scatter, qtbot, (0.0, 0.0), 0.06)
    assert scatter.level == "points" and not scatter.density.item.isVisible()
    view = _view_rect(scatter)
    w, h = view[2] - view[0], view[3] - view[1]
    loaded = scatter._loaded_box
    assert loaded[0] <= view[0] and loaded[2] >= view[2] and loaded[1] <= view[1] and loaded[3] >= view[3]
    assert (
        loaded[2] - loaded[0] <= w * (1 + 2 * LOD_MARGIN) + 1e-9
        and loaded[3] - loaded[1] <= h * (1 + 2 * LOD_MARGIN) + 1e-9
    )
    expected = np.flatnonzero(_in_rect(xy, loaded))
    assert 0 < len(expected) <= LOD
    np.testing.assert_array_equal(scatter.shown_rows, expected)
    item = scatter.points.data
    assert len(item) <= LOD  # the item's slots: at most lod_points, the shown ones visible
    item = item[item["visible"]]
    np.testing.assert_array_equal(item["x"], xy[expected, 0])
    np.testing.assert_array_equal(item["y"], xy[expected, 1])
    assert all(b is scatter._brushes[g] for b, g in zip(item["brush"], groups[expected], strict=True))
    assert (item["sourceRect"]["w"] > 0).all()  # styled without a per-point lookup
    scatter.set_hidden_groups({0})
    np.testing.assert_array_equal(scatter.shown_rows, np.flatnonzero(_in_rect(xy, scatter._loaded_box) & (groups != 0)))
    scatter.set_hidden_groups(set())
    scatter.fit_view()  # zoomed out again: the density image comes back after the throttled refresh
    qtbot.waitUntil(lambda: scatter.level == "density", timeout=5000)
    _check_density(scatter, xy, groups)


def _brute_row(xy, visible, pos, radius):
    d2 = ((xy.astype(np.float64) - pos) ** 2).sum(axis=1)
    d2[~visible] = np.inf
    best = int(np.argmin(d2))
    return best if d2[best] <= radius * radius else -1


def _check_hover(s, xy, visible, rng, count=150):
    radius = HIT_RADIUS_PX * max(s.vb.viewPixelSize())
    vp = s.viewport()
    found = 0
    targets = rng.choice(np.flatnonzero(_in_rect(xy, _view_rect(s))), count // 2)
    pixels = [s.widget_pos(int(r)) + QPoint(int(rng.integers(-4, 5)), int(rng.integers(-4, 5))) for r in targets]
    pixels += [QPoint(int(rng.integers(0, vp.width())), int(rng.integers(0, vp.height()))) for _ in range(count // 2)]
    for p in pixels:
        scene = s.mapToScene(p)
        view = s.vb.mapSceneToView(scene)
        inside = s.vb.sceneBoundingRect().contains(scene)
        expected = _brute_row(xy, visible, (view.x(), view.y()), radius) if inside else -1
        assert s.row_at(scene) == expected
        found += expected >= 0
    assert found > count // 4  # most of the aimed positions hit a point


@pytest.mark.parametrize("zoom", [1.0, 0.06])
def test_hover_and_click_are_exact_at_both_levels(scatter, data, qtbot, zoom):
    xy, groups = data
    rng = np.random.default_rng(int(zoom * 100))
    if zoom != 1.0:
        _zoom_in(scatter, qtbot, (0.0, 0.0), zoom)
    assert scatter.level == ("density" if zoom == 1.0 else "points")
    _check_hover(scatter, xy, np.ones(N, dtype=bool), rng)
    scatter.set_hidden_groups({1})  # the dense group hidden: the visible points behind it are still found
    assert scatter.level == ("density" if zoom == 1.0 else "points")
    _check_hover(scatter, xy, groups != 1, rng)
    row = int(rng.choice(np.flatnonzero((groups != 1) & _in_rect(xy, _view_rect(scatter)))))
    pos = scatter.widget_pos(row)
    expected = scatter.row_at(scatter.mapToScene(pos))  # the nearest visible point there (checked above)
    with qtbot.waitSignal(scatter.clicked, timeout=5000) as clicked:
        qtbot.mouseClick(scatter.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert clicked.args == [expected] and groups[expected] != 1


@pytest.mark.parametrize("zoom", [1.0, 0.06])
def test_box_and_lasso_are_exact_at_both_levels(scatter, data, qtbot, zoom):
    xy, groups = data
    if zoom != 1.0:
        _zoom_in(scatter, qtbot, (0.0, 0.0), zoom)
    scatter.set_hidden_groups({2})
    x = xy[:, 0].astype(np.float64)
    y = xy[:, 1].astype(np.float64)
    scatter.select_box((-1.0, -2.0), (3.0, 1.5))
    expected = (x >= -1) & (x <= 3) & (y >= -2) & (y <= 1.5) & (groups != 2)
    np.testing.assert_array_equal(scatter.selected, expected)
    triangle = np.array([(-3.0, -3.0), (4.0, -3.0), (0.5, 4.0)])
    scatter.select_polygon(triangle, add=True)

    def left_of(a, b):  # the point is left of the edge a -> b (the triangle is counter-clockwise)
        return (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) > 0

    inside = left_of(triangle[0], triangle[1]) & left_of(triangle[1], triangle[2]) & left_of(triangle[2], triangle[0])
    np.testing.assert_array_equal(scatter.selected, expected | (inside & (groups != 2)))
    # The selection is drawn: rings on the selected points in view, or a dark density image of them past LOD.
    shown = scatter.selected & _in_rect(xy, _view_rect(scatter))
    if shown.sum() > LOD:
        d = scatter.selection_density.density
        assert d is not None and d.counts.sum() == shown.sum()
    else:
        rows = np.flatnonzero(shown)
        np.testing.assert_array_equal(scatter.selected_item.data["x"], xy[rows, 0])


def test_selecting_everything_zoomed_out_draws_the_selection_as_density(scatter, data):
    xy, _ = data
    scatter.select(np.ones(N, dtype=bool))
    d = scatter.selection_density.density
    assert d is not None and d.counts.sum() == N and len(scatter.selected_item.data) == 0
    scatter.select(np.arange(N) < 50)
    assert scatter.selection_density.density is None
    np.testing.assert_array_equal(scatter.selected_item.data["x"], xy[:50, 0])


@pytest.mark.parametrize("layout", ["clusters", "line", "one point"])
def test_grid_index_nearest_is_the_brute_force_one(layout):
    from workbench.gui.widgets.scatter_index import GridIndex

    rng = np.random.default_rng(11)
    if layout == "clusters":
        xy = np.concatenate([rng.normal(size=(4000, 2)) * 0.05, rng.normal(size=(500, 2)) * 20]).astype(np.float32)
    elif layout == "line":  # no extent in y: one row of cells
        xy = np.stack([rng.random(2000), np.full(2000, 3.0)], axis=1).astype(np.float32)
    else:
        xy = np.array([[1.0, 2.0]], dtype=np.float32)
    index = GridIndex(xy)
    allowed = rng.random(len(xy)) < 0.7
    allowed[0] = True
    for _ in range(300):
        pos = xy[rng.integers(len(xy))] + rng.normal(size=2) * rng.choice([0.001, 0.05, 2.0])
        radius = float(rng.choice([0.0005, 0.02, 0.5, 30.0]))
        for mask in (None, allowed):
            expected = _brute_row(xy, np.ones(len(xy), bool) if mask is None else mask, pos, radius)
            assert index.nearest(float(pos[0]), float(pos[1]), radius, mask) == expected
    for vertices in (3, 12, 60):  # random lassos cross themselves: the even-odd rule, edge by edge
        lasso = xy[rng.integers(len(xy), size=vertices)] + rng.normal(size=(vertices, 2)) * 0.1
        np.testing.assert_array_equal(index.in_polygon(lasso), _even_odd(xy, lasso))


def _even_odd(xy, polygon):
    """Brute force: a point is inside when a ray to +x crosses an odd number of edges (each edge tested alone)."""
    px, py = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    odd = np.zeros(len(xy), dtype=bool)
    for (ax, ay), (bx, by) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        spans = (ay > py) != (by > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            odd ^= spans & (px < ax + (py - ay) * (bx - ax) / (by - ay))
    return odd
