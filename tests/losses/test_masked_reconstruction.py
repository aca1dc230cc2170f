"""MAE's loss against its definition: mean over the hidden patches of each patch's mean squared error."""

from __future__ import annotations

import pytest
import torch

from workbench.losses.masked_reconstruction import MaskedReconstructionLoss, normalize_patches


def _by_hand(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool) -> float:
    errors = []
    for b in range(pred.shape[0]):
        for n in range(pred.shape[1]):
            if not mask[b, n]:
                continue
            t = target[b, n]
            if norm_pix:  # MAE: the patch's own mean and (unbiased) variance, eps 1e-6
                mean = t.sum() / t.numel()
                var = ((t - mean) ** 2).sum() / (t.numel() - 1)
                t = (t - mean) / (var + 1e-6) ** 0.5
            errors.append(((pred[b, n] - t) ** 2).mean().item())
    return sum(errors) / len(errors)


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("norm_pix", [False, True])
def test_loss_is_the_mean_over_hidden_patches_of_the_patch_mse(batch: int, norm_pix: bool) -> None:
    g = torch.Generator().manual_seed(batch)
    pred, target = torch.randn(batch, 16, 12, generator=g), torch.randn(batch, 16, 12, generator=g) * 2 + 1
    mask = torch.rand(batch, 16, generator=g) < 0.75
    mask[:, 0] = True  # at least one hidden patch per image
    loss = MaskedReconstructionLoss(norm_pix=norm_pix)(pred, target, mask)
    assert loss.item() == pytest.approx(_by_hand(pred, target, mask, norm_pix), rel=1e-5)


def test_visible_patches_do_not_count() -> None:
    target = torch.zeros(2, 4, 3)
    pred = torch.zeros(2, 4, 3)
    mask = torch.tensor([[True, False, False, False], [False, True, False, False]])
    pred[~mask] = 100.0  # huge errors on visible patches only
    assert MaskedReconstructionLoss()(pred, target, mask).item() == 0.0


def test_normalized_patches_have_zero_mean_unit_variance() -> None:
    x = torch.randn(3, 5, 48) * 4 + 2
    z = normalize_patches(x)
    assert torch.allclose(z.mean(dim=-1), torch.zeros(3, 5), atol=1e-5)
    assert torch.allclose(z.var(dim=-1), torch.ones(3, 5), atol=1e-4)


def test_shape_errors_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, N, P\)"):
        MaskedReconstructionLoss()(torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.ones(2, 5, dtype=torch.bool))
