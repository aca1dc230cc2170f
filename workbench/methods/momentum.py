"""Momentum (EMA) target networks, shared by BYOL and MoCo.

A target is a frozen deep copy of online modules (requires_grad=False, so it is saved in the state_dict and never
optimised) that follows them by an exponential moving average after every optimizer step:
    target <- m * target + (1 - m) * online.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of `module` with every parameter's requires_grad off (the target starts equal to the online)."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target.param <- momentum * target.param + (1 - momentum) * online.param, for every parameter.

    Buffers (BatchNorm running statistics) are not averaged: the target keeps the statistics of its own forward
    passes, as in the BYOL and MoCo code.
    """
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.lerp_(o.detach(), 1.0 - momentum)


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's schedule (Grill et al. 2020, section 3.2): 1 - (1 - base) (cos(pi * progress) + 1) / 2, from `base` at
    the start of training to 1 at its end; `progress` in [0, 1]."""
    progress = min(max(progress, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
