"""Python's cyclic garbage collector runs on the GUI thread only, on a timer.

CPython collects on whichever thread happens to allocate when a threshold is crossed. When that is a worker (the
training thread creates thousands of objects) and the garbage holds Qt objects (a closed window's wrappers caught in
a reference cycle), their C++ destructors run on the worker. Seen here as a deadlock: the worker, inside ~QObject
and holding Qt's signal-slot mutex, waits for the GIL, while the GUI thread, holding the GIL, deletes widgets and
waits for that mutex. So a GUI process turns automatic collection off and collects from a GUI-thread timer instead,
with the collector's own thresholds (pyqtgraph's GarbageCollector does the same).

A full collection walks every tracked object, and torch, Qt, pyqtgraph, scipy and sklearn make ~400,000 of them at
import: 150-250 ms holding the GIL on a 2-core machine (600-1,000 ms when it is loaded), a frozen window wherever it
runs - the longest stalls of the embedding and the data-check jobs (issue 16). Those objects (modules, classes,
functions) live as long as the process. And with automatic collection off, what a second of imports makes sits in
generation 0 until the next tick: collecting even that one generation walked 300,000 objects (1.3 s, loaded). So
on a tick after imports have added FREEZE_AFTER_MODULES modules the collector freezes what is alive instead of
collecting (gc.freeze: microseconds; frozen objects are skipped by every later collection, and plain reference
counting still frees them); later collections walk only what was made since. The cost: a reference cycle alive at
that moment that later becomes garbage is never freed (imports happen a few times a session, at first use).
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250  # bounds generation 0: a 1 s tick let a scan's second of objects pile up (a 64 ms collection)
FREEZE_AFTER_MODULES = 50  # a tick after this many new modules (imports) freezes instead of collecting

_installed: GuiThreadCollector | None = None


class GuiThreadCollector(QObject):
    """Turns automatic collection off; `collect_due()` (every INTERVAL_MS) collects what the thresholds call for."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.frozen_at_modules = len(sys.modules)  # len(sys.modules) at the last freeze (none yet)
        gc.disable()
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.collect_due)
        self.timer.start()

    def collect_due(self) -> None:
        """Collect the generations whose counts passed their thresholds, as the automatic collector would; or, after
        imports, freeze (see the module docstring)."""
        if len(sys.modules) - self.frozen_at_modules >= FREEZE_AFTER_MODULES:
            gc.freeze()  # what the imports made, alive for good: never walked again
            self.frozen_at_modules = len(sys.modules)
            return
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
        gc.unfreeze()
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
