"""MAE on vit-tiny: MSE on the hidden patches only, exactly round(N(1 - ratio)) patches visible, previews."""

from __future__ import annotations

import pytest
import torch

from workbench.config import ExperimentConfig, MethodConfig, ModelConfig
from workbench.errors import ConfigError
from workbench.methods import create_method, resolve_config
from workbench.methods.mae import MAE
from workbench.models import create_encoder
from workbench.models.vit import patchify, random_masking

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _method(size: int = 16, **config) -> MAE:
    torch.manual_seed(0)
    return create_method("mae", create_encoder("vit-tiny", image_size=size), MethodConfig(name="mae", **config))


def test_defaults_resolve_to_vit_tiny_and_the_papers_mask_ratio() -> None:
    resolved = resolve_config(ExperimentConfig(method=MethodConfig(name="mae")))
    assert resolved.model.encoder == "vit-tiny" == MAE.default_encoder
    assert resolved.method.mask_ratio == 0.75
    assert MAE.supported_encoders == ("vit-tiny",) and MAE.n_views == 1 and MAE.generative
    with pytest.raises(ConfigError, match="vit-tiny"):
        resolve_config(ExperimentConfig(model=ModelConfig(encoder="small-cnn"), method=MethodConfig(name="mae")))
    with pytest.raises(ValueError, match="ViT"):
        create_method("mae", create_encoder("small-cnn", image_size=16), MethodConfig(name="mae"))


def test_two_steps_train() -> None:
    method = _method()
    before = [p.detach().clone() for p in method.encoder.parameters()]
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    for i in range(2):
        out = method.step([torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(i))])
        assert out.loss.ndim == 0 and torch.isfinite(out.loss) and out.loss.requires_grad
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, method.encoder.parameters(), strict=True))


@pytest.mark.parametrize(("ratio", "hidden"), [(0.75, 12), (0.5, 8)])
def test_loss_is_the_mean_patch_mse_over_hidden_patches(ratio: float, hidden: int) -> None:
    method = _method(mask_ratio=ratio)
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(7)
    out = method.step([x])
    torch.manual_seed(7)  # the same masks again
    ids_keep, mask = random_masking(4, 16, ratio)
    assert (mask.sum(dim=1) == hidden).all() and ids_keep.shape == (4, 16 - hidden)
    with torch.no_grad():
        pred = method.decoder(method.encoder.encode_visible(x, ids_keep), ids_keep)  # (4, 16, 48)
    target = patchify(x, 4)
    per_patch = [((pred[b, n] - target[b, n]) ** 2).mean().item() for b in range(4) for n in range(16) if mask[b, n]]
    assert len(per_patch) == 4 * hidden
    assert out.loss.item() == pytest.approx(sum(per_patch) / len(per_patch), rel=1e-5)


def test_the_encoder_sees_only_visible_patches() -> None:
    """Changing a hidden patch's pixels leaves the encoder's tokens unchanged; the loss target changes."""
    method = _method().eval()
    x = torch.randn(1, 3, 16, 16)
    ids_keep, mask = random_masking(1, 16, 0.75, generator=torch.Generator().manual_seed(0))
    hidden = int(mask[0].nonzero()[0])
    row, col = divmod(hidden, 4)
    y = x.clone()
    y[..., row * 4 : row * 4 + 4, col * 4 : col * 4 + 4] += 5.0
    with torch.no_grad():
        assert torch.allclose(method.encoder.encode_visible(x, ids_keep), method.encoder.encode_visible(y, ids_keep))


def test_preview_rows_input_masked_reconstruction() -> None:
    method = _method(size=32).eval()
    images = torch.randn(9, 3, 32, 32)
    with torch.no_grad():
        rows = method.preview(images)
        again = method.preview(images)
    assert len(rows) == 3 and all(r.shape == (8, 3, 32, 32) for r in rows)
    assert all(torch.equal(a, b) for a, b in zip(rows, again, strict=True))  # fixed preview masks
    x, masked, recon = (patchify(r, 4) for r in rows)
    assert torch.equal(rows[0], images[:8])
    blank = (masked == 0).all(dim=-1)  # (8, 64) hidden patches
    assert (blank.sum(dim=1) == 48).all()  # 75% of 64
    assert torch.equal(masked[~blank], x[~blank]) and torch.equal(recon[~blank], x[~blank])  # visible: pasted back
    assert not torch.equal(recon[blank], x[blank])  # hidden: predicted


def test_bad_mask_ratio_is_refused() -> None:
    with pytest.raises(ValueError, match="mask_ratio"):
        _method(mask_ratio=1.0)
