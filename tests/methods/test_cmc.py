"""CMC: V views from the config, one contrastive term per ordered pair of views (against the full-graph formula),
and fit() drawing V augmented views."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.engine.test_fit import tiny_config
from workbench.config import MethodConfig
from workbench.engine.fit import fit
from workbench.methods import create_method
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(views: int, **config):
    torch.manual_seed(0)
    encoder = create_encoder("small-cnn", image_size=16)
    small = dict(proj_hidden_dim=32, proj_output_dim=16)
    return create_method("cmc", encoder, MethodConfig(name="cmc", views=views, **{**small, **config}))


def test_defaults() -> None:
    method = create_method("cmc", create_encoder("small-cnn", image_size=16), MethodConfig(name="cmc"))
    assert method.n_views == 4 and method.loss_fn.temperature == 0.07


@pytest.mark.parametrize("n_views", [2, 3, 4])
def test_loss_is_the_mean_of_one_infonce_per_ordered_pair(n_views: int) -> None:
    method = build(n_views, temperature=0.3).eval()
    g = torch.Generator().manual_seed(n_views)
    views = [torch.randn(5, 3, 16, 16, generator=g) for _ in range(n_views)]
    out = method.step(views)
    with torch.no_grad():
        z = [F.normalize(method.projector(method.encoder(v)).double(), dim=1) for v in views]
    terms = []
    for i in range(n_views):
        for j in range(n_views):
            if i != j:  # the seed's 4.1.2 loss: view i's anchor picks its image among view j's N rows
                logits = z[i] @ z[j].T / 0.3
                terms.append((-torch.diagonal(logits) + torch.logsumexp(logits, dim=1)).mean())
    assert len(terms) == n_views * (n_views - 1)
    expected = torch.stack(terms).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.values["mi_bound"].item() == pytest.approx(math.log(5) - expected.item(), rel=1e-4, abs=1e-5)


def test_too_few_views_is_an_error() -> None:
    method = build(3)
    with pytest.raises(ValueError, match="3 views"):
        method.step([torch.randn(4, 3, 16, 16)] * 2)


def test_fit_draws_v_views(image_folder, tmp_path, monkeypatch) -> None:
    from workbench.methods.cmc import CMC

    seen, real_step = [], CMC.step

    def spy(self, views):
        seen.append(len(views))
        return real_step(self, views)

    monkeypatch.setattr(CMC, "step", spy)
    config = tiny_config(image_folder, max_steps=2, monitor_every_epochs=0, precision="fp32")  # no start-up check
    config.method = MethodConfig(name="cmc", views=3, proj_hidden_dim=32, proj_output_dim=16)
    assert fit(config, tmp_path / "run").status == "finished"
    assert seen == [3, 3]
