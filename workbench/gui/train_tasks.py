"""Qt-free parts of the Train workspace: the registry catalog, the step buffer, run names, the curves' helpers.

Nothing is signalled per step: fit() appends each StepReport to a lock-protected StepBuffer and the GUI drains
it from a timer at most ~20 times a second (throttling at the source, as STYLE.md asks).
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from workbench.catalogue import EncoderInfo, MethodInfo
from workbench.config import ExperimentConfig
from workbench.engine.report import StepReport
from workbench.engine.runs import STEP_FIELDS  # the per-step curves, in buffer column order (run-format knowledge)

COLLAPSE_FRACTION = 0.3  # warn when the embedding std falls below this fraction of its best value so far


@dataclass
class Catalog:
    """What the controls offer: the core's registry catalogue (as `workbench list` shows it) and the usable
    devices."""

    encoders: list[EncoderInfo]  # (name, description)
    methods: list[MethodInfo]
    devices: list[str]  # available device kinds, best first, ending with "cpu"
    detected: str  # what "auto" resolves to, in words


def load_catalog(state: Any = None) -> Catalog:
    """Read the registries (workbench.catalogue) and the devices (imports torch: call it on a worker thread)."""
    from workbench.catalogue import registry_catalogue
    from workbench.engine.devices import available_devices, describe_device, resolve_device

    registries = registry_catalogue()
    return Catalog(
        encoders=list(registries.encoders),
        methods=list(registries.methods),
        devices=available_devices(),
        detected=describe_device(resolve_device("auto")),
    )


class StepBuffer:
    """Per-step rows and per-epoch values written by the training thread, drained by the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple[float, ...]] = []
        self._values: list[dict[str, float]] = []
        self._epochs: list[tuple[int, dict[str, float]]] = []
        self._preview: tuple[int, np.ndarray] | None = None  # only the newest picture matters
        self.last: StepReport | None = None

    def add_step(self, report: StepReport) -> None:
        with self._lock:
            self._rows.append((report.step, report.loss, report.lr, report.images_per_s))
            self._values.append(dict(report.values))
            self.last = report

    def add_epoch(self, epoch: int, values: dict[str, float]) -> None:
        with self._lock:
            self._epochs.append((epoch, dict(values)))

    def set_preview(self, epoch: int, image: np.ndarray) -> None:
        with self._lock:
            self._preview = (epoch, image)

    def take_preview(self) -> tuple[int, np.ndarray] | None:
        with self._lock:
            preview, self._preview = self._preview, None
        return preview

    def drain(self) -> tuple[np.ndarray, list[dict[str, float]], list[tuple[int, dict[str, float]]]]:
        """(rows (N, 4) float64 in STEP_FIELDS order, per-step method values, new epochs) since the last drain."""
        with self._lock:
            rows, values, epochs = self._rows, self._values, self._epochs
            self._rows, self._values, self._epochs = [], [], []
        array = np.asarray(rows, dtype=np.float64).reshape(-1, len(STEP_FIELDS))
        return array, values, epochs


def new_run_dir(runs_dir: Path, config: ExperimentConfig, now: float | None = None) -> Path:
    """A fresh, unused folder name: date-time, method and encoder (e.g. 20261128-160512-simclr-small-cnn)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stamp}-{config.method.name}-{config.model.encoder}")
    path, n = runs_dir / base, 2
    while path.exists():
        path, n = runs_dir / f"{base}-{n}", n + 1
    return path


# The runs list (RunSummary, read_summary, list_runs, read_loss_curve) lives in workbench.engine.run_summary: the run
# folder's layout is known there only.


def ema(values: np.ndarray, alpha: float = 0.1, start: float | None = None) -> np.ndarray:
    """Exponential moving average of a 1-D array, continuing from `start` (the previous last EMA value)."""
    out = np.empty_like(values, dtype=np.float64)
    acc = start
    for i, v in enumerate(values):
        acc = float(v) if acc is None else acc + alpha * (float(v) - acc)
        out[i] = acc
    return out


def format_eta(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def spec_transforms(view: object) -> list[str]:
    """Names of the enabled transforms of one ViewSpec, in order."""
    return [f.name for f in fields(view) if getattr(getattr(view, f.name), "enabled", False)]


def health_text(values: dict[str, float], best_std: float) -> tuple[str, bool]:
    """One line of per-epoch health, and whether the std warns of collapse (it fell towards zero)."""
    names = {
        "alignment": "alignment",
        "uniformity": "uniformity",
        "std": "std",
        "effective_rank": "eff. rank",
        "knn_top1": "kNN top-1",
        "mi_bound": "MI bound",
    }
    parts = []
    for key, label in names.items():
        if key in values and math.isfinite(values[key]):
            value = values[key]
            parts.append(f"{label} {value:.1%}" if key == "knn_top1" else f"{label} {value:.3g}")
    std = values.get("std")
    collapsing = std is not None and (std < 1e-3 or (best_std > 0 and std < COLLAPSE_FRACTION * best_std))
    return " · ".join(parts), collapsing
