"""MoCo's queue InfoNCE against a direct float64 formula: the paper's eq. (1) (the positive against the queue), with the
batch's other keys as negatives too (this project's design, not the paper's eq. (1); see QueueInfoNCELoss), and the
queued keys of a query's own image removed from its candidates."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.losses import QueueInfoNCELoss


def moco_direct(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor,
    tau: float,
    ids: list[int] | None = None,
    queue_ids: list[int] | None = None,
) -> float:
    """L_n = -log exp(q_n . k_n / tau) / (sum_m exp(q_n . k_m / tau) + sum_j exp(q_n . queue_j / tau)), with q and k
    L2-normalised. The paper's eq. (1) has the positive and the queue as candidates; the sum over the batch's other
    keys k_m (m != n) is this project's design (MoCo v3 does the same), not eq. (1). With ids, the sum over j skips
    the queued keys of the query's own image (queue_ids[j] == ids[n]; -1 is never skipped)."""
    qs = [v / v.norm() for v in q.double()]
    ks = [v / v.norm() for v in k.double()]
    bank = list(queue.double())
    total = 0.0
    for n, qn in enumerate(qs):
        negatives = [c for j, c in enumerate(bank) if ids is None or queue_ids[j] < 0 or queue_ids[j] != ids[n]]
        denominator = sum(math.exp(float(qn @ c) / tau) for c in ks + negatives)
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


@pytest.mark.parametrize("n", [2, 6])
@pytest.mark.parametrize("tau", [0.07, 0.2])
def test_masks_the_queued_keys_of_each_querys_own_image(n: int, tau: float) -> None:
    g = torch.Generator().manual_seed(n)
    q, k = torch.randn(n, 8, generator=g), torch.randn(n, 8, generator=g)
    queue = F.normalize(torch.randn(9, 8, generator=g), dim=1)
    ids = [3 * i for i in range(n)]
    queue_ids = [0, 3, -1, 3, 7, 0, -1, 15, 100]  # images 0 and 3 twice, unknown ids (-1), others
    queue[1] = F.normalize(k[1], dim=0)  # an old key of query 1's own image, identical to its positive
    got = QueueInfoNCELoss(tau)(q, k, queue, torch.tensor(ids), torch.tensor(queue_ids)).item()
    assert got == pytest.approx(moco_direct(q, k, queue, tau, ids, queue_ids), rel=1e-5)
    assert got != pytest.approx(moco_direct(q, k, queue, tau), rel=1e-3)  # the mask removed something


def test_masking_keeps_gradients_finite() -> None:
    q = torch.randn(2, 8, requires_grad=True)
    queue = F.normalize(torch.randn(3, 8), dim=1)
    QueueInfoNCELoss()(q, torch.randn(2, 8), queue, torch.tensor([0, 1]), torch.tensor([0, 0, 1])).backward()
    assert torch.isfinite(q.grad).all()


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
    with pytest.raises(ValueError, match="both"):
        QueueInfoNCELoss()(torch.randn(4, 8), torch.randn(4, 8), torch.randn(5, 8), ids=torch.arange(4))
    with pytest.raises(ValueError, match="one image id per query"):
        QueueInfoNCELoss()(torch.randn(4, 8), torch.randn(4, 8), torch.randn(5, 8), torch.arange(3), torch.arange(5))
    with pytest.raises(ValueError, match="one image id per queued key"):
        QueueInfoNCELoss()(torch.randn(4, 8), torch.randn(4, 8), torch.randn(5, 8), torch.arange(4), torch.arange(4))
