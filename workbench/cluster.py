"""Running an experiment on several GPUs or machines: the torchrun command lines and the Slurm batch script for a
config file and a run folder, the global-batch check, and the config file itself. Qt-free, so the GUI's "Run on a
cluster…" dialog, the CLI and the tests build exactly the same lines.

The forms (the CLI's `workbench train` under torchrun reads them back):
    one machine      torchrun --standalone --nproc_per_node=N -m workbench train --config CONFIG --out RUN_DIR
    several machines torchrun --nnodes=M --node_rank=R --nproc_per_node=N --rdzv_backend=c10d
                     --rdzv_endpoint=HOST:PORT -m workbench train --config CONFIG --out RUN_DIR   (R = 0 .. M-1)
    Slurm            an sbatch script whose `srun torchrun ...` line finds the head node itself
Resuming a stopped or killed run is the same line with `--out RUN_DIR --resume` instead of `--config ...`.
`train.batch_size` is the global batch: it is split evenly over the N x M processes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.config import ExperimentConfig, config_to_json
from workbench.errors import ConfigError
from workbench.files import atomic_write_text, ensure_outside, is_inside

DEFAULT_PORT = 29500
DEFAULT_ENDPOINT = f"HOST:{DEFAULT_PORT}"  # machine 0's address; the user replaces HOST
SHARED_FILESYSTEM_NOTE = (
    "For several machines, the config file and the run folder must be on a filesystem every machine sees, "
    "at the same path."
)


@dataclass(frozen=True)
class ClusterCommands:
    """What to paste into a shell: one line, one line per machine (node rank 0 first), a complete sbatch script."""

    single_machine: str
    multi_machine: str  # M lines, the one for node rank R on line R
    slurm_script: str

    @property
    def srun_line(self) -> str:
        """The script's last line: the `srun torchrun ...` that starts the training."""
        return self.slurm_script.rstrip("\n").rsplit("\n", 1)[-1]


def torchrun_commands(
    config_path: str | Path,
    run_dir: str | Path,
    *,
    nproc_per_node: int,
    nnodes: int = 2,
    rdzv_endpoint: str = DEFAULT_ENDPOINT,
    cpus_per_task: int | None = None,
    job_name: str = "workbench",
    launcher: str = "torchrun",
    resume: bool = False,
) -> ClusterCommands:
    """The three ways to launch `workbench train --config CONFIG --out RUN_DIR` (or `--out RUN_DIR --resume`) on
    `nproc_per_node` GPUs per machine and `nnodes` machines. Paths are quoted for a POSIX shell.

    `rdzv_endpoint`: machine 0's HOST:PORT (the Slurm script picks its head node itself and uses only the port).
    `cpus_per_task`: the Slurm allocation for the one task per node that runs all N processes (default 4 per GPU).
    `launcher`: how torchrun is called (e.g. a virtualenv's `/path/.venv/bin/torchrun`), inserted as it is.
    """
    if nproc_per_node < 1 or nnodes < 1:
        raise ConfigError(f"GPUs per machine and machines must be at least 1, got {nproc_per_node} and {nnodes}.")
    if resume:
        train = f"-m workbench train --out {shlex.quote(str(run_dir))} --resume"
    else:
        train = f"-m workbench train --config {shlex.quote(str(config_path))} --out {shlex.quote(str(run_dir))}"
    n, m = int(nproc_per_node), int(nnodes)
    endpoint = shlex.quote(rdzv_endpoint)
    single = f"{launcher} --standalone --nproc_per_node={n} {train}"
    multi = "\n".join(
        f"{launcher} --nnodes={m} --node_rank={rank} --nproc_per_node={n} --rdzv_backend=c10d "
        f"--rdzv_endpoint={endpoint} {train}"
        for rank in range(m)
    )
    cpus = cpus_per_task if cpus_per_task is not None else 4 * n
    script = "\n".join(
        [
            "#!/bin/bash",
            f"#SBATCH --job-name={shlex.quote(job_name)}",
            f"#SBATCH --nodes={m}",
            "#SBATCH --ntasks-per-node=1",
            f"#SBATCH --gpus-per-node={n}",
            f"#SBATCH --cpus-per-task={cpus}",
            "# Add your cluster's partition, account and time limit here (#SBATCH --partition=..., --time=...).",
            "# The config file and the run folder must be on a filesystem every node sees.",
            "set -euo pipefail",
            'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            f'srun {launcher} --nnodes="$SLURM_NNODES" --nproc_per_node={n} --rdzv_id="$SLURM_JOB_ID" '
            f'--rdzv_backend=c10d --rdzv_endpoint="$head:{endpoint_port(rdzv_endpoint)}" {train}',
        ]
    )
    return ClusterCommands(single_machine=single, multi_machine=multi, slurm_script=script + "\n")


def endpoint_port(endpoint: str) -> int:
    """The port of HOST:PORT (also [v6::address]:PORT); DEFAULT_PORT when it names none."""
    host, sep, port = endpoint.rpartition(":")
    if sep and port.isdigit() and not host.endswith(":"):
        return int(port)
    return DEFAULT_PORT


def batch_split(batch_size: int, processes: int) -> tuple[str, bool]:
    """One line on the global batch over `processes` training processes, and whether it divides evenly."""
    if processes >= 1 and batch_size % processes == 0:
        return (
            f"Batch size {batch_size} is the global batch: split evenly over the {processes} processes, "
            f"{batch_size // processes} images each per step.",
            True,
        )
    lower = batch_size - batch_size % processes
    options = " or ".join(str(b) for b in (lower, lower + processes) if b > 0)
    return (
        f"Batch size {batch_size} does not divide evenly over {processes} processes; "
        f"choose a multiple of {processes} (e.g. {options}).",
        False,
    )


def check_paths(config_path: str | Path, run_dir: str | Path, image_root: str | Path | None) -> None:
    """Raise a one-sentence WorkbenchError when the config file or the run folder cannot be used: inside the image
    folder (nothing is ever written there), the config file not a .json or inside the run folder (which training
    creates and needs new or empty)."""
    if not str(config_path).strip() or not str(run_dir).strip():
        raise ConfigError("Choose a config file and a run folder.")
    ensure_outside(config_path, image_root, "the config file")
    ensure_outside(run_dir, image_root, "the run folder")
    if Path(config_path).suffix.lower() != ".json":
        raise ConfigError(f"The config file '{config_path}' must end in .json.")
    if is_inside(config_path, run_dir):
        raise ConfigError(
            f"The config file '{config_path}' is inside the run folder; training needs a new or empty run folder, "
            "so save the config next to it."
        )


def image_root(config: ExperimentConfig) -> Path:
    """The folder nothing may be written into: the config's image folder, or the built-in demo dataset."""
    from workbench.data.demo import demo_dataset_path

    return Path(config.data.path or demo_dataset_path())


def save_config(config: ExperimentConfig, config_path: str | Path, run_dir: str | Path) -> Path:
    """Check the paths (`check_paths`), then write `config` to `config_path` atomically, as `workbench train
    --config` reads it back (workbench.config.load_config)."""
    check_paths(config_path, run_dir, image_root(config))
    return atomic_write_text(config_path, config_to_json(config))


def local_gpu_count(state: Any = None) -> int:
    """CUDA GPUs on this machine (imports torch: call it on a worker thread); 0 without CUDA."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
