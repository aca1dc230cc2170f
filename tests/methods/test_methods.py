"""Every registered method trains: two optimizer steps on random views change the weights, values stay finite."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.config import MethodConfig
from workbench.errors import ConfigError
from workbench.methods import Method, StepOutput, create_method, list_methods, method_class
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _build(name: str, **config) -> Method:
    supported = method_class(name).supported_encoders
    encoder = create_encoder(supported[0] if supported else "small-cnn", image_size=32)
    return create_method(name, encoder, MethodConfig(name=name, proj_hidden_dim=64, proj_output_dim=32, **config))


def _views(method: Method, batch: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, 3, 32, 32, generator=g) for _ in range(method.n_views)]


def test_registry_has_the_core_methods() -> None:
    assert {"simclr", "seed-contrastive"} <= set(list_methods())
    for name in list_methods():
        cls = method_class(name)
        assert cls.name == name and cls.description.strip() and cls.n_views >= 1


@pytest.mark.parametrize("name", list_methods())
def test_two_steps_train(name: str) -> None:
    torch.manual_seed(0)
    method = _build(name)
    method.train()
    before = [p.detach().clone() for p in method.encoder.parameters()]
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    for i in range(2):
        out = method.step(_views(method, seed=i))
        assert isinstance(out, StepOutput)
        assert out.loss.ndim == 0 and out.loss.requires_grad and torch.isfinite(out.loss)
        for key, value in out.values.items():
            assert value.ndim == 0 and not value.requires_grad and torch.isfinite(value), key
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        method.on_step_end((i + 1) / 2)
    assert any(not torch.equal(b, p) for b, p in zip(before, method.encoder.parameters(), strict=True))


def test_simclr_logs_the_infonce_bound_and_positive_similarity() -> None:
    torch.manual_seed(0)
    method = _build("simclr")
    views = _views(method, batch=6)
    out = method.step(views)
    assert out.values["mi_bound"].item() == pytest.approx(math.log(2 * 6 - 1) - out.loss.item(), abs=1e-6)
    assert -1.0 <= out.values["pos_sim"].item() <= 1.0
    # Identical views: every positive pair is the same vector, so cosine similarity 1.
    assert method.step([views[0], views[0].clone()]).values["pos_sim"].item() == pytest.approx(1.0, abs=1e-5)


def test_seed_contrastive_uses_the_seeds_linear_head_and_log_n_bound() -> None:
    method = _build("seed-contrastive", proj_layers=1)
    assert isinstance(method.projector, torch.nn.Linear)
    assert (method.projector.in_features, method.projector.out_features) == (256, 32)
    out = method.step(_views(method, batch=5))
    assert out.values["mi_bound"].item() == pytest.approx(math.log(5) - out.loss.item(), abs=1e-6)
    assert not isinstance(_build("seed-contrastive", proj_layers=2).projector, torch.nn.Linear)


def test_too_few_views_is_an_error() -> None:
    method = _build("simclr")
    with pytest.raises(ValueError, match="2 views"):
        method.step(_views(method)[:1])


def test_unknown_method_is_a_config_error() -> None:
    encoder = create_encoder("small-cnn", image_size=32)
    with pytest.raises(ConfigError, match="Unknown method 'nope'; choose one of: .*simclr"):
        create_method("nope", encoder, MethodConfig())
