"""BYOL: the symmetrised loss against the paper's eq. (2) and the EMA target with its cosine momentum schedule (its
bit-exact resume through fit() is tests/engine/test_resume.py's, for every method)."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.config import MethodConfig, OptimConfig
from workbench.engine.optim import build_optimizer
from workbench.methods import create_method
from workbench.methods.momentum import cosine_momentum
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = dict(proj_hidden_dim=32, proj_output_dim=16, pred_hidden_dim=24)


def build(**config):
    torch.manual_seed(0)
    return create_method(
        "byol", create_encoder("small-cnn", image_size=16), MethodConfig(name="byol", **SMALL, **config)
    )


def views(n: int = 6, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]


def test_defaults_are_the_small_image_recipe() -> None:
    method = create_method("byol", create_encoder("small-cnn", image_size=16), MethodConfig(name="byol"))
    assert method.base_momentum == 0.99
    assert method.predictor.in_dim == method.predictor.out_dim == method.projector.out_dim == 256


def test_loss_matches_the_papers_normalised_mse() -> None:
    method = build().eval()  # eval: BatchNorm uses running statistics, so the direct forward below is identical
    v1, v2 = views()
    out = method.step([v1, v2])

    def online(x):
        return method.predictor(method.projector(method.encoder(x)))

    def target(x):
        return method.target_projector(method.target_encoder(x))

    with torch.no_grad():
        p1, p2, z1, z2 = (t.double() for t in (online(v1), online(v2), target(v1), target(v2)))
    # L = ||p1/|p1| - z2/|z2| ||^2 + ||p2/|p2| - z1/|z1| ||^2, averaged over the batch (eq. (2), symmetrised)
    direct = ((p1 / p1.norm(dim=1, keepdim=True) - z2 / z2.norm(dim=1, keepdim=True)) ** 2).sum(1).mean() + (
        (p2 / p2.norm(dim=1, keepdim=True) - z1 / z1.norm(dim=1, keepdim=True)) ** 2
    ).sum(1).mean()
    assert out.loss.item() == pytest.approx(direct.item(), rel=1e-5)
    assert 0 <= out.loss.item() <= 8


def test_target_is_frozen_saved_and_never_optimised() -> None:
    method = build()
    targets = list(method.target_encoder.parameters()) + list(method.target_projector.parameters())
    assert targets and not any(p.requires_grad for p in targets)
    keys = method.state_dict().keys()
    assert any(k.startswith("target_encoder.") for k in keys) and any(k.startswith("target_projector.") for k in keys)
    optimised = {id(p) for g in build_optimizer(method, OptimConfig()).param_groups for p in g["params"]}
    assert not optimised & {id(p) for p in targets}
    # the target starts equal to the online network
    for t, o in zip(method.target_encoder.parameters(), method.encoder.parameters(), strict=True):
        assert torch.equal(t, o)


@pytest.mark.parametrize("progress", [0.0, 0.5, 1.0])
def test_ema_update_follows_the_cosine_schedule(progress: float) -> None:
    method = build()
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(torch.randn_like(p))  # as if an optimizer step moved the online network
    before = [t.clone() for t in method.target_encoder.parameters()]
    method.on_step_end(progress)
    tau = 1 - (1 - 0.99) * (math.cos(math.pi * progress) + 1) / 2
    assert cosine_momentum(0.99, progress) == pytest.approx(tau)
    for t0, t, o in zip(before, method.target_encoder.parameters(), method.encoder.parameters(), strict=True):
        torch.testing.assert_close(t, tau * t0 + (1 - tau) * o)
    if progress == 1.0:
        assert all(torch.equal(t0, t) for t0, t in zip(before, method.target_encoder.parameters(), strict=True))


def test_gradients_reach_the_online_network_only() -> None:
    method = build()
    method.step(views()).loss.backward()
    assert all(p.grad is None for p in method.target_encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.predictor.parameters())


def test_ema_helper_is_a_plain_lerp() -> None:
    from workbench.methods.momentum import ema_update, frozen_copy

    online = torch.nn.Linear(3, 2)
    target = frozen_copy(online)
    with torch.no_grad():
        online.weight.add_(1.0)
    ema_update(target, online, 0.9)
    torch.testing.assert_close(target.weight, online.weight - 0.9)
    assert not target.weight.requires_grad
