"""The one helper for long work: QThreadPool runnables, a Qt-free reporter, queued signals back to the GUI.

Pattern (Orange's TaskState, superqt's abort_requested): the work function receives a `TaskState`, a plain
object with the engine's Reporter interface (progress, message, should_stop, ...). Its calls become signals
of a QObject that lives in the GUI thread, so every slot runs on the GUI thread (queued connection).
Cancellation is cooperative: `cancel()` sets a flag that the work polls; nothing is ever terminated.

`TaskRunner` runs one task per panel: starting a new one cancels the old one, and only the newest task's
result is delivered (latest request wins). `shutdown()` cancels and waits, so no thread outlives its window.
Every failure becomes one sentence (`failure_sentence`, which the training thread uses too) on the runner's
`failed` signal, which the window routes to its banner.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from workbench.data.decode import DecodeError
from workbench.errors import Cancelled, WorkbenchError
from workbench.gui.signals import emit

log = logging.getLogger(__name__)
_PROGRESS_MIN_INTERVAL_S = 0.05  # at most ~20 progress signals per second (plus the final one)
_POOLS: weakref.WeakSet[QThreadPool] = weakref.WeakSet()
_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()
_close_deadline: float | None = None  # time.monotonic() by which a closing app stops waiting for its workers


@contextlib.contextmanager
def closing(budget_s: float) -> Iterator[None]:
    """While the window closes: every shutdown inside waits at most until `budget_s` from now, whatever its own
    timeout (a training step or an uninterruptible library call can outlast the user's patience; the process then
    ends without them, see app.run_app)."""
    global _close_deadline
    _close_deadline = time.monotonic() + budget_s
    try:
        yield
    finally:
        _close_deadline = None


def close_wait_s(timeout_s: float) -> float:
    """`timeout_s`, or less: what is left before the close deadline (never below 1 ms)."""
    if _close_deadline is None:
        return timeout_s
    return max(min(timeout_s, _close_deadline - time.monotonic()), 0.001)


def user_message(exc: BaseException) -> str:
    """One sentence for the banner: the error's own sentence for user errors, a plain summary otherwise."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    if isinstance(exc, DecodeError):
        return f"The image cannot be decoded: {exc}."
    if isinstance(exc, MemoryError):
        return "Out of memory: try a smaller image size or fewer images."
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError):
        return f"A file could not be read or written ({text})."
    return f"Unexpected error ({type(exc).__name__}: {text}); details were written to the log."


def failure_sentence(exc: BaseException, what: str = "background task") -> str:
    """The one place a background failure becomes the banner's sentence; an unexpected error (a bug, not bad
    input) also has its traceback logged, so nothing fails silently."""
    if not isinstance(exc, WorkbenchError | DecodeError):
        log.error("%s failed:\n%s", what, "".join(traceback.format_exception(exc)))
    return user_message(exc)


def make_pool(parent: QObject | None = None, threads: int = 1) -> QThreadPool:
    """A thread pool that `active_threads()` knows about (the tests check it is idle after close)."""
    pool = QThreadPool(parent)
    pool.setMaxThreadCount(threads)
    _POOLS.add(pool)
    return pool


def register_thread(thread: QThread) -> None:
    """Let `active_threads()` count a dedicated thread (the Train workspace's training thread)."""
    _THREADS.add(thread)


def active_threads() -> int:
    """Threads busy in any pool made by make_pool (plus Qt's global pool) or registered with register_thread:
    0 once every window is closed."""
    busy = QThreadPool.globalInstance().activeThreadCount()
    for pool in list(_POOLS):
        if shiboken6.isValid(pool):  # a pool deleted with its window has no threads left
            busy += pool.activeThreadCount()
    busy += sum(1 for thread in list(_THREADS) if shiboken6.isValid(thread) and thread.isRunning())
    return busy


class _Signals(QObject):
    """Lives in the GUI thread; emitted from a pool thread, so connected slots run queued on the GUI thread."""

    progress = Signal(int, int)
    message = Signal(str)
    step = Signal(object)
    epoch = Signal(int, object)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()


