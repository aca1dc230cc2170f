"""How much memory the app uses: this process plus its children (the UMAP process, decoding workers).

Resident set size (RSS) from psutil, which reads it the same way on Linux, macOS and Windows. RSS counts the pages of
memory-mapped files (the embeddings cache) that are resident; the OS may drop those under pressure, so the figure
is an upper bound of what the app holds on to. Children that end while being read are skipped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil

GIB = 1024**3


@dataclass(frozen=True)
class MemoryUse:
    app_bytes: int  # this process
    children_bytes: int  # its child processes, recursively
    children: int

    @property
    def total_bytes(self) -> int:
        return self.app_bytes + self.children_bytes

    def sentence(self) -> str:
        text = f"Memory: {format_bytes(self.total_bytes)}"
        if self.children:
            text += f" ({format_bytes(self.app_bytes)} in the window, {format_bytes(self.children_bytes)} in "
            text += f"{self.children} helper process{'es' if self.children > 1 else ''})"
        return text


def memory_use(process: psutil.Process | None = None) -> MemoryUse:
    process = process or psutil.Process()
    own = process.memory_info().rss
    children, count = 0, 0
    for child in process.children(recursive=True):
        try:
            children += child.memory_info().rss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # ended meanwhile, or not ours to read
    return MemoryUse(own, children, count)


class MemorySampler:
    """`memory_use()` every `every_s` seconds on a daemon thread: listing the children walks the system's process
    table (~20 ms on a busy machine), too long for a GUI thread. `latest` is the newest reading (None before the
    first); `stop()` ends the thread within a moment."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self.latest: MemoryUse | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workbench-memory", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            try:
                self.latest = memory_use()
            except psutil.Error:
                pass  # the next reading will do
            if self._stop.wait(self.every_s):
                return


def format_bytes(n: float) -> str:
    """1,536 -> '1.5 KB'; binary multiples, named as users read them (GB, not GiB)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
