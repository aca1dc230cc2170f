"""The experiment configuration: one dataclass per concern, validated in one place.

A config file (TOML or JSON) sets defaults and command-line flags override them. The resolved config
is saved as `config.json` in the run directory and inside every checkpoint, so a run can be rebuilt
from its folder alone.

Each method hyper-parameter is declared once, on its `MethodConfig` field: `hyperparameter(label, help, bounds)`
stores the declaration in the field's metadata (int or float comes from the annotation) and `hyperparameters()`
reads it back; validation, the CLI flags, `workbench list`, the GUI spin boxes and `resolve_config` all use that.
Field metadata rather than pydantic: no new dependency, the dataclass already is the config, and its
(de)serialisation in workbench/serial.py works unchanged.
"""

from __future__ import annotations

import functools
import json
import math
import tomllib
import typing
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
    keep_duplicate_links: bool = False  # count a symlink to an image already in the folder as one more image
    # images left out of training (relative posix paths, e.g. flagged by the Data workspace's checks); files untouched
    exclude: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    encoder: str = "auto"  # "auto": the method's `default_encoder` (small-cnn for most; the default recipe)
    # Which backbone features form the representation used by kNN, UMAP and export (never the head output);
    # "auto" is the encoder's measured default (small-cnn: "stage3-grid", the others: "final").
    representation: str = "auto"
    small_stem: bool | None = None  # ResNets: 3x3 stem without max-pool; None chooses it at <= 64 px


HYPERPARAMETER_KEY = "hyperparameter"  # the metadata key of a MethodConfig field that holds its declaration
SPIN_LIMIT = 1_000_000  # what a GUI spin box offers where the allowed range has no bound
SPIN_MARGIN = 1e-6  # how far inside an open float bound a GUI spin box stops


