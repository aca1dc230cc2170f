"""The run-folder layout: the names of a run's files and columns, where they are, and their tolerant readers.

Layout:
    RUN/config.json        the resolved ExperimentConfig (enough to reproduce the run)
    RUN/run.json           status (running, stopped, finished, failed), step, a human message
    RUN/metrics.csv        one row per step: step, epoch, loss, lr, images_per_s, time_s, then method values
    RUN/epochs.csv         one row per epoch: epoch, step, time_s, loss, then epoch-level values
    RUN/scan_report.json   what the data scan found and skipped (rewritten at each resume)
    RUN/start_images.json  the images the run started with: count and digest (engine/run_images.py)
    RUN/preview.png        a generative method's latest reconstructions / samples
    RUN/checkpoints/last.pt and periodic epoch-NNNN.pt / time-NNNNNNs.pt snapshots
    RUN/checkpoints/init.pt the weights the run started from (written before the first step): the untrained baseline
    RUN/untrained.json     the per-epoch monitor's values for those initial weights (the plots' "untrained" level)
    RUN/events.out.tfevents.*  TensorBoard event files of the same curves and previews (engine/tensorboard.py), one
                           more per resume; in the run folder itself, so TensorBoard names the run by its folder
    RUN/train.lock, RUN/train.lock.json  the training process's lock and its owner (engine/lock.py)
    RUN/labels.csv         the user's labels of images: path, label, source (user|folder), time (results/labels.py);
                           labels-KEY.csv for another folder's images than the run's own

This module is the only code that knows these names (tests/engine/test_runs.py holds it to that): RunFiles' path
properties and the constants here are the one way to them. engine/runs.py's RunDir (a RunFiles) writes the files;
engine/run_summary.py and the others read them through it. It imports nothing but the standard library, so the
lock and the runs list can use it before torch, the config or TensorBoard's writer load.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.json"
STATUS_FILE = "run.json"
METRICS_FILE = "metrics.csv"
EPOCHS_FILE = "epochs.csv"
SCAN_REPORT_FILE = "scan_report.json"
START_IMAGES_FILE = "start_images.json"  # written once, at the start (engine/run_images.py)
PREVIEW_FILE = "preview.png"
UNTRAINED_FILE = "untrained.json"
LABELS_FILE = "labels.csv"  # the labels given in Explore or by hand (results/labels.py reads and writes it)
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = "train.lock"  # the OS-level lock of the process training the run (engine/lock.py)
LOCK_OWNER_FILE = "train.lock.json"  # who holds it: pid, host, since (left behind by a killed holder: stale)
INIT_CHECKPOINT = "init"  # checkpoints/init.pt: the initial weights, what "untrained" means in eval and Explore
METRICS_COLUMNS = ["step", "epoch", "loss", "lr", "images_per_s", "time_s"]
STEP_FIELDS = ("step", "loss", "lr", "images_per_s")  # the metrics columns of the per-step curves, in array order


class RunFiles:
    """Where one run folder's files are; RunDir (engine/runs.py) adds creating, opening and writing them."""

    INIT_CHECKPOINT = INIT_CHECKPOINT

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS_DIR

    @staticmethod
    def is_run(path: str | Path) -> bool:
        return (Path(path) / CONFIG_FILE).is_file()

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

    @property
    def untrained_path(self) -> Path:
        return self.path / UNTRAINED_FILE

    @property
    def labels_path(self) -> Path:
        """The labels of the images of the folder the run trained on."""
        return self.path / LABELS_FILE

    def labels_path_for(self, folder_key: str) -> Path:
        """The labels of another folder's images, `folder_key` naming that folder (a digest of its path)."""
        return self.path / LABELS_FILE.replace(".csv", f"-{folder_key}.csv")

    @property
    def events_dir(self) -> Path:
        """Where the TensorBoard event files go: the run folder itself (`tensorboard --logdir RUNS` names it so)."""
        return self.path

    def checkpoint_path(self, name: str = "last") -> Path:
        return self.checkpoints / f"{name}.pt"

    def has_checkpoint(self, name: str = "last") -> bool:
        return self.checkpoint_path(name).is_file()


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """A CSV log's rows (NUL bytes a killed write left and undecodable bytes do not stop the reading)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        return list(csv.DictReader(line.replace("\0", "") for line in f))


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is missing, empty, half-written or not an object."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {}
    return data if isinstance(data, dict) else {}
