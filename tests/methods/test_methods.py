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
    """The method with its defaults, except small heads where it has them (fast)."""
    cls = method_class(name)
    encoder = create_encoder(cls.default_encoder, image_size=32)
    small = {k: v for k, v in {"proj_hidden_dim": 64, "proj_output_dim": 32}.items() if k in cls.hyperparameters}
    return create_method(name, encoder, MethodConfig(name=name, **{**small, **config}))


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


# ---- hyper-parameters: defaults, resolution, validation ---------------------------------------------------------


def test_every_method_declares_its_hyperparameters_and_default_encoder() -> None:
    from workbench.methods import hyperparameters
    from workbench.models import list_encoders

    declared = hyperparameters()
    for spec in declared.values():
        assert spec.label and spec.help.endswith(".")
    for name in list_methods():
        cls = method_class(name)
        assert set(cls.hyperparameters) <= set(declared), name
        for field, default in cls.hyperparameters.items():  # every default lies in its declared range
            assert declared[field].accepts(default), (name, field, default)
        assert cls.default_encoder in list_encoders(), name
        assert cls.supported_encoders is None or cls.default_encoder in cls.supported_encoders, name


def test_resolve_config_fills_the_methods_defaults_and_is_idempotent() -> None:
    from workbench.config import ExperimentConfig
    from workbench.methods import resolve_config

    config = ExperimentConfig()
    config.method.name = "byol"
    config.method.momentum = 0.9
    resolved = resolve_config(config)
    assert config.method.proj_hidden_dim is None and config.model.encoder == "auto"  # the input is not changed
    assert resolved.model.encoder == "small-cnn"
    assert resolved.method.momentum == 0.9  # a set value wins over the default
    assert resolved.method.proj_hidden_dim == 1024 and resolved.method.pred_hidden_dim == 1024
    assert resolved.method.temperature is None  # BYOL has no temperature
    assert resolve_config(resolved) == resolved

    simclr = resolve_config(ExperimentConfig())  # the default recipe, unchanged by the zoo
    assert (simclr.model.encoder, simclr.model.representation) == ("small-cnn", "auto")
    m = simclr.method
    assert (m.name, m.temperature, m.proj_hidden_dim, m.proj_output_dim, m.proj_layers) == ("simclr", 0.1, 512, 128, 2)


def test_a_hyperparameter_the_method_does_not_use_is_one_sentence() -> None:
    from workbench.config import ExperimentConfig
    from workbench.methods import resolve_config

    config = ExperimentConfig()
    config.method.name = "vicreg"
    config.method.temperature = 0.2
    with pytest.raises(ConfigError) as info:
        resolve_config(config)
    message = str(info.value)
    assert "'vicreg' does not use method.temperature" in message
    assert "lambda_param, mu_param, nu_param" in message and message.count(".") <= 3


def test_an_unsupported_encoder_is_a_config_error(monkeypatch) -> None:
    from workbench.config import ExperimentConfig
    from workbench.methods import resolve_config
    from workbench.methods.simclr import SimCLR

    monkeypatch.setattr(SimCLR, "supported_encoders", ("resnet18",))
    config = ExperimentConfig()
    config.model.encoder = "small-cnn"
    with pytest.raises(ConfigError, match="works with the encoder"):
        resolve_config(config)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("temperature", 0.0, "positive"),
        ("momentum", 1.0, "[0, 1)"),
        ("views", 1, "at least 2"),
        ("queue_size", 0, "at least 1"),
        ("mask_ratio", 1.0, "(0, 1)"),
        ("proj_hidden_dim", 2.5, "integer"),
        ("lambda_param", -1.0, ">= 0"),
        ("noise_std", "high", ">= 0"),
    ],
)
def test_validate_checks_each_hyperparameter_that_is_set(field: str, value, fragment: str) -> None:
    from workbench.config import ExperimentConfig

    config = ExperimentConfig()
    config.validate()  # None everywhere is valid
    setattr(config.method, field, value)
    with pytest.raises(ConfigError, match=f"method.{field} must be") as info:
        config.validate()
    assert fragment in str(info.value)


def test_create_method_fills_none_fields() -> None:
    encoder = create_encoder("small-cnn", image_size=32)
    method = create_method("moco-v2", encoder, MethodConfig(name="moco-v2", queue_size=64))
    assert method.config.queue_size == 64 and method.config.temperature == 0.2 and method.config.momentum == 0.99