@dataclass(frozen=True)
class HyperParameter:
    """One method hyper-parameter, as declared on its MethodConfig field with `hyperparameter(...)`.

    The CLI flag (`--name`, of type `kind`), the `workbench list` line, the GUI spin box (label, tooltip, bounds) and
    validation (`accepts`, `requirement`) are all built from it; nothing else describes a hyper-parameter.
    """

    name: str  # the MethodConfig field; the CLI flag is --name with "_" as "-"
    kind: type  # int or float: the field's annotation without None
    label: str  # short, for the GUI form
    help: str  # one sentence: meaning and unit; the range is said by `requirement`
    minimum: float | None  # None: no lower bound
    minimum_inclusive: bool
    maximum: float | None  # None: no upper bound (floats must still be finite)
    maximum_inclusive: bool
    spin_minimum: float  # the closed interval a GUI spin box offers, inside the allowed range
    spin_maximum: float

    @property
    def requirement(self) -> str:
        """The allowed values in words, as validation says them: "a positive number", "an integer at least 2"."""
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            words = f"in {'[' if self.minimum_inclusive else '('}{lo:g}, {hi:g}{']' if self.maximum_inclusive else ')'}"
        elif self.kind is int:
            words = f"at least {lo:g}" if lo is not None else f"at most {hi:g}" if hi is not None else ""
        elif lo is not None:
            positive = lo == 0 and not self.minimum_inclusive
            words = "a positive number" if positive else f"a number {'>=' if self.minimum_inclusive else '>'} {lo:g}"
        else:
            words = f"a number {'<=' if self.maximum_inclusive else '<'} {hi:g}" if hi is not None else "a number"
        return f"an integer {words}".rstrip() if self.kind is int else words

    @property
    def description(self) -> str:
        """The help with the allowed range: the CLI's --help, the GUI tooltip and `workbench list`."""
        return f"{self.help} Must be {self.requirement}."

    def accepts(self, value: Any) -> bool:
        """Whether `value` has the declared kind (an int is a float, a bool is neither) and lies in the range."""
        if isinstance(value, bool) or not isinstance(value, int if self.kind is int else (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        lo, hi = self.minimum, self.maximum
        above = lo is None or (value >= lo if self.minimum_inclusive else value > lo)
        below = hi is None or (value <= hi if self.maximum_inclusive else value < hi)
        return above and below

    def format(self, value: Any) -> str:
        return f"{value:g}" if self.kind is float else str(value)


def hyperparameter(
    label: str,
    help: str,
    *,
    minimum: float | None = None,
    minimum_inclusive: bool = True,
    maximum: float | None = None,
    maximum_inclusive: bool = True,
) -> Any:
    """Declare a method hyper-parameter: a dataclass field defaulting to None ("the method's own default") whose
    metadata holds its label, help and allowed range. Use it as `name: float | None = hyperparameter(...)`."""
    declared = {"label": label, "help": help, "minimum": minimum, "minimum_inclusive": minimum_inclusive}
    declared |= {"maximum": maximum, "maximum_inclusive": maximum_inclusive}
    return field(default=None, metadata={HYPERPARAMETER_KEY: declared})


def hyperparameters(config_class: type | None = None) -> dict[str, HyperParameter]:
    """The declared hyper-parameters of `config_class` (default: MethodConfig), in field order."""
    return dict(_declarations(config_class or MethodConfig))


@functools.cache
def _declarations(config_class: type) -> dict[str, HyperParameter]:
    hints = typing.get_type_hints(config_class)
    out = {}
    for f in fields(config_class):
        if HYPERPARAMETER_KEY in f.metadata:
            out[f.name] = _declaration(f.name, hints[f.name], f.metadata[HYPERPARAMETER_KEY])
    return out


def _declaration(name: str, hint: Any, declared: dict[str, Any]) -> HyperParameter:
    kinds = [t for t in typing.get_args(hint) if t is not type(None)]
    if len(kinds) != 1 or kinds[0] not in (int, float):
        raise TypeError(f"Hyper-parameter '{name}' must be annotated `int | None` or `float | None`, not {hint}.")
    kind = kinds[0]
    lo, hi = declared["minimum"], declared["maximum"]
    if kind is int and not (declared["minimum_inclusive"] and declared["maximum_inclusive"]):
        raise ValueError(f"Integer hyper-parameter '{name}' must declare inclusive bounds.")
    margin = 0 if kind is int else SPIN_MARGIN
    spin_lo = -SPIN_LIMIT if lo is None else lo if declared["minimum_inclusive"] else lo + margin
    spin_hi = SPIN_LIMIT if hi is None else hi if declared["maximum_inclusive"] else hi - margin
    if spin_lo > spin_hi:
        raise ValueError(f"Hyper-parameter '{name}' declares an empty range.")
    return HyperParameter(name=name, kind=kind, spin_minimum=spin_lo, spin_maximum=spin_hi, **declared)


@dataclass
class MethodConfig:
    """The method and its hyper-parameters. Every hyper-parameter defaults to None, "the method's own default"
    (its class's `hyperparameters`, the paper's value adapted to small images); `resolve_config` fills them in, so
    a saved run always holds concrete values. A method rejects fields it does not use. Each field's declaration
    (label, help with its unit, range) is the one description of it; `hyperparameters()` returns them."""

    name: str = "simclr"
    temperature: float | None = hyperparameter(  # SimCLR 0.1 here, MoCo v2 0.2, CMC 0.07
        "Temperature",
        "Softmax temperature of the contrastive loss; lower is sharper (typically 0.05-0.5).",
        minimum=0,
        minimum_inclusive=False,
    )
    proj_hidden_dim: int | None = hyperparameter(
        "Projection hidden", "Hidden width of the projection head, in units.", minimum=1
    )
    proj_output_dim: int | None = hyperparameter(
        "Projection output", "Output size of the projection head, where the loss is taken.", minimum=1
    )
    proj_layers: int | None = hyperparameter(
        "Projection layers", "Linear layers in the projection head (1 is a single Linear).", minimum=1
    )
    pred_hidden_dim: int | None = hyperparameter(  # BYOL / SimSiam
        "Predictor hidden", "Hidden (bottleneck) width of the predictor MLP, in units.", minimum=1
    )
    momentum: float | None = hyperparameter(  # BYOL, MoCo
        "Target momentum",
        "Base EMA momentum of the target / key encoder; closer to 1 is a slower-moving target.",
        minimum=0,
        maximum=1,
        maximum_inclusive=False,
    )
    queue_size: int | None = hyperparameter(  # MoCo
        "Queue size", "Negatives kept from past batches (capped at the number of images).", minimum=1
    )
    lambda_param: float | None = hyperparameter(
        "Lambda",
        "Barlow Twins: weight of the off-diagonal (redundancy) term; VICReg: weight of the invariance term.",
        minimum=0,
    )
    mu_param: float | None = hyperparameter("Mu", "VICReg: weight of the variance term.", minimum=0)
    nu_param: float | None = hyperparameter("Nu", "VICReg: weight of the covariance term.", minimum=0)
    views: int | None = hyperparameter(  # CMC
        "Views", "Augmented views per image; every pair of views gets a contrastive term.", minimum=2
    )
    noise_std: float | None = hyperparameter(  # autoencoder
        "Noise std",
        "Denoising: std of the Gaussian noise added to the normalised input (0 is a plain autoencoder).",
        minimum=0,
    )
    latent_dim: int | None = hyperparameter("Latent size", "Size of the GAN generator's noise vector.", minimum=1)
    mask_ratio: float | None = hyperparameter(
        "Mask ratio",
        "Fraction of image patches hidden from the MAE encoder.",
        minimum=0,
        minimum_inclusive=False,
        maximum=1,
        maximum_inclusive=False,
    )


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
    precision: str = "auto"  # auto: bf16 autocast where a start-up check finds it faster (engine/precision.py)
    compile: bool = False  # torch.compile the model (its compile time is reported; first steps are slow)
    channels_last: bool | None = None  # None: on for convolutional encoders on CPU and CUDA (faster: ~1.3x on CPU)
    workers: int = 2  # threads for decoding images and preparing augmented batches
    seed: int = 0
    checkpoint_every_s: float = 60.0  # `last.pt` at least this often (and when the run stops, finishes or fails)
    checkpoint_every_epochs: int = 10  # keep `epoch-NNNN.pt` snapshots this often; 0 disables them
    snapshot_every_s: float | None = None  # keep `time-NNNNNNs.pt` snapshots this often (learning curves)
    monitor_every_epochs: int = 1  # label-free health (and kNN when labelled) on a fixed subset; 0 disables
    # At most this fraction of the training time goes to the monitor and previews between steps (engine/timing.py),
    # plus one pass for the final weights; 0 disables both (the final preview is still made).
    monitor_share: float = 0.1


@dataclass
class FinetuneConfig:
    """A fine-tune of a self-supervised run (results/finetune.py, the `classifier` method); empty for other runs."""

    parent: str = ""  # the SSL run folder whose checkpoint the encoder starts from
    parent_checkpoint: str = "last"  # that checkpoint: "last" (trained), "init" (its untrained weights: a baseline)
    labels: str = ""  # the labels file the classes came from (copied into the run folder as labels.csv)
    classes: list[str] = field(default_factory=list)  # class names; the head's output i is classes[i]
    backbone_lr_scale: float = 0.1  # the encoder's learning rate relative to the head's (discriminative rates)
    holdout_fraction: float = 0.2  # of each class's labelled images, held out (stratified, seeded) for accuracy
    patience: int = 5  # monitor passes without a better held-out accuracy before it stops early; 0: never
    # also learn the folder's unlabelled images, with the start probe's soft labels; False in a config without it
    # (fine-tunes made before it), True for a new fine-tune (results/finetune.py's default)
    self_training: bool = False


CONFIG_FORMAT = 1  # the `format` of a run's config.json; a newer one is refused in one sentence


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentSpec = field(default_factory=lambda: preset("light"))
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """The config of a plain dict; a run's config.json also holds its `format` (CONFIG_FORMAT), checked here."""
        if isinstance(data, dict) and "format" in data:
            data = dict(data)
            version = data.pop("format")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ConfigError(f"config.format must be a whole number, got {version!r}.")
            if version > CONFIG_FORMAT:
                raise ConfigError(
                    f"The config was written by a newer SSL Workbench (config format {version}; this version reads "
                    f"up to {CONFIG_FORMAT}); update SSL Workbench to use it."
                )
        config = from_plain(cls, data, "config")
        config.validate()
        return config

    def validate(self) -> None:
        """Check every value early, with a message naming the field; registry names are checked by fit()."""
        d, m, o, t = self.data, self.method, self.optim, self.train
        _check(8 <= d.image_size <= 1024, f"data.image_size must be between 8 and 1024 pixels, got {d.image_size}.")
        bad = next((x for x in d.exclude if not isinstance(x, str) or x.startswith("/") or ".." in x.split("/")), None)
        _check(bad is None, f"data.exclude must list paths relative to the image folder, got {bad!r}.")
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
        _check(
            isinstance(t.monitor_share, int | float) and 0 <= t.monitor_share <= 1,
            f"train.monitor_share must be a fraction of the training time in [0, 1], got {t.monitor_share!r}.",
        )
        f = self.finetune
        _check(
            0 < f.backbone_lr_scale <= 1, f"finetune.backbone_lr_scale must be in (0, 1], got {f.backbone_lr_scale}."
        )
        _check(0 <= f.holdout_fraction < 1, f"finetune.holdout_fraction must be in [0, 1), got {f.holdout_fraction}.")
        _check(
            isinstance(f.patience, int) and not isinstance(f.patience, bool) and f.patience >= 0,
            f"finetune.patience must be a whole number >= 0, got {f.patience!r}.",
        )


def _validate_method(m: MethodConfig) -> None:
    _check(isinstance(m.name, str) and bool(m.name), f"method.name must be a method name, got {m.name!r}.")
    for name, spec in hyperparameters(type(m)).items():
        value = getattr(m, name)
        if value is not None:
            _check(spec.accepts(value), f"method.{name} must be {spec.requirement}, got {value!r}.")


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
