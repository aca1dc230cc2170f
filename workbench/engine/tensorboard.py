"""TensorBoard event files of a run, written beside its CSV logs, so `tensorboard --logdir RUNS` shows every run.

RunDir (engine/runs.py) feeds it the rows it logs; nothing else writes events. Tags:
    train/loss, train/lr, train/images_per_s   every step (metrics.csv)
    method/<value>                              the method's own per-step values (metrics.csv's extra columns)
    epoch/<value>                               per-epoch loss, health and kNN (epochs.csv), at the epoch's last step
    preview                                     a generative method's reconstructions or samples (preview.png)

A resumed run continues the same curves. Its writer starts with a purge at the resume step (TensorBoard's
`purge_step`: a SessionLog START from which TensorBoard's readers drop every earlier-written event at or after that
step, i.e. what a killed process logged past its last checkpoint), and RunDir replays the CSV rows of the resume step
itself, so every step appears once. The readers order event files by name, which begins with the writer's start
second; a writer started in the same second as an earlier one waits for the next second so it sorts after it.

Writing goes through `torch.utils.tensorboard.SummaryWriter` (asynchronous: a step costs one protobuf and a queue
put). Without the tensorboard package, or when writing fails, one WorkbenchWarning says so and training goes on.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchWarning

if TYPE_CHECKING:
    import numpy as np

EVENT_FILE_PREFIX = "events.out.tfevents."  # TensorBoard's own name for event files, then the start second
STEP_TAGS = {"loss": "train/loss", "lr": "train/lr", "images_per_s": "train/images_per_s"}
STEP_AXES = ("step", "epoch", "time_s")  # metrics.csv columns that are axes, not curves
EPOCH_AXES = ("epoch", "step", "time_s")  # likewise in epochs.csv
PREVIEW_TAG = "preview"
MAX_QUEUE = 1000  # events queued before a step would wait for the writer thread
FLUSH_S = 30  # the writer thread flushes at least this often (and at every checkpoint, and on close)
TENSORBOARD_MISSING = (
    "TensorBoard curves are off because the tensorboard package is missing; `pip install tensorboard` turns them on "
    "(training goes on)."
)


def step_scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """A metrics row (numbers or CSV strings) -> {tag: value}: loss, lr, images/s and the method's values."""
    return {STEP_TAGS.get(k, f"method/{k}"): v for k, v in _numbers(row, STEP_AXES).items()}


def epoch_scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """An epochs row -> {tag: value}: the epoch's mean loss, health and kNN."""
    return {f"epoch/{k}": v for k, v in _numbers(row, EPOCH_AXES).items()}


def has_event_files(folder: Path) -> bool:
    return any(folder.glob(EVENT_FILE_PREFIX + "*"))


class CurveLog:
    """One process's TensorBoard writer for a run folder. Open it with `CurveLog.open`; every call is a no-op
    after a write has failed (and warned once)."""

    def __init__(self, writer: Any, summary_type: Any, notify: Callable[[str], None] | None = None):
        self._writer = writer
        self._summary = summary_type  # tensorboard's Summary protobuf: one event per step, all its values
        self._notify = notify or _warn
        self._failed = False

    @classmethod
    def open(
        cls, folder: Path, purge_step: int | None = None, notify: Callable[[str], None] | None = None
    ) -> CurveLog | None:
        """A writer of new event files in `folder` (purging what earlier files hold at or after `purge_step`), or
        None, with one line to `notify` (the run's messages; default: a WorkbenchWarning), when tensorboard is
        missing or the folder cannot be written."""
        say = notify or _warn
        try:
            from tensorboard.compat.proto.summary_pb2 import Summary
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            say(TENSORBOARD_MISSING)
            return None
        _start_after_earlier_files(folder)
        try:
            writer = SummaryWriter(str(folder), purge_step=purge_step, max_queue=MAX_QUEUE, flush_secs=FLUSH_S)
        except Exception as exc:  # a read-only or full disk, whatever the writer raises: the CSVs go on
            say(f"TensorBoard curves are off: {exc} (training goes on).")
            return None
        return cls(writer, Summary, notify)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        if values and not self._failed:
            summary = self._summary(value=[self._summary.Value(tag=t, simple_value=v) for t, v in values.items()])
            self._guard(lambda: self._writer._get_file_writer().add_summary(summary, step))  # add_scalar's path

    def image(self, tag: str, step: int, image: np.ndarray) -> None:
        """`image`: uint8 (H, W, 3)."""
        if not self._failed:
            self._guard(lambda: self._writer.add_image(tag, image, step, dataformats="HWC"))

    def flush(self) -> None:
        if not self._failed:
            self._guard(self._writer.flush)

    def close(self) -> None:
        if not self._failed:
            self._guard(self._writer.close)
        self._failed = True

    def _guard(self, write) -> None:
        try:
            write()
        except Exception as exc:  # the async writer re-raises its thread's OSError here; curves are optional
            self._failed = True
            self._notify(f"TensorBoard curves stopped: {exc} (training goes on).")


def _warn(text: str) -> None:
    """Where a CurveLog's one line goes without a run to tell (the Python API's callers see a warning)."""
    warnings.warn(text, WorkbenchWarning, stacklevel=4)


def _numbers(row: Mapping[str, Any], skip: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for key, value in row.items():
        if key in skip or isinstance(value, bool):
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue  # an empty CSV cell: the value was not logged at this row
    return out


def _start_after_earlier_files(folder: Path) -> None:
    """Wait (at most a second) until the clock's second is past every existing event file's start second."""
    latest = 0
    for path in folder.glob(EVENT_FILE_PREFIX + "*"):
        stamp = path.name[len(EVENT_FILE_PREFIX) :].split(".", 1)[0]
        latest = max(latest, int(stamp)) if stamp.isdigit() else latest
    wait = latest + 1 - time.time()
    if 0 < wait <= 1:
        time.sleep(wait)


__all__ = ["TENSORBOARD_MISSING", "CurveLog", "epoch_scalars", "has_event_files", "step_scalars"]
