"""The few distributed helpers the engine needs (lightly's utils/dist.py): rank, world size, rank-zero writes.

Single-process runs see rank 0 of 1, so every call is cheap and correct without torch.distributed set up.
"""

from __future__ import annotations

import torch
import torch.distributed as torch_dist


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def rank() -> int:
    return torch_dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch_dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Only the main process writes run files (metrics, checkpoints, reports)."""
    return rank() == 0


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor):  # type: ignore[override]
        out = [torch.zeros_like(x) for _ in range(world_size())]
        torch_dist.all_gather(out, x)
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):  # type: ignore[override]
        stacked = torch.stack(grads)
        torch_dist.all_reduce(stacked)
        return stacked[rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` (B, ...) from every process along dim 0, keeping gradients for the local part.

    Contrastive losses use this to see negatives from all GPUs; with one process it returns `x` unchanged.
    """
    if world_size() == 1:
        return x
    return torch.cat(_GatherWithGrad.apply(x), dim=0)
