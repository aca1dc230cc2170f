"""Reading runs cheaply, including a run another process is writing (a GUI worker, the CLI, torchrun on a cluster
with the folder mounted): the runs list's summaries, the per-step curves, and a follower of metrics.csv.

These readers never write and never raise on a damaged or half-written file. They know the run folder only
through RunDir (engine/runs.py) and the path properties and column names of engine/run_files.py.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.runs import RESUMABLE_STATUSES, STEP_FIELDS, RunDir, read_json_object

TAIL_BYTES = 16_384  # how much of a CSV log's end a summary reads: enough for its last rows, whatever its length
# run.json's record of a fine-tune's `best` checkpoint (engine/checkpoints.py BestCheckpoint.summary: best_step and
# best_<metric>, the classifier's metric being its held-out accuracy, holdout_acc)
BEST_STEP, BEST_HOLDOUT = "best_step", "best_holdout_acc"


@dataclass
class RunSummary:
    """One run folder at a glance (a row of the runs list), read cheaply: only the tails of the CSV logs."""

    path: Path
    name: str
    date: str  # when the run was created (run.json's `created`; older runs: config.json's mtime), local time
    status: str  # run.json's status; "unknown" while it is missing or damaged
    method: str
    encoder: str
    images: int | None  # images the data scan found; None before the scan report exists
    step: int  # the furthest of run.json's step and the last complete row of metrics.csv
    loss: float | None  # run.json's loss, else the last complete row's
    knn: float | None  # the last knn_top1 of epochs.csv
    images_per_s: float | None = None  # the median speed of the last logged steps (what an estimate can rely on)
    best_holdout: float | None = None  # a fine-tune's best held-out accuracy (its `best` checkpoint), from run.json
    best_step: int | None = None  # the step of that checkpoint
    config: dict[str, Any] = field(default_factory=dict)  # config.json as saved (not validated)

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE_STATUSES and RunDir(self.path).checkpoints.is_dir()

    @property
    def explorable(self) -> bool:
        """It has trained weights to embed images with."""
        return RunDir(self.path).has_checkpoint()


def read_summary(path: str | Path) -> RunSummary | None:
    """The summary of the run at `path`, or None when it is not a run (no readable config.json)."""
    run = RunDir(path)
    config = read_json_object(run.config_path)
    if not config:
        return None
    status = read_json_object(run.status_path)
    scan = read_json_object(run.scan_report_path)
    metrics = _tail_rows(run.metrics_path)
    loss = status.get("loss")
    if not isinstance(loss, int | float) or isinstance(loss, bool):
        loss = _last_number(metrics, "loss")
    created = status.get("created")
    if not isinstance(created, int | float) or isinstance(created, bool):  # runs from before `created` existed
        try:
            created = run.config_path.stat().st_mtime
        except OSError:
            created = 0.0
    method, model = config.get("method"), config.get("model")
    epochs = _tail_rows(run.epochs_path)
    knn = _last_number(epochs, "knn_top1_train_split")
    return RunSummary(
        path=run.path,
        name=run.path.name,
        date=time.strftime("%Y-%m-%d %H:%M", time.localtime(created)),
        status=str(status.get("status", "unknown")),
        method=str(method.get("name", "?")) if isinstance(method, dict) else "?",
        encoder=str(model.get("encoder", "?")) if isinstance(model, dict) else "?",
        images=len(scan["paths"]) if isinstance(scan.get("paths"), list) else None,
        step=max(_int(status.get("step")), _int(_last_number(metrics, "step"))),
        loss=None if loss is None else float(loss),
        knn=knn if knn is not None else _last_number(epochs, "knn_top1"),  # runs before the rename: knn_top1
        config=config,
        images_per_s=_median_number(metrics, "images_per_s"),
        **_best(status),
    )


def list_runs(runs_dir: str | Path) -> list[RunSummary]:
    """Every run folder directly under `runs_dir`, newest first (run names begin with their date-time); other
    folders and files are skipped."""
    try:
        folders = [p for p in Path(runs_dir).iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = [summary for p in folders if (summary := read_summary(p)) is not None]
    return sorted(runs, key=lambda r: r.name, reverse=True)


class MetricsFollower:
    """Follows a metrics.csv that another process appends to: each `read()` returns only the complete rows written
    since the previous call, as dicts of strings; a half-written last line waits for the next call.

    When the file is replaced (a resumed run trims its log back to the last checkpoint), `read()` starts again from
    the top and sets `restarted`, so a caller redraws its curves instead of appending to them.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.columns: list[str] = []  # the header, once it has been written in full
        self.offset = 0  # bytes consumed: the header and every row returned so far
        self.restarted = False
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file followed

    def read(self) -> list[dict[str, str]]:
        self.restarted = False
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if self._identity is not None and (identity != self._identity or st.st_size < self.offset):
                    self.columns, self.offset, self.restarted = [], 0, True
                self._identity = identity
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return []  # not written yet, or being replaced right now
        end = chunk.rfind(b"\n") + 1  # only whole lines: the writer may be in the middle of one
        if end == 0:
            return []
        self.offset += end
        lines = chunk[:end].decode("utf-8", "replace").splitlines()
        if not self.columns:
            self.columns = next(csv.reader(lines[:1]), [])
            lines = lines[1:]
        return _parse_rows(self.columns, lines)


