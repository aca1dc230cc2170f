"""MoCo v2 (He et al. 2020; Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning"): queries from
the encoder, keys from a momentum (EMA) copy of it, and a queue of past keys as negatives.

Choices for one device and small data, each documented where it is made:
- The queue holds at most `queue_size` keys and never more than the number of training images (fit() calls
  `set_dataset_size`). It starts empty and fills. Both views' keys are queued (the loss is symmetrised).
- No query is scored against a queued key of its own image. On a small dataset the queue holds a key of nearly
  every image, each query's own included: a systematic false negative. Each queued key keeps the id of its image
  and the loss masks the queued keys whose id is the query's (`QueueInfoNCELoss(ids=..., queue_ids=...)`); the
  engine passes the batch's image ids through `set_batch_indices` before each step. Masking rather than a smaller
  queue, because no cap guarantees it: with a fresh shuffle each epoch, the last image of one epoch can be the
  first of the next, so its previous key is only a batch old; a cap below one batch would leave no queue at all.
  Without ids (a caller that never calls `set_batch_indices`) nothing is masked.
- The batch's other keys are negatives as well as the queue (QueueInfoNCELoss), instead of MoCo's shuffling
  BatchNorm across GPUs; the loss is symmetrised over the two views (as in the MoCo authors' CIFAR demo).
- momentum 0.99 (the paper: 0.999 for 200 epochs of ImageNet, about 1000x more steps than a CPU run).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench import dist
from workbench.config import MethodConfig
from workbench.losses import QueueInfoNCELoss
from workbench.methods.base import Method, StepOutput, register_method
from workbench.methods.momentum import ema_update, frozen_copy
from workbench.models import Encoder, projection_head


@register_method
class MoCoV2(Method):
    name = "moco-v2"
    description = "MoCo v2: match each view's key from a momentum encoder, against a queue of past keys (InfoNCE)."
    n_views = 2
    contrastive = True
    # tau 0.2 and a 2-layer MLP head without BatchNorm: MoCo v2. Head 512 -> 128 (paper: 2048 -> 128) and a queue of
    # 4096 (paper: 65536) for small images and datasets; momentum: see the module docstring.
    hyperparameters: ClassVar[dict[str, Any]] = {
        "temperature": 0.2,
        "proj_hidden_dim": 512,
        "proj_output_dim": 128,
        "proj_layers": 2,
        "momentum": 0.99,
        "queue_size": 4096,
    }

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        self.momentum = float(config.momentum)
        self.projector = projection_head(
            encoder.feature_dim,
            config.proj_hidden_dim,
            config.proj_output_dim,
            num_layers=config.proj_layers,
            batch_norm=False,
        )
        self.key_encoder = frozen_copy(encoder)
        self.key_projector = frozen_copy(self.projector)
        self.loss_fn = QueueInfoNCELoss(config.temperature)
        size = int(config.queue_size)
        self.register_buffer("queue", torch.zeros(size, config.proj_output_dim))  # (queue_size, D) unit keys
        self.register_buffer("queue_capacity", torch.tensor(size))  # min(queue_size, number of images)
        self.register_buffer("queue_ptr", torch.tensor(0))  # next row to write
        self.register_buffer("queue_filled", torch.tensor(0))  # rows holding keys
        self.register_buffer("queue_ids", torch.full((size,), -1))  # (queue_size,) image id of each key, -1: unknown
        self.register_load_state_dict_pre_hook(_unknown_queue_ids)
        self._batch_ids: Tensor | None = None  # the next step's image ids (set_batch_indices)
        self._pending: tuple[Tensor, Tensor] | None = None  # this step's keys and ids, queued after the optimizer step

    def set_dataset_size(self, n: int) -> None:
        self.queue_capacity.fill_(max(1, min(self.queue.shape[0], int(n))))

    def set_batch_indices(self, indices: Tensor) -> None:
        """The dataset indices (b,) of the images of the next `step`'s views (this process's slice under torchrun),
        so that no query is scored against a queued key of its own image. Used by that one step only."""
        self._batch_ids = indices.detach().long().flatten()

    def _keys(self, x: Tensor) -> Tensor:
        return self.key_projector(self.key_encoder(x))

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        ids, self._batch_ids = self._batch_ids, None
        if ids is not None and ids.shape != (views[0].shape[0],):
            raise ValueError(f"set_batch_indices got {ids.numel()} indices for a batch of {views[0].shape[0]} images.")
        q1, q2 = self.encode_views(views[:2], lambda x: self.projector(self.encoder(x)))  # (N, D) queries
        with torch.no_grad():
            k1, k2 = self.encode_views(views[:2], self._keys)  # (N, D) keys, no gradient
        filled = int(self.queue_filled)
        queue, queue_ids = self.queue[:filled], self.queue_ids[:filled]  # (K, D), (K,)
        mask = {} if ids is None else {"ids": ids.to(q1.device), "queue_ids": queue_ids}
        loss = 0.5 * (self.loss_fn(q1, k2, queue, **mask) + self.loss_fn(q2, k1, queue, **mask))
        # Every process queues the global keys of both views, with their image ids (-1 when unknown).
        keys = F.normalize(dist.gather(torch.cat([k1, k2]).detach()).float(), dim=1)  # (2N, D), [k1; k2] per rank
        batch_ids = torch.full((k1.shape[0],), -1, device=k1.device) if ids is None else ids.to(k1.device)
        self._pending = (keys, dist.gather(torch.cat([batch_ids, batch_ids])))  # (2N,) in the order of keys
        # InfoNCE bound with N + K candidates per query, in nats.
        mi_bound = math.log(q1.shape[0] * dist.world_size() + queue.shape[0]) - loss.detach()
        pos_sim = 0.5 * (
            F.cosine_similarity(q1.detach().float(), k2.float(), dim=1).mean()
            + F.cosine_similarity(q2.detach().float(), k1.float(), dim=1).mean()
        )
        return StepOutput(loss, {"mi_bound": mi_bound, "pos_sim": pos_sim})

    @torch.no_grad()
    def on_step_end(self, progress: float) -> None:
        ema_update(self.key_encoder, self.encoder, self.momentum)
        ema_update(self.key_projector, self.projector, self.momentum)
        if self._pending is not None:
            self._enqueue(*self._pending)
            self._pending = None

    def _enqueue(self, keys: Tensor, ids: Tensor | None = None) -> None:
        """Write unit keys (M, D) and their image ids (M,) (None: unknown) over the oldest rows of the queue's first
        `queue_capacity` rows (a ring)."""
        capacity = int(self.queue_capacity)
        ids = torch.full((keys.shape[0],), -1, device=keys.device) if ids is None else ids
        keys, ids = keys[-capacity:], ids[-capacity:]
        rows = (int(self.queue_ptr) + torch.arange(keys.shape[0], device=keys.device)) % capacity
        self.queue[rows] = keys.to(self.queue.dtype)
        self.queue_ids[rows] = ids.to(self.queue_ids)
        self.queue_ptr.fill_((int(self.queue_ptr) + keys.shape[0]) % capacity)
        self.queue_filled.fill_(min(int(self.queue_filled) + keys.shape[0], capacity))


def _unknown_queue_ids(module: MoCoV2, state: dict[str, Any], prefix: str, *args: Any) -> None:
    """A checkpoint from before the queue kept image ids: its queued keys have unknown ids (never masked)."""
    if prefix + "queue" in state and prefix + "queue_ids" not in state:
        state[prefix + "queue_ids"] = torch.full((state[prefix + "queue"].shape[0],), -1)
