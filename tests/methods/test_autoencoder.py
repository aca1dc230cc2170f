"""The autoencoder: MSE between decoder(encoder(x + noise)) and the clean x; previews of its reconstructions."""

from __future__ import annotations

import pytest
import torch

from workbench.config import ExperimentConfig, MethodConfig
from workbench.methods import create_method, resolve_config
from workbench.methods.autoencoder import Autoencoder
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _method(size: int = 16, **config) -> Autoencoder:
    encoder = create_encoder("small-cnn", image_size=size)
    return create_method("autoencoder", encoder, MethodConfig(name="autoencoder", **config))


def test_defaults_resolve() -> None:
    resolved = resolve_config(ExperimentConfig(method=MethodConfig(name="autoencoder")))
    assert resolved.model.encoder == "small-cnn"
    assert resolved.method.noise_std == Autoencoder.hyperparameters["noise_std"] >= 0
    assert Autoencoder.n_views == 1 and Autoencoder.generative


def test_two_steps_train_encoder_and_decoder() -> None:
    torch.manual_seed(0)
    method = _method()
    before = [p.detach().clone() for p in method.parameters()]
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    for i in range(2):
        out = method.step([torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(i))])
        assert out.loss.ndim == 0 and torch.isfinite(out.loss)
        assert set(out.values) == {"rel_mse"} and not out.values["rel_mse"].requires_grad
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, method.parameters(), strict=True)]
    n_enc = len(list(method.encoder.parameters()))
    assert any(changed[:n_enc]) and any(changed[n_enc:])  # encoder and decoder both learn


@pytest.mark.parametrize("batch", [2, 8])
def test_loss_is_the_mse_to_the_clean_input(batch: int) -> None:
    torch.manual_seed(0)
    method = _method(noise_std=0.0)
    x = torch.randn(batch, 3, 16, 16)
    out = method.step([x])
    recon = method.decoder(method.encoder(x))  # BN in train mode: the same batch gives the same output
    expected = ((recon - x) ** 2).sum() / x.numel()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.values["rel_mse"].item() == pytest.approx(expected.item() / x.var().item(), rel=1e-5)


def test_denoising_encodes_a_noisy_input_and_reconstructs_the_clean_one() -> None:
    torch.manual_seed(0)
    method = _method(noise_std=0.5)
    seen = []
    method.encoder.register_forward_hook(lambda module, args, output: seen.append(args[0].detach().clone()))
    x = torch.randn(8, 3, 16, 16)
    out = method.step([x])
    noisy = seen[0]
    assert (noisy - x).std().item() == pytest.approx(0.5, rel=0.05)
    recon = method.decoder(method.encoder(noisy))
    assert out.loss.item() == pytest.approx(((recon - x) ** 2).mean().item(), rel=1e-5)


@pytest.mark.parametrize(("noise_std", "n_rows"), [(0.0, 2), (0.2, 3)])
def test_preview_rows(noise_std: float, n_rows: int) -> None:
    method = _method(size=28, noise_std=noise_std).eval()
    images = torch.randn(10, 3, 28, 28)
    with torch.no_grad():
        rows = method.preview(images)
        again = method.preview(images)
    assert len(rows) == n_rows
    assert all(r.shape == (8, 3, 28, 28) for r in rows)
    assert torch.equal(rows[0], images[:8])
    assert all(torch.equal(a, b) for a, b in zip(rows, again, strict=True))  # fixed preview noise
    if noise_std:
        assert not torch.equal(rows[1], rows[0])
    assert len(method.preview(images[:3])[0]) == 3


def test_negative_noise_is_refused() -> None:
    with pytest.raises(ValueError, match="noise_std"):
        _method(noise_std=-0.1)
