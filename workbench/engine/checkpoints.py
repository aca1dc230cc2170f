"""When fit() writes checkpoints: a policy object, not `if`s in the loop (torchtitan's CheckpointManager).

- `last` at least every `train.checkpoint_every_s` seconds of training (checked after each step and epoch end),
  and when the run stops, finishes or fails (`now()`), so a stopped or killed run resumes close to where it was.
  Not at every epoch end: with short epochs that would spend much of the time budget writing checkpoints, and a
  resume continues exactly from any step;
- `epoch-NNNN` snapshots every `train.checkpoint_every_epochs` epochs (0: none);
- `time-NNNNNNs` snapshots every `train.snapshot_every_s` seconds of training time (learning curves over time).
The policy decides when; `save(name)` (fit's) builds the state and RunDir writes it atomically under that name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from workbench.config import TrainConfig


class CheckpointPolicy:
    def __init__(self, train: TrainConfig, save: Callable[[str], None], elapsed_s: float):
        self.every_s = train.checkpoint_every_s
        self.every_epochs = train.checkpoint_every_epochs
        self.snapshot_every_s = train.snapshot_every_s
        self.save = save
        self.last_saved_at = elapsed_s
        self.next_snapshot = _next_multiple(elapsed_s, self.snapshot_every_s)

    def after_step(self, elapsed_s: float) -> None:
        if self.next_snapshot is not None and elapsed_s >= self.next_snapshot:
            self.save(f"time-{int(self.next_snapshot):06d}s")
            self.next_snapshot += self.snapshot_every_s
        if elapsed_s - self.last_saved_at >= self.every_s:
            self.now(elapsed_s)

    def after_epoch(self, epochs_done: int, elapsed_s: float) -> None:
        if elapsed_s - self.last_saved_at >= self.every_s:
            self.now(elapsed_s)
        if self.every_epochs and epochs_done % self.every_epochs == 0:
            self.save(f"epoch-{epochs_done:04d}")

    def now(self, elapsed_s: float) -> None:
        """Write `last` (epoch ends, stops, failures, the end of the run)."""
        self.save("last")
        self.last_saved_at = elapsed_s


def _next_multiple(value: float, every: float | None) -> float | None:
    if not every:
        return None
    return (math.floor(value / every) + 1) * every
