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

    Same-image masking (optional): `ids` (N,) are the queries' image ids and `queue_ids` (K,) the image id each
    queued key was computed from (-1: unknown, never masked). A queued key of the query's own image is an older key
    of its positive, not a negative, so it is removed from that query's candidates (its logit set to -inf). On a
    small dataset the queue otherwise holds a key of nearly every image, each query's own included.

    Under torchrun each process passes its slice of the global batch; q, k and ids are gathered from every process
    first (`workbench.dist.gather`, gradients kept), so the loss is the single-process loss of the global batch.
    The queue and its ids are the same on every process (the method enqueues gathered keys and ids).
    """

    def __init__(self, temperature: float = 0.2) -> None:  # 0.2: MoCo v2
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        queue: Tensor | None = None,
        ids: Tensor | None = None,
        queue_ids: Tensor | None = None,
    ) -> Tensor:
        if q.ndim != 2 or q.shape != k.shape:
            raise ValueError(
                f"QueueInfoNCELoss expects q and k of the same (N, D) shape, got {tuple(q.shape)} and {tuple(k.shape)}."
            )
        if queue is not None and (queue.ndim != 2 or queue.shape[1] != q.shape[1]):
            raise ValueError(f"The queue must be (K, {q.shape[1]}), got {tuple(queue.shape)}.")
        if (ids is None) != (queue_ids is None):
            raise ValueError("Pass both ids (the queries' image ids) and queue_ids (the queued keys' ids), or neither.")
        if ids is not None and queue_ids is not None:
            if ids.shape != (q.shape[0],):
                raise ValueError(f"ids must be ({q.shape[0]},), one image id per query, got {tuple(ids.shape)}.")
            if queue is None or queue_ids.shape != (queue.shape[0],):
                raise ValueError(f"queue_ids must hold one image id per queued key, got {tuple(queue_ids.shape)}.")
        q, k = dist.gather(q), dist.gather(k)  # (N, D): the global batch
        with torch.autocast(device_type=q.device.type, enabled=False):
            q = F.normalize(q.float(), dim=1)
            candidates = F.normalize(k.float(), dim=1)  # (N, D); the positive of row n is row n
            if queue is not None and len(queue):
                candidates = torch.cat([candidates, queue.detach().float()])  # (N + K, D)
            logits = q @ candidates.T / self.temperature  # (N, N + K)
            if ids is not None and queue_ids is not None and len(queue_ids):
                ids = dist.gather(ids.to(q.device))  # (N,) global image ids, in the order of q
                queue_ids = queue_ids.to(q.device)[None, :]  # (1, K)
                own = (ids[:, None] == queue_ids) & (queue_ids >= 0)  # (N, K): a key of the query's own image
                batch = own.new_zeros(q.shape[0], q.shape[0])  # (N, N): batch keys never masked
                logits = logits.masked_fill(torch.cat([batch, own], dim=1), float("-inf"))  # (N, N + K)
            return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))
