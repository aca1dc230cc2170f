"""emit(signal, *args): SignalInstance.emit, safe on PySide6 builds whose emit() leaks a reference to True.

PySide6 6.12.0 on Python 3.11 returns True from SignalInstance.emit() without owning a reference to it, so
every emit() from Python takes one reference away from True; after a few thousand emissions (thumbnails,
progress) the interpreter aborts ("bool_dealloc: deallocating True or False"). Python 3.12+ makes True
immortal, so nothing happens there. We probe once at import and, only where the leak exists, give the
reference back after each emission. Every emit in workbench/gui goes through here.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal


class _Probe(QObject):
    ping = Signal()


def _emit_leaks_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    return before - sys.getrefcount(True) >= 8


LEAKS = _emit_leaks_a_reference()


def emit(signal: Any, *args: Any) -> None:
    """signal.emit(*args), giving back the reference that a leaking emit() takes from its bool result."""
    result = signal.emit(*args)
    if LEAKS and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
