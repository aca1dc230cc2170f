"""The `Method` interface and its registry: one file per method registers itself with `@register_method`.

A method owns the encoder, its heads and its loss; `step(views)` returns the loss to back-propagate and the
values to log. The training loop (engine/fit.py) knows nothing else about it:

    views = make_views(spec, batch, generator)      # method.n_views tensors (B, 3, H, W)
    out = method.step(views)                        # StepOutput(loss, values)
    out.loss.backward(); optimizer.step(); method.on_step_end(progress)

Methods never import the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from workbench.config import MethodConfig
from workbench.errors import ConfigError
from workbench.models.encoders import Encoder


@dataclass
class StepOutput:
    loss: Tensor  # scalar, with grad
    values: dict[str, Tensor] = field(default_factory=dict)  # detached 0-dim tensors to log, e.g. "mi_bound"


class Method(nn.Module):
    """Base class of every self-supervised method.

    Class attributes, read by the CLI, the GUI and the loop:
    - `name`: registry key; `description`: one line shown in the CLI and GUI.
    - `n_views`: how many augmented views `step` takes.
    - `contrastive`: True when the loss uses other images in the batch as negatives (batch size matters).
    - `supported_encoders`: registry names this method works with; None means any encoder.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    n_views: ClassVar[int] = 2
    contrastive: ClassVar[bool] = False
    supported_encoders: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config

    def step(self, views: list[Tensor]) -> StepOutput:
        """Loss and logged values for one batch; `views` holds `n_views` tensors (B, 3, H, W)."""
        raise NotImplementedError

    def on_step_end(self, progress: float) -> None:
        """Called after each optimizer step with training progress in [0, 1] (momentum encoders update here)."""

    def check_views(self, views: list[Tensor]) -> None:
        if len(views) < self.n_views:
            raise ValueError(f"Method '{self.name}' needs {self.n_views} views per image, got {len(views)}.")

    def encode_views(self, views: list[Tensor], fn: Callable[[Tensor], Tensor] | None = None) -> list[Tensor]:
        """Run `fn` (default: the encoder) on views in ONE forward pass when they share a shape.

        One pass means BatchNorm sees every view together (its statistics match evaluation better) and is
        faster than one call per view. Returns one (B, ...) output per view.
        """
        fn = self.encoder if fn is None else fn
        if all(v.shape == views[0].shape for v in views):
            return list(fn(torch.cat(views)).chunk(len(views)))
        return [fn(v) for v in views]  # e.g. multi-crop views of different sizes


_REGISTRY: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register `cls` under `cls.name`."""
    name = getattr(cls, "name", None)
    if not name or not getattr(cls, "description", None):
        raise ValueError(f"{cls.__name__} must set the class attributes `name` and `description`.")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"Method '{name}' is already registered by {_REGISTRY[name].__name__}.")
    _REGISTRY[name] = cls
    return cls


def list_methods() -> list[str]:
    """Registered method names in registration order, for CLI choices and GUI dropdowns."""
    return list(_REGISTRY)


def method_class(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise ConfigError(f"Unknown method '{name}'; choose one of: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


def create_method(name: str, encoder: Encoder, config: MethodConfig) -> Method:
    """Build the method `name` around `encoder` with the heads and loss set by `config`."""
    return method_class(name)(encoder, config)
