"""Python's cyclic garbage collector runs on the GUI thread only, on a timer.

CPython collects on whichever thread happens to allocate when a threshold is crossed. When that is a worker (the
training thread creates thousands of objects) and the garbage holds Qt objects (a closed window's wrappers caught in
a reference cycle), their C++ destructors run on the worker. Seen here as a deadlock: the worker, inside ~QObject
and holding Qt's signal-slot mutex, waits for the GIL, while the GUI thread, holding the GIL, deletes widgets and
waits for that mutex. So a GUI process turns automatic collection off and collects from a GUI-thread timer instead,
with the collector's own thresholds (pyqtgraph's GarbageCollector does the same).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000

_installed: GuiThreadCollector | None = None


class GuiThreadCollector(QObject):
    """Turns automatic collection off; `collect_due()` (every INTERVAL_MS) collects what the thresholds call for."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.collect_due)
        self.timer.start()

    def collect_due(self) -> None:
        """Collect the generations whose counts passed their thresholds, as the automatic collector would."""
        counts = gc.get_count()
        generation = -1
        for level in range(3):
            if counts[level] > self.thresholds[level]:
                generation = level
            else:
                break
        if generation >= 0:
            gc.collect(generation)

    def uninstall(self) -> None:
        """Back to automatic collection (after one full collection here, on the GUI thread)."""
        self.timer.stop()
        gc.collect()
        gc.enable()


def install_gui_collector(app: QObject) -> GuiThreadCollector:
    """Collect garbage only on the GUI thread from now on (idempotent); call it on the GUI thread."""
    global _installed
    if _installed is None:
        _installed = GuiThreadCollector(app)
    return _installed


def uninstall_gui_collector() -> None:
    global _installed
    if _installed is not None:
        _installed.uninstall()
        _installed.deleteLater()
        _installed = None
