"""Barlow Twins: the method's loss against the paper's formula on its own projections, and its projector."""

from __future__ import annotations

import pytest
import torch

from workbench.config import MethodConfig
from workbench.methods import create_method
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_defaults_are_a_512_three_layer_projector_and_lambda_5e_3() -> None:
    method = create_method(
        "barlow-twins", create_encoder("small-cnn", image_size=16), MethodConfig(name="barlow-twins")
    )
    linears = [m for m in method.projector.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [512, 512, 512]
    assert not isinstance(method.projector.layers[-1], torch.nn.BatchNorm1d)  # the last layer is a plain Linear
    assert method.loss_fn.lambda_param == 5e-3


@pytest.mark.parametrize("lam", [5e-3, 0.1])
def test_step_loss_matches_the_cross_correlation_formula(lam: float) -> None:
    torch.manual_seed(0)
    encoder = create_encoder("small-cnn", image_size=16)
    config = MethodConfig(name="barlow-twins", proj_hidden_dim=32, proj_output_dim=12, lambda_param=lam)
    method = create_method("barlow-twins", encoder, config).eval()
    g = torch.Generator().manual_seed(1)
    v1, v2 = torch.randn(10, 3, 16, 16, generator=g), torch.randn(10, 3, 16, 16, generator=g)
    out = method.step([v1, v2])
    with torch.no_grad():
        z1, z2 = (method.projector(method.encoder(v)).double() for v in (v1, v2))
    n = z1.shape[0]
    # BatchNorm (no affine) standardisation over the batch, then C = z1n.T @ z2n / N
    z1n = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + 1e-5)
    z2n = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + 1e-5)
    c = z1n.T @ z2n / n
    on = ((1 - torch.diagonal(c)) ** 2).sum()
    off = (c**2).sum() - (torch.diagonal(c) ** 2).sum()
    assert out.loss.item() == pytest.approx((on + lam * off).item(), rel=1e-4)
    assert out.values["on_diag"].item() == pytest.approx(on.item(), rel=1e-4)
    assert out.values["off_diag"].item() == pytest.approx(off.item(), rel=1e-4)
