"""Qt-free parts of the Train workspace: the registry catalog, the step buffer, run names and the runs list.

Nothing is signalled per step: fit() appends each StepReport to a lock-protected StepBuffer and the GUI drains
it from a timer at most ~20 times a second (throttling at the source, as STYLE.md asks).
"""

from __future__ import annotations

import csv
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from workbench.config import ExperimentConfig
from workbench.engine.report import StepReport

STEP_FIELDS = ("step", "loss", "lr", "images_per_s")  # the per-step curves, in buffer column order
COLLAPSE_FRACTION = 0.3  # warn when the embedding std falls below this fraction of its best value so far


@dataclass
class MethodInfo:
    """What the form needs to know about one registered method (read from its class)."""

    name: str
    description: str
    contrastive: bool
    generative: bool
    hyperparameters: dict[str, Any]  # the MethodConfig fields it uses -> its defaults
    default_encoder: str
    supported_encoders: tuple[str, ...] | None


@dataclass
class Catalog:
    """What the controls offer: registry entries with their one-line descriptions, and the usable devices."""

    encoders: list[tuple[str, str]]  # (name, description)
    methods: list[MethodInfo]
    devices: list[str]  # available device kinds, best first, ending with "cpu"
    detected: str  # what "auto" resolves to, in words


def load_catalog(state: Any = None) -> Catalog:
    """Read the encoder and method registries and the devices (imports torch: call it on a worker thread)."""
    from workbench.engine.devices import available_devices, describe_device, resolve_device
    from workbench.methods import list_methods, method_class
    from workbench.models import encoder_description, list_encoders

    methods = []
    for name in list_methods():
        cls = method_class(name)
        methods.append(
            MethodInfo(
                name=name,
                description=cls.description,
                contrastive=bool(cls.contrastive),
                generative=bool(cls.generative),
                hyperparameters=dict(cls.hyperparameters),
                default_encoder=cls.default_encoder,
                supported_encoders=cls.supported_encoders,
            )
        )
    return Catalog(
        encoders=[(n, encoder_description(n)) for n in list_encoders()],
        methods=methods,
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


# ---- the runs list -------------------------------------------------------------------------------------


@dataclass
class RunInfo:
    path: Path
    name: str
    date: str
    status: str
    method: str
    encoder: str
    images: int | None
    step: int
    loss: float | None
    knn: float | None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        return self.status in ("stopped", "failed", "running", "created") and (self.path / "checkpoints").is_dir()

    @property
    def explorable(self) -> bool:
        """It has trained weights to embed images with."""
        return (self.path / "checkpoints" / "last.pt").is_file()


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _last_value(path: Path, column: str, tail_bytes: int = 16_384) -> float | None:
    """The last parsable value of `column` in a CSV log (None when absent); reads the header and the tail only,
    so listing runs of 100,000 steps stays instant."""
    try:
        with open(path, "rb") as f:
            header = f.readline().decode("utf-8", "replace").strip().split(",")
            body = f.tell()
            start = max(f.seek(0, 2) - tail_bytes, body)
            f.seek(start)
            lines = f.read().decode("utf-8", "replace").splitlines()[1 if start > body else 0 :]  # a cut first line
    except OSError:
        return None
    if column not in header:
        return None
    index = header.index(column)
    for line in reversed(lines):
        cells = line.split(",")
        try:
            if len(cells) == len(header):
                return float(cells[index])
        except ValueError:
            continue
    return None


def read_run(path: Path) -> RunInfo | None:
    """One run folder's summary, or None when `path` is not a run (no config.json)."""
    config = _json(path / "config.json")
    if not config:
        return None
    status = _json(path / "run.json")
    scan = _json(path / "scan_report.json")
    loss = status.get("loss") if isinstance(status.get("loss"), int | float) else None
    if loss is None:
        loss = _last_value(path / "metrics.csv", "loss")
    try:
        mtime = (path / "config.json").stat().st_mtime
    except OSError:
        mtime = 0.0
    return RunInfo(
        path=path,
        name=path.name,
        date=time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime)),
        status=str(status.get("status", "unknown")),
        method=str(config.get("method", {}).get("name", "?")),
        encoder=str(config.get("model", {}).get("encoder", "?")),
        images=len(scan["paths"]) if isinstance(scan.get("paths"), list) else None,
        step=max(int(status.get("step", 0) or 0), int(_last_value(path / "metrics.csv", "step") or 0)),
        loss=loss,
        knn=_last_value(path / "epochs.csv", "knn_top1"),
        config=config,
    )


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run under `runs_dir`, newest first."""
    if not runs_dir.is_dir():
        return []
    runs = [info for p in runs_dir.iterdir() if p.is_dir() and (info := read_run(p)) is not None]
    return sorted(runs, key=lambda r: r.name, reverse=True)


def read_loss_curve(run_dir: Path) -> np.ndarray:
    """(N, 4) float64 rows of metrics.csv in STEP_FIELDS order (what a resumed run's curves continue)."""
    rows = []
    try:
        with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                try:
                    rows.append(tuple(float(row[k]) for k in STEP_FIELDS))
                except (KeyError, TypeError, ValueError):
                    continue
    except OSError:
        pass
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(STEP_FIELDS))


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
