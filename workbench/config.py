"""The experiment configuration: one dataclass per concern, validated in one place.

A config file (TOML or JSON) sets defaults and command-line flags override them. The resolved config
is saved as `config.json` in the run directory and inside every checkpoint, so a run can be rebuilt
from its folder alone.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.augment.spec import AugmentSpec, preset
from workbench.errors import ConfigError
from workbench.serial import from_plain

OPTIMIZERS = ("sgd", "adam", "adamw", "lars")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class DataConfig:
    path: str = ""  # image folder; "" means the built-in demo dataset
    image_size: int = 32  # every image is decoded once at this resolution (shorter side, centre crop)
    cache_dir: str | None = None  # on-disk decode cache (never inside the image folder); None: memory only


@dataclass
class ModelConfig:
    encoder: str = "auto"  # "auto": the method's `default_encoder` (small-cnn for most; the default recipe)
    # Which backbone features form the representation used by kNN, UMAP and export (never the head output);
    # "auto" is the encoder's measured default (small-cnn: "stage3-grid", the others: "final").
    representation: str = "auto"
    small_stem: bool | None = None  # ResNets: 3x3 stem without max-pool; None chooses it at <= 64 px


@dataclass
class MethodConfig:
    """The method and its hyper-parameters. Every hyper-parameter defaults to None, "the method's own default"
    (its class's `hyperparameters`, the paper's value adapted to small images); `resolve_config` fills them in, so
    a saved run always holds concrete values. A method rejects fields it does not use. The meaning, unit and range of
    each field is in `workbench.methods.base.HYPERPARAMETER_HELP`."""

    name: str = "simclr"
    temperature: float | None = None  # contrastive softmax temperature (SimCLR 0.1 here, MoCo v2 0.2, CMC 0.07)
    proj_hidden_dim: int | None = None  # projection head: hidden width
    proj_output_dim: int | None = None  # projection head: output size (where the loss is taken)
    proj_layers: int | None = None  # projection head: Linear layers (1 = a single Linear)
    pred_hidden_dim: int | None = None  # BYOL / SimSiam predictor: hidden (bottleneck) width
    momentum: float | None = None  # base EMA momentum of a target / key encoder (BYOL, MoCo)
    queue_size: int | None = None  # MoCo: negatives kept from past batches (capped at the number of images)
    lambda_param: float | None = None  # Barlow Twins: off-diagonal weight; VICReg: invariance weight
    mu_param: float | None = None  # VICReg: variance weight
    nu_param: float | None = None  # VICReg: covariance weight
    views: int | None = None  # CMC: augmented views per image (>= 2)
    noise_std: float | None = None  # autoencoder: denoising noise std (0 = plain autoencoder)
    latent_dim: int | None = None  # GAN: generator noise size
    mask_ratio: float | None = None  # MAE: fraction of patches masked


METHOD_HYPERPARAMETERS: tuple[str, ...] = tuple(f.name for f in fields(MethodConfig) if f.name != "name")
INT_HYPERPARAMETERS = (
    "proj_hidden_dim",
    "proj_output_dim",
    "proj_layers",
    "pred_hidden_dim",
    "queue_size",
    "views",
    "latent_dim",
)

# Every MethodConfig hyper-parameter: (label, one-line help with its unit and range), for the CLI and the GUI
# (re-exported as workbench.methods.base.HYPERPARAMETER_HELP; kept here because it needs no torch).
HYPERPARAMETER_HELP: dict[str, tuple[str, str]] = {
    "temperature": ("Temperature", "Softmax temperature of the contrastive loss (> 0; lower is sharper; 0.05-0.5)."),
    "proj_hidden_dim": ("Projection hidden", "Hidden width of the projection head, in units (>= 1)."),
    "proj_output_dim": ("Projection output", "Output size of the projection head, where the loss is taken (>= 1)."),
    "proj_layers": ("Projection layers", "Linear layers in the projection head (>= 1; 1 is a single Linear)."),
    "pred_hidden_dim": ("Predictor hidden", "Hidden (bottleneck) width of the predictor MLP, in units (>= 1)."),
    "momentum": (
        "Target momentum",
        "Base EMA momentum of the target / key encoder, in [0, 1); closer to 1 is a slower-moving target.",
    ),
    "queue_size": ("Queue size", "Negatives kept from past batches (>= 1; capped at the number of images)."),
    "lambda_param": (
        "Lambda",
        "Barlow Twins: weight of the off-diagonal (redundancy) term; VICReg: weight of the invariance term (>= 0).",
    ),
    "mu_param": ("Mu", "VICReg: weight of the variance term (>= 0)."),
    "nu_param": ("Nu", "VICReg: weight of the covariance term (>= 0)."),
    "views": ("Views", "Augmented views per image (>= 2); every pair of views gets a contrastive term."),
    "noise_std": (
        "Noise std",
        "Denoising: std of the Gaussian noise added to the normalised input (>= 0; 0 is a plain autoencoder).",
    ),
    "latent_dim": ("Latent size", "Size of the GAN generator's noise vector (>= 1)."),
    "mask_ratio": ("Mask ratio", "Fraction of image patches hidden from the MAE encoder, in (0, 1)."),
}


@dataclass
class OptimConfig:
    name: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-6
    momentum: float = 0.9  # SGD and LARS
    schedule: str = "cosine"
    warmup_fraction: float = 0.05  # linear warm-up over this fraction of the run (steps or time budget)
    final_lr_fraction: float = 0.0  # cosine decays to lr * this
    grad_clip: float | None = None  # max gradient norm; None: no clipping


@dataclass
class TrainConfig:
    epochs: int = 100
    max_steps: int | None = None
    time_budget_s: float | None = None  # stop (and finish the cosine schedule) after this many seconds
    batch_size: int = 256
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA when supported, fp32 elsewhere
    channels_last: bool | None = None  # None: on for convolutional encoders on CPU and CUDA (faster: ~1.3x on CPU)
    workers: int = 2  # threads for decoding images and preparing augmented batches
    seed: int = 0
    checkpoint_every_s: float = 60.0  # `last.pt` at least this often (and at every epoch end and stop)
    checkpoint_every_epochs: int = 10  # keep `epoch-NNNN.pt` snapshots this often; 0 disables them
    snapshot_every_s: float | None = None  # keep `time-NNNNNNs.pt` snapshots this often (learning curves)
    monitor_every_epochs: int = 1  # label-free health (and kNN when labelled) on a fixed subset; 0 disables


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentSpec = field(default_factory=lambda: preset("light"))
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        config = from_plain(cls, data, "config")
        config.validate()
        return config

    def validate(self) -> None:
        """Check every value early, with a message naming the field; registry names are checked by fit()."""
        d, m, o, t = self.data, self.method, self.optim, self.train
        _check(8 <= d.image_size <= 1024, f"data.image_size must be between 8 and 1024 pixels, got {d.image_size}.")
        self.augment.validate()
        _validate_method(m)
        _check(o.name in OPTIMIZERS, f"optim.name must be one of {', '.join(OPTIMIZERS)}, got '{o.name}'.")
        _check(o.schedule in SCHEDULES, f"optim.schedule must be one of {', '.join(SCHEDULES)}, got '{o.schedule}'.")
        _check(math.isfinite(o.lr) and o.lr > 0, f"optim.lr must be a positive number, got {o.lr}.")
        _check(o.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {o.weight_decay}.")
        _check(0 <= o.warmup_fraction < 1, f"optim.warmup_fraction must be in [0, 1), got {o.warmup_fraction}.")
        _check(0 <= o.final_lr_fraction <= 1, f"optim.final_lr_fraction must be in [0, 1], got {o.final_lr_fraction}.")
        _check(o.grad_clip is None or o.grad_clip > 0, f"optim.grad_clip must be positive, got {o.grad_clip}.")
        _check(t.epochs >= 1, f"train.epochs must be at least 1, got {t.epochs}.")
        _check(t.max_steps is None or t.max_steps >= 1, f"train.max_steps must be at least 1, got {t.max_steps}.")
        _check(
            t.time_budget_s is None or t.time_budget_s > 0,
            f"train.time_budget_s must be positive, got {t.time_budget_s}.",
        )
        _check(t.batch_size >= 2, f"train.batch_size must be at least 2 (contrastive pairs), got {t.batch_size}.")
        _check(t.device in DEVICES, f"train.device must be one of {', '.join(DEVICES)}, got '{t.device}'.")
        _check(
            t.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}, got '{t.precision}'."
        )
        _check(t.workers >= 0, f"train.workers must be >= 0, got {t.workers}.")
        _check(t.checkpoint_every_s > 0, f"train.checkpoint_every_s must be positive, got {t.checkpoint_every_s}.")
        _check(t.checkpoint_every_epochs >= 0, "train.checkpoint_every_epochs must be >= 0.")
        _check(t.snapshot_every_s is None or t.snapshot_every_s > 0, "train.snapshot_every_s must be positive.")
        _check(t.monitor_every_epochs >= 0, "train.monitor_every_epochs must be >= 0.")


# Range of each method hyper-parameter: (test, wording of the allowed range); checked only when not None.
_METHOD_RANGES: dict[str, tuple[Any, str]] = {
    "temperature": (lambda v: 0 < v < math.inf, "a positive number"),
    "proj_hidden_dim": (lambda v: v >= 1, "at least 1"),
    "proj_output_dim": (lambda v: v >= 1, "at least 1"),
    "proj_layers": (lambda v: v >= 1, "at least 1"),
    "pred_hidden_dim": (lambda v: v >= 1, "at least 1"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "queue_size": (lambda v: v >= 1, "at least 1"),
    "lambda_param": (lambda v: 0 <= v < math.inf, "a number >= 0"),
    "mu_param": (lambda v: 0 <= v < math.inf, "a number >= 0"),
    "nu_param": (lambda v: 0 <= v < math.inf, "a number >= 0"),
    "views": (lambda v: v >= 2, "at least 2"),
    "noise_std": (lambda v: 0 <= v < math.inf, "a number >= 0"),
    "latent_dim": (lambda v: v >= 1, "at least 1"),
    "mask_ratio": (lambda v: 0 < v < 1, "in (0, 1)"),
}


def _validate_method(m: MethodConfig) -> None:
    _check(isinstance(m.name, str) and bool(m.name), f"method.name must be a method name, got {m.name!r}.")
    for name in METHOD_HYPERPARAMETERS:
        value = getattr(m, name)
        if value is None:
            continue
        integral = name in INT_HYPERPARAMETERS
        ok_type = isinstance(value, int) if integral else isinstance(value, (int, float))
        ok, wording = _METHOD_RANGES[name]
        _check(
            ok_type and not isinstance(value, bool) and ok(value),
            f"method.{name} must be {'an integer ' if integral else ''}{wording}, got {value!r}.",
        )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a TOML or JSON config file; fields it leaves out keep their defaults."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Config file '{path}' could not be read: {exc}.") from None
    return ExperimentConfig.from_dict(data)


def config_to_json(config: ExperimentConfig) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=False) + "\n"
