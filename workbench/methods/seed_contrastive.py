"""The seed article's method (section 5): its encoder's fc2 (256 -> 128) as the head and its one-directional
contrastive loss, made stable (see `SeedContrastiveLoss`)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from workbench import dist
from workbench.config import MethodConfig
from workbench.losses import SeedContrastiveLoss
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder, MLPHead


@register_method
class SeedContrastive(Method):
    name = "seed-contrastive"
    description = "The seed article's contrastive method: view 1 must find its pair among view 2 (InfoNCE)."
    n_views = 2
    contrastive = True
    # proj_layers 1 is the seed's fc2 (256 -> 128); tau 0.1 as measured for SimCLR here (the seed used 0.5).
    hyperparameters = {"temperature": 0.1, "proj_hidden_dim": 512, "proj_output_dim": 128, "proj_layers": 2}

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        if config.proj_layers == 1:  # the seed's fc2: one Linear, 256 -> 128
            self.projector: nn.Module = nn.Linear(encoder.feature_dim, config.proj_output_dim)
        else:
            self.projector = MLPHead(
                encoder.feature_dim, config.proj_hidden_dim, config.proj_output_dim, num_layers=config.proj_layers
            )
        self.loss_fn = SeedContrastiveLoss(config.temperature)

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        z1, z2 = self.encode_views(views[:2], lambda x: self.projector(self.encoder(x)))  # (N, proj_output_dim)
        loss = self.loss_fn(z1, z2)
        # InfoNCE bound with N candidates per anchor: I(v1; v2) >= log(N) - loss, in nats.
        mi_bound = math.log(z1.shape[0] * dist.world_size()) - loss.detach()
        pos_sim = F.cosine_similarity(z1.detach().float(), z2.detach().float(), dim=1).mean()
        return StepOutput(loss, {"mi_bound": mi_bound, "pos_sim": pos_sim})
