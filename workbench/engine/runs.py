"""A run directory: the resolved config, metrics.csv, the scan report and atomic checkpoints.

Layout:
    RUN/config.json        the resolved ExperimentConfig (enough to reproduce the run)
    RUN/run.json           status (running, stopped, finished, failed), step, a human message
    RUN/metrics.csv        one row per step: step, epoch, loss, lr, images_per_s, time_s, then method values
    RUN/epochs.csv         one row per epoch: epoch, step, time_s, loss, then epoch-level values
    RUN/scan_report.json   what the data scan found and skipped
    RUN/preview.png        a generative method's latest reconstructions / samples
    RUN/checkpoints/last.pt and periodic epoch-NNNN.pt / time-NNNNNNs.pt snapshots
    RUN/checkpoints/init.pt the weights the run started from (written before the first step): the untrained baseline
Every file is replaced atomically (workbench.files), except the CSV logs, which are appended
and trimmed back to the last checkpoint on resume so curves never hold rows the model has forgotten.

This module is the only code that knows these names; engine/run_summary.py reads runs through them. Nothing here
imports torch or Qt at module level, so the window can list runs before torch loads.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import ExperimentConfig
from workbench.errors import ConfigError, RunError
from workbench.files import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "config.json"
STATUS_FILE = "run.json"
METRICS_FILE = "metrics.csv"
EPOCHS_FILE = "epochs.csv"
SCAN_REPORT_FILE = "scan_report.json"
PREVIEW_FILE = "preview.png"
CHECKPOINTS_DIR = "checkpoints"
INIT_CHECKPOINT = "init"  # checkpoints/init.pt: the initial weights, what "untrained" means in eval and Explore
METRICS_COLUMNS = ["step", "epoch", "loss", "lr", "images_per_s", "time_s"]
STEP_FIELDS = ("step", "loss", "lr", "images_per_s")  # the metrics columns of the per-step curves, in array order
RESUMABLE_STATUSES = ("stopped", "failed", "running", "created")


class RunDir:
    """One training run's folder. Create it with `RunDir.create`, reopen it with `RunDir.open`."""

    INIT_CHECKPOINT = INIT_CHECKPOINT

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self._metrics_file: io.TextIOWrapper | None = None
        self._metrics_writer: Any = None

    # ---- the files ------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def status_path(self) -> Path:
        return self.path / STATUS_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def epochs_path(self) -> Path:
        return self.path / EPOCHS_FILE

    @property
    def scan_report_path(self) -> Path:
        return self.path / SCAN_REPORT_FILE

    @property
    def preview_path(self) -> Path:
        return self.path / PREVIEW_FILE

    # ---- opening -------------------------------------------------------------------------------------
    @staticmethod
    def is_run(path: str | Path) -> bool:
        return (Path(path) / CONFIG_FILE).is_file()

    @classmethod
    def create(cls, path: str | Path, config: ExperimentConfig) -> RunDir:
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunError(f"'{path}' is a file, not a folder; choose another --out.")
        if path.is_dir() and any(path.iterdir()):
            if cls.is_run(path):
                raise RunError(f"'{path}' already holds a run; pass --resume to continue it, or choose another --out.")
            raise RunError(f"'{path}' is a folder that is not empty; choose an empty or new folder for the run.")
        run = cls(path)
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        run.save_config(config)
        run.set_status("created", step=0)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"Run folder '{path}' does not exist.")
        if not cls.is_run(path):
            raise RunError(f"'{path}' is not a run folder (it has no {CONFIG_FILE}).")
        return cls(path)

    def load_config(self) -> ExperimentConfig:
        try:
            data = json.loads((self.path / CONFIG_FILE).read_text(encoding="utf-8"))
            return ExperimentConfig.from_dict(data)
        except (OSError, json.JSONDecodeError, ConfigError) as exc:
            raise RunError(f"The config of run '{self.path}' cannot be read: {exc}") from None

    def save_config(self, config: ExperimentConfig) -> None:
        atomic_write_text(self.path / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")

    # ---- status and reports ----------------------------------------------------------------------------
    def set_status(self, status: str, *, step: int, message: str = "", **extra: Any) -> None:
        body = {"status": status, "step": step, "message": message, **extra}
        atomic_write_text(self.path / STATUS_FILE, json.dumps(body, indent=2) + "\n")

    def status(self) -> dict[str, Any]:
        """run.json as a dict; {"status": "unknown", ...} while it is missing, empty or damaged."""
        return read_json_object(self.status_path) or {"status": "unknown", "step": 0, "message": ""}

    def save_json(self, name: str, data: dict[str, Any]) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2) + "\n")

    # ---- checkpoints -----------------------------------------------------------------------------------
    def checkpoint_path(self, name: str = "last") -> Path:
        return self.checkpoints / f"{name}.pt"

    def save_checkpoint(self, state: dict[str, Any], name: str = "last") -> Path:
        import torch  # here, not at the top: listing runs must not load torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        path = self.checkpoint_path(name)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def has_checkpoint(self, name: str = "last") -> bool:
        return self.checkpoint_path(name).is_file()

    def load_checkpoint(self, name: str = "last", map_location: str | torch.device = "cpu") -> dict[str, Any]:
        path = self.checkpoint_path(name)
        if not path.is_file():
            raise RunError(f"Run '{self.path}' has no checkpoint '{name}' yet; it cannot be resumed or evaluated.")
        import torch

        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # a damaged file must become a sentence, whatever torch raises
            raise RunError(f"Checkpoint '{path}' cannot be loaded ({type(exc).__name__}: {exc}).") from None

    # ---- metrics ---------------------------------------------------------------------------------------
    def begin_metrics(self, resume_step: int) -> None:
        """Before a resumed run logs again, drop the rows a killed process logged past its last checkpoint."""
        path = self.path / METRICS_FILE
        if path.is_file() and path.stat().st_size > 0:
            self._trim_csv(path, "step", resume_step)

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
        self._metrics_writer.writerow({k: _fmt(v) for k, v in row.items()})
        self._metrics_file.flush()

    def append_epoch(self, row: dict[str, Any]) -> None:
        """Append one row to epochs.csv; new keys widen the header (the file is small, so it is rewritten)."""
        path = self.path / EPOCHS_FILE
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

    def trim_epochs(self, last_kept: int) -> None:
        path = self.path / EPOCHS_FILE
        if path.is_file():
            self._trim_csv(path, "epoch", last_kept)

    def close(self) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
            self._metrics_writer = None

    @staticmethod
    def _trim_csv(path: Path, key: str, last_kept: int) -> None:
        """Keep rows with row[key] <= last_kept (a killed run may have logged past its last checkpoint)."""
        text = path.read_text(encoding="utf-8")
        reader = csv.DictReader(io.StringIO(text))
        columns = list(reader.fieldnames or [])
        kept = []
        for row in reader:
            try:
                if int(float(row[key])) <= last_kept:
                    kept.append(row)
            except (TypeError, ValueError):
                continue  # a half-written last line from a killed process
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, out.getvalue())


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is missing, empty, half-written or not an object."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {}
    return data if isinstance(data, dict) else {}
