"""MoCo's queue InfoNCE against a direct float64 transcription of the paper's eq. (1)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.losses import QueueInfoNCELoss


def moco_direct(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float) -> float:
    """L_n = -log exp(q_n . k_n / tau) / (sum_m exp(q_n . k_m / tau) + sum_j exp(q_n . queue_j / tau)), with q and k
    L2-normalised (MoCo eq. (1), candidates: the positive, the batch's other keys and the queue)."""
    qs = [v / v.norm() for v in q.double()]
    ks = [v / v.norm() for v in k.double()]
    bank = list(queue.double())
    total = 0.0
    for n, qn in enumerate(qs):
        denominator = sum(math.exp(float(qn @ c) / tau) for c in ks + bank)
        total += -math.log(math.exp(float(qn @ ks[n]) / tau) / denominator)
    return total / len(qs)


@pytest.mark.parametrize("n", [2, 6])
@pytest.mark.parametrize("queue_len", [0, 1, 9])
@pytest.mark.parametrize("tau", [0.07, 0.2])
def test_matches_direct_formula(n: int, queue_len: int, tau: float) -> None:
    g = torch.Generator().manual_seed(n * 100 + queue_len)
    q, k = torch.randn(n, 8, generator=g), torch.randn(n, 8, generator=g)
    queue = F.normalize(torch.randn(queue_len, 8, generator=g), dim=1)
    assert QueueInfoNCELoss(tau)(q, k, queue).item() == pytest.approx(moco_direct(q, k, queue, tau), rel=1e-5)


def test_no_queue_equals_empty_queue_and_default_temperature() -> None:
    q, k = torch.randn(4, 8), torch.randn(4, 8)
    loss = QueueInfoNCELoss()
    assert loss.temperature == 0.2
    assert loss(q, k).item() == pytest.approx(loss(q, k, torch.zeros(0, 8)).item())


def test_equal_embeddings_give_log_n_plus_k() -> None:
    z = torch.ones(4, 3)
    queue = F.normalize(torch.ones(5, 3), dim=1)
    assert QueueInfoNCELoss(0.1)(z, z, queue).item() == pytest.approx(math.log(9), rel=1e-5)


def test_gradients_flow_to_queries_only_through_the_loss() -> None:
    q = torch.randn(4, 8, requires_grad=True)
    queue = torch.randn(6, 8, requires_grad=True)
    QueueInfoNCELoss()(q, torch.randn(4, 8), queue).backward()
    assert q.grad.abs().sum() > 0 and queue.grad is None


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="same"):
        QueueInfoNCELoss()(torch.randn(4, 8), torch.randn(3, 8))
    with pytest.raises(ValueError, match="queue"):
        QueueInfoNCELoss()(torch.randn(4, 8), torch.randn(4, 8), torch.randn(5, 7))
