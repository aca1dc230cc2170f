"""Negative cosine similarity, the loss of SimSiam (and, as 2 - 2 cos, of BYOL).

Chen and He (2021), "Exploring Simple Siamese Representation Learning", CVPR, eq. (1):
D(p, z) = - p / ||p||_2 . z / ||z||_2, averaged over the batch. The caller applies the stop-gradient to z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NegativeCosineSimilarity(nn.Module):
    """x0, x1 of shape (N, D) -> scalar: the mean over rows of -cos(x0[i], x1[i]), in [-1, 1].

    Computed in float32 under autocast; `eps` guards rows of zero norm (as in torch's cosine_similarity).
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}.")
        self.dim, self.eps = dim, eps

    def forward(self, x0: Tensor, x1: Tensor) -> Tensor:
        if x0.shape != x1.shape:
            raise ValueError(
                f"NegativeCosineSimilarity expects two tensors of the same shape, got {tuple(x0.shape)} and "
                f"{tuple(x1.shape)}."
            )
        with torch.autocast(device_type=x0.device.type, enabled=False):
            return -F.cosine_similarity(x0.float(), x1.float(), dim=self.dim, eps=self.eps).mean()
