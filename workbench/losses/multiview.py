"""Contrastive multiview coding (CMC): an InfoNCE term for every ordered pair of V views.

Tian, Krishnan, Isola (2020), "Contrastive Multiview Coding", ECCV, eq. (2)-(3) and the "full graph" of
section 3.3: L = sum over pairs i < j of L(V_i, V_j) + L(V_j, V_i). Each term is the seed article's loss of its
section 4.1.2 (InfoNCE, van den Oord et al. 2018): the anchor z_i[n] must pick z_j[n] among the N rows of z_j.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import dist
from workbench.losses.ntxent import check_temperature


class MultiViewInfoNCELoss(nn.Module):
    """V >= 2 tensors (N, D) -> scalar: the mean over the V (V - 1) ordered pairs (i, j), i != j, of

        L(i, j) = mean_n -log softmax_m(cos(z_i[n], z_j[m]) / tau)[n]

    (candidates: the N rows of view j, so each term equals log(N) when every embedding is the same). CMC's full
    graph sums the pairs; the mean keeps the scale of one two-view term, so the temperature and the learning rate
    carry over between V. With V = 2 it is the symmetrised seed-article loss. Computed in float32 under autocast.

    Under torchrun each process passes its slice of the global batch; the rows are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so the loss is the single-process loss of the global batch.
    """

    def __init__(self, temperature: float = 0.07) -> None:  # 0.07: CMC's softmax temperature
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, views: list[Tensor]) -> Tensor:
        if len(views) < 2:
            raise ValueError(f"MultiViewInfoNCELoss needs at least 2 views, got {len(views)}.")
        shape = views[0].shape
        if views[0].ndim != 2 or any(v.shape != shape for v in views):
            raise ValueError(
                f"MultiViewInfoNCELoss expects (N, D) tensors of one shape, got {[tuple(v.shape) for v in views]}."
            )
        views = [dist.gather(v) for v in views]  # (N, D) each: the global batch
        n_views, n = len(views), views[0].shape[0]
        with torch.autocast(device_type=views[0].device.type, enabled=False):
            z = F.normalize(torch.stack(views).float(), dim=2)  # (V, N, D), unit rows
            logits = torch.einsum("ind,jmd->ijnm", z, z) / self.temperature  # (V, V, N, N): view i row n vs j row m
            pairs = ~torch.eye(n_views, dtype=torch.bool, device=z.device)  # ordered pairs i != j
            logits = logits[pairs].reshape(-1, n)  # (V (V - 1) N, N), the positive of each row at column n
            targets = torch.arange(n, device=z.device).repeat(n_views * (n_views - 1))
            return F.cross_entropy(logits, targets)
