"""What the GUI-thread stall fixes (issue 16) must keep: the map draws every point in its colour, exactly as pyqtgraph
would (new points are styled without a per-point lookup), Find still finds every image, the data checks' progress
still reaches its total."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QBrush, QColor, QImage
from PySide6.QtWidgets import QGraphicsItem

from tests.gui.pictures import plot_picture
from workbench.gui import explore_tasks as tasks
from workbench.gui.widgets.scatter import ScatterMap
from workbench.gui.widgets.scatter_items import SharedStyleScatter
from workbench.results.embeddings import Embedding

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")


def _picture(qtbot, item) -> QImage:
    return plot_picture(qtbot, item)


def _points(n: int = 400):
    rng = np.random.default_rng(1)
    return rng.uniform(0, 100, size=(n, 2)), rng.integers(0, len(COLOURS), n)


def test_set_xy_draws_what_pyqtgraph_set_data_draws(qtbot):
    xy, _ = _points()
    reference = pg.ScatterPlotItem(pxMode=True, size=6, pen=None, brush="#444444")
    reference.setData(x=xy[:, 0], y=xy[:, 1])
    fast = SharedStyleScatter(pxMode=True, size=6, pen=None, brush="#444444")
    fast.set_xy(xy[:, 0], xy[:, 1])
    assert len(fast.data) == len(xy) and (fast.data["sourceRect"]["w"] > 0).all()  # styled before any paint
    shifted = SharedStyleScatter(pxMode=True, size=6, pen=None, brush="#444444")
    shifted.set_xy(xy[:, 0] + 5, xy[:, 1])
    expected = _picture(qtbot, reference)
    assert _picture(qtbot, fast) == expected
    assert _picture(qtbot, shifted) != expected  # the comparison can fail


def test_the_map_draws_every_point_in_its_groups_colour(qtbot):
    xy, groups = _points()
    brushes = [QBrush(QColor(c)) for c in COLOURS]
    table = np.empty(len(brushes), dtype=object)
    for i, brush in enumerate(brushes):
        table[i] = brush
    reference = pg.ScatterPlotItem(pxMode=True, size=5, pen=None)
    reference.setData(x=xy[:, 0], y=xy[:, 1])
    reference.setBrush(table[groups])
    scatter = ScatterMap()  # its own item, fed as Explore feeds it: coordinates, then the colour groups
    scatter.set_points(xy)
    scatter.set_groups(groups, [QColor(c) for c in COLOURS])
    item = scatter.points
    scatter.removeItem(item)
    item.setCacheMode(QGraphicsItem.CacheMode.NoCache)  # drawn like the reference, not from the map's pixel cache
    assert len(item.data) == len(xy)
    assert [QColor(b.color()).name() for b in item.data["brush"]] == [COLOURS[g] for g in groups]
    assert _picture(qtbot, item) == _picture(qtbot, reference)


def test_prepare_map_finds_every_path_row(tmp_path: Path):
    n = 500
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    paths = [f"c{label}/{i:05d}.png" for i, label in enumerate(labels)]
    emb = Embedding(tmp_path, paths, labels, ["c0", "c1", "c2"], rng.normal(size=(n, 16)).astype(np.float32), "raw")

    class State:
        def message(self, _text):
            pass

        def check(self):
            pass

    data = tasks.prepare_map(emb, State())
    assert data.xy.shape == (n, 2)
    assert all(data.rows_by_path[p] == i for i, p in enumerate(paths)) and len(data.rows_by_path) == n


def test_flush_leaves_every_row_in_the_file(tmp_path: Path):
    from workbench.files import flush_memmap as flush

    rows = np.random.default_rng(2).normal(size=(300, 8)).astype(np.float32)
    array = np.lib.format.open_memmap(tmp_path / "rows.npy", mode="w+", dtype=np.float32, shape=rows.shape)
    array[:] = rows
    flush(array)
    assert np.array_equal(np.load(tmp_path / "rows.npy"), rows)  # read from the file, not the map
    flush(np.zeros(3))  # not a memory map: nothing to write, no error
