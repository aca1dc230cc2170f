"""SimSiam: the loss against eq. (2) with its stop-gradient (same gradients as the direct formula), the projector
and bottleneck predictor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench.config import MethodConfig
from workbench.methods import create_method
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(**config):
    torch.manual_seed(0)
    encoder = create_encoder("small-cnn", image_size=16)
    small = dict(proj_hidden_dim=32, proj_output_dim=24, pred_hidden_dim=8)
    return create_method("simsiam", encoder, MethodConfig(name="simsiam", **{**small, **config}))


def views(n: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]


def test_defaults_projector_with_bn_output_and_bottleneck_predictor() -> None:
    method = create_method("simsiam", create_encoder("small-cnn", image_size=16), MethodConfig(name="simsiam"))
    assert isinstance(method.projector.layers[-1], torch.nn.BatchNorm1d)
    assert (method.predictor.in_dim, method.predictor.out_dim) == (1024, 1024)
    assert method.predictor.layers[0].out_features == 256  # the 4:1 bottleneck


def test_loss_and_gradients_match_the_stop_gradient_formula() -> None:
    method = build().eval()  # eval: BatchNorm is per-sample, so separate forwards equal the joint one
    v1, v2 = views()
    out = method.step([v1, v2])
    out.loss.backward()
    grads = [p.grad.clone() for p in method.encoder.parameters()]

    # eq. (2): L = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2, D(p, z) = -cos(p, z)
    def direct(stop_gradient: bool) -> torch.Tensor:
        z1, z2 = method.projector(method.encoder(v1)), method.projector(method.encoder(v2))
        p1, p2 = method.predictor(z1), method.predictor(z2)

        def d(p, z):
            z = z.detach() if stop_gradient else z
            return -(F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(1).mean()

        return d(p1, z2) / 2 + d(p2, z1) / 2

    def encoder_grads(loss: torch.Tensor) -> list[torch.Tensor]:
        method.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in method.encoder.parameters()]

    with_stop = direct(stop_gradient=True)
    assert out.loss.item() == pytest.approx(with_stop.item(), rel=1e-5)
    for a, b in zip(grads, encoder_grads(with_stop), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    without = encoder_grads(direct(stop_gradient=False))  # what a missing stop-gradient would give
    assert any(not torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(grads, without, strict=True))
    assert -1 <= out.loss.item() <= 1 and 0 <= out.values["z_std"].item() <= 1


def test_z_std_detects_collapse() -> None:
    method = build().train()
    same = torch.zeros(6, 3, 16, 16)
    out = method.step([same, same.clone()])
    assert out.values["z_std"].item() < 1e-3  # every image maps to one vector
    assert build().train().step(views()).values["z_std"].item() > 0.05
