"""The GAN: DCGAN's losses in one backward, the discriminator (= the encoder) shielded from the generator's loss."""

from __future__ import annotations

import pytest
import torch

from workbench.config import ExperimentConfig, MethodConfig
from workbench.methods import create_method, resolve_config
from workbench.methods.gan import GAN, LR_SCALE
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _method(size: int = 16, **config) -> GAN:
    torch.manual_seed(0)
    encoder = create_encoder("small-cnn", image_size=size)
    return create_method("gan", encoder, MethodConfig(name="gan", **config))


def _d_params(method: GAN) -> list[torch.nn.Parameter]:
    return [*method.encoder.parameters(), *method.d_head.parameters()]


def test_defaults_resolve() -> None:
    resolved = resolve_config(ExperimentConfig(method=MethodConfig(name="gan")))
    assert resolved.model.encoder == "small-cnn"
    assert resolved.method.latent_dim == 100  # DCGAN's noise size
    assert GAN.n_views == 1 and GAN.generative


def test_two_steps_train_both_networks() -> None:
    method = _method()
    before = [p.detach().clone() for p in method.parameters()]
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    for i in range(2):
        out = method.step([torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(i))])
        assert out.loss.ndim == 0 and torch.isfinite(out.loss)
        assert set(out.values) == {"d_loss", "g_loss", "d_real", "d_fake"}
        assert all(v.ndim == 0 and not v.requires_grad for v in out.values.values())
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    after = dict(zip([id(p) for p in method.parameters()], before, strict=True))
    assert any(not torch.equal(after[id(p)], p) for p in method.encoder.parameters())
    assert any(not torch.equal(after[id(p)], p) for p in method.generator.parameters())


def test_losses_match_the_bce_formulas() -> None:
    method = _method(latent_dim=8)
    x = torch.randn(6, 3, 16, 16)
    method.step([x])  # the first step records the data range used to map tanh onto the image space
    torch.manual_seed(1)
    out = method.step([x])
    torch.manual_seed(1)
    z = torch.randn(6, 8)
    with torch.no_grad():  # train-mode BN: the same batches give the same logits
        fake = method.generate(z)
        d_real = torch.sigmoid(method.discriminate(x))
        d_fake = torch.sigmoid(method.discriminate(fake))
    expected_d = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    expected_g = -torch.log(d_fake).mean()  # non-saturating generator loss
    assert out.values["d_loss"].item() == pytest.approx(expected_d.item(), rel=1e-4)
    assert out.values["g_loss"].item() == pytest.approx(expected_g.item(), rel=1e-4)
    assert out.loss.item() == pytest.approx(expected_d.item() + expected_g.item(), rel=1e-4)
    assert out.values["d_real"].item() == pytest.approx(d_real.mean().item(), rel=1e-4)


def test_generator_loss_never_reaches_the_discriminator() -> None:
    method = _method()
    x = torch.randn(8, 3, 16, 16)
    _, g_loss, _ = method.losses(x)
    assert all(p.requires_grad for p in method.parameters())  # restored after the frozen forward
    g_loss.backward()  # the d_loss contribution left out
    assert all(p.grad is None or not p.grad.any() for p in _d_params(method))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.generator.parameters())

    method.zero_grad(set_to_none=True)
    d_loss, _, _ = method.losses(x)
    d_loss.backward()  # and the discriminator's loss never reaches the generator (the fakes are detached)
    assert all(p.grad is None for p in method.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.encoder.parameters())


def test_samples_live_in_the_data_range() -> None:
    method = _method()
    x = torch.rand(8, 3, 16, 16) * torch.tensor([1.0, 2.0, 4.0]).view(1, 3, 1, 1) - 1.0  # per-channel ranges
    method.step([x])
    with torch.no_grad():
        samples = method.generate(torch.randn(32, method.latent_dim))
    for c in range(3):
        assert x[:, c].min() <= samples[:, c].min() and samples[:, c].max() <= x[:, c].max()


def test_preview_is_two_rows_from_a_saved_fixed_noise() -> None:
    method = _method(size=28).eval()
    images = torch.randn(8, 3, 28, 28)
    with torch.no_grad():
        rows, again = method.preview(images), method.preview(images)
    assert [r.shape for r in rows] == [(8, 3, 28, 28)] * 2
    assert all(torch.equal(a, b) for a, b in zip(rows, again, strict=True))
    state = method.state_dict()
    assert "preview_noise" in state and state["preview_noise"].shape == (16, 100)
    assert not any(k.startswith("discriminator.") for k in state)  # the encoder is saved once, as "encoder."


def test_optimizer_groups_cover_every_parameter_at_a_lower_rate() -> None:
    method = _method()
    groups = method.optimizer_groups()
    params = [p for group, _ in groups for p in group]
    assert {id(p) for p in params} == {id(p) for p in method.parameters()}
    assert all(scale == LR_SCALE < 1 for _, scale in groups)


def test_bad_latent_dim_is_refused() -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        _method(latent_dim=0)
