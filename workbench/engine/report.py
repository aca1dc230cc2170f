"""The Qt-free reporter that fit() talks to: progress, logged values, previews, stop and pause requests.

The CLI passes a printing reporter; the GUI passes an adapter that turns these calls into queued
signals. A reporter is polled at every step, so every step is a cancellation and pause point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass
class StepReport:
    step: int  # global step, continuing across resumes
    epoch: int
    total_steps: int | None  # None when only a time budget bounds the run
    loss: float
    lr: float
    images_per_s: float  # source images per second (two views of one image count once)
    time_s: float  # wall seconds since the run started, resumes included
    eta_s: float | None
    values: dict[str, float] = field(default_factory=dict)  # method-specific (e.g. mi_bound)
    # The fraction of the run done, in [0, 1]: of its steps or of its time budget, whichever is further; exactly 1.0
    # on the run's last step when the steps or the budget end it (progress bars end full), below 1 on a stop.
    progress: float = 0.0


class Reporter(Protocol):
    def message(self, text: str) -> None: ...
    def progress(self, done: int, total: int) -> None: ...
    def step(self, report: StepReport) -> None: ...
    def epoch(self, epoch: int, values: dict[str, float]) -> None: ...
    def preview(self, epoch: int, image: np.ndarray) -> None: ...  # generative methods: uint8 (H, W, 3)
    def should_stop(self) -> bool: ...
    def paused(self) -> bool: ...


class NullReporter:
    """Reports nothing and never stops; the base for reporters that override a few calls."""

    def message(self, text: str) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def step(self, report: StepReport) -> None:
        pass

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        pass

    def preview(self, epoch: int, image: np.ndarray) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def paused(self) -> bool:
        return False
