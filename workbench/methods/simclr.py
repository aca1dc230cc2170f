"""SimCLR (Chen et al. 2020): an MLP projection head and the NT-Xent loss over two views."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from workbench import dist
from workbench.config import MethodConfig
from workbench.losses import NTXentLoss
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder, projection_head


@register_method
class SimCLR(Method):
    name = "simclr"
    description = "SimCLR: pull two views of an image together, push the other images away (NT-Xent)."
    n_views = 2
    contrastive = True
    # The measured default recipe (README): tau 0.1 (the paper's range is 0.1-0.5), a 512 -> 128 two-layer head.
    hyperparameters = {"temperature": 0.1, "proj_hidden_dim": 512, "proj_output_dim": 128, "proj_layers": 2}

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        self.projector = projection_head(
            encoder.feature_dim, config.proj_hidden_dim, config.proj_output_dim, num_layers=config.proj_layers
        )
        self.loss_fn = NTXentLoss(config.temperature)

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        z0, z1 = self.encode_views(views[:2], lambda x: self.projector(self.encoder(x)))  # (N, proj_output_dim)
        loss = self.loss_fn(z0, z1)
        n = z0.shape[0] * dist.world_size()  # the global batch the loss saw
        # InfoNCE bound (seed section 4.2; Oord et al. 2018): I(v0; v1) >= log(2N - 1) - loss, in nats.
        mi_bound = math.log(2 * n - 1) - loss.detach()
        pos_sim = F.cosine_similarity(z0.detach().float(), z1.detach().float(), dim=1).mean()
        return StepOutput(loss, {"mi_bound": mi_bound, "pos_sim": pos_sim})
