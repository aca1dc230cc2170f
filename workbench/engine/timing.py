"""fit()'s time: the training clock, what the work between steps costs, and the time budget that holds all of it.

- `TrainClock` is the training wall time: a resumed run's time before this process, plus the time since the clock
  started, minus the time paused. Everything fit() does once the model is built counts: steps, monitor passes,
  previews, checkpoints.
- `Overheads` keeps the measured cost of each kind of work (the last step, monitor pass, preview and checkpoint),
  and two rules use it:
  * the budget holds everything: a step or an evaluation pass starts only when its expected cost (its last
    measured one) still fits in what is left of the budget after the end of the run's own work (the final monitor
    pass, preview and checkpoint), so a run ends within about one step of its budget, under load too;
  * evaluation between steps (monitor passes and previews) takes at most `train.monitor_share` of the training
    time: a pass runs when the time spent on evaluation so far plus its expected cost stays within that share of
    the time by then. With short epochs the monitor then runs every few epochs instead of after each one.
  Under torchrun the main process alone evaluates and writes checkpoints; fit() agrees its costs (and the mean step
  time) across processes after every step (`shared` / `set_shared`), so every process takes the same decisions.

Real time comes from `now` (tests replace it with a fake clock).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from workbench.engine.report import Reporter

now = time.perf_counter  # the clock's source of seconds
PAUSE_POLL_S = 0.05

WORK = ("step", "monitor", "preview", "checkpoint")  # the kinds of work Overheads times
EVALUATION = ("monitor", "preview")  # the kinds charged to the evaluation share
FINAL = ("monitor", "preview", "checkpoint")  # the end of the run's own work, kept inside the budget


class TrainClock:
    """Training wall time: time before this process (resumes) plus time since start, minus paused time."""

    def __init__(self, offset_s: float, start_step: int, budget_s: float | None):
        self.offset = offset_s
        self.start_step = start_step
        self.budget = budget_s
        self.t0 = now()
        self.paused_s = 0.0

    def elapsed(self) -> float:
        return self.offset + now() - self.t0 - self.paused_s

    def eta(self, step: int, total: int) -> float | None:
        """Seconds left at this process's own speed, capped by what is left of the time budget."""
        elapsed = self.elapsed()
        rate = (step - self.start_step) / max(elapsed - self.offset, 1e-9)
        eta = (total - step) / rate if rate > 0 else None
        if self.budget is not None:
            left = max(self.budget - elapsed, 0.0)
            eta = left if eta is None else min(eta, left)
        return eta


def wait_while_paused(reporter: Reporter, clock: TrainClock) -> bool:
    """Block while paused (time not counted); True if a stop was asked meanwhile or before."""
    if reporter.should_stop():
        return True
    if not reporter.paused():
        return False
    started = now()
    while reporter.paused():
        if reporter.should_stop():
            return True
        time.sleep(PAUSE_POLL_S)
    clock.paused_s += now() - started
    return False


class Overheads:
    """The measured cost of each kind of work, the evaluation time spent so far, and the rules that use them."""

    def __init__(self, budget_s: float | None, share: float, elapsed_s: float = 0.0):
        self.budget_s, self.share = budget_s, share
        self.cost = dict.fromkeys(WORK, 0.0)  # seconds of the last one of each kind (0: none measured yet)
        self.evaluation_s = share * elapsed_s  # a resumed run is taken to have used its share

    @contextmanager
    def measure(self, kind: str, clock: TrainClock, active: bool = True, shared: bool = True) -> Iterator[None]:
        """Time the block as work of `kind` (nothing when not `active`); `shared=False`: an evaluation pass that is
        not charged to the share (the one-off untrained reference), though it counts in the budget like all work."""
        started = clock.elapsed()
        try:
            yield
        finally:
            if active:
                self.cost[kind] = cost = max(clock.elapsed() - started, 0.0)
                if kind in EVALUATION and shared:
                    self.evaluation_s += cost

    def reserve_s(self) -> float:
        """What the end of the run is expected to take (final monitor pass, preview and checkpoint)."""
        return sum(self.cost[kind] for kind in FINAL)

    def fits(self, elapsed_s: float, *kinds: str) -> bool:
        """Whether work of `kinds`, at their last measured costs, then the end of the run, ends within the budget."""
        if self.budget_s is None:
            return True
        return elapsed_s + sum(self.cost[kind] for kind in kinds) + self.reserve_s() <= self.budget_s

    def allows(self, elapsed_s: float, kind: str) -> bool:
        """Whether an evaluation pass of `kind` may run now: within the share of the time, and with room for at least
        one more step in the budget after it."""
        cost = self.cost[kind]
        within_share = self.share > 0 and self.evaluation_s + cost <= self.share * (elapsed_s + cost)
        return within_share and self.fits(elapsed_s, kind, "step")

    def shared(self) -> list[float]:
        """The main process's values that every process must use: the non-step costs and the evaluation time."""
        return [self.cost[kind] for kind in WORK if kind != "step"] + [self.evaluation_s]

    def set_shared(self, values: list[float]) -> None:
        *costs, self.evaluation_s = values
        for kind, value in zip((k for k in WORK if k != "step"), costs, strict=True):
            self.cost[kind] = value


__all__ = ["Overheads", "TrainClock", "now", "wait_while_paused"]
