"""Exact runs: every registered method, stopped and resumed, ends with the weights of the uninterrupted run; a method's
own randomness (GAN noise, MAE masks, denoising noise) comes from the step, not the global generator; and a resume
with a config that differs from the run's is refused, naming what differs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import write_class_folder
from tests.engine.test_fit import StopAfter
from workbench.config import ExperimentConfig
from workbench.engine.fit import fit
from workbench.engine.runs import RunDir
from workbench.errors import ConfigError
from workbench.methods import StepNoise, list_methods

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CASES = [*list_methods(), "autoencoder-denoising"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_class_folder(tmp_path_factory.mktemp("resume") / "images", per_class=8, size=32)


def exact_config(data: Path, case: str) -> ExperimentConfig:
    config = ExperimentConfig()  # encoder "auto": the method's default (vit-tiny for MAE, small-cnn otherwise)
    config.data.path = str(data)
    config.data.image_size = 32
    config.method.name = case.removesuffix("-denoising")
    if case == "autoencoder-denoising":
        config.method.noise_std = 0.3
    config.train.batch_size = 8
    config.train.max_steps = 6  # 16 images: two steps an epoch, so the stop at 3 is inside an epoch
    config.train.workers = 0
    config.train.device = "cpu"
    config.train.precision = "fp32"  # two fresh runs compared bit for bit: see tests/engine/test_fit.py
    config.train.monitor_every_epochs = 0
    return config


@pytest.mark.parametrize("case", CASES)
def test_every_method_resumes_bit_for_bit(case: str, folder: Path, tmp_path: Path) -> None:
    torch.manual_seed(123)  # the global generator's state must not matter, before or between the runs
    fit(exact_config(folder, case), tmp_path / "straight")
    stopped = fit(exact_config(folder, case), tmp_path / "run", reporter=StopAfter(3))
    assert stopped.status == "stopped" and stopped.step == 3
    torch.manual_seed(456)
    resumed = fit(exact_config(folder, case), tmp_path / "run", resume=True)
    assert resumed.status == "finished" and resumed.step == 6
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    differ = [key for key in a if not torch.equal(a[key], b[key])]
    assert not differ, f"{case}: resumed weights differ in {differ}"


def test_step_noise_cut_from_the_global_batch_is_the_same_on_any_number_of_processes() -> None:
    whole = StepNoise(7, slice(0, 8), 8).randn(8, 5)
    halves = [StepNoise(7, slice(i, i + 4), 8).randn(4, 5) for i in (0, 4)]
    assert torch.equal(torch.cat(halves), whole)
    assert not torch.equal(halves[0], halves[1])  # each process its own samples' noise
    torch.manual_seed(0)
    assert torch.equal(StepNoise(7, slice(0, 8), 8).randn(8, 5), whole)  # not the global generator
    assert not torch.equal(StepNoise(8, slice(0, 8), 8).randn(8, 5), whole)
    with pytest.raises(ValueError, match="4 rows"):
        StepNoise(7, slice(0, 4), 8).rand(8)


def test_without_a_step_seed_noise_is_the_global_generators() -> None:
    torch.manual_seed(3)
    expected = torch.rand(4, 2)
    torch.manual_seed(3)
    assert torch.equal(StepNoise().rand(4, 2), expected)


def test_resume_with_another_config_is_refused_naming_each_field_and_both_values(folder: Path, tmp_path: Path) -> None:
    config = exact_config(folder, "simclr")
    config.train.max_steps = 1
    fit(config, tmp_path / "run")
    changed = exact_config(folder, "simclr")
    changed.train.seed, changed.train.batch_size, changed.data.image_size = 5, 4, 16
    with pytest.raises(ConfigError) as raised:
        fit(changed, tmp_path / "run", resume=True)
    text = str(raised.value)
    assert "train.seed: 0 in the run, 5 now" in text and "train.batch_size: 8 in the run, 4 now" in text
    assert "data.image_size: 32 in the run, 16 now" in text and "\n" not in text
    other = exact_config(folder, "byol")
    with pytest.raises(ConfigError, match="method.name: simclr in the run, byol now"):
        fit(other, tmp_path / "run", resume=True)
    assert RunDir.open(tmp_path / "run").load_config().train.seed == 0  # a refused resume leaves the run alone


def test_resume_may_change_stop_criteria_device_and_workers(folder: Path, tmp_path: Path) -> None:
    config = exact_config(folder, "simclr")
    config.train.max_steps = 1
    fit(config, tmp_path / "run")
    more = exact_config(folder, "simclr")
    more.train.max_steps, more.train.epochs, more.train.workers = 2, 50, 1
    more.data.path = str(Path(folder).parent / "." / Path(folder).name)  # the same folder, spelled otherwise
    assert fit(more, tmp_path / "run", resume=True).step == 2
