"""SimSiam (Chen and He 2021, "Exploring Simple Siamese Representation Learning"): a predictor on one branch, a
stop-gradient on the other, negative cosine similarity; no negatives and no momentum encoder."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.config import MethodConfig
from workbench.losses import NegativeCosineSimilarity
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder, prediction_head, projection_head


@register_method
class SimSiam(Method):
    name = "simsiam"
    description = "SimSiam: predict one view's projection from the other's, with a stop-gradient; no negatives."
    n_views = 2
    # The paper's CIFAR setting: a 2-layer projector with BN on its output (dim 2048) and a bottleneck predictor
    # (2048 -> 512 -> 2048). Here 1024 wide with a 256 bottleneck (the same 4:1 ratio) for small CPU runs.
    hyperparameters: ClassVar[dict[str, Any]] = {
        "proj_hidden_dim": 1024,
        "proj_output_dim": 1024,
        "proj_layers": 2,
        "pred_hidden_dim": 256,
    }

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        self.projector = projection_head(
            encoder.feature_dim,
            config.proj_hidden_dim,
            config.proj_output_dim,
            num_layers=config.proj_layers,
            last_batch_norm=True,
        )
        self.predictor = prediction_head(config.proj_output_dim, config.pred_hidden_dim, config.proj_output_dim)
        self.loss_fn = NegativeCosineSimilarity()

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        z1, z2 = self.encode_views(views[:2], lambda x: self.projector(self.encoder(x)))  # (N, D)
        p1, p2 = self.predictor(torch.cat([z1, z2])).chunk(2)  # one pass: BN sees both views
        # The paper's eq. (2): D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2, in [-1, 1].
        loss = 0.5 * (self.loss_fn(p1, z2.detach()) + self.loss_fn(p2, z1.detach()))
        # Collapse indicator (the paper's Fig. 2): std over the batch of the L2-normalised projection, averaged over
        # dimensions; about 1 / sqrt(D) when healthy, 0 when every image maps to the same vector.
        z_std = F.normalize(z1.detach().float(), dim=1).std(dim=0).mean()
        return StepOutput(loss, {"z_std": z_std})
