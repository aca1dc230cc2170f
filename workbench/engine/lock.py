"""One writer per run folder: the process that trains a run holds its lock, and any other is refused in one sentence.

The lock is the well-kept `filelock` package's FileLock (flock on Unix, msvcrt on Windows): an OS-level lock that the
kernel releases when its holder dies, so a lock left behind by a killed process can never block; the next process
takes it over at once. Next to it an owner file (pid, host, start time) names the holder in the refusal, and, found
on acquiring, tells that the previous holder died without releasing it (a stale lock, reported and replaced).

Only the process that writes the run's files takes it (under torchrun: the main process); readers (the window
following a run, run_summary.py, Explore) never need it. The file names are engine/run_files.py's.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.engine.run_files import LOCK_FILE, LOCK_OWNER_FILE, read_json_object
from workbench.errors import RunError
from workbench.files import atomic_write_text, write_error


class RunBusyError(RunError):
    """Another process is training this run folder."""


class RunLock:
    """The training lock of the run folder `path`; `acquire` once, `release` (idempotent) whatever happens."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock: Any = None

    @property
    def owner_path(self) -> Path:
        return self.path / LOCK_OWNER_FILE

    @property
    def held(self) -> bool:
        return self._lock is not None

    def acquire(self, notify: Callable[[str], None] | None = None) -> None:
        """Take the lock now or raise RunBusyError naming its holder; `notify` hears of a stale lock taken over."""
        if self._lock is not None:
            return
        from filelock import FileLock, Timeout  # here: listing runs must not pay for it

        lock = FileLock(str(self.path / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunBusyError(busy_message(self.path, read_json_object(self.owner_path))) from None
        except OSError as exc:  # the run folder is read-only or gone
            raise write_error(self.path / LOCK_FILE, exc) from None
        self._lock = lock
        stale = read_json_object(self.owner_path)
        try:
            if stale and notify is not None:
                notify(
                    f"Took over the lock of run '{self.path}' left by {_holder(stale)}, which stopped without "
                    "releasing it (killed or crashed)."
                )
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            atomic_write_text(self.owner_path, json.dumps(owner) + "\n")
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            self.owner_path.unlink(missing_ok=True)
        except OSError:
            pass  # the folder was made read-only or deleted; the OS lock goes anyway
        try:
            self._lock.release()
        finally:
            self._lock = None


def busy_message(path: Path, owner: dict[str, Any]) -> str:
    return (
        f"The run '{path}' is being trained by another process ({_holder(owner)}); wait for it to finish or stop it, "
        "or train another run folder."
    )


def _holder(owner: dict[str, Any]) -> str:
    if not owner:
        return "one that has just started"
    since = owner.get("since")
    when = time.strftime(", since %Y-%m-%d %H:%M", time.localtime(since)) if isinstance(since, int | float) else ""
    return f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}{when}"


__all__ = ["RunBusyError", "RunLock", "busy_message"]
