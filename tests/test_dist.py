"""Distributed code is proven against one process (STYLE.md): two gloo processes on the CPU, each holding half of
a batch, must give the single-process loss of the whole batch, and gradients that DistributedDataParallel's average
turns into the single-process gradients.

The two processes (torch.multiprocessing, spawned once for the whole module) run every check and save what they
computed; the test functions compare it with single-process values computed here, on the concatenated batch.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from torch import nn

from workbench import dist
from workbench.losses import (
    BarlowTwinsLoss,
    MultiViewInfoNCELoss,
    NegativeCosineSimilarity,
    NTXentLoss,
    QueueInfoNCELoss,
    SeedContrastiveLoss,
    VICRegLoss,
)

WORLD = 2
N, D = 12, 6  # the global batch; each process holds N / WORLD rows
TOL = 1e-5


def losses() -> dict[str, tuple[nn.Module, int, bool]]:
    """name -> (loss, number of (N, D) inputs, takes a queue)."""
    return {
        "ntxent": (NTXentLoss(0.5), 2, False),
        "ntxent-low-temperature": (NTXentLoss(0.1), 2, False),
        "seed-contrastive": (SeedContrastiveLoss(0.5), 2, False),
        "cmc-3-views": (MultiViewInfoNCELoss(0.07), 3, False),
        "moco-queue": (QueueInfoNCELoss(0.2), 2, True),
        "barlow-twins": (BarlowTwinsLoss(5e-3), 2, False),
        "vicreg": (VICRegLoss(), 2, False),
        "negative-cosine": (NegativeCosineSimilarity(), 2, False),  # per-sample: no gathering needed
    }


def inputs(name: str, count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))  # the same in every process
    return [torch.randn(N, D, generator=generator) for _ in range(count)]


QUEUE = torch.nn.functional.normalize(torch.randn(7, D, generator=torch.Generator().manual_seed(3)), dim=1)


def call(loss: nn.Module, zs: list[torch.Tensor], queue: bool, multi: bool) -> torch.Tensor:
    if multi:
        return loss(zs)
    return loss(*zs, QUEUE) if queue else loss(*zs)


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 5 * 5, 8),
        nn.BatchNorm1d(8),
    )


def images() -> torch.Tensor:
    return torch.randn(2 * N, 3, 5, 5, generator=torch.Generator().manual_seed(7))  # two views of N images


def _worker(rank: int, store: str, out: str) -> None:
    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        rows = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        results: dict[str, object] = {}
        for name, (loss, count, queue) in losses().items():
            local = [z[rows].clone().requires_grad_(True) for z in inputs(name, count)]
            value = call(loss, local, queue, isinstance(loss, MultiViewInfoNCELoss))
            value.backward()
            reduced = dist.all_reduce_sum(value.detach()) / WORLD  # what the engine logs
            results[name] = (reduced, [z.grad for z in local])

        # A model with BatchNorm, converted and wrapped as the engine does, trained by NT-Xent on two views.
        model = dist.convert_batchnorm(small_model(), torch.device("cpu"))
        ddp = nn.parallel.DistributedDataParallel(model)
        x = images()
        local_views = torch.cat([x[:N][rows], x[N:][rows]])  # the slice's two views, in one forward like encode_views
        z = ddp(local_views)
        loss = NTXentLoss(0.5)(*z.chunk(2))
        loss.backward()
        grads = {k: p.grad for k, p in model.named_parameters()}
        buffers = {k: b for k, b in model.named_buffers()}
        results["model"] = (loss.detach(), grads, buffers)
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("dist")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(str(folder / "store"), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.mark.parametrize("name", list(losses()))
def test_each_loss_on_two_processes_equals_one_process(ranks, name):
    loss, count, queue = losses()[name]
    full = [z.clone().requires_grad_(True) for z in inputs(name, count)]
    expected = call(loss, full, queue, isinstance(loss, MultiViewInfoNCELoss))
    expected.backward()
    for rank, result in enumerate(ranks):
        value, grads = result[name]
        assert torch.allclose(value, expected.detach(), atol=TOL, rtol=TOL), (rank, value, expected)
        rows = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        for got, z in zip(grads, full, strict=True):
            # Each slice carries WORLD x the single-process gradient; DDP divides parameter gradients by WORLD.
            assert torch.allclose(got / WORLD, z.grad[rows], atol=TOL, rtol=1e-4), (rank, got / WORLD, z.grad[rows])


def test_a_ddp_model_with_global_batchnorm_gets_the_single_process_gradients(ranks):
    model = small_model()
    x = images()
    z = model(x)
    expected = NTXentLoss(0.5)(*z.chunk(2))
    expected.backward()
    for rank, result in enumerate(ranks):
        value, grads, buffers = result["model"]
        assert torch.allclose(value, expected.detach(), atol=TOL), rank
        for name, p in model.named_parameters():
            assert torch.allclose(grads[name], p.grad, atol=TOL, rtol=1e-4), (rank, name)
        for name, b in model.named_buffers():  # running statistics over the global batch, the same everywhere
            assert torch.allclose(buffers[name].float(), b.float(), atol=TOL, rtol=1e-4), (rank, name)


def test_with_one_process_everything_is_the_identity():
    x = torch.randn(4, 3, requires_grad=True)
    assert dist.gather(x) is x
    bn = nn.BatchNorm1d(3)
    assert dist.convert_batchnorm(bn, torch.device("cpu")) is bn
    assert dist.world_size() == 1 and dist.is_main_process() and dist.broadcast_object("a") == "a"


def test_global_batchnorm_alone_is_plain_batchnorm():
    """Its state_dict keys and values are BatchNorm's, so a checkpoint loads either way; on one process it computes
    exactly what BatchNorm does."""
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(4)
    converted = dist._to_global_batchnorm(nn.Sequential(nn.BatchNorm2d(4)))[0]
    assert isinstance(converted, dist.GlobalBatchNorm)
    converted.load_state_dict(plain.state_dict())
    x = torch.randn(6, 4, 3, 3)
    assert torch.equal(converted(x), plain(x))
    assert set(converted.state_dict()) == set(plain.state_dict())
