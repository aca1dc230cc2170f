"""A run directory's writer: RunDir creates and reopens a run, saves its config, status and atomic checkpoints,
and appends its curves (metrics.csv, epochs.csv, the preview and the TensorBoard events).

The layout, the file names and the readers are engine/run_files.py's; they are re-exported here, where callers
import them. Every file is replaced atomically (workbench.files), except the CSV logs, which are appended and trimmed
back to the last checkpoint on resume so curves never hold rows the model has forgotten. Nothing here imports torch
or Qt at module level, so the window can list runs before torch loads.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import pickle
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import CONFIG_FORMAT, ExperimentConfig
from workbench.engine.run_files import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    EPOCHS_FILE,
    INIT_CHECKPOINT,
    LABELS_FILE,
    LOCK_FILE,
    LOCK_OWNER_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    PREVIEW_FILE,
    SCAN_REPORT_FILE,
    START_IMAGES_FILE,
    STATUS_FILE,
    STEP_FIELDS,
    UNTRAINED_FILE,
    RunFiles,
    read_csv,
    read_json_object,
)
from workbench.engine.tensorboard import PREVIEW_TAG, CurveLog, epoch_scalars, has_event_files, step_scalars
from workbench.errors import ConfigError, RunError, WriteError
from workbench.files import atomic_write_bytes, atomic_write_text, is_temporary, write_error

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = 1  # the `format` of a checkpoint's dict; a newer one is refused in one sentence
RESUMABLE_STATUSES = ("stopped", "failed", "running", "created")
__all__ = [  # the layout's names are re-exported: callers import them from here
    "CHECKPOINTS_DIR",
    "CHECKPOINT_FORMAT",
    "CONFIG_FILE",
    "EPOCHS_FILE",
    "INIT_CHECKPOINT",
    "LABELS_FILE",
    "LOCK_FILE",
    "LOCK_OWNER_FILE",
    "METRICS_COLUMNS",
    "METRICS_FILE",
    "PREVIEW_FILE",
    "RESUMABLE_STATUSES",
    "SCAN_REPORT_FILE",
    "START_IMAGES_FILE",
    "STATUS_FILE",
    "STEP_FIELDS",
    "UNTRAINED_FILE",
    "RunDir",
    "RunFiles",
    "read_csv",
    "read_json_object",
]


class RunDir(RunFiles):
    """One training run's folder. Create it with `RunDir.create`, reopen it with `RunDir.open`."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._metrics_file: io.TextIOWrapper | None = None
        self._metrics_writer: Any = None
        self._curves: CurveLog | None = None  # TensorBoard events, opened at the first row this process logs
        self.notify: Callable[[str], None] | None = None  # the run's messages (fit sets the reporter's)
        self._curves_tried = False
        self._resume_step: int | None = None  # set by begin_metrics: where this process's curves continue
        self._resume_row: dict[str, Any] | None = None  # metrics.csv's row at that step (replayed into the events)
        self._last_step = 0  # the step of the last metrics row: the step a preview is logged at
        self._preview_step = -1

    # ---- opening -------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: ExperimentConfig) -> RunDir:
        path = Path(path)
        cls.check_new(path)
        run = cls(path)
        run.save_config(config)  # first: a process killed from here on leaves a run that resumes
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        run.set_status("created", step=0, created=time.time())
        return run

    @classmethod
    def check_new(cls, path: str | Path) -> None:
        """Raise RunError unless a new run can be made at `path` (a new or empty folder); the CLI calls it before
        reading the images, so a taken --out is refused at once."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunError(f"'{path}' is a file, not a folder; choose another --out.")
        if path.is_dir() and any(not is_temporary(p) for p in path.iterdir()):  # a killed first write's leftover
            if cls.is_run(path):
                raise RunError(f"'{path}' already holds a run; pass --resume to continue it, or choose another --out.")
            raise RunError(f"'{path}' is a folder that is not empty; choose an empty or new folder for the run.")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunError(f"'{path}' is a file, not a run folder.")
        if not path.is_dir():
            raise RunError(f"Run folder '{path}' does not exist.")
        if not cls.is_run(path):
            raise RunError(f"'{path}' is not a run folder (it has no {CONFIG_FILE}).")
        return cls(path)

    def load_config(self) -> ExperimentConfig:
        """The run's config; a damaged, hand-broken or newer-format config.json is a RunError naming the file."""
        path = self.path / CONFIG_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return ExperimentConfig.from_dict(data)
        except (OSError, ValueError, ConfigError) as exc:  # ValueError: bad JSON, bad UTF-8
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).rstrip(".")
            reason = reason[:1].lower() + reason[1:]
            raise RunError(f"The run config '{path}' cannot be used: {reason}.") from None

    def save_config(self, config: ExperimentConfig) -> None:
        body = {"format": CONFIG_FORMAT, **config.to_dict()}
        atomic_write_text(self.path / CONFIG_FILE, json.dumps(body, indent=2) + "\n")

    # ---- status and reports ----------------------------------------------------------------------------
    def set_status(self, status: str, *, step: int, message: str = "", **extra: Any) -> None:
        """Replace run.json; its `created` time (unix seconds, set once by `create`) is carried over."""
        created = self.status().get("created") if "created" not in extra else None
        body = {"status": status, "step": step, "message": message, **extra}
        if isinstance(created, int | float) and not isinstance(created, bool):
            body["created"] = created
        self._ensure_present(self.status_path)
        atomic_write_text(self.path / STATUS_FILE, json.dumps(body, indent=2) + "\n")

    def status(self) -> dict[str, Any]:
        """run.json as a dict; {"status": "unknown", ...} while it is missing, empty or damaged."""
        return read_json_object(self.status_path) or {"status": "unknown", "step": 0, "message": ""}

    def save_json(self, name: str, data: dict[str, Any]) -> None:
        self._ensure_present(self.path / name)
        atomic_write_text(self.path / name, json.dumps(data, indent=2) + "\n")

    # ---- checkpoints -----------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any], name: str = "last") -> Path:
        import torch  # here, not at the top: listing runs must not load torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        path = self.checkpoint_path(name)
        self._ensure_present(path)
        atomic_write_bytes(path, buffer.getvalue())
        if self._curves is not None:
            self._curves.flush()  # a killed run's curves then hold at least every step its checkpoint holds
        return path

    def load_checkpoint(self, name: str = "last", map_location: str | torch.device = "cpu") -> dict[str, Any]:
        path = self.checkpoint_path(name)
        if not path.is_file():
            raise RunError(f"Run '{self.path}' has no checkpoint '{name}' yet; it cannot be resumed or evaluated.")
        import torch

        try:
            state = torch.load(path, map_location=map_location, weights_only=True)  # never code from a data file
        except Exception as exc:  # a damaged file must become a sentence, whatever torch raises
            unpickling = isinstance(exc, pickle.UnpicklingError)
            if unpickling and re.search(r"unsupported (global|class)", str(exc), re.IGNORECASE):
                why = "it holds code or objects other than weights, and checkpoints are only ever loaded as weights"
            else:
                detail = "unreadable data" if unpickling else f"{type(exc).__name__}: {_first_line(exc)}"
                why = f"it is damaged or not a checkpoint ({detail})"
            raise RunError(f"Checkpoint '{path}' cannot be loaded: {why}.") from None
        if not isinstance(state, dict) or not all(isinstance(state.get(k), dict) for k in ("model", "config")):
            raise RunError(f"Checkpoint '{path}' cannot be loaded: it is not a checkpoint of SSL Workbench.")
        version = state.get("format", 1)
        if not isinstance(version, int) or version > CHECKPOINT_FORMAT:
            raise RunError(
                f"Checkpoint '{path}' was written by a newer SSL Workbench (format {version}; this version reads up "
                f"to {CHECKPOINT_FORMAT}); update SSL Workbench to use it."
            )
        position = state.get("position", {})
        if not isinstance(position, dict) or not all(type(v) in (int, float) for v in position.values()):
            raise RunError(f"Checkpoint '{path}' cannot be loaded: its position is damaged.")
        try:
            ExperimentConfig.from_dict(state["config"])
        except ConfigError as exc:
            raise RunError(f"Checkpoint '{path}' cannot be used: {str(exc).rstrip('.')}.") from None
        return state

    # ---- metrics ---------------------------------------------------------------------------------------
    def begin_metrics(self, resume_step: int) -> None:
        """Before a resumed run logs again, drop the rows a killed process logged past its last checkpoint (the
        TensorBoard events past it are purged when this process's event file opens)."""
        path = self.path / METRICS_FILE
        self._resume_step, self._resume_row, self._last_step = resume_step, None, resume_step
        if path.is_file() and path.stat().st_size > 0:
            kept = self._trim_csv(path, "step", resume_step)
            self._resume_row = kept[-1] if kept else None

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one step's row; the first row of a fresh file fixes the header (base columns, then the rest)."""
        if self._metrics_writer is None:
            path = self.path / METRICS_FILE
            if path.is_file() and path.stat().st_size > 0:
                with open(path, newline="", encoding="utf-8") as f:
                    columns = next(csv.reader(f), METRICS_COLUMNS)
            else:
                columns = METRICS_COLUMNS + [k for k in row if k not in METRICS_COLUMNS]
                atomic_write_text(path, ",".join(columns) + "\n")
            self._metrics_file = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115 (see close())
            self._metrics_writer = csv.DictWriter(
                self._metrics_file, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
            )
        self._ensure_present(self.metrics_path)  # an open file takes rows on after its folder is deleted
        try:
            self._metrics_writer.writerow({k: _fmt(v) for k, v in row.items()})
            self._metrics_file.flush()
        except OSError as exc:  # disk full; the row is cut off the file again on resume
            raise write_error(self.metrics_path, exc) from None
        self._last_step = int(row["step"])
        if (curves := self._events()) is not None:
            curves.scalars(self._last_step, step_scalars(row))

    def append_epoch(self, row: dict[str, Any]) -> None:
        """Append one row to epochs.csv; new keys widen the header (the file is small, so it is rewritten)."""
        path = self.path / EPOCHS_FILE
        self._ensure_present(path)
        rows = read_csv(path) if path.is_file() else []
        rows.append({k: _fmt(v) for k, v in row.items()})
        columns: list[str] = []
        for r in rows:
            columns += [k for k in r if k not in columns]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, out.getvalue())
        if (curves := self._events()) is not None and "step" in row:
            curves.scalars(int(row["step"]), epoch_scalars(row))

    def save_preview(self, png: bytes, image: Any) -> None:
        """A generative method's preview: preview.png (the latest) and, once per step, the events' preview image."""
        self._ensure_present(self.preview_path)
        atomic_write_bytes(self.preview_path, png)
        if self._last_step > self._preview_step and (curves := self._events()) is not None:
            curves.image(PREVIEW_TAG, self._last_step, image)
            self._preview_step = self._last_step

    def trim_epochs(self, last_kept: int) -> None:
        path = self.path / EPOCHS_FILE
        if path.is_file():
            self._trim_csv(path, "epoch", last_kept)

    def _ensure_present(self, path: Path) -> None:
        """Refuse to write once the run folder is gone: writing would make a new, partial run folder again."""
        if not self.path.is_dir():
            raise WriteError(path, "the run folder was deleted or moved", errno.ENOENT)

    def close(self) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
            self._metrics_writer = None
        if self._resume_step is not None:
            self._events()  # a resume that logged nothing still purges what a killed process logged past it
        if self._curves is not None:
            self._curves.close()  # flushes the queued events
        self._curves, self._curves_tried, self._resume_step = None, False, None

    def _events(self) -> CurveLog | None:
        """This process's TensorBoard writer, opened once, after begin_metrics and trim_epochs have trimmed the CSVs:
        resumed, it purges the earlier events at and past the resume step and replays the CSV rows of that step."""
        if self._curves_tried:
            return self._curves
        self._curves_tried = True
        resumed = self._resume_step is not None and has_event_files(self.events_dir)
        purge = self._resume_step if resumed else None
        self._curves = CurveLog.open(self.events_dir, purge_step=purge, notify=self.notify)
        if self._curves is not None and resumed:
            if self._resume_row is not None and _int_or_none(self._resume_row.get("step")) == self._resume_step:
                self._curves.scalars(self._resume_step, step_scalars(self._resume_row))
            for row in read_csv(self.epochs_path) if self.epochs_path.is_file() else []:
                if _int_or_none(row.get("step")) == self._resume_step:
                    self._curves.scalars(self._resume_step, epoch_scalars(row))
        return self._curves

    @staticmethod
    def _trim_csv(path: Path, key: str, last_kept: int) -> list[dict[str, str]]:
        """Keep the rows with row[key] <= last_kept (a killed run may have logged past its last checkpoint), each
        complete and after the one before: a half-written line of a killed process, garbage and repeats go."""
        text = path.read_text(encoding="utf-8", errors="replace")
        reader = csv.DictReader(io.StringIO(text.replace("\0", "")))
        columns = list(reader.fieldnames or [])
        kept: list[dict[str, str]] = []
        previous = -1
        for row in reader:
            if None in row or None in row.values():  # too many or too few cells
                continue
            try:
                number = float(row[key])
            except (TypeError, ValueError):
                continue
            if not number.is_integer():  # nan, inf, 2.5: not a step
                continue
            value = int(number)
            if previous < value <= last_kept:
                kept.append(row)
                previous = value
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, out.getvalue())
        return kept


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message (torch's run to paragraphs)."""
    line = (str(exc).strip().splitlines() or [""])[0]
    return line.split(". ")[0].rstrip(".")[:160]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
