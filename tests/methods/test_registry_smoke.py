"""Every registered method trains through fit() with its own defaults: two steps on a tiny folder, finite losses,
changed encoder weights, resolved hyper-parameters saved, and a resume that continues the run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.conftest import write_class_folder
from workbench.config import ExperimentConfig, hyperparameters
from workbench.engine.fit import fit
from workbench.engine.runs import RunDir, read_csv
from workbench.methods import list_methods, method_class
from workbench.results.evaluate import load_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return write_class_folder(tmp_path_factory.mktemp("smoke") / "images", per_class=8, size=16)


def smoke_config(data: Path, method: str, max_steps: int) -> ExperimentConfig:
    config = ExperimentConfig()  # encoder "auto" and every hyper-parameter None: the method's own defaults
    config.data.path = str(data)
    config.data.image_size = 16
    config.method.name = method
    config.train.batch_size = 8
    config.train.max_steps = max_steps
    config.train.workers = 0
    config.train.device = "cpu"
    config.train.monitor_every_epochs = 0
    return config


@pytest.mark.parametrize("name", list_methods())
def test_method_trains_with_its_defaults_and_resumes(name: str, tiny_folder: Path, tmp_path: Path) -> None:
    cls = method_class(name)
    run_dir = tmp_path / "run"
    torch.manual_seed(1)  # fit() seeds itself; this must not matter
    result = fit(smoke_config(tiny_folder, name, max_steps=2), run_dir)
    assert result.status == "finished" and result.step == 2

    saved = RunDir.open(run_dir).load_config()
    assert saved.model.encoder == cls.default_encoder
    for field in hyperparameters():  # the resolved config holds exactly the method's hyper-parameters
        value = getattr(saved.method, field)
        assert (value is not None) == (field in cls.hyperparameters), field
        if field in cls.hyperparameters:
            assert value == cls.hyperparameters[field]

    rows = read_csv(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2]
    for row in rows:
        for key, value in row.items():
            assert math.isfinite(float(value)), (key, value)

    _, trained = load_encoder(run_dir, trained=True)
    _, initial = load_encoder(run_dir, trained=False)
    changed = [
        not torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), initial.state_dict().values(), strict=True)
        if a.is_floating_point()
    ]
    assert any(changed), "the encoder's weights did not change"

    if cls.generative:
        assert (run_dir / "preview.png").is_file()

    resumed = fit(smoke_config(tiny_folder, name, max_steps=3), run_dir, resume=True)
    assert resumed.status == "finished" and resumed.step == 3
    assert [int(r["step"]) for r in read_csv(run_dir / "metrics.csv")] == [1, 2, 3]
    assert math.isfinite(resumed.loss)
