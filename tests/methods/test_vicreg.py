"""VICReg: the method's loss against the paper's formula on its own expander outputs, and its logged terms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench.config import MethodConfig
from workbench.methods import create_method
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_defaults_are_the_papers_weights_on_a_512_expander() -> None:
    method = create_method("vicreg", create_encoder("small-cnn", image_size=16), MethodConfig(name="vicreg"))
    f = method.loss_fn
    assert (f.lambda_param, f.mu_param, f.nu_param) == (25.0, 25.0, 1.0)
    assert [m.out_features for m in method.projector.modules() if isinstance(m, torch.nn.Linear)] == [512] * 3


def test_step_loss_matches_the_formula() -> None:
    torch.manual_seed(0)
    encoder = create_encoder("small-cnn", image_size=16)
    config = MethodConfig(name="vicreg", proj_hidden_dim=32, proj_output_dim=12, lambda_param=2.0, nu_param=3.0)
    method = create_method("vicreg", encoder, config).eval()
    g = torch.Generator().manual_seed(1)
    v1, v2 = torch.randn(10, 3, 16, 16, generator=g), torch.randn(10, 3, 16, 16, generator=g)
    out = method.step([v1, v2])
    with torch.no_grad():
        za, zb = (method.projector(method.encoder(v)).double() for v in (v1, v2))
    n, d = za.shape
    s = ((za - zb) ** 2).mean()

    def v_c(z):
        z = z - z.mean(0)
        cov = z.T @ z / (n - 1)
        std = torch.sqrt(torch.diagonal(cov) + 1e-4)
        off = (cov**2).sum() - (torch.diagonal(cov) ** 2).sum()
        return F.relu(1 - std).mean(), off / d

    (va, ca), (vb, cb) = v_c(za), v_c(zb)
    expected = 2.0 * s + 25.0 * (va + vb) / 2 + 3.0 * (ca + cb)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-4)
    assert out.values["invariance"].item() == pytest.approx(s.item(), rel=1e-4)
    assert out.values["variance"].item() == pytest.approx(((va + vb) / 2).item(), rel=1e-4)
    assert out.values["covariance"].item() == pytest.approx((ca + cb).item(), rel=1e-4)
