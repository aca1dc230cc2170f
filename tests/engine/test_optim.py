"""Optimizers by name and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workbench.config import OptimConfig
from workbench.engine.optim import LARS, build_optimizer, lr_at


def test_warmup_then_cosine_to_the_floor():
    config = OptimConfig(lr=1.0, warmup_fraction=0.1, final_lr_fraction=0.1)
    assert lr_at(config, 0.01) == pytest.approx(0.1)
    assert lr_at(config, 0.05) == pytest.approx(0.5)
    assert lr_at(config, 0.1) == pytest.approx(1.0)
    assert lr_at(config, 0.55) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(config, 1.0) == pytest.approx(0.1)
    assert lr_at(OptimConfig(lr=0.5, warmup_fraction=0.0, schedule="constant"), 0.9) == 0.5


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "lars"])
def test_every_optimizer_minimises_a_regression(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    lr = {"sgd": 0.05, "adam": 0.01, "adamw": 0.01, "lars": 0.5}[name]
    opt = build_optimizer(model, OptimConfig(name=name, lr=lr, weight_decay=1e-4))
    first = None
    for _ in range(100):
        loss = nn.functional.mse_loss(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_biases_and_norms_get_no_weight_decay():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
    opt = build_optimizer(model, OptimConfig(name="lars", weight_decay=0.1))
    decayed, plain = opt.param_groups
    assert [p.ndim for p in decayed["params"]] == [2] and decayed["weight_decay"] == 0.1
    assert all(p.ndim == 1 for p in plain["params"]) and plain["weight_decay"] == 0.0 and plain["lars_exclude"]
    assert isinstance(opt, LARS)


def test_lars_scales_the_step_by_the_trust_ratio():
    w = nn.Parameter(torch.full((10,), 2.0))
    w.grad = torch.full((10,), 100.0)
    LARS([w], lr=1.0, momentum=0.0, eta=0.001).step()
    # trust = eta * ||w|| / ||g|| = 0.001 * 2 / 100; step = lr * trust * g = 0.002 per element
    assert torch.allclose(w.detach(), torch.full((10,), 2.0 - 0.002))
    assert math.isclose(float(w.detach()[0]), 1.998, rel_tol=1e-6)


def test_method_optimizer_groups_scale_the_learning_rate_and_skip_frozen_parameters():
    from workbench.engine.optim import set_lr

    class TwoSpeeds(nn.Module):
        def __init__(self):
            super().__init__()
            self.fast, self.slow, self.frozen = nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(3, 3)
            self.frozen.requires_grad_(False)

        def optimizer_groups(self):
            return [(list(self.fast.parameters()), 1.0), (list(self.slow.parameters()) + [self.fast.weight], 0.1)]

    model = TwoSpeeds()
    opt = build_optimizer(model, OptimConfig(name="adamw", lr=0.5, weight_decay=0.01))
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    assert by_param[id(model.fast.weight)]["lr"] == 0.5  # listed twice: optimised once, in its first group
    assert by_param[id(model.slow.weight)]["lr"] == pytest.approx(0.05)
    assert by_param[id(model.slow.bias)]["weight_decay"] == 0.0
    assert not {id(p) for p in model.frozen.parameters()} & set(by_param)
    assert sum(len(g["params"]) for g in opt.param_groups) == 4
    set_lr(opt, 0.2)
    assert by_param[id(model.fast.bias)]["lr"] == 0.2 and by_param[id(model.slow.bias)]["lr"] == pytest.approx(0.02)


def test_a_method_without_groups_keeps_the_two_default_groups():
    from workbench.config import MethodConfig
    from workbench.methods import create_method
    from workbench.models import create_encoder

    method = create_method("byol", create_encoder("small-cnn", image_size=16), MethodConfig(name="byol"))
    opt = build_optimizer(method, OptimConfig())
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert len(opt.param_groups) == 2 and all(g["lr_scale"] == 1.0 for g in opt.param_groups)
    assert optimised == {id(p) for p in method.parameters() if p.requires_grad}
