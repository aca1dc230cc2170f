"""The terminal's view of long work (training, embedding, evaluation): a progress line, messages, and Ctrl+C (or a
scheduler's SIGTERM) as a clean stop.

Under torchrun only the main process prints progress; every process still listens for a stop, which the training
loop agrees on across processes (engine/fit.py).
"""

from __future__ import annotations

import sys
import time


class ConsoleReporter:
    """Prints a one-line progress bar on a terminal (a line every 10 s otherwise); Ctrl+C asks for a clean stop.

    `quiet` (torchrun's other processes) prints nothing but still takes stop requests. A second Ctrl+C aborts at
    once, unless it comes within REPEAT_S of the first: torchrun forwards the terminal's Ctrl+C to its workers, who
    then receive it twice."""

    REPEAT_S = 2.0

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.stop_requested = False
        self._stop_at = 0.0
        self._last_print = 0.0
        self._open_line = False

    def interrupt(self, signum, frame) -> None:
        """The SIGINT / SIGTERM handler."""
        if self.stop_requested:
            if time.monotonic() - self._stop_at < self.REPEAT_S:
                return  # the same Ctrl+C, delivered again by torchrun
            raise KeyboardInterrupt  # a second Ctrl+C stops at once
        self.stop_requested, self._stop_at = True, time.monotonic()
        self.message("Stopping after this step (Ctrl+C again to abort without saving) ...")

    def _print(self, text: str, transient: bool) -> None:
        if self.quiet:
            return
        if self.tty and transient:
            self.stream.write("\r\033[K" + text)
            self._open_line = True
        else:
            if self._open_line:
                self.stream.write("\n")
            self.stream.write(text + "\n")
            self._open_line = False
        self.stream.flush()

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_print >= (0.25 if self.tty else 10.0):
            self._last_print = now
            return True
        return False

    def message(self, text: str) -> None:
        self._print(text, transient=False)

    def progress(self, done: int, total: int) -> None:
        if self._due() or done == total:
            self._print(f"  {_bar(done / max(total, 1))} {done}/{total}", transient=True)

    def step(self, report) -> None:
        if not self._due() and report.progress < 1.0:  # the last step always shows: the bar ends full
            return
        total = f"/{report.total_steps}" if report.total_steps else ""
        eta = f" | ETA {_duration(report.eta_s)}" if report.eta_s is not None else ""
        self._print(
            f"  {_bar(report.progress)} step {report.step}{total} | epoch {report.epoch} | loss {report.loss:.4f} | "
            f"lr {report.lr:.2e} | {report.images_per_s:.0f} img/s{eta}",
            transient=True,
        )

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        self._print(f"epoch {epoch}: {shown}", transient=False)

    def preview(self, epoch: int, image) -> None:
        pass  # the image is saved as preview.png in the run folder; a terminal shows nothing

    def should_stop(self) -> bool:
        return self.stop_requested

    def paused(self) -> bool:
        return False

    def finish(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False


def _bar(fraction: float | None, width: int = 20) -> str:
    filled = int(round(width * min(max(fraction or 0.0, 0.0), 1.0)))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
