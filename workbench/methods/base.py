"""The `Method` interface and its registry: one file per method registers itself with `@register_method`.

A method owns the encoder, its heads and its loss; `step(views)` returns the loss to back-propagate and the
values to log. The training loop (engine/fit.py) knows nothing else about it:

    config = resolve_config(config)                 # "auto" encoder and None hyper-parameters -> the method's own
    method.set_dataset_size(n_images)               # e.g. MoCo caps its queue
    method.set_dataset(images)                      # the classifier takes its labels (and held-out split)
    views = make_views(spec, batch, generator)      # method.n_views tensors (B, 3, H, W)
    method.step_noise = StepNoise(seed, rows, total)  # the step's own random numbers (GAN z, MAE masks)
    out = method.step(views)                        # StepOutput(loss, values)
    out.loss.backward(); optimizer.step(); method.on_step_end(progress)
    method.preview(fixed_images)                    # generative methods: rows of images to show
    method.monitor_values(spec)                     # at the monitor's passes: e.g. the classifier's held-out accuracy

Hyper-parameters live in `MethodConfig`; a method lists the fields it uses, with its defaults, in its class's
`hyperparameters`. Methods never import the engine.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

# Each hyper-parameter (label, help, range) is declared on its MethodConfig field, where the CLI parser and the GUI
# read it without importing torch; `hyperparameters()` is re-exported as part of this module's interface.
from workbench.config import ExperimentConfig, FinetuneConfig, HyperParameter, MethodConfig, hyperparameters
from workbench.errors import ConfigError
from workbench.models.encoders import Encoder

__all__ = [
    "HyperParameter",
    "Method",
    "StepNoise",
    "StepOutput",
    "create_method",
    "hyperparameters",
    "list_methods",
    "method_class",
    "method_defaults",
    "register_method",
    "resolve_config",
]


@dataclass
class StepOutput:
    loss: Tensor  # scalar, with grad
    values: dict[str, Tensor] = field(default_factory=dict)  # detached 0-dim tensors to log, e.g. "mi_bound"


class StepNoise:
    """The random numbers a method draws in one step (GAN noise, MAE masks, denoising noise), from the step's own
    seed rather than the global generator, so a resumed run draws what the uninterrupted one drew.

    Like the augmentation's draws (augment/views.py), each draw is made for the whole global batch of `total`
    samples and cut to this process's `rows`, so a sample's noise depends on its place in the global batch, never
    on how many processes share it. The draws are made on the device asked for (CUDA has its own generator; other
    devices draw on the CPU). `StepNoise()` (no seed, the default before a training step) uses the global generator,
    as a method called outside fit() (tests, notebooks) expects.
    """

    def __init__(self, seed: int | None = None, rows: slice | None = None, total: int | None = None) -> None:
        self.seed, self.rows, self.total = seed, rows, total
        self._generators: dict[str, torch.Generator] = {}

    def rand(self, batch: int, *trailing: int, device: torch.device | str = "cpu") -> Tensor:
        """Uniform [0, 1) of shape (batch, *trailing) float32 on `device`; `batch` is this process's rows."""
        return self._draw(torch.rand, batch, trailing, torch.device(device))

    def randn(self, batch: int, *trailing: int, device: torch.device | str = "cpu") -> Tensor:
        """Standard normal of shape (batch, *trailing) float32 on `device`."""
        return self._draw(torch.randn, batch, trailing, torch.device(device))

    def _draw(self, fn: Callable[..., Tensor], batch: int, trailing: tuple[int, ...], device: torch.device) -> Tensor:
        if self.seed is None:
            return fn((batch, *trailing), device=device)
        rows = self.rows or slice(0, batch)
        total = self.total or batch
        if rows.stop - rows.start != batch:
            raise ValueError(f"StepNoise holds {rows.stop - rows.start} rows of the batch, asked for {batch}.")
        where = device if device.type == "cuda" else torch.device("cpu")
        key = str(where)
        if key not in self._generators:
            self._generators[key] = torch.Generator(where).manual_seed(self.seed)
        return fn((total, *trailing), generator=self._generators[key], device=where)[rows].to(device)


