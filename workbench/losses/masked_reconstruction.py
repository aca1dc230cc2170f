"""MAE's loss: mean squared error on the masked patches only, optionally against per-patch normalised pixels.

He, Chen, Xie, Li, Dollar, Girshick (2021), "Masked Autoencoders Are Scalable Vision Learners", section 3
("Reconstruction target": MSE computed only on masked patches; with normalised pixels as the target, each
patch normalised by its own mean and standard deviation, which improves the representation).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """(..., P) -> per patch (x - mean) / sqrt(var + eps) over its P pixel values (unbiased var, as MAE's code)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()


class MaskedReconstructionLoss(nn.Module):
    """pred, target (B, N, P) patches and mask (B, N) bool (True = hidden) -> scalar.

    loss = sum over hidden patches of mean_P (pred - target')^2, divided by the number of hidden patches, where
    target' is `target` or, with `norm_pix`, `normalize_patches(target)`. Computed in float32.
    """

    def __init__(self, norm_pix: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}.")
        self.norm_pix = bool(norm_pix)
        self.eps = eps

    def target(self, patches: Tensor) -> Tensor:
        """What the decoder must predict for `patches` (B, N, P)."""
        return normalize_patches(patches.float(), self.eps) if self.norm_pix else patches.float()

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        if pred.shape != target.shape or pred.ndim != 3 or mask.shape != pred.shape[:2]:
            raise ValueError(
                f"MaskedReconstructionLoss expects pred, target (B, N, P) and mask (B, N), got "
                f"{tuple(pred.shape)}, {tuple(target.shape)} and {tuple(mask.shape)}."
            )
        with torch.autocast(device_type=pred.device.type, enabled=False):
            per_patch = (pred.float() - self.target(target)).pow(2).mean(dim=-1)  # (B, N)
            weight = mask.float()
            return (per_patch * weight).sum() / weight.sum().clamp_min(1.0)
