"""MoCo v2: the symmetrised queue InfoNCE against a direct formula, the momentum key encoder, the queue (a ring capped
at the dataset size, both views' keys, each with its image id), no query scored against a queued key of its own image,
and a bit-exact resume of keys and queue through fit()."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.engine.test_fit import tiny_config
from workbench.config import MethodConfig
from workbench.engine.fit import fit
from workbench.methods import create_method
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = dict(proj_hidden_dim=32, proj_output_dim=16)


def build(**config):
    torch.manual_seed(0)
    encoder = create_encoder("small-cnn", image_size=16)
    return create_method("moco-v2", encoder, MethodConfig(name="moco-v2", **{**SMALL, **config}))


def views(n: int = 6, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]


def info_nce_direct(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float) -> torch.Tensor:
    """eq. (1) per query n: -log exp(q.k_n / tau) / sum over [batch keys; queue] of exp(q.c / tau), unit q and k."""
    q, k = F.normalize(q.double(), dim=1), F.normalize(k.double(), dim=1)
    candidates = torch.cat([k, queue.double()])
    numerator = torch.exp((q * k).sum(1) / tau)
    denominator = torch.exp(q @ candidates.T / tau).sum(1)
    return -torch.log(numerator / denominator).mean()


def test_defaults() -> None:
    method = create_method("moco-v2", create_encoder("small-cnn", image_size=16), MethodConfig(name="moco-v2"))
    assert method.loss_fn.temperature == 0.2 and method.momentum == 0.99
    assert method.queue.shape == (4096, 128)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in method.projector.modules())  # MoCo v2's MLP


def test_loss_matches_the_symmetrised_formula_and_keys_are_queued_after_the_step() -> None:
    method = build(queue_size=10).eval()
    v1, v2 = views()
    out = method.step([v1, v2])
    with torch.no_grad():
        q1, q2 = (method.projector(method.encoder(v)) for v in (v1, v2))
        k1, k2 = (method.key_projector(method.key_encoder(v)) for v in (v1, v2))
    empty = torch.zeros(0, 16)
    expected = 0.5 * (info_nce_direct(q1, k2, empty, 0.2) + info_nce_direct(q2, k1, empty, 0.2))
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert int(method.queue_filled) == 0  # nothing is queued before the optimizer step
    method.on_step_end(0.1)
    assert int(method.queue_filled) == 10  # both views' 12 keys, the ring keeping the last 10: k1[2:], k2
    torch.testing.assert_close(method.queue[:10], F.normalize(torch.cat([k1, k2]), dim=1)[2:])
    assert (method.queue_ids == -1).all()  # no set_batch_indices: the ids are unknown

    # the second step's negatives include the queued keys
    v3, v4 = views(seed=1)
    out = method.step([v3, v4])
    with torch.no_grad():
        q3, q4 = (method.projector(method.encoder(v)) for v in (v3, v4))
        k3, k4 = (method.key_projector(method.key_encoder(v)) for v in (v3, v4))
    queue = method.queue[:10]
    expected = 0.5 * (info_nce_direct(q3, k4, queue, 0.2) + info_nce_direct(q4, k3, queue, 0.2))
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_queue_is_a_ring_capped_at_the_dataset_size() -> None:
    method = build(queue_size=100)
    method.set_dataset_size(10)
    assert int(method.queue_capacity) == 10
    keys = [F.normalize(torch.randn(4, 16), dim=1) for _ in range(3)]
    for i, k in enumerate(keys):
        method._enqueue(k, torch.arange(4) + 10 * i)
    assert int(method.queue_filled) == 10 and int(method.queue_ptr) == 2
    torch.testing.assert_close(method.queue[:2], keys[2][2:])  # the oldest rows were overwritten
    torch.testing.assert_close(method.queue[2:4], keys[0][2:])
    torch.testing.assert_close(method.queue[4:10], torch.cat(keys[1:])[:6])
    assert method.queue_ids[:10].tolist() == [22, 23, 2, 3, 10, 11, 12, 13, 20, 21]  # each key keeps its image id
    assert method.queue[10:].abs().sum() == 0  # rows past the capacity are never used
    method.set_dataset_size(10_000)
    assert int(method.queue_capacity) == 100


def test_no_query_is_scored_against_a_queued_key_of_its_own_image() -> None:
    """Six images, batches of two, four epochs in a fresh shuffle each: the queue (capped at the dataset size) fills
    in the first epoch and from then on holds keys of the batch's own images. Each step's loss must equal the
    symmetrised InfoNCE whose queue candidates for a query are only the queued keys of OTHER images, with the queue
    modelled here independently as the last 6 of every (key, image id) queued, view 1's keys before view 2's."""
    method = build(queue_size=100).eval()  # eval: BatchNorm's running statistics, so a key depends on its image alone
    method.set_dataset_size(6)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(6, 3, 16, 16, generator=g)
    noise = torch.randn(6, 3, 16, 16, generator=g)
    queued: list[tuple[torch.Tensor, int]] = []  # every (unit key, image id) in the order it was queued
    own_keys_seen = 0

    def direct(q: torch.Tensor, k: torch.Tensor, ids: list[int], bank: list[tuple[torch.Tensor, int]]) -> float:
        total = 0.0
        for n, (qn, i) in enumerate(zip(F.normalize(q.double(), dim=1), ids, strict=True)):
            others = [key.double() for key, j in bank if j != i]
            logits = [float(qn @ c) / 0.2 for c in list(F.normalize(k.double(), dim=1)) + others]
            total += -(logits[n] - math.log(sum(math.exp(v) for v in logits)))
        return total / len(ids)

    for epoch in range(4):
        for batch in torch.randperm(6, generator=g).split(2):
            v1, v2 = images[batch], images[batch] + 0.1 * noise[batch]
            bank = queued[-6:]
            own_keys_seen += sum(j in batch.tolist() for _, j in bank)
            method.set_batch_indices(batch)
            out = method.step([v1, v2])
            with torch.no_grad():
                q1, q2 = (method.projector(method.encoder(v)) for v in (v1, v2))
                k1, k2 = (method.key_projector(method.key_encoder(v)) for v in (v1, v2))
            ids = batch.tolist()
            expected = 0.5 * (direct(q1, k2, ids, bank) + direct(q2, k1, ids, bank))
            assert out.loss.item() == pytest.approx(expected, rel=1e-5), f"epoch {epoch}, images {ids}"
            method.on_step_end(0.5)
            queued += [(key, i) for key, i in zip(F.normalize(torch.cat([k1, k2]), dim=1), ids + ids, strict=True)]
    assert own_keys_seen > 0  # the queue did hold the batch's own images' keys, so the mask was exercised
    held = {int(i) for i in method.queue_ids[: int(method.queue_filled)]}
    assert held == {i for _, i in queued[-6:]}


def test_batch_indices_must_match_the_batch() -> None:
    method = build(queue_size=10)
    method.set_batch_indices(torch.arange(5))
    with pytest.raises(ValueError, match="5 indices for a batch of 6"):
        method.step(views())


def test_a_checkpoint_without_queue_ids_loads_with_unknown_ids() -> None:
    method = build(queue_size=10)
    state = {k: v for k, v in method.state_dict().items() if k != "queue_ids"}
    method.queue_ids.fill_(3)
    method.load_state_dict(state)
    assert (method.queue_ids == -1).all()


def test_key_encoder_is_frozen_and_follows_by_ema() -> None:
    method = build(momentum=0.9)
    assert not any(p.requires_grad for p in method.key_encoder.parameters())
    assert not any(p.requires_grad for p in method.key_projector.parameters())
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    before = [p.clone() for p in method.key_encoder.parameters()]
    method.on_step_end(0.5)  # constant momentum, whatever the progress
    for k0, k, q in zip(before, method.key_encoder.parameters(), method.encoder.parameters(), strict=True):
        torch.testing.assert_close(k, 0.9 * k0 + 0.1 * q)


def test_fit_caps_the_queue_and_tells_the_method_each_keys_image(image_folder, tmp_path) -> None:
    """(Bit-exact resume of every method, MoCo included, is tests/engine/test_resume.py.)"""
    config = tiny_config(image_folder, max_steps=5, monitor_every_epochs=0)
    config.method = MethodConfig(name="moco-v2", **SMALL)
    fit(config, tmp_path / "run")
    a = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    assert int(a["queue_capacity"]) == 16  # 16 images, although queue_size is 4096
    assert int(a["queue_filled"]) == 16 and int(a["queue_ptr"]) == (5 * 2 * 8) % 16  # both views' keys
    # fit() passed the batch's image indices, so every queued key knows its image (the mask needs them)
    ids = a["queue_ids"][: int(a["queue_filled"])]
    assert ((ids >= 0) & (ids < 16)).all()
    assert sorted(ids.tolist()) == sorted(2 * ids[:8].tolist()) and len(set(ids.tolist())) == 8  # last batch, 2 views
