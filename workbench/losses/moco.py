"""InfoNCE against a queue of negatives, the loss of MoCo (v2).

He, Fan, Wu, Xie, Girshick (2020), "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR,
eq. (1) and Algorithm 1; Chen, Fan, Girshick, He (2020), "Improved Baselines with Momentum Contrastive Learning"
(MoCo v2: MLP head, temperature 0.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench import dist
from workbench.losses.ntxent import check_temperature


class QueueInfoNCELoss(nn.Module):
    """Queries q (N, D), their keys k (N, D) and a queue of past keys (K, D), K >= 0 -> scalar.

    Each query q[n] must pick its key k[n] among the N keys of the batch and the K queued keys, by cosine
    similarity / tau: mean_n -log softmax(q[n] . [k; queue] / tau)[n]. MoCo's Algorithm 1 has only the positive
    and the queue as candidates; here the batch's other keys are negatives too (as in MoCo v3), which removes the
    shortcut that BatchNorm's batch statistics give a single-device run (the original uses "shuffling BN" across
    GPUs against it). The queue is expected L2-normalised and is not back-propagated through. Equals log(N + K)
    when every embedding is the same. Computed in float32 under autocast.

    Under torchrun each process passes its slice of the global batch; q and k are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so the loss is the single-process loss of the global batch.
    The queue is the same on every process (the method enqueues gathered keys).
    """

    def __init__(self, temperature: float = 0.2) -> None:  # 0.2: MoCo v2
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, q: Tensor, k: Tensor, queue: Tensor | None = None) -> Tensor:
        if q.ndim != 2 or q.shape != k.shape:
            raise ValueError(
                f"QueueInfoNCELoss expects q and k of the same (N, D) shape, got {tuple(q.shape)} and {tuple(k.shape)}."
            )
        if queue is not None and (queue.ndim != 2 or queue.shape[1] != q.shape[1]):
            raise ValueError(f"The queue must be (K, {q.shape[1]}), got {tuple(queue.shape)}.")
        q, k = dist.gather(q), dist.gather(k)  # (N, D): the global batch
        with torch.autocast(device_type=q.device.type, enabled=False):
            q = F.normalize(q.float(), dim=1)
            candidates = F.normalize(k.float(), dim=1)  # (N, D); the positive of row n is row n
            if queue is not None and len(queue):
                candidates = torch.cat([candidates, queue.detach().float()])  # (N + K, D)
            logits = q @ candidates.T / self.temperature  # (N, N + K)
            return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))
