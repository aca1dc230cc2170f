"""Garbage is collected on the GUI thread's timer, never by a worker that happens to allocate."""

from __future__ import annotations

import gc
import threading
import weakref

from workbench.gui.gc_policy import GuiThreadCollector


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_a_worker_never_collects_and_the_gui_timer_does(qapp):
    gc.collect()
    collector = GuiThreadCollector(qapp, interval_ms=60_000)  # the test calls collect_due itself
    try:
        assert not gc.isenabled()
        cycle = _Node()
        alive = weakref.ref(cycle)
        del cycle

        kept: list[list] = []

        def allocate() -> None:  # far past gen 0's threshold: automatic collection would have freed the cycle
            kept.extend([] for _ in range(20 * collector.thresholds[0]))

        worker = threading.Thread(target=allocate)
        worker.start()
        worker.join()
        assert alive() is not None  # nothing was collected on the worker
        collector.collect_due()  # what the GUI thread's timer runs
        assert alive() is None
    finally:
        collector.uninstall()
    assert gc.isenabled()