def curve_array(rows: list[dict[str, str]]) -> np.ndarray:
    """Metrics rows -> (N, 4) float64 in STEP_FIELDS order (step, loss, lr, images_per_s); rows lacking one of
    them are left out."""
    values = []
    for row in rows:
        try:
            values.append(tuple(float(row[k]) for k in STEP_FIELDS))
        except (KeyError, TypeError, ValueError):
            continue
    return np.asarray(values, dtype=np.float64).reshape(-1, len(STEP_FIELDS))


def read_loss_curve(path: str | Path) -> np.ndarray:
    """The run's per-step curves so far, (N, 4) float64 in STEP_FIELDS order (what a resumed run's curves continue)."""
    return curve_array(MetricsFollower(RunDir(path).metrics_path).read())


def _tail_rows(path: Path, tail_bytes: int = TAIL_BYTES) -> list[dict[str, str]]:
    """The complete rows among the last `tail_bytes` of a CSV log (its header read too), so that summarising a run
    of a million steps reads a few kilobytes. A cut first line and a half-written last line are left out."""
    try:
        with open(path, "rb") as f:
            header = f.readline()
            body = f.tell()
            start = max(f.seek(0, os.SEEK_END) - tail_bytes, body)
            f.seek(start)
            tail = f.read()
    except OSError:
        return []
    if not header.endswith(b"\n"):
        return []
    lines = tail[: tail.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines()
    columns = next(csv.reader([header.decode("utf-8", "replace")]), [])
    return _parse_rows(columns, lines[1:] if start > body else lines)


def _parse_rows(columns: list[str], lines: list[str]) -> list[dict[str, str]]:
    """CSV lines -> dicts; lines with the wrong number of cells (damaged, or from another header) are left out."""
    return [dict(zip(columns, cells, strict=True)) for cells in csv.reader(lines) if len(cells) == len(columns)]


def _last_number(rows: list[dict[str, str]], column: str) -> float | None:
    for row in reversed(rows):
        try:
            return float(row[column])
        except (KeyError, ValueError):
            continue
    return None


def _median_number(rows: list[dict[str, str]], column: str) -> float | None:
    values = []
    for row in rows:
        try:
            values.append(float(row[column]))
        except (KeyError, ValueError):
            continue
    values = [v for v in values if v > 0 and v == v and v != float("inf")]
    return float(np.median(values)) if values else None


def _best(status: dict[str, Any]) -> dict[str, Any]:
    """{best_holdout, best_step} from run.json when it records both as numbers (a finished or stopped fine-tune
    with a held-out split), else {}."""
    value, step = status.get(BEST_HOLDOUT), status.get(BEST_STEP)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, step))
    if not numbers or not 0 <= value <= 1 or step < 0:
        return {}
    return {"best_holdout": float(value), "best_step": int(step)}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
