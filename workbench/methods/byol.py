"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network with a predictor learns to predict a
slowly moving (EMA) target network's projection of another view; no negatives.

The target (encoder + projector) is a frozen copy updated after every optimizer step with the cosine momentum
schedule, from `momentum` to 1 over the run (fit() passes the run's progress).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.config import MethodConfig
from workbench.methods.base import Method, StepOutput, register_method
from workbench.methods.momentum import cosine_momentum, ema_update, frozen_copy
from workbench.models import Encoder, prediction_head, projection_head


def byol_loss(p: Tensor, z: Tensor) -> Tensor:
    """BYOL's eq. (2): ||p / ||p|| - z / ||z|| ||^2 = 2 - 2 cos(p, z), averaged over the batch; (N, D) -> scalar."""
    with torch.autocast(device_type=p.device.type, enabled=False):
        return (2 - 2 * F.cosine_similarity(p.float(), z.float(), dim=1)).mean()


@register_method
class BYOL(Method):
    name = "byol"
    description = "BYOL: predict a momentum (EMA) target network's projection of the other view; no negatives."
    n_views = 2
    # The paper: projector 4096 -> 256, predictor 4096, momentum 0.996 for 1000 epochs of ImageNet. Small images and
    # short CPU runs: 1024-wide MLPs and momentum 0.99 (far fewer steps), still scheduled to 1.
    hyperparameters: ClassVar[dict[str, Any]] = {
        "proj_hidden_dim": 1024,
        "proj_output_dim": 256,
        "proj_layers": 2,
        "pred_hidden_dim": 1024,
        "momentum": 0.99,
    }

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        self.base_momentum = float(config.momentum)
        self.projector = projection_head(
            encoder.feature_dim, config.proj_hidden_dim, config.proj_output_dim, num_layers=config.proj_layers
        )
        self.predictor = prediction_head(config.proj_output_dim, config.pred_hidden_dim, config.proj_output_dim)
        self.target_encoder = frozen_copy(encoder)
        self.target_projector = frozen_copy(self.projector)

    def _target(self, x: Tensor) -> Tensor:
        return self.target_projector(self.target_encoder(x))

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        p1, p2 = self.encode_views(views[:2], lambda x: self.predictor(self.projector(self.encoder(x))))
        with torch.no_grad():
            z1, z2 = self.encode_views(views[:2], self._target)  # (N, D), the targets (no gradient)
        # The paper's symmetrised loss L + L~, in [0, 8]: each view's prediction of the other view's target.
        loss = byol_loss(p1, z2) + byol_loss(p2, z1)
        return StepOutput(loss)

    @torch.no_grad()
    def on_step_end(self, progress: float) -> None:
        momentum = cosine_momentum(self.base_momentum, progress)
        ema_update(self.target_encoder, self.encoder, momentum)
        ema_update(self.target_projector, self.projector, momentum)
