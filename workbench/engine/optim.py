"""Optimizers by name (SGD, Adam, AdamW, LARS) and the learning-rate schedule (warm-up, then cosine)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from workbench.config import OptimConfig


class LARS(torch.optim.Optimizer):
    """LARS (You et al. 2017) as used by SimCLR and BYOL: SGD with momentum whose step for each weight tensor is
    scaled by the trust ratio eta * ||w|| / ||g + wd * w||. Parameter groups with `lars_exclude=True` (biases and
    normalisation weights) take plain momentum-SGD steps without weight decay, as in the papers.
    """

    def __init__(
        self, params: Iterable, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001
    ):
        if lr <= 0:
            raise ValueError(f"LARS learning rate must be positive, got {lr}.")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars_exclude=False))

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not group["lars_exclude"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(grad)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, torch.ones_like(w_norm)
                    )
                    grad = grad.mul(trust)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.clone()
                else:
                    buf.mul_(group["momentum"]).add_(grad)
                p.add_(buf, alpha=-group["lr"])
        return loss


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer groups from the model's `optimizer_groups()` (a Method's (parameters, lr scale) pairs; any other
    module: all its parameters at scale 1). Within each, biases and normalisation weights (1-d tensors) get no
    weight decay and no LARS adaptation. Parameters with requires_grad=False (EMA targets) are left out, and a
    parameter listed twice is optimised once, in its first group."""
    pairs = model.optimizer_groups() if hasattr(model, "optimizer_groups") else [(list(model.parameters()), 1.0)]
    seen: set[int] = set()
    groups: list[dict] = []
    for params, scale in pairs:
        decay, no_decay = [], []
        for p in params:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                (no_decay if p.ndim <= 1 else decay).append(p)
        groups += [
            {"params": decay, "weight_decay": weight_decay, "lr_scale": float(scale)},
            {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True, "lr_scale": float(scale)},
        ]
    return [g for g in groups if g["params"]]


OPTIMIZER_FACTORIES: dict[str, Callable[[list[dict], OptimConfig], torch.optim.Optimizer]] = {
    "sgd": lambda groups, c: torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum),
    "adam": lambda groups, c: torch.optim.Adam(groups, lr=c.lr),
    "adamw": lambda groups, c: torch.optim.AdamW(groups, lr=c.lr),
    "lars": lambda groups, c: LARS(groups, lr=c.lr, momentum=c.momentum),
}


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    groups = _param_groups(model, config.weight_decay)
    for group in groups:
        group["lr"] = config.lr * group["lr_scale"]
        if config.name != "lars":
            group.pop("lars_exclude", None)
    return OPTIMIZER_FACTORIES[config.name](groups, config)


def lr_at(config: OptimConfig, progress: float) -> float:
    """Learning rate at `progress` in (0, 1], the fraction of the run done after this step (steps or time budget,
    whichever is further), so a time-budgeted run still warms up and ends its cosine inside its budget.

    Linear warm-up over the first `warmup_fraction` of the run, then the schedule over the rest.
    """
    progress = min(max(progress, 0.0), 1.0)
    if progress < config.warmup_fraction:
        return config.lr * progress / config.warmup_fraction
    if config.schedule == "constant":
        return config.lr
    rest = (progress - config.warmup_fraction) / (1.0 - config.warmup_fraction)
    floor = config.lr * config.final_lr_fraction
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * rest))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the scheduled learning rate, times each group's `lr_scale` (Method.optimizer_groups)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
