"""When fit() writes checkpoints: a policy object, not `if`s in the loop (torchtitan's CheckpointManager).

- `last` at least every `train.checkpoint_every_s` seconds of training (checked after each step and epoch end),
  and when the run stops, finishes or fails (`now()`), so a stopped or killed run resumes close to where it was.
  Not at every epoch end: with short epochs that would spend much of the time budget writing checkpoints, and a
  resume continues exactly from any step;
- `epoch-NNNN` snapshots every `train.checkpoint_every_epochs` epochs (0: none);
- `time-NNNNNNs` snapshots every `train.snapshot_every_s` seconds of training time (learning curves over time).
- `best` where the method names a value to select by (Method.selection(): the classifier's held-out accuracy):
  `BestCheckpoint` saves it at each monitor pass that beats every earlier one (the start, step 0, included; a tie
  keeps the earlier, fewer-steps weights) and tells fit() to stop after `patience` passes without improvement.
The policy decides when; `save(name)` (fit's) builds the state and RunDir writes it atomically under that name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.config import TrainConfig

if TYPE_CHECKING:
    import torch


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


class BestCheckpoint:
    """The `best` checkpoint and the early stop of a run whose method selects by a monitored value (higher is
    better). Its state (plain numbers: weights_only-safe) travels in every checkpoint, so a resume goes on counting,
    and a run that stopped early stays stopped."""

    NAME = "best"

    def __init__(self, rule: tuple[str, int] | None, save: Callable[[str], None], state: dict | None = None):
        self.metric, self.patience = rule if rule is not None else (None, 0)
        self.save = save
        self.value: float | None = None
        self.step: int | None = None
        self.waited = 0  # passes since the best one
        if state and self.metric is not None and state.get("metric") == self.metric:
            self.value, self.step, self.waited = state.get("value"), state.get("step"), int(state.get("waited", 0))

    @property
    def enabled(self) -> bool:
        return self.metric is not None

    def update(self, values: dict[str, float], step: int) -> None:
        """A monitor pass at `step` (values without the metric, e.g. a row not measured, are not a pass)."""
        value = values.get(self.metric) if self.enabled else None
        if value is None or not math.isfinite(value):
            return
        if self.value is None or value > self.value:
            self.value, self.step, self.waited = float(value), int(step), 0
            self.save(self.NAME)
        else:
            self.waited += 1

    @property
    def stopped(self) -> bool:
        return self.enabled and self.patience > 0 and self.waited >= self.patience

    def stop_now(self, device: torch.device) -> bool:
        """Whether to stop early, agreed by every process (the main one alone measures)."""
        if not self.enabled:
            return False
        import torch  # here: the module is read without torch (results/predict.py names the checkpoint)

        from workbench import dist

        if dist.world_size() == 1:
            return self.stopped
        flag = torch.tensor([float(self.stopped and dist.is_main_process())], device=device)
        return bool(dist.all_reduce_sum(flag).item() > 0)

    def state_dict(self) -> dict[str, Any]:
        """{"best": ...} for the checkpoint; {} when the run keeps no best checkpoint."""
        if not self.enabled:
            return {}
        return {"best": {"metric": self.metric, "value": self.value, "step": self.step, "waited": self.waited}}

    def summary(self) -> dict[str, Any]:
        """run.json's record: the best pass's step and value."""
        if not self.enabled or self.value is None:
            return {}
        return {"best_step": self.step, f"best_{self.metric}": round(self.value, 6)}

    def message(self) -> str:
        if not self.enabled or self.value is None:
            return ""
        return f"best {self.metric} {self.value:.4f} at step {self.step} (checkpoint '{self.NAME}')"

    def stop_message(self, step: int) -> str:
        return f"stopped early at step {step}: {self.metric} did not improve for {self.waited} passes; {self.message()}"


def _next_multiple(value: float, every: float | None) -> float | None:
    if not every:
        return None
    return (math.floor(value / every) + 1) * every
