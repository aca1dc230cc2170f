"""Leaf module: everything SSL Workbench knows about running as several processes under torchrun (lightly's
utils/dist.py, torchtitan's few lines at the top of train.py).

- `setup()` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK), starts the process group (NCCL on CUDA,
  gloo on a CPU) and pins the process's GPU; `device_for(kind)` picks `cuda:LOCAL_RANK`.
- `gather(x)`: the global batch from every process's slice, keeping gradients (an autograd-aware all_gather). A
  loss computed on the gathered batch is the single-process loss; each process's slice then receives the sum over
  processes of that loss's gradient, i.e. `world_size` times the single-process gradient, which
  DistributedDataParallel's average over processes turns back into exactly the single-process parameter gradient
  (the bugs lightly #1528 and #1977 shipped were getting one of these two factors wrong).
- `all_reduce_sum`, `barrier`, `broadcast_object`: the few agreements the loop needs (logged values, stop flag,
  agreed time, the run folder's name).
- `GlobalBatchNorm` / `convert_batchnorm`: BatchNorm over the global batch. torch's SyncBatchNorm on CUDA; on a CPU
  (gloo), where SyncBatchNorm refuses CPU tensors, our own, built on the same autograd-aware gather.
With one process every function is the identity or a no-op, so single-process code pays nothing.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn

TIMEOUT = timedelta(minutes=10)  # a collective waiting this long means a peer is gone; torchrun ends the job first


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def rank() -> int:
    return torch_dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch_dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main_process() -> bool:
    """Only the main process writes run files (metrics, checkpoints, reports) and prints progress."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun started (it sets these variables for every worker)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"))


def setup(device_kind: str) -> None:
    """Join torchrun's process group once (a no-op outside torchrun or when already joined): NCCL when the
    processes train on CUDA GPUs, gloo otherwise. On CUDA the process's GPU is cuda:LOCAL_RANK."""
    if is_distributed() or not launched_by_torchrun():
        return
    cuda = device_kind == "cuda" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    torch_dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)


def teardown() -> None:
    if is_distributed():
        torch_dist.destroy_process_group()


def device_for(device: torch.device) -> torch.device:
    """The process's own device: cuda:LOCAL_RANK under torchrun, `device` itself otherwise."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", local_rank())
    return device


class _Gather(torch.autograd.Function):
    """all_gather whose backward sums each slice's gradient over processes and returns this process's slice.

    Ours rather than torch.distributed.nn.functional.all_gather: that one is deprecated in torch 2.14, and its gloo
    backward (an all-to-all) hands non-contiguous gradients to gloo, which reads them with the wrong strides
    (tests/test_dist.py caught it on the CMC loss)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(world_size())]
        torch_dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        if torch_dist.get_backend() == "nccl":
            out = torch.empty((grad.shape[0] // world_size(), *grad.shape[1:]), dtype=grad.dtype, device=grad.device)
            torch_dist.reduce_scatter_tensor(out, grad)
            return out
        torch_dist.all_reduce(grad)  # gloo has no reduce-scatter: sum everything, keep our slice
        return grad.chunk(world_size())[rank()].contiguous()


def gather(x: torch.Tensor) -> torch.Tensor:
    """(b, ...) from every process -> (world_size * b, ...) in rank order, the gradient flowing back to each slice
    (summed over processes, see the module docstring). Every process must pass the same shape. With one process:
    `x` itself."""
    if world_size() == 1:
        return x
    if not x.requires_grad:
        parts = [torch.empty_like(x) for _ in range(world_size())]
        torch_dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)
    return _Gather.apply(x)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum over processes of a tensor without gradient (logged values, flags); `x` itself with one process."""
    if world_size() == 1:
        return x
    out = x.detach().clone()
    torch_dist.all_reduce(out)
    return out


def barrier() -> None:
    if is_distributed():
        torch_dist.barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's `value` on every process (e.g. the run folder's name, chosen from rank 0's clock)."""
    if not is_distributed():
        return value
    box = [value if rank() == 0 else None]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are over the global batch of every process (gloo or NCCL).

    The same parameters, buffers and state_dict keys as nn.BatchNorm1d/2d/3d, so checkpoints load either way.
    Each process computes its slice's count, mean and sum of squared deviations; these are gathered with gradients
    and combined exactly (Chan et al.'s parallel variance), which is as stable as one pass over the whole batch.
    In eval mode, or with one process, it is plain BatchNorm.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"GlobalBatchNorm expects (N, C, ...) input, got {x.dim()}-D.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float32, device=x.device)
        mean = xf.mean(dims)
        m2 = (xf - mean.view(1, -1, *[1] * (x.dim() - 2))).pow(2).sum(dims)
        parts = gather(torch.cat([count, mean, m2]).unsqueeze(0))  # (W, 1 + 2C)
        c = x.shape[1]
        counts, means, m2s = parts[:, :1], parts[:, 1 : 1 + c], parts[:, 1 + c :]
        total = counts.sum()
        global_mean = (counts * means).sum(0) / total
        global_m2 = (m2s + counts * (means - global_mean).pow(2)).sum(0)
        var = global_m2 / total  # biased, as BatchNorm normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.lerp_(global_mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = (1, -1, *[1] * (x.dim() - 2))
        y = (xf - global_mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm in `module` over the global batch: SyncBatchNorm on CUDA, GlobalBatchNorm elsewhere (in
    place where possible; returns the module). With one process nothing changes."""
    if world_size() == 1:
        return module
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_global_batchnorm(module)


def _to_global_batchnorm(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        bn = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        bn.load_state_dict(module.state_dict())
        bn.train(module.training)
        bn.to(next(module.buffers(), torch.empty(0)).device)
        for p_new, p_old in zip(bn.parameters(), module.parameters(), strict=True):
            p_new.requires_grad_(p_old.requires_grad)
        return bn
    for name, child in module.named_children():
        module.add_module(name, _to_global_batchnorm(child))
    return module
