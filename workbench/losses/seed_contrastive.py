"""The seed article's one-directional contrastive loss (its section 4.1.2 / 5.4), made numerically stable.

It is InfoNCE (van den Oord, Li, Vinyals 2018, "Representation Learning with Contrastive Predictive
Coding") with cosine similarity: each z1[i] must pick its positive z2[i] among all N rows of z2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import dist
from workbench.losses.ntxent import check_temperature


class SeedContrastiveLoss(nn.Module):
    """z1, z2 of shape (N, D) -> scalar: mean over anchors z1[i] of -log softmax_j(cos(z1[i], z2[j]) / tau)[i].

    Candidates are the N rows of z2 (the positive z2[i] and N - 1 negatives), so the loss equals log(N) when
    every embedding is the same. Fixes to the seed's code: rows are L2-normalised (the article's sim() is
    cosine similarity; the code used raw dot products), cross-entropy on logits replaces exp / sum + eps
    (which overflows at low temperature), and the similarities are computed in float32 under autocast.

    Under torchrun each process passes its slice of the global batch; the rows are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so the loss is the single-process loss of the global batch.
    """

    def __init__(self, temperature: float = 0.5) -> None:  # the seed's tau=0.5
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        if z1.ndim != 2 or z1.shape != z2.shape:
            raise ValueError(
                f"SeedContrastiveLoss expects two (N, D) tensors of the same shape, got "
                f"{tuple(z1.shape)} and {tuple(z2.shape)}."
            )
        z1, z2 = dist.gather(z1), dist.gather(z2)  # (N, D): the global batch
        with torch.autocast(device_type=z1.device.type, enabled=False):
            a = F.normalize(z1.float(), dim=1)  # (N, D) anchors
            c = F.normalize(z2.float(), dim=1)  # (N, D) candidates
            logits = a @ c.T / self.temperature  # (N, N); the positive of row i is column i
            return F.cross_entropy(logits, torch.arange(z1.shape[0], device=z1.device))
