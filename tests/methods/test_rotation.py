"""Rotation prediction: four rotated copies per image, cross-entropy on a 4-way head, accuracy logged."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from workbench.config import ExperimentConfig, MethodConfig
from workbench.methods import create_method, resolve_config
from workbench.methods.rotation import Rotation, rotate_all
from workbench.models import create_encoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _method(**config) -> Rotation:
    torch.manual_seed(0)
    return create_method(
        "rotation", create_encoder("small-cnn", image_size=16), MethodConfig(name="rotation", **config)
    )


def test_defaults_resolve() -> None:
    resolved = resolve_config(ExperimentConfig(method=MethodConfig(name="rotation")))
    assert resolved.model.encoder == "small-cnn"
    assert (resolved.method.proj_hidden_dim, resolved.method.proj_layers) == (256, 2)
    assert Rotation.n_views == 1 and not Rotation.generative


def test_rotate_all_turns_counter_clockwise_with_labels() -> None:
    x = torch.zeros(2, 3, 5, 5)
    x[0, :, 0, 4] = 1.0  # image 0: a dot in the top-right corner
    rotated, labels = rotate_all(x)
    assert rotated.shape == (8, 3, 5, 5)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # The top-right dot after 0, 90, 180, 270 degrees counter-clockwise: top-right, top-left, bottom-left, ...
    corners = [(0, 4), (0, 0), (4, 0), (4, 4)]
    for k, (r, c) in enumerate(corners):
        assert rotated[2 * k, 0, r, c] == 1 and rotated[2 * k].sum() == 3
        assert torch.equal(rotated[2 * k + 1], torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match="square"):
        rotate_all(torch.zeros(1, 3, 4, 5))


class _FixedLogits(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits + 0 * features.sum()


@pytest.mark.parametrize("batch", [1, 3])
def test_loss_is_cross_entropy_on_known_logits(batch: int) -> None:
    method = _method()
    logits = torch.randn(4 * batch, 4, generator=torch.Generator().manual_seed(batch)) * 3
    method.head = _FixedLogits(logits)
    out = method.step([torch.randn(batch, 3, 16, 16)])
    labels = [k for k in range(4) for _ in range(batch)]
    # CE: mean over the 4B rotated images of -log softmax(logits)[true rotation].
    expected = sum(
        -logits[i, y].item() + math.log(sum(math.exp(v) for v in logits[i].tolist())) for i, y in enumerate(labels)
    ) / len(labels)
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    accuracy = sum(int(logits[i].argmax().item() == y) for i, y in enumerate(labels)) / len(labels)
    assert out.values["rot_acc"].item() == pytest.approx(accuracy)


def test_untrained_loss_is_near_log_four_and_training_learns_rotations() -> None:
    method = _method(proj_hidden_dim=32)
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 3, 16, 16)
    x[:, :, :3, :] = 1.0  # an "upright" cue: a bright band at the top of every image
    x = x + 0.1 * torch.randn(x.shape, generator=g)
    first = method.step([x])
    assert first.loss.item() == pytest.approx(math.log(4), abs=0.3)
    optimizer = torch.optim.AdamW(method.parameters(), lr=2e-3)
    before = [p.detach().clone() for p in method.encoder.parameters()]
    for _ in range(15):
        out = method.step([x])
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        assert torch.isfinite(out.loss)
    assert out.values["rot_acc"].item() == 1.0 and out.loss.item() < 0.5 * math.log(4)
    assert any(not torch.equal(b, p) for b, p in zip(before, method.encoder.parameters(), strict=True))


def test_linear_head_option() -> None:
    method = _method(proj_layers=1)
    linears = [m for m in method.head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(256, 4)]
