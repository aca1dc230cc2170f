"""1,000 rapid control changes in Augment and Explore: the last request wins, and neither threads nor memory grow."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import assert_no_work_left
from tests.gui.test_augment_view import view as augment  # noqa: F401 (a fixture)
from tests.gui.test_explore_view import TIMEOUT, _open, demo_run, make_view  # noqa: F401 (fixtures)
from workbench.gui.worker import active_threads

CHANGES = 1000
MAX_GROWTH_MB = 60  # a leak of one preview or one neighbours result per change would be far more (see each test)

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the RSS from /proc")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def settle(qtbot) -> None:
    qtbot.waitUntil(lambda: active_threads() == 0, timeout=TIMEOUT)
    QApplication.processEvents()


def rapid(qtbot, count: int, change) -> None:
    """`count` changes, mostly faster than any debounce, with a pause every 50 so that work really starts and is
    then superseded (cancelled or dropped) by the next changes."""
    for i in range(count):
        change(i)
        QApplication.processEvents()
        if i % 50 == 49:
            qtbot.wait(150)


def test_augment_last_seed_wins_without_growth(qtbot, augment):  # noqa: F811 - the fixture
    seed = augment.seed
    rapid(qtbot, 200, lambda i: seed.setValue(i % 7))  # warm-up: caches and allocator reach their steady size
    settle(qtbot)
    threads, memory = threading.active_count(), rss_mb()
    with qtbot.waitSignal(augment.preview_ready, timeout=TIMEOUT, check_params_cb=lambda p: p.seed == CHANGES):
        rapid(qtbot, CHANGES, lambda i: seed.setValue(i + 1))
    settle(qtbot)
    assert augment.last_preview.seed == CHANGES  # the last request won
    assert threading.active_count() <= threads
    growth = rss_mb() - memory  # one preview (2 views x 4 images) is small; 1,000 kept ones are not
    print(f"augment: {CHANGES} changes, threads {threads} -> {threading.active_count()}, RSS +{growth:.1f} MB")
    assert growth < MAX_GROWTH_MB


def test_explore_last_point_and_clustering_win_without_growth(qtbot, make_view, demo_run):  # noqa: F811
    view = make_view()
    _open(qtbot, view, demo_run)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(view.embedding()), size=CHANGES)
    rapid(qtbot, 100, lambda i: view.show_point(int(rows[i])))
    settle(qtbot)
    threads, memory = threading.active_count(), rss_mb()
    shown: list[int] = []
    view.neighbours_shown.connect(shown.append)
    rapid(qtbot, CHANGES, lambda i: view.show_point(int(rows[i])))
    settle(qtbot)
    assert shown and shown[-1] == int(rows[-1]) and view.scatter.current == int(rows[-1])

    ks = [2 + i % 9 for i in range(CHANGES // 10)]  # k-means runs in the background: each new k supersedes it
    rapid(qtbot, len(ks), lambda i: view.set_colour_mode("cluster", ks[i]))
    settle(qtbot)
    assert view.colour.mode == "cluster" and view.colour.k == ks[-1] == len(view.colour.names)
    assert threading.active_count() <= threads + 1  # + at most one pool thread kept warm by Qt
    growth = rss_mb() - memory
    print(f"explore: {CHANGES + len(ks)} changes, threads {threads} -> {threading.active_count()}, +{growth:.1f} MB")
    assert growth < MAX_GROWTH_MB
    view.shutdown()
    assert_no_work_left()
    sys.stdout.flush()
