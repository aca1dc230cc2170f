"""The GUI-thread side of Explore's long jobs stays small whatever the folder's size (issue 16, "the window never
stalls"), counted in Python calls rather than timed: the first paint of a map makes the same number of Python calls
at 1,000 and 10,000 points and none into the empty overlays, and the duplicate search's file pass reports progress in
blocks (each report is a slot on the GUI thread) while finding the same groups as comparing the bytes."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from workbench.analysis import duplicates
from workbench.analysis.duplicates import identical_files
from workbench.gui.widgets import scatter_items
from workbench.gui.widgets.scatter import ScatterMap

COLOURS = [QColor(230, 25, 75), QColor(60, 180, 75), QColor(0, 130, 200)]


class PythonCalls:
    """Counts the Python function calls made on this thread, and those into scatter_items.py by name."""

    def __init__(self) -> None:
        self.count = 0
        self.items: Counter[str] = Counter()

    def _hook(self, frame, event, _arg) -> None:
        if event == "call":
            self.count += 1
            if frame.f_code.co_filename == scatter_items.__file__:
                self.items[frame.f_code.co_name] += 1

    def __enter__(self) -> PythonCalls:
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *_exc) -> None:
        sys.setprofile(None)


def first_paint(qtbot, n: int) -> tuple[PythonCalls, ScatterMap]:
    rng = np.random.default_rng(n)
    s = ScatterMap()
    qtbot.addWidget(s)
    s.resize(600, 450)
    s.show()
    qtbot.waitExposed(s)
    s.set_points(rng.normal(size=(n, 2)).astype(np.float32))
    s.set_groups(rng.integers(0, len(COLOURS), n), COLOURS)
    QApplication.processEvents()  # the view's layout and range settle first; the paint is what is counted
    s.points.invalidate()  # and it is the first paint of these points (none cached)
    with PythonCalls() as calls:
        s.viewport().repaint()
    return calls, s


def painted_colours(s: ScatterMap) -> set[tuple[int, int, int]]:
    image = s.viewport().grab().toImage()
    step = 2
    return {
        (c.red(), c.green(), c.blue())
        for c in (image.pixelColor(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step))
    }


def test_first_paint_of_a_map_makes_no_python_call_per_point_and_none_into_empty_overlays(qtbot):
    small, _ = first_paint(qtbot, 1_000)
    calls, s = first_paint(qtbot, 10_000)
    # Ten times the points, the same Python calls (pyqtgraph's per-point work is numpy); a per-point call would add
    # 9,000. The slack covers a different view range.
    assert calls.count <= small.count + 20, (calls.count, small.count)
    # 135 here; 390 when the three empty overlays were painted too (each call from Qt into Python re-takes the GIL).
    assert calls.count < 250, calls.count
    assert calls.items["paint"] == 1, calls.items  # the points item only: the empty rings are hidden, never painted
    seen = painted_colours(s)
    assert all((c.red(), c.green(), c.blue()) in seen for c in COLOURS)  # and the points are drawn in their colours


def test_a_ringed_point_is_painted_again_once_there_is_one(qtbot):
    _, s = first_paint(qtbot, 2_000)
    s.set_current(7, neighbours=[1, 2, 3])
    assert s.current_item.isVisible() and s.neighbour_item.isVisible() and not s.selected_item.isVisible()
    with PythonCalls() as calls:
        s.viewport().repaint()
    assert calls.items["paint"] >= 2  # the ring and the neighbours' rings are drawn (the points come from the cache)
    ring = s.current_item.data
    assert len(ring) == 1 and (ring["x"][0], ring["y"][0]) == tuple(s.xy[7])
    s.set_current(-1)
    assert not s.current_item.isVisible() and not s.neighbour_item.isVisible()


def _folder(tmp_path, n: int) -> list[str]:
    """n small files: every 7th a copy of an earlier one, the others distinct; a few of one size with other bytes."""
    rng = np.random.default_rng(3)
    paths = []
    for i in range(n):
        rel = f"d{i % 4}/{i:05d}.bin"
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        content = (tmp_path / paths[i - 7]).read_bytes() if i % 7 == 6 else rng.bytes(64 + i % 5)
        (tmp_path / rel).write_bytes(content)
        paths.append(rel)
    return paths


def _by_bytes(root, paths) -> list[list[int]]:
    groups: dict[bytes, list[int]] = {}
    for row, rel in enumerate(paths):
        groups.setdefault((root / rel).read_bytes(), []).append(row)
    return sorted((rows for rows in groups.values() if len(rows) > 1), key=lambda rows: rows[0])


@pytest.mark.parametrize("whole_read", [1 << 22, 16])  # files read in one call, and in blocks
def test_identical_files_reports_in_blocks_and_groups_as_the_bytes_do(tmp_path, monkeypatch, whole_read):
    monkeypatch.setattr(duplicates, "WHOLE_READ_BYTES", whole_read)
    paths = _folder(tmp_path, 1_200)
    reports: list[tuple[int, int]] = []
    groups = identical_files(tmp_path, [*paths, "gone.bin"], progress=lambda d, t: reports.append((d, t)))
    assert groups == _by_bytes(tmp_path, paths) and groups  # the missing file is in no group
    # One report per POLL_EVERY files, not per file (each report is a queued signal handled on the GUI thread).
    total = reports[-1][1]
    assert reports[-1][0] == total and len(reports) == -(-total // duplicates.POLL_EVERY)
