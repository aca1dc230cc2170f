"""The status bar's memory figure: what the app (window + helper processes) holds, refreshed every few seconds.

The reading is taken on a thread of its own (workbench/memory.py MemorySampler: listing child processes is too slow
for the GUI thread); a timer here only shows the latest one. `shutdown()` ends the thread (the window's close).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QWidget

from workbench.memory import MemorySampler, MemoryUse, format_bytes

REFRESH_MS = 3000


class MemoryStatus(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.sampler = MemorySampler(REFRESH_MS / 1000).start()
        self._timer = QTimer(self, interval=REFRESH_MS // 3)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self._shown: MemoryUse | None = None

    def refresh(self) -> None:
        use = self.sampler.latest
        if use is None or use is self._shown:
            return
        self._shown = use
        self.setText(format_bytes(use.total_bytes))
        self.setToolTip(
            use.sentence() + ". Resident memory, including the pages of cached embeddings the system may reclaim."
        )

    def shutdown(self) -> None:
        self._timer.stop()
        self.sampler.stop()
