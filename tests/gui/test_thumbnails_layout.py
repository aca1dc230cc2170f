"""The thumbnail grid lays out 100,000 cells without calling Python per cell, and never decodes on the GUI thread.

Each Python call Qt makes re-takes the GIL; while a scan or the data checks run Python on other threads every such
hand-over waits, so a layout that asks Python per cell freezes the window. These tests count, with a profiler hook of
their own (not the model's counters), the Python functions of the thumbnail module that the GUI thread runs.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

import workbench.gui.widgets.thumbnails as thumbnails
from workbench.data.scan import ScanReport
from workbench.gui.widgets.neighbours import NeighbourModel
from workbench.gui.widgets.thumbnails import ThumbnailModel, ThumbnailView

N = 100_000


class PythonCalls:
    """Counts, on this thread, the calls into functions defined in thumbnails.py (and neighbours.py); `from_qt`: those
    made from inside a C/C++ call (Qt calling Python: each one re-takes the GIL)."""

    def __init__(self) -> None:
        self.files = {thumbnails.__file__, sys.modules[NeighbourModel.__module__].__file__}
        self.count = 0
        self.from_qt = 0
        self.names: dict[str, int] = {}
        self.entries: dict[str, int] = {}  # function -> calls from C/C++
        self._stack: list[bool] = [True]  # per frame or C call: True for a C call; we start inside one (the hook)

    def _hook(self, frame, event, _arg) -> None:
        if event == "call":
            if frame.f_code.co_filename in self.files:
                self.count += 1
                self.names[frame.f_code.co_name] = self.names.get(frame.f_code.co_name, 0) + 1
                if self._stack[-1]:
                    self.from_qt += 1
                    self.entries[frame.f_code.co_name] = self.entries.get(frame.f_code.co_name, 0) + 1
            self._stack.append(False)
        elif event == "c_call":
            self._stack.append(True)
        elif len(self._stack) > 1:  # return, c_return, c_exception
            self._stack.pop()

    def __enter__(self) -> PythonCalls:
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *_exc) -> None:
        sys.setprofile(None)


def report_of(root: Path, n: int) -> ScanReport:
    return ScanReport(
        str(root),
        [f"c{i % 10}/{i:06d}.png" for i in range(n)],
        [i % 10 for i in range(n)],
        [f"c{i}" for i in range(10)],
    )


def grid(qtbot, model: ThumbnailModel) -> ThumbnailView:
    view = ThumbnailView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    qtbot.waitExposed(view)
    return view


def cells_on_screen(view: ThumbnailView) -> int:
    """From the geometry alone: how many grid cells the viewport can show (partly shown ones included)."""
    cell, port = view.gridSize(), view.viewport().size()
    return (port.width() // cell.width() + 1) * (port.height() // cell.height() + 2)


def test_laying_out_100000_cells_runs_python_only_for_the_cells_on_screen(qtbot, tmp_path):
    model = ThumbnailModel()
    view = grid(qtbot, model)
    model.set_report(report_of(tmp_path, 180))  # a small folder first (the demo a first launch opens)
    report = report_of(tmp_path, N)  # missing files: each decode fails fast, off the GUI thread
    last = N - 1
    with PythonCalls() as calls:
        began = time.perf_counter()
        model.set_report(report)
        assert time.perf_counter() - began < 2.0  # generous: ~5 ms; growing Qt's list row by row took ~9 s
        qtbot.waitUntil(lambda: view.visualRect(model.index(last)).isValid(), timeout=20000)
        view.viewport().repaint()
    # Laid out completely, at the positions a grid of uniform cells has (computed here, not asked of Qt's layout):
    columns = sum(view.visualRect(model.index(r)).y() == view.visualRect(model.index(0)).y() for r in range(200))
    pitch = view.visualRect(model.index(columns)).y() - view.visualRect(model.index(0)).y()
    assert columns >= 2 and pitch >= model.thumb_size
    assert view.visualRect(model.index(last)).y() - view.visualRect(model.index(0)).y() == (last // columns) * pitch
    assert model.rowCount() == N
    # A Python rowCount()/sizeHint()/data() per cell would be >= 100,000 calls; what runs is bounded by the screen.
    visible = cells_on_screen(view)
    assert calls.count <= 60 * visible, (calls.count, visible, calls.names)
    assert calls.names.get("rowCount", 0) == 0
    # One repaint of the screen: one entry from Qt per cell painted (not one per role the delegate would ask).
    with PythonCalls() as paint:
        view.grab()  # paints every cell on screen
    painted = sum(view.row_visible(r) for r in range(visible + 50))
    assert painted > 10 and paint.from_qt <= painted + 5, (paint.from_qt, painted, paint.entries)
    model.shutdown()


def test_showing_one_label_of_100000_images_also_stays_off_python_per_cell(qtbot, tmp_path):
    model = NeighbourModel()  # a subclass with text under each image (Explore's neighbours)
    view = grid(qtbot, model)
    model.set_neighbours(report_of(tmp_path, N), np.arange(N), np.linspace(0, 1, N, dtype=np.float32))
    qtbot.waitUntil(lambda: view.visualRect(model.index(N - 1)).isValid(), timeout=20000)
    with PythonCalls() as calls:
        model.show_rows(np.arange(3, N, 10))  # 10,000 images of label 3
        qtbot.waitUntil(lambda: view.visualRect(model.index(N // 10 - 1)).isValid(), timeout=20000)
        view.viewport().repaint()
    assert model.rowCount() == N // 10 and model.image_index(0) == 3 and model.image_index(1) == 13
    assert calls.count <= 60 * cells_on_screen(view), (calls.count, calls.names)
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole) == f"{model.distances[0]:.3f}"
    model.shutdown()


def test_data_never_decodes_on_the_gui_thread(qtbot, tmp_path, monkeypatch):
    for i in range(40):
        path = tmp_path / f"c{i % 10}" / f"{i:06d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (20 + i, 30), (6 * i, 100, 200)).save(path)
    decodes: list[int] = []  # the thread of each decode, seen by a wrapper of the decoder the thumbnails call
    real = thumbnails.decode_with_info

    def recording(*args, **kwargs):
        decodes.append(threading.get_ident())
        return real(*args, **kwargs)

    def recording_small(*args, **kwargs):  # the second, own-resolution decode of an image under THUMB_SIZE
        decodes.append(threading.get_ident())
        return real_small(*args, **kwargs)

    real_small = thumbnails.decode_image
    monkeypatch.setattr(thumbnails, "decode_with_info", recording)
    monkeypatch.setattr(thumbnails, "decode_image", recording_small)
    model = ThumbnailModel()
    view = grid(qtbot, model)
    model.set_report(report_of(tmp_path, 40))
    first = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)  # not decoded yet: the placeholder, at once
    assert first.cacheKey() == model.data(model.index(1), Qt.ItemDataRole.DecorationRole).cacheKey()
    on_screen = [r for r in range(40) if view.row_visible(r)]
    assert len(on_screen) >= 10
    qtbot.waitUntil(lambda: set(on_screen) <= set(model.cached_rows()), timeout=15000)
    shown = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert shown.cacheKey() != first.cacheKey() and shown.width() == model.thumb_size
    assert decodes and threading.get_ident() not in decodes  # every decode ran on a worker
    assert len(decodes) == 2 * model.requested  # only the model's requests (images under 72 px: two decodes each)
    model.shutdown()


class CountingView(ThumbnailView):
    layouts = 0

    def doItemsLayout(self) -> None:  # noqa: N802 - Qt's name
        CountingView.layouts += 1
        super().doItemsLayout()


def test_a_thumbnail_arriving_repaints_its_cell_without_laying_out_the_grid_again(qtbot, tmp_path):
    model = ThumbnailModel()
    view = CountingView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    model.set_report(report_of(tmp_path, N))
    qtbot.waitUntil(lambda: view.visualRect(model.index(N - 1)).isValid(), timeout=20000)
    on_screen = [r for r in range(200) if view.row_visible(r)]
    qtbot.waitUntil(lambda: all(model.failure(r) is not None for r in on_screen), timeout=15000)  # all arrived
    CountingView.layouts = 0
    for row in on_screen[:20]:  # as each decoded thumbnail does
        model.dataChanged.emit(model.index(row), model.index(row), [Qt.ItemDataRole.DecorationRole])
    view.executeDelayedItemsLayout()  # a layout asked for runs now (none is)
    view.viewport().repaint()
    assert CountingView.layouts == 0  # each would be a pass over 100,000 cells
    model.shutdown()
