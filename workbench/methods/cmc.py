"""Contrastive multiview coding, CMC (Tian, Krishnan, Isola 2020; the seed article's section 4.1.2): V augmented
views of each image and an InfoNCE term for every ordered pair of views.

CMC's views were different modalities (e.g. the L and ab channels of Lab colour) with one encoder per view. Here the
views are V independent augmentations of the same RGB image, so one shared encoder and one projection head serve
every view (separate encoders would only be needed for inputs of different kinds); the loss is CMC's full graph.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench import dist
from workbench.config import MethodConfig
from workbench.losses import MultiViewInfoNCELoss
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder, projection_head


@register_method
class CMC(Method):
    name = "cmc"
    description = "CMC: V augmented views per image; every view must find the same image's other views (InfoNCE)."
    contrastive = True
    # tau 0.07: CMC's. views 4: the seed's "multiple views", at about 2x the compute per image of 2 views; in the same
    # 150 s on 32 px Fashion-MNIST, 4 views reached kNN 0.734 and 2 views 0.725 (untrained 0.703). CMC's head was
    # linear; the MLP (SimCLR, MoCo v2) is better and is this workbench's default recipe.
    hyperparameters: ClassVar[dict[str, Any]] = {
        "temperature": 0.07,
        "proj_hidden_dim": 512,
        "proj_output_dim": 128,
        "proj_layers": 2,
        "views": 4,
    }

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        if int(config.views) < 2:
            raise ValueError(f"CMC needs at least 2 views, got {config.views}.")
        self.n_views = int(config.views)
        self.projector = projection_head(
            encoder.feature_dim, config.proj_hidden_dim, config.proj_output_dim, num_layers=config.proj_layers
        )
        self.loss_fn = MultiViewInfoNCELoss(config.temperature)

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        z = self.encode_views(views[: self.n_views], lambda x: self.projector(self.encoder(x)))  # V x (N, out)
        loss = self.loss_fn(z)
        # Each term is an InfoNCE with N candidates: I(v_i; v_j) >= log(N) - L(i, j), in nats (mean over pairs).
        mi_bound = math.log(z[0].shape[0] * dist.world_size()) - loss.detach()
        unit = F.normalize(torch.stack([v.detach().float() for v in z]), dim=2)  # (V, N, D)
        gram = torch.einsum("ind,jnd->ijn", unit, unit).mean(dim=2)  # (V, V) mean cosine of views i, j of an image
        pos_sim = (gram.sum() - gram.diagonal().sum()) / (self.n_views * (self.n_views - 1))
        return StepOutput(loss, {"mi_bound": mi_bound, "pos_sim": pos_sim})
