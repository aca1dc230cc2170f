"""Small composable MLP heads (projection and prediction), as in lightly's `models/modules/heads.py`.

Methods compose these rather than inherit them: SimCLR puts a `projection_head` on the encoder, BYOL and
SimSiam add a `prediction_head` on top of that.
"""

from __future__ import annotations

from torch import Tensor, nn


class MLPHead(nn.Module):
    """(B, in_dim) -> (B, out_dim) through `num_layers` Linear layers.

    Every hidden layer is Linear -> BatchNorm1d (when `batch_norm`) -> ReLU of width `hidden_dim`; the last is a
    plain Linear, followed by a BatchNorm1d when `last_batch_norm` (SimSiam's projector, Barlow Twins). With
    `num_layers == 1` the head is one Linear (in_dim -> out_dim) and `hidden_dim` is unused. Linear layers
    followed by BN have no bias (the BN shift replaces it).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        batch_norm: bool = True,
        last_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        for value, label in ((in_dim, "in_dim"), (hidden_dim, "hidden_dim"), (out_dim, "out_dim")):
            if value < 1:
                raise ValueError(f"MLPHead {label} must be positive, got {value}.")
        if num_layers < 1:
            raise ValueError(f"MLPHead num_layers must be at least 1, got {num_layers}.")
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            dim = hidden_dim
        layers.append(nn.Linear(dim, out_dim, bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(out_dim))
        self.layers = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def projection_head(
    in_dim: int,
    hidden_dim: int = 2048,
    out_dim: int = 128,
    num_layers: int = 2,
    batch_norm: bool = True,
    last_batch_norm: bool = False,
) -> MLPHead:
    """SimCLR's projector g(.) (Chen et al. 2020): Linear-BN-ReLU-Linear to a 128-d space where the loss is taken."""
    return MLPHead(in_dim, hidden_dim, out_dim, num_layers, batch_norm, last_batch_norm)


def prediction_head(in_dim: int = 256, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 2) -> MLPHead:
    """BYOL's predictor q(.) (Grill et al. 2020): 256 -> 4096 (BN, ReLU) -> 256 on top of the projection."""
    return MLPHead(in_dim, hidden_dim, out_dim, num_layers, batch_norm=True, last_batch_norm=False)
