"""MoCo v2: the symmetrised queue InfoNCE against eq. (1), the momentum key encoder, the queue (a ring capped at the
dataset size) and a bit-exact resume of keys and queue through fit()."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.engine.test_fit import StopAfter, tiny_config
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
    assert int(method.queue_filled) == 6
    torch.testing.assert_close(method.queue[:6], F.normalize(k2, dim=1))

    # the second step's negatives include the queued keys
    v3, v4 = views(seed=1)
    out = method.step([v3, v4])
    with torch.no_grad():
        q3, q4 = (method.projector(method.encoder(v)) for v in (v3, v4))
        k3, k4 = (method.key_projector(method.key_encoder(v)) for v in (v3, v4))
    queue = method.queue[:6]
    expected = 0.5 * (info_nce_direct(q3, k4, queue, 0.2) + info_nce_direct(q4, k3, queue, 0.2))
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_queue_is_a_ring_capped_at_the_dataset_size() -> None:
    method = build(queue_size=100)
    method.set_dataset_size(10)
    assert int(method.queue_capacity) == 10
    keys = [F.normalize(torch.randn(4, 16), dim=1) for _ in range(3)]
    for k in keys:
        method._enqueue(k)
    assert int(method.queue_filled) == 10 and int(method.queue_ptr) == 2
    torch.testing.assert_close(method.queue[:2], keys[2][2:])  # the oldest rows were overwritten
    torch.testing.assert_close(method.queue[2:4], keys[0][2:])
    torch.testing.assert_close(method.queue[4:10], torch.cat(keys[1:])[:6])
    assert method.queue[10:].abs().sum() == 0  # rows past the capacity are never used
    method.set_dataset_size(10_000)
    assert int(method.queue_capacity) == 100


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


def test_fit_caps_the_queue_and_resumes_bit_for_bit(image_folder, tmp_path) -> None:
    def config(max_steps: int):
        c = tiny_config(image_folder, max_steps=max_steps, monitor_every_epochs=0)
        c.method = MethodConfig(name="moco-v2", **SMALL)
        return c

    fit(config(5), tmp_path / "straight")
    fit(config(5), tmp_path / "run", reporter=StopAfter(3))
    fit(config(5), tmp_path / "run", resume=True)
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    assert int(a["queue_capacity"]) == 16  # 16 images, although queue_size is 4096
    assert int(a["queue_filled"]) == 16 and int(a["queue_ptr"]) == (5 * 8) % 16
    for key in a:
        assert torch.equal(a[key], b[key]), key
