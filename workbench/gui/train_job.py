"""One training run on its own QThread, driven by polling: the thread calls fit() and never touches a Qt object.

Training is the one long task that talks to the GUI thousands of times, so it keeps no Qt in the loop at all: the
job is the engine's Reporter, steps go to a lock-protected StepBuffer, messages and progress to a queue, and the
Train workspace's 20 Hz timer drains both (`take_events`, `buffer.drain`) and notices the end (`finished`). No
signal is emitted across threads and no Python object with a Qt half is created or dropped on the training thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread

from workbench.config import ExperimentConfig
from workbench.engine.report import StepReport
from workbench.errors import Cancelled
from workbench.gui.train_tasks import StepBuffer
from workbench.gui.worker import failure_sentence, register_thread


class _Thread(QThread):
    def __init__(self, target: Any):
        super().__init__()
        self._target = target

    def run(self) -> None:
        self._target()


class TrainingJob:
    """fit(config, run_dir) on a QThread; cancel() asks for a clean stop (checkpoint written, run resumable)."""

    def __init__(
        self,
        config: ExperimentConfig | None,
        run_dir: Path,
        resume: bool = False,
        target: Callable[[TrainingJob], Any] | None = None,
    ):
        """`target(job)` -> FitResult replaces fit(config, run_dir) when given (a fine-tune: finetune() with this
        job as its reporter); a resumed fine-tuned run resumes through finetune(resume=True) by itself."""
        self.config, self.run_dir, self.resume, self._target = config, Path(run_dir), resume, target
        self.buffer = StepBuffer()
        self.result: Any = None  # the FitResult (finished or stopped)
        self.error: str | None = None  # one sentence when the run failed
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._stop, self._pause, self._finished = threading.Event(), threading.Event(), threading.Event()
        self._pause_polls = 0  # how often fit() found the job paused since the last set_paused (training thread)
        self._thread = _Thread(self._run)

    # ---- GUI thread
    def start(self) -> None:
        register_thread(self._thread)
        self._thread.start()

    def cancel(self) -> None:
        self._pause.clear()
        self._stop.set()

    def set_paused(self, paused: bool) -> None:
        self._pause_polls = 0
        (self._pause.set if paused else self._pause.clear)()

    @property
    def pause_polls(self) -> int:
        """How many times fit() has asked `paused()` and been told yes since the last `set_paused`: from 1 on, the
        pause has taken effect (fit() waits before its next step, every step so far reported); each further poll
        (about every 50 ms) shows it still waits."""
        return self._pause_polls

    @property
    def finished(self) -> bool:
        """True once fit() has returned or raised (result / error are then set)."""
        return self._finished.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Block until the thread has ended (True) or the timeout passed (False)."""
        if not self._finished.wait(timeout_s):
            return False
        return self._thread.wait(max(int(timeout_s * 1000), 1))

    def take_events(self) -> list[tuple[str, Any]]:
        """("message", text) and ("progress", (done, total)) items since the last call, oldest first."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    # ---- the engine's Reporter (training thread)
    def message(self, text: str) -> None:
        self._events.put(("message", str(text)))

    def progress(self, done: int, total: int) -> None:
        self._events.put(("progress", (int(done), int(total))))

    def step(self, report: StepReport) -> None:
        self.buffer.add_step(report)

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        self.buffer.add_epoch(epoch, values)

    def preview(self, epoch: int, image: np.ndarray) -> None:
        self.buffer.set_preview(epoch, image)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def paused(self) -> bool:
        paused = self._pause.is_set() and not self._stop.is_set()
        if paused:
            self._pause_polls += 1  # one writer (this thread); the GUI thread only reads it
        return paused

    def _run(self) -> None:
        from workbench.engine.fit import fit
        from workbench.results.embeddings import embed_after_training

        try:
            if self._target is not None:
                self.result = self._target(self)
            elif self.resume and self.config.method.name == "classifier":  # a fine-tuned run: its labels, its split
                from workbench.results.finetune import finetune

                self.result = finetune(None, None, self.run_dir, resume=True, reporter=self)
            else:
                self.result = fit(self.config, self.run_dir, reporter=self, resume=self.resume)
                if self.result.status == "finished":  # the images it decoded, embedded: Explore opens the run at once
                    embed_after_training(self.result.run_dir, self.result.images, self)
            self.result.images = None  # not kept alive with the result
        except Cancelled:  # stopped while the images were being read: there is no run to resume yet
            pass
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the user as a sentence
            self.error = failure_sentence(exc, "training")
        finally:
            self._finished.set()
