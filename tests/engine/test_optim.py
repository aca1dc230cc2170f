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
