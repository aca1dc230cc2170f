"""The Barlow Twins loss: make the cross-correlation matrix of two views' embeddings the identity.

Zbontar, Jing, Misra, LeCun, Deny (2021), "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
ICML, eq. (1)-(2) and Algorithm 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from workbench import dist


def standardize(z: Tensor, eps: float) -> Tensor:
    """(N, D) -> each column at mean 0 and variance 1 over the batch: BatchNorm1d without affine parameters in
    training mode (biased variance, `eps` inside the square root), as the paper's code normalises."""
    z = z - z.mean(dim=0)
    return z / torch.sqrt(z.pow(2).mean(dim=0) + eps)


def off_diagonal(m: Tensor) -> Tensor:
    """The off-diagonal entries of a square (D, D) matrix, flattened to (D * D - D,)."""
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


class BarlowTwinsLoss(nn.Module):
    """z1, z2 of shape (N, D), N >= 2 -> scalar.

    C = standardize(z1).T @ standardize(z2) / N is the (D, D) cross-correlation of the batch-standardised
    embeddings; the loss is sum_i (1 - C_ii)^2 (invariance) + lambda * sum_{i != j} C_ij^2 (redundancy reduction).
    It is 0 exactly when both views give the same decorrelated, unit-variance features. `lambda_param` 5e-3 is
    the paper's value (for D = 8192). Computed in float32 under autocast; `terms` returns the two sums.

    Under torchrun each process passes its slice of the global batch; the rows are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so the batch statistics and C, and hence the loss, are the
    single-process ones of the global batch.
    """

    def __init__(self, lambda_param: float = 5e-3, eps: float = 1e-5) -> None:
        super().__init__()
        lambda_param = float(lambda_param)
        if not (lambda_param >= 0 and math.isfinite(lambda_param)):
            raise ValueError(f"lambda_param must be a number >= 0, got {lambda_param}.")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}.")
        self.lambda_param, self.eps = lambda_param, eps

    def terms(self, z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
        """(on-diagonal sum of (1 - C_ii)^2, off-diagonal sum of C_ij^2)."""
        if z1.ndim != 2 or z1.shape != z2.shape:
            raise ValueError(
                f"BarlowTwinsLoss expects two (N, D) tensors of the same shape, got {tuple(z1.shape)} and "
                f"{tuple(z2.shape)}."
            )
        z1, z2 = dist.gather(z1), dist.gather(z2)  # (N, D): the global batch
        if z1.shape[0] < 2:
            raise ValueError("BarlowTwinsLoss needs a batch of at least 2 to standardise the embeddings.")
        with torch.autocast(device_type=z1.device.type, enabled=False):
            n = z1.shape[0]
            c = standardize(z1.float(), self.eps).T @ standardize(z2.float(), self.eps) / n  # (D, D)
            on_diag = (1 - torch.diagonal(c)).pow(2).sum()
            off_diag = off_diagonal(c).pow(2).sum()
        return on_diag, off_diag

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        on_diag, off_diag = self.terms(z1, z2)
        return on_diag + self.lambda_param * off_diag
