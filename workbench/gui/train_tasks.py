"""Qt-free parts of the Train workspace: the registry catalog, the step buffer, run names, the curves' helpers, and
the follower of a run that another process writes.

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
from workbench.engine.run_summary import MetricsFollower, RunSummary, curve_array, read_summary
from workbench.engine.runs import STEP_FIELDS, RunDir, read_csv, read_json_object  # STEP_FIELDS: in buffer order
from workbench.errors import RunError

COLLAPSE_FRACTION = 0.3  # warn when the embedding std falls below this fraction of its best value so far
ENDED_STATUSES = ("finished", "stopped", "failed")  # a followed run that reaches one of these is no longer written
STALE_S = 60  # a followed run with no new step for this long says so (its writer may have been killed)


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
    _import_ahead()
    return Catalog(
        encoders=list(registries.encoders),
        methods=list(registries.methods),
        devices=available_devices(),
        detected=describe_device(resolve_device("auto")),
    )


# Imported by a run's first step (the TensorBoard writer opens at the first logged row: tensorboard, protobuf,
# fsspec, absl - ~180 modules, 0.5 s of import work holding the GIL in 5 ms slices) and by training's start-up (the
# engine; the run lock's filelock and torch's checkpoint writer, ~25 modules): imported here, with the catalog, while
# the Train workspace opens, not while a run starts.
def _import_ahead() -> None:
    """The modules named above, each by a literal import (so the import contracts can check them)."""
    import filelock  # noqa: F401
    import torch.utils.serialization  # noqa: F401

    import workbench.engine.fit  # noqa: F401
    import workbench.results.embeddings  # noqa: F401

    try:
        import tensorboard.compat.proto.summary_pb2  # noqa: F401
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:  # tensorboard is optional: its absence is said when a run opens its writer
        pass


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


@dataclass
class FollowUpdate:
    """What one poll of a followed run found since the previous poll."""

    name: str
    status: str  # run.json's status ("unknown" while it is missing or being replaced)
    message: str
    step: int  # the furthest of run.json's step and the last complete metrics row's
    rows: np.ndarray  # (N, 4) float64 in STEP_FIELDS order: the complete metrics rows new since the previous poll
    restarted: bool  # metrics.csv was replaced (a resume trimmed it): `rows` are the whole curve again, redraw
    epochs: list[tuple[int, dict[str, float]]] | None  # every epoch so far when epochs.csv changed, else None
    preview: bytes | None  # preview.png (a generative method's samples) when it changed, else None
    untrained: dict[str, float] | None  # the initial weights' monitor values when untrained.json changed, else None
    epoch: int | None  # the last row's epoch
    total_steps: int | None  # planned steps (None when a time budget bounds the run, or before the scan report)
    eta_s: float | None  # at the speed seen in the rows read so far

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES


class RunFollower:
    """Polls a run folder that another process writes (the CLI, torchrun on a cluster with the folder mounted) and
    never writes into it. `poll()` reads run.json first and the logs after it: a final status is written after the
    last row, so the poll that sees it also gets every row. Call it on a worker thread, one poll at a time (the
    folder may be on a slow network mount)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.run = RunDir(self.path)
        self.summary: RunSummary | None = None  # read until the scan report (the image count) is there
        self._metrics = MetricsFollower(self.run.metrics_path)
        self._stamps: dict[Path, tuple[int, int]] = {}  # (mtime_ns, size) of epochs.csv / preview.png when last read
        self._first: tuple[float, float] | None = None  # (step, time_s) of the first row read: the writer's speed
        self._last: dict[str, str] | None = None

    def poll(self, state: Any = None) -> FollowUpdate:
        """RunError (one sentence) when the folder is not a run; otherwise what changed since the previous poll."""
        if self.summary is None or self.summary.images is None:
            RunDir.open(self.path)  # "does not exist" / "is not a run folder" sentences
            self.summary = read_summary(self.path)
            if self.summary is None:
                raise RunError(f"'{self.path}' is not a run folder (its config.json cannot be read).")
        status = self.run.status()
        rows = self._metrics.read()
        restarted = self._metrics.restarted
        if restarted:
            self._first = None
        array = curve_array(rows)
        if rows:
            self._last = rows[-1]
            if self._first is None:
                self._first = (_number(rows[0], "step"), _number(rows[0], "time_s"))
        step = max(_int(status.get("step")), int(array[-1, 0]) if len(array) else 0, self.summary.step)
        preview = self._changed(self.run.preview_path)
        total = planned_steps(self.summary.config, self.summary.images)
        return FollowUpdate(
            name=self.path.name,
            status=str(status.get("status", "unknown")),
            message=str(status.get("message", "")),
            step=step,
            rows=array,
            restarted=restarted,
            epochs=read_epochs(self.run.epochs_path) if self._changed(self.run.epochs_path) else None,
            preview=_read_bytes(self.run.preview_path) if preview else None,
            untrained=read_untrained(self.path) if self._changed(self.run.untrained_path) else None,
            epoch=_int(self._last.get("epoch")) if self._last else None,
            total_steps=total,
            eta_s=self._eta(step, total),
        )

    def _changed(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        changed = self._stamps.get(path) != stamp
        self._stamps[path] = stamp
        return changed

    def _eta(self, step: int, total: int | None) -> float | None:
        if self._first is None or self._last is None:
            return None
        step0, t0 = self._first
        step1, t1 = _number(self._last, "step"), _number(self._last, "time_s")
        rate = (step1 - step0) / (t1 - t0) if t1 > t0 and step1 > step0 else 0.0
        budget = (self.summary.config.get("train") or {}).get("time_budget_s") if self.summary else None
        eta = (total - step) / rate if total is not None and rate > 0 else None
        if isinstance(budget, int | float) and math.isfinite(t1):
            left = max(float(budget) - t1, 0.0)
            eta = left if eta is None else min(eta, left)
        return eta


def follow_text(update: FollowUpdate, quiet_s: float) -> str:
    """The progress bar's line for a followed run; `quiet_s`: seconds since its last new row."""
    if update.ended:  # the engine's message often starts with the status ("finished 300 steps")
        how = update.message if update.message.startswith(update.status) else f"{update.status}: {update.message}"
        return f"{update.name} {how if update.message else update.status} (followed)"
    done = f"step {update.step:,}/{update.total_steps:,}" if update.total_steps else f"step {update.step:,}"
    epoch = f" · epoch {update.epoch}" if update.epoch is not None else ""
    stale = f" · no new step for {format_eta(quiet_s)}" if quiet_s >= STALE_S else ""
    return f"following {update.name} · {update.status}{epoch} · {done} · ETA {format_eta(update.eta_s)}{stale}"


def planned_steps(config: dict[str, Any], images: int | None) -> int | None:
    """Steps a run's saved config plans (epochs x full batches, capped by max_steps), as fit() counts them; None when
    only a time budget bounds it or the image count is not known yet."""
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    max_steps = train.get("max_steps") if isinstance(train.get("max_steps"), int) else None
    if train.get("time_budget_s") is not None and max_steps is None:
        return None
    if not images:
        return max_steps
    batch = min(max(_int(train.get("batch_size")) or 256, 1), images)
    total = max(_int(train.get("epochs")), 1) * (images // batch)
    return min(total, max_steps) if max_steps is not None else total


def read_epochs(path: Path) -> list[tuple[int, dict[str, float]]] | None:
    """epochs.csv as (epoch, {name: value}) rows (unreadable cells left out); None when it cannot be read now."""
    try:
        rows = read_csv(path)
    except (OSError, ValueError):  # being replaced, or damaged
        return None
    epochs = []
    for row in rows:
        values = {}
        for key, text in row.items():
            try:
                values["knn_top1_train_split" if key == "knn_top1" else key] = float(text)  # older runs' name
            except (TypeError, ValueError):
                continue
        if "epoch" in values:
            epochs.append((int(values.pop("epoch")), values))
    return epochs


def read_untrained(run_dir: str | Path) -> dict[str, float]:
    """The per-epoch monitor's values for the run's initial weights (untrained.json); {} when not written (yet)."""
    data = read_json_object(RunDir(run_dir).untrained_path)
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _number(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key, "nan"))
    except (TypeError, ValueError):
        return math.nan


def _int(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


EMA_WEIGHT = 0.6  # the loss curve's default smoothing, the weight of the past: TensorBoard's default


class DebiasedEMA:
    """TensorBoard's smoothing of a curve that arrives in chunks: with weight w in [0, 1), the biased average started
    at 0, b_t = w b_(t-1) + (1 - w) x_t, divided by its bias 1 - w^t, so ema_t = (1 - w) sum_(i<=t) w^(t-i) x_i /
    (1 - w^t), a weighted mean of the points so far. Unlike an EMA started at the first value it does not lag there
    in a short run. Calls continue the series (b and t are kept), so chunks give what one call over all would.
    Non-finite points are skipped (drawn as NaN, the average unchanged), as TensorBoard does."""

    def __init__(self, weight: float = EMA_WEIGHT) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"The EMA weight must be in [0, 1), got {weight}.")
        self.weight = float(weight)
        self.biased, self.count = 0.0, 0

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """The smoothed values (N,) of the next N points (N,), continuing the series."""
        out = np.full(len(values), np.nan)
        w, biased, count = self.weight, self.biased, self.count
        for i, v in enumerate(np.asarray(values, dtype=np.float64)):
            if np.isfinite(v):
                biased, count = w * biased + (1.0 - w) * v, count + 1
                out[i] = biased / (1.0 - w**count)
        self.biased, self.count = biased, count
        return out


def ema(values: np.ndarray, weight: float = EMA_WEIGHT) -> np.ndarray:
    """The debiased EMA (DebiasedEMA) of a whole 1-D array."""
    return DebiasedEMA(weight)(values)


def progress_line(last: StepReport, budget_s: float, paused: bool) -> tuple[int, int, str]:
    """(maximum, value, text) of the progress bar for the newest step: steps out of the total, or the time used
    out of the budget (in thousandths) when the run stops on time; ETA and, for contrastive methods, the MI bound."""
    mi = last.values.get("mi_bound")
    extra = f" · MI bound {mi:.2f}" if mi is not None else ""
    if last.total_steps:
        maximum, value, done = last.total_steps, last.step, f"step {last.step:,}/{last.total_steps:,}"
    else:
        maximum, value, done = 1000, int(1000 * min(last.progress, 1.0)), f"step {last.step:,}"  # 1.0 at the end
    pause = " — paused" if paused else ""
    return maximum, value, f"epoch {last.epoch} · {done} · ETA {format_eta(last.eta_s)}{extra}{pause}"


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
        "knn_top1_train_split": "kNN (train split)",
        "mi_bound": "MI bound",
    }
    parts = []
    for key, label in names.items():
        if key in values and math.isfinite(values[key]):
            value = values[key]
            parts.append(f"{label} {value:.1%}" if key == "knn_top1_train_split" else f"{label} {value:.3g}")
    std = values.get("std")
    collapsing = std is not None and (std < 1e-3 or (best_std > 0 and std < COLLAPSE_FRACTION * best_std))
    return " · ".join(parts), collapsing