class Method(nn.Module):
    """Base class of every self-supervised method.

    Class attributes, read by the CLI, the GUI and the loop:
    - `name`: registry key; `description`: one line shown in the CLI and GUI.
    - `n_views`: how many augmented views `step` takes (an instance may override it in `__init__`, e.g. CMC's
      `config.views`; 1-view methods get the augment spec's first view).
    - `contrastive`: True when the loss uses other images in the batch as negatives (batch size matters).
    - `supported_encoders`: registry names this method works with; None means any encoder.
    - `hyperparameters`: the MethodConfig fields the method uses, mapped to its defaults; `create_method` fills
      None fields from it, so `__init__` reads `config.temperature` etc. as plain values.
    - `default_encoder`: the encoder used when `model.encoder` is "auto".
    - `generative`: True when `preview` returns images (reconstructions, samples) for the app to show.

    The online `self.encoder` is always the representation (kNN, UMAP, export). Target / key networks updated by
    EMA are submodules with requires_grad=False, so they are saved in the state_dict and never optimised.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    n_views: int = 2
    contrastive: ClassVar[bool] = False
    supported_encoders: ClassVar[tuple[str, ...] | None] = None
    hyperparameters: ClassVar[dict[str, Any]] = {}
    default_encoder: ClassVar[str] = "small-cnn"
    generative: ClassVar[bool] = False
    # Trained on labels, not self-supervised (the classifier of a fine-tune, methods/classifier.py): built with the
    # experiment's `finetune` section too, and left out of `list_methods` (the choices of `train` and the Train view).
    supervised: ClassVar[bool] = False

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        self.step_noise = StepNoise()  # set by the Trainer before each step; draw per-step randomness from it

    def step(self, views: list[Tensor]) -> StepOutput:
        """Loss and logged values for one batch; `views` holds `n_views` tensors (B, 3, H, W)."""
        raise NotImplementedError

    def forward(self, views: list[Tensor]) -> StepOutput:
        """`step(views)`: the engine calls the method through forward, so that DistributedDataParallel's hooks run
        when it wraps the method under torchrun."""
        return self.step(views)

    def on_step_end(self, progress: float) -> None:
        """Called after each optimizer step with training progress in [0, 1] (momentum encoders update here)."""

    def set_batch_indices(self, indices: Tensor) -> None:
        """Called by the engine before each step with the dataset indices (b,) of this process's batch; e.g. MoCo
        never scores a query against a queued key of its own image."""

    def set_dataset_size(self, n: int) -> None:
        """Called by fit() with the number of training images before training (and before a resume loads the
        state); e.g. MoCo caps its queue of negatives at it."""

    def set_dataset(self, images: Any) -> None:
        """Called by fit() with the ImageSet it trains on, after `set_dataset_size` and before the method moves to its
        device or a resume loads the state; the classifier takes its labels from it. Default: nothing."""

    def monitor_values(self, spec: Any) -> dict[str, float]:
        """Values of the method's own measured at the monitor's passes (epochs.csv, the app's epoch curves), under
        torch.no_grad(); `spec` is the training augment spec (for its normalisation). Default: none."""
        return {}

    def selection(self) -> tuple[str, int] | None:
        """(a `monitor_values` key whose highest value marks the weights to keep as the run's `best` checkpoint, the
        monitor passes without improvement before fit() stops early; 0: never). Default: None, no best checkpoint."""
        return None

    def optimizer_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        """(parameters, learning-rate scale) pairs for the optimizer; parameters with requires_grad=False are never
        optimised. Default: every trainable parameter at the scheduled learning rate."""
        return [([p for p in self.parameters() if p.requires_grad], 1.0)]

    def preview(self, images: Tensor) -> list[Tensor] | None:
        """Generative methods: rows of images to show for a batch of un-augmented, normalised images (B, 3, S, S),
        each row (K, 3, S, S) in the same normalised space (e.g. inputs, reconstructions). Called by the engine under
        torch.no_grad() in eval mode. None (the default) means nothing to show."""
        return None

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
    """Registered self-supervised method names in registration order, for CLI choices and GUI dropdowns (supervised
    ones, trained by `workbench finetune`, are left out)."""
    return [name for name, cls in _REGISTRY.items() if not cls.supervised]


def method_class(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise ConfigError(f"Unknown method '{name}'; choose one of: {', '.join(list_methods())}.")
    return _REGISTRY[name]


def method_defaults(name: str, config: MethodConfig) -> MethodConfig:
    """A copy of `config` whose None hyper-parameters that method `name` uses hold its defaults."""
    cls = method_class(name)
    fill = {k: v for k, v in cls.hyperparameters.items() if getattr(config, k) is None}
    return dataclasses.replace(config, **fill)


def create_method(name: str, encoder: Encoder, config: MethodConfig, finetune: FinetuneConfig | None = None) -> Method:
    """Build the method `name` around `encoder` with the heads and loss set by `config` (None fields: the method's
    defaults); a supervised method also gets the `finetune` section (its classes)."""
    cls = method_class(name)
    if cls.supervised:
        return cls(encoder, method_defaults(name, config), finetune or FinetuneConfig())  # type: ignore[call-arg]
    return cls(encoder, method_defaults(name, config))


def resolve_config(config: ExperimentConfig) -> ExperimentConfig:
    """A copy of `config` with concrete method choices: `model.encoder` "auto" becomes the method's default encoder
    and every None hyper-parameter the method uses its default. A hyper-parameter set that the method does not use,
    or an encoder it does not support, is a ConfigError. Resolving twice changes nothing."""
    cls = method_class(config.method.name)
    declared = hyperparameters(type(config.method))
    unused = [k for k in declared if getattr(config.method, k) is not None and k not in cls.hyperparameters]
    if unused:
        uses = ", ".join(cls.hyperparameters) or "none"
        raise ConfigError(
            f"Method '{cls.name}' does not use {', '.join('method.' + k for k in unused)}; its hyper-parameters are: "
            f"{uses}."
        )
    resolved = copy.deepcopy(config)
    if resolved.model.encoder == "auto":
        resolved.model.encoder = cls.default_encoder
    if cls.supported_encoders is not None and resolved.model.encoder not in cls.supported_encoders:
        raise ConfigError(
            f"Method '{cls.name}' works with the encoder(s) {', '.join(cls.supported_encoders)}, not "
            f"'{resolved.model.encoder}'."
        )
    resolved.method = method_defaults(cls.name, resolved.method)
    resolved.validate()
    return resolved