class TaskState:
    """The Qt-free reporter handed to work functions (the engine's Reporter protocol, plus cancel())."""

    def __init__(self, signals: _Signals):
        self._signals = signals
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._last_progress = 0.0

    # -- called from the GUI thread
    def cancel(self) -> None:
        self._stop.set()

    def set_paused(self, paused: bool) -> None:
        (self._pause.set if paused else self._pause.clear)()

    # -- called from the work function (any thread)
    def should_stop(self) -> bool:
        return self._stop.is_set()

    def paused(self) -> bool:
        return self._pause.is_set()

    def check(self) -> None:
        """Raise Cancelled if a stop was requested: a cancellation point for loops."""
        if self._stop.is_set():
            raise Cancelled("cancelled")

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self._last_progress >= _PROGRESS_MIN_INTERVAL_S:
            self._last_progress = now
            emit(self._signals.progress, int(done), int(total))

    def message(self, text: str) -> None:
        emit(self._signals.message, str(text))

    def step(self, report: Any) -> None:
        emit(self._signals.step, report)

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        emit(self._signals.epoch, int(epoch), dict(values))


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[TaskState], Any], state: TaskState, signals: _Signals):
        super().__init__()
        self.setAutoDelete(True)
        self._fn, self._state, self._signals = fn, state, signals

    def run(self) -> None:
        try:
            if self._state.should_stop():  # cancelled while queued: do nothing
                raise Cancelled("cancelled before start")
            result = self._fn(self._state)
        except Cancelled:
            self._send("cancelled")
        except BaseException as exc:  # noqa: BLE001 - every error reaches the user, nothing fails silently
            self._send("failed", failure_sentence(exc))
        else:
            if self._state.should_stop():
                self._send("cancelled")
            else:
                self._send("done", result)
        finally:
            self._send("finished")

    def _send(self, name: str, *args: Any) -> None:
        # A task that outlived its window's close budget ends after the window (and its signal carrier) is gone:
        # then there is nobody left to tell.
        if shiboken6.isValid(self._signals):
            emit(getattr(self._signals, name), *args)


class Task:
    """Handle of one started task: its state (cancel, should_stop) and its signals."""

    def __init__(self, fn: Callable[[TaskState], Any]):
        self.signals = _Signals()
        self.state = TaskState(self.signals)
        self.runnable = _Runnable(fn, self.state, self.signals)
        self.finished = False
        self.signals.finished.connect(self._on_finished)

    def _on_finished(self) -> None:
        self.finished = True

    def cancel(self) -> None:
        self.state.cancel()


class TaskRunner(QObject):
    """One task at a time for one panel; the newest task wins and older results are dropped.

    Signals carry the current task's progress/message; `failed` carries the sentence for the banner;
    `running_changed(bool)` drives progress bars and Cancel buttons.
    """

    progress = Signal(int, int)
    message = Signal(str)
    failed = Signal(str)
    cancelled = Signal()
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, threads: int = 1):
        super().__init__(parent)
        self._pool = make_pool(self, threads)
        self._current: Task | None = None
        self._tasks: set[Task] = set()  # started and not finished (kept alive until their signals are in)
        self._closed = False  # after shutdown() nothing starts (late timers of a closing window)

    @property
    def pool(self) -> QThreadPool:
        return self._pool

    def is_running(self) -> bool:
        return self._current is not None

    def start(self, fn: Callable[[TaskState], Any], on_done: Callable[[Any], None] | None = None) -> Task | None:
        """Cancel the running task (if any) and run fn(state) on the pool; on_done(result) runs on the GUI thread.

        Returns None (and runs nothing) once the runner has been shut down.
        """
        if self._closed:
            return None
        self.cancel(notify=False)
        task = Task(fn)
        sig = task.signals
        sig.progress.connect(lambda d, t, task=task: self._forward(task, self.progress, d, t))
        sig.message.connect(lambda text, task=task: self._forward(task, self.message, text))
        sig.failed.connect(lambda text, task=task: self._forward(task, self.failed, text))
        sig.cancelled.connect(lambda task=task: self._forward(task, self.cancelled))
        if on_done is not None:
            sig.done.connect(lambda result, task=task: self._deliver(task, on_done, result))
        sig.finished.connect(lambda task=task: self._finish(task))
        self._current = task
        self._tasks.add(task)
        self._pool.start(task.runnable)
        emit(self.running_changed, True)
        return task

    def cancel(self, notify: bool = True) -> None:
        """Ask the current task to stop; its result (if it still finishes) is dropped."""
        task, self._current = self._current, None
        if task is not None:
            task.cancel()
            if notify:
                emit(self.running_changed, False)
                emit(self.cancelled)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and wait for the pool to be idle; True when it is. Nothing starts afterwards."""
        self._closed = True
        self.cancel(notify=False)
        for task in list(self._tasks):
            task.cancel()
        self._pool.clear()  # queued, not yet started
        idle = self._pool.waitForDone(int(close_wait_s(timeout_ms / 1000) * 1000))
        self._tasks.clear()
        return idle

    def _forward(self, task: Task, signal: Signal, *args: Any) -> None:
        if task is self._current:
            emit(signal, *args)

    def _deliver(self, task: Task, on_done: Callable[[Any], None], result: Any) -> None:
        if task is self._current:
            on_done(result)

    def _finish(self, task: Task) -> None:
        # Delete the signal carrier on the GUI thread (its home), never from the pool thread's last reference.
        task.signals.deleteLater()
        self._tasks.discard(task)
        if task is self._current:
            self._current = None
            emit(self.running_changed, False)
