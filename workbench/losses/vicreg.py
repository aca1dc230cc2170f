"""The VICReg loss: invariance, variance and covariance terms on two views' embeddings.

Bardes, Ponce, LeCun (2022), "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
Learning", ICLR, eq. (1)-(6), as in the authors' code (facebookresearch/vicreg, main_vicreg.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import dist
from workbench.losses.barlow_twins import off_diagonal


class VICRegLoss(nn.Module):
    """z_a, z_b of shape (N, D), N >= 2 -> scalar lambda * s + mu * v + nu * c, where

    - s (invariance) = mean over the N x D entries of (z_a - z_b)^2 (the MSE);
    - v (variance) = the mean of the two branches' mean over dimensions of max(0, 1 - sqrt(Var(z_j) + eps)), with
      the unbiased variance over the batch and eps = 1e-4: a hinge on the standard deviation of each dimension;
    - c (covariance) = the sum over both branches of sum_{i != j} Cov(z)_ij^2 / D, Cov the (D, D) covariance with
      1 / (N - 1).

    The defaults lambda = mu = 25, nu = 1 are the paper's. The variance term averages the branches and the
    covariance term sums them, as the authors' code does. Computed in float32 under autocast; `terms` returns
    (s, v, c) unweighted.

    Under torchrun each process passes its slice of the global batch; the rows are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so variance, covariance and the loss are the single-process
    ones of the global batch.
    """

    def __init__(self, lambda_param: float = 25.0, mu_param: float = 25.0, nu_param: float = 1.0, eps: float = 1e-4):
        super().__init__()
        for name, value in (("lambda_param", lambda_param), ("mu_param", mu_param), ("nu_param", nu_param)):
            if not (float(value) >= 0 and math.isfinite(float(value))):
                raise ValueError(f"{name} must be a number >= 0, got {value}.")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}.")
        self.lambda_param, self.mu_param, self.nu_param = float(lambda_param), float(mu_param), float(nu_param)
        self.eps = eps

    def terms(self, z_a: Tensor, z_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(invariance, variance, covariance), each a scalar, unweighted."""
        if z_a.ndim != 2 or z_a.shape != z_b.shape:
            raise ValueError(
                f"VICRegLoss expects two (N, D) tensors of the same shape, got {tuple(z_a.shape)} and "
                f"{tuple(z_b.shape)}."
            )
        z_a, z_b = dist.gather(z_a), dist.gather(z_b)  # (N, D): the global batch
        n, d = z_a.shape
        if n < 2:
            raise ValueError("VICRegLoss needs a batch of at least 2 for the variance and covariance terms.")
        with torch.autocast(device_type=z_a.device.type, enabled=False):
            a, b = z_a.float(), z_b.float()
            invariance = F.mse_loss(a, b)
            a, b = a - a.mean(dim=0), b - b.mean(dim=0)  # centred (N, D)
            std_a = torch.sqrt(a.pow(2).sum(dim=0) / (n - 1) + self.eps)  # (D,)
            std_b = torch.sqrt(b.pow(2).sum(dim=0) / (n - 1) + self.eps)
            variance = F.relu(1 - std_a).mean() / 2 + F.relu(1 - std_b).mean() / 2
            cov_a, cov_b = a.T @ a / (n - 1), b.T @ b / (n - 1)  # (D, D)
            covariance = off_diagonal(cov_a).pow(2).sum() / d + off_diagonal(cov_b).pow(2).sum() / d
        return invariance, variance, covariance

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        invariance, variance, covariance = self.terms(z_a, z_b)
        return self.lambda_param * invariance + self.mu_param * variance + self.nu_param * covariance
