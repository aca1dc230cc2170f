"""What fit() holds while it trains (the run folder and its lock), and the sentence a failed write becomes. Its own
module so that other training entry points (fine-tuning) hold a run the same way."""

from __future__ import annotations

import errno

from workbench.engine.lock import RunLock
from workbench.engine.report import Reporter
from workbench.engine.runs import RunDir
from workbench.errors import WriteError
from workbench.files import remove_temporaries


class Session:
    """What fit() holds while it trains: the run folder (its open metrics log) and, in the main process, the run's
    lock; `close` releases both whatever happened. Holding the lock, it removes what killed writes left behind."""

    def __init__(self, main: bool, reporter: Reporter):
        self.main, self.notify = main, reporter.message
        self.run: RunDir | None = None
        self.lock: RunLock | None = None

    def hold(self, run: RunDir) -> RunDir:
        self.run = run
        run.notify = self.notify  # e.g. "TensorBoard curves are off ..." among the run's messages
        if self.main and self.lock is None:
            self.lock = RunLock(run.path)
            self.lock.acquire(self.notify)
            for folder in (run.path, run.checkpoints):
                remove_temporaries(folder)
        return run

    def failed(self, text: str) -> None:
        if self.main and self.run is not None and self.run.path.is_dir():  # a deleted run is not made again
            try:
                self.run.set_status("failed", step=int(self.run.status().get("step") or 0), message=text)
            except (OSError, TypeError, ValueError):
                pass  # the folder cannot take it either (deleted, read-only, full)

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
        if self.lock is not None:
            self.lock.release()


def write_failed_message(exc: WriteError) -> str:
    """One sentence: which file, why, and how to go on (the checkpoints are written atomically, so intact)."""
    text = f"{str(exc).rstrip('.')}, so training stopped"
    if exc.errno == errno.ENOENT:
        return f"{text}."
    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    fix = "free some space" if full else "make the run folder writable again"
    return f"{text}; {fix} and resume the run, whose last checkpoint is intact."
