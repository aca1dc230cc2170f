"""Following a run that another process writes (the CLI, torchrun on a cluster with the folder mounted).

RunPoller: a QTimer every second, the reads on a TaskRunner (the folder may be on a slow network mount), one read at
a time (a tick is skipped while the previous read runs), nothing written. RunFollowing: draws each poll's news with
the Train workspace's live-training curves and progress bar, and stops once the run's status says it has ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QProgressBar, QWidget

from workbench.gui.signals import emit
from workbench.gui.train_tasks import FollowUpdate, RunFollower, follow_text
from workbench.gui.widgets.curves import LiveCurves
from workbench.gui.widgets.sample_preview import SamplePreview
from workbench.gui.worker import TaskRunner

POLL_MS = 1000


def pick_run_folder(parent: QWidget, runs_dir: Path) -> str:
    """Ask for a run folder to follow, starting in the runs folder; "" when cancelled."""
    start = runs_dir if runs_dir.is_dir() else Path.home()
    return QFileDialog.getExistingDirectory(parent, "Follow a run folder that another process writes", str(start))


class RunPoller(QObject):
    """Follows one run folder at a time; `start(path)` replaces the previous one, `shutdown()` waits for the read."""

    updated = Signal(object)  # FollowUpdate
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, interval_ms: int = POLL_MS):
        super().__init__(parent)
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._failed)
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.poll)
        self.follower: RunFollower | None = None
        self.polls = 0  # reads started (the tests count skipped ticks with it)

    @property
    def path(self) -> Path | None:
        return self.follower.path if self.follower is not None else None

    def is_following(self) -> bool:
        return self.follower is not None

    def start(self, path: str | Path) -> None:
        self.stop()
        self.follower = RunFollower(path)
        self.timer.start()
        self.poll()

    def stop(self) -> None:
        """No more polls; a read in flight finishes on its thread and its result is dropped."""
        self.timer.stop()
        self.follower = None
        self.runner.cancel(notify=False)

    def poll(self) -> None:
        follower = self.follower
        if follower is None or self.runner.is_running():  # one read at a time: skip this tick
            return
        self.polls += 1
        self.runner.start(follower.poll, lambda update, f=follower: self._done(f, update))

    def shutdown(self) -> None:
        self.stop()
        self.runner.shutdown()

    def _done(self, follower: RunFollower, update: FollowUpdate) -> None:
        if follower is self.follower:  # not a read of a run followed before
            emit(self.updated, update)

    def _failed(self, text: str) -> None:
        self.stop()
        emit(self.failed, text)


class RunFollowing(QObject):
    """Follow run…: a run that another process writes, drawn in the Train workspace's own curves, preview and
    progress bar (what live training draws), polled by a RunPoller until its status says it has ended.

    `path` is the run shown (it stays shown once it has ended, until `forget()`); `is_following()` says whether it
    is still polled. The view renders the health line from `epochs` and refreshes its runs list on `ended`.
    """

    failed = Signal(str)
    status = Signal(str)
    epochs = Signal(object)  # every epoch so far, [(epoch, values)], when epochs.csv changed
    changed = Signal()  # following started or stopped: the buttons change
    ended = Signal(object)  # Path of the run once finished / stopped / failed

    def __init__(self, curves: LiveCurves, samples: SamplePreview, progress: QProgressBar, parent: QObject | None):
        super().__init__(parent)
        self.curves, self.samples, self.progress = curves, samples, progress
        self.poller = RunPoller(self)
        self.poller.updated.connect(self._update)
        self.poller.failed.connect(self._failed)
        self.path: Path | None = None
        self._news = 0.0  # time.monotonic() of the last new row

    def is_following(self) -> bool:
        return self.poller.is_following()

    def follow(self, path: str | Path) -> None:
        self.path, self._news = Path(path), time.monotonic()
        self.curves.clear()
        self.samples.clear()
        self.poller.start(self.path)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"following {self.path.name}: reading…")
        emit(self.status, f"Following {self.path.name} (read only).")
        emit(self.changed)

    def stop(self) -> None:
        if self.poller.is_following():
            self.poller.stop()
            self.progress.setFormat(f"stopped following {self.path.name}")
            emit(self.changed)

    def forget(self) -> None:
        """Stop, and no longer count the run as shown (the window trains its own now)."""
        self.stop()
        self.path = None

    def shutdown(self) -> None:
        self.poller.shutdown()

    def _update(self, update: FollowUpdate) -> None:
        if update.restarted:  # a resume trimmed the log: the rows are the whole curve again
            self.curves.clear()
        if len(update.rows):
            self.curves.append_steps(update.rows)
            self._news = time.monotonic()
        if update.epochs is not None:
            self.curves.set_epochs(update.epochs)
            emit(self.epochs, update.epochs)
        if update.preview is not None:
            self.samples.set_png(update.preview, update.name)
        if update.untrained is not None:
            self.curves.set_untrained(update.untrained)
        self.curves.redraw_staggered()  # one plot per pass of the event loop
        total = update.total_steps
        self.progress.setRange(0, max(total or 1, 1))
        self.progress.setValue(min(update.step, total) if total else 0)
        self.progress.setFormat(follow_text(update, time.monotonic() - self._news))
        if update.ended:
            self.poller.stop()
            emit(self.status, f"The followed run {update.name} is {update.status}.")
            emit(self.changed)
            emit(self.ended, self.path)

    def _failed(self, text: str) -> None:
        self.progress.setFormat("cannot follow: see the message at the top")
        emit(self.failed, text)
        emit(self.changed)
