"""The torchrun / Slurm command lines, the global-batch check and the config file (workbench/cluster.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from workbench.cluster import (
    batch_split,
    check_paths,
    endpoint_port,
    save_config,
    torchrun_commands,
)
from workbench.config import ExperimentConfig, load_config
from workbench.errors import ConfigError, OutsideImageFolderError

TRAIN = "-m workbench train --config /shared/exp.json --out /shared/runs/r1"


def test_the_three_forms_exactly():
    commands = torchrun_commands(
        "/shared/exp.json", "/shared/runs/r1", nproc_per_node=4, nnodes=3, rdzv_endpoint="gpu01:29500"
    )
    assert commands.single_machine == f"torchrun --standalone --nproc_per_node=4 {TRAIN}"
    assert commands.multi_machine.split("\n") == [
        f"torchrun --nnodes=3 --node_rank={r} --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=gpu01:29500 "
        f"{TRAIN}"
        for r in range(3)
    ]
    script = commands.slurm_script.splitlines()
    assert script[0] == "#!/bin/bash" and commands.slurm_script.endswith("\n")
    for line in (
        "#SBATCH --nodes=3",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --cpus-per-task=16",
        'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    ):
        assert line in script
    assert (
        script[-1]
        == commands.srun_line
        == (
            'srun torchrun --nnodes="$SLURM_NNODES" --nproc_per_node=4 --rdzv_id="$SLURM_JOB_ID" --rdzv_backend=c10d '
            f'--rdzv_endpoint="$head:29500" {TRAIN}'
        )
    )
    assert script.index(commands.srun_line) > script.index(line)  # the head node is known before srun


def test_resume_is_the_same_line_with_out_and_resume():
    commands = torchrun_commands("/shared/exp.json", "/shared/runs/r1", nproc_per_node=2, nnodes=2, resume=True)
    resume = "-m workbench train --out /shared/runs/r1 --resume"
    assert commands.single_machine == f"torchrun --standalone --nproc_per_node=2 {resume}"
    assert commands.multi_machine.split("\n")[1] == (
        f"torchrun --nnodes=2 --node_rank=1 --nproc_per_node=2 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 {resume}"
    )
    assert commands.srun_line.endswith(f'--rdzv_endpoint="$head:29500" {resume}')
    assert "--config" not in commands.slurm_script


def test_paths_with_spaces_are_quoted_for_a_posix_shell():
    config, run = "/mnt/my share/exp 1.json", "/mnt/my share/runs/it's"
    commands = torchrun_commands(config, run, nproc_per_node=8, nnodes=2, rdzv_endpoint="10.0.0.1:1234")
    line = commands.single_machine
    assert "--config '/mnt/my share/exp 1.json'" in line
    assert shlex.split(line)[-4:] == ["--config", config, "--out", run]  # the shell gives the paths back whole
    for text in commands.multi_machine.split("\n") + [commands.srun_line]:
        assert shlex.split(text)[-4:] == ["--config", config, "--out", run]
    assert '--rdzv_endpoint="$head:1234"' in commands.srun_line  # Slurm finds the host, keeps the port


def test_endpoint_port_and_bad_counts():
    assert endpoint_port("HOST:29500") == 29500 and endpoint_port("[fe80::1]:4000") == 4000
    assert endpoint_port("HOST") == 29500
    with pytest.raises(ConfigError):
        torchrun_commands("a.json", "r", nproc_per_node=0)


def test_the_global_batch_must_divide_over_every_process():
    text, even = batch_split(256, 8)
    assert even and "256 is the global batch" in text and "32 images each" in text
    text, even = batch_split(250, 8)
    assert not even and "multiple of 8" in text and "248 or 256" in text


def test_the_config_file_is_what_workbench_train_config_reads(tmp_path: Path, image_folder: Path):
    config = ExperimentConfig()
    config.data.path = str(image_folder)
    config.method.temperature = 0.2
    config.train.batch_size, config.train.epochs = 64, 3
    path = save_config(config, tmp_path / "shared" / "exp.json", tmp_path / "shared" / "runs" / "r1")
    assert load_config(path).to_dict() == config.to_dict()
    assert not (tmp_path / "shared" / "runs").exists()  # training creates the run folder, not this
    assert [p.name for p in path.parent.iterdir()] == ["exp.json"]  # written atomically: no temporary left


def test_nothing_is_written_inside_the_image_folder_or_the_run_folder(tmp_path: Path, image_folder: Path):
    before = sorted(image_folder.rglob("*"))
    with pytest.raises(OutsideImageFolderError, match="config file"):
        check_paths(image_folder / "exp.json", tmp_path / "run", image_folder)
    with pytest.raises(OutsideImageFolderError, match="run folder"):
        check_paths(tmp_path / "exp.json", image_folder / "circle" / "run", image_folder)
    with pytest.raises(ConfigError, match="inside the run folder"):
        check_paths(tmp_path / "run" / "exp.json", tmp_path / "run", image_folder)
    with pytest.raises(ConfigError, match=r"\.json"):
        check_paths(tmp_path / "exp.toml", tmp_path / "run", image_folder)
    config = ExperimentConfig()
    config.data.path = str(image_folder)
    with pytest.raises(OutsideImageFolderError):
        save_config(config, image_folder / "exp.json", tmp_path / "run")
    assert sorted(image_folder.rglob("*")) == before
