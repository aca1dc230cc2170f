"""MLP heads: layer structure per the SimCLR/BYOL recipes, shapes and argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workbench.models import MLPHead, prediction_head, projection_head


def _kinds(head: MLPHead) -> list[type]:
    return [type(m) for m in head.layers]


def test_two_layer_head_is_linear_bn_relu_linear() -> None:
    head = MLPHead(16, 32, 8)
    assert _kinds(head) == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert head(torch.randn(4, 16)).shape == (4, 8)


def test_options_change_the_layers() -> None:
    assert _kinds(MLPHead(16, 32, 8, num_layers=1)) == [nn.Linear]
    assert _kinds(MLPHead(16, 32, 8, num_layers=3, batch_norm=False)) == [nn.Linear, nn.ReLU] * 2 + [nn.Linear]
    assert _kinds(MLPHead(16, 32, 8, last_batch_norm=True))[-1] is nn.BatchNorm1d


def test_helpers_use_paper_defaults() -> None:
    proj = projection_head(512)
    assert (proj.in_dim, proj.out_dim) == (512, 128)
    pred = prediction_head()
    assert (pred.in_dim, pred.out_dim) == (256, 256)
    assert pred.layers[0].out_features == 4096


@pytest.mark.parametrize(("kwargs", "field"), [({"num_layers": 0}, "num_layers"), ({"out_dim": 0}, "out_dim")])
def test_rejects_bad_sizes(kwargs: dict, field: str) -> None:
    args = {"in_dim": 8, "hidden_dim": 8, "out_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=field):
        MLPHead(**args)
