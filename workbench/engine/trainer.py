"""The model side of training: build the method from a config, and take one optimisation step.

`Trainer` holds what a step needs (method, optimizer, grad scaler, autocast dtype, augment spec, memory format) so
that fit() reads as the loop alone. One step is
    uint8 batch (b, 3, S, S) -> views(batch, step) -> model(views) -> loss, values -> backward -> optimizer
Under torchrun the method's BatchNorms become global-batch ones and `model` is the method wrapped in
DistributedDataParallel (its forward is `step`); the batch is this process's slice of the global batch, its views
are drawn per global sample, and the logged loss and values are averaged over processes, so every process logs
(and checks for NaN) the same numbers. With one process `model` is the method itself.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from workbench import dist
from workbench.augment.views import make_views
from workbench.config import ExperimentConfig
from workbench.data import ImageSet
from workbench.engine.devices import autocast_dtype
from workbench.engine.optim import build_optimizer, lr_at, set_lr
from workbench.engine.precision import DTYPE_NAMES, PrecisionChoice, choose_precision
from workbench.errors import TrainingError
from workbench.methods import Method, StepNoise, create_method, resolve_config
from workbench.models import create_encoder

NOISE_STREAM = 0x5EED_0F_5EED  # offsets the methods' noise seeds from the augmentation's (any large constant)


def build_method(config: ExperimentConfig) -> Method:
    """Encoder + heads + loss, from the config alone (also used to rebuild a model from a checkpoint)."""
    config = resolve_config(config)
    encoder = create_encoder(config.model.encoder, image_size=output_size(config), small_stem=config.model.small_stem)
    return create_method(config.method.name, encoder, config.method, config.finetune)


def output_size(config: ExperimentConfig) -> int:
    """The side of the views the encoder sees (the augment spec's output size, else the training resolution)."""
    return config.augment.output_size or config.data.image_size


@dataclass
class StepResult:
    loss: float
    values: dict[str, float]  # the method's logged values, e.g. mi_bound
    lr: float


class Trainer:
    """The method and its optimisation state on `device`, built from a resolved config (seeded for the weights)."""

    def __init__(
        self,
        config: ExperimentConfig,
        device: torch.device,
        n_images: int,
        notify: Callable[[str], None] | None = None,
        data: ImageSet | None = None,
    ):
        self.config, self.device = config, device
        self.notify = notify or (lambda text: None)  # one-line messages for the run's log (precision, compile)
        torch.manual_seed(config.train.seed)
        self.method = dist.convert_batchnorm(build_method(config), device)
        if dist.rank() > 0:  # the same initial weights everywhere; any global-generator draw differs per process
            torch.manual_seed(config.train.seed * 1_000_003 + dist.rank())
        self.method.set_dataset_size(n_images)  # before a resume loads the state (e.g. MoCo's queue capacity)
        if data is not None:
            self.method.set_dataset(data)  # e.g. the classifier's labels, before the method moves to the device
        self.method.encoder.resolve_representation(config.model.representation)  # an unknown name fails now
        n_views = self.method.n_views
        self.spec = config.augment if config.augment.n_views == n_views else config.augment.with_views(n_views)
        self.channels_last = _use_channels_last(config, device)
        self.method.to(device)
        if self.channels_last:
            self.method.to(memory_format=torch.channels_last)
        self.model = self.method
        if dist.world_size() > 1:
            ddp = torch.nn.parallel.DistributedDataParallel
            # BatchNorm statistics are global and queues gathered, so buffers are equal everywhere without a
            # broadcast per step (torch 2.14 renames broadcast_buffers to forward_sync_buffers).
            no_sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters else None
            self.model = ddp(
                self.method,
                device_ids=[device.index] if device.type == "cuda" else None,
                **{no_sync or "broadcast_buffers": False},
            )
        if config.train.compile:
            self.model = torch.compile(self.model)
        self._compile_pending = config.train.compile  # the first step compiles; its time is reported
        self.optimizer = build_optimizer(self.method, config.optim)
        # "auto" is settled by a check on the first batch (engine/precision.py), or by the checkpoint on a resume
        self.precision: PrecisionChoice | None = None
        explicit = None if config.train.precision == "auto" else autocast_dtype(device, config.train.precision)
        self.scaler = torch.amp.GradScaler(device.type, enabled=explicit == torch.float16)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return None if self.precision is None else self.precision.dtype

    def views(
        self,
        batch: torch.Tensor,
        step: int,
        offset: int = 0,
        global_batch: int | None = None,
        indices: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """The augmented views of a uint8 batch for the 0-based `step` (the same for a resumed run); `batch` is rows
        [offset, offset + b) of the step's global batch, the dataset images `indices` (b,). Also sets the method's
        per-step context: its `step_noise`, and the batch's image indices (MoCo masks its own images' keys)."""
        seed = step_seed(self.config.train.seed, step)
        views = make_views(self.spec, batch, seed, sample_offset=offset, global_batch=global_batch)
        if self.channels_last:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        # The method's own randomness in this step (GAN noise, MAE masks) is, like the views, drawn for the global
        # batch from the step's seed and cut to these rows: resumable, and the same on any number of processes.
        rows = slice(offset, offset + batch.shape[0])
        self.method.step_noise = StepNoise(noise_seed(self.config.train.seed, step), rows, global_batch)
        if indices is not None:
            self.method.set_batch_indices(indices)
        return views

    def step(self, views: list[torch.Tensor], progress: float, step: int) -> StepResult:
        """One optimisation step at training `progress` in [0, 1]; a non-finite loss raises before any update."""
        lr = lr_at(self.config.optim, progress)
        set_lr(self.optimizer, lr)
        if self.precision is None:
            self.precision = choose_precision(self.config.train.precision, self.device, self.method, views)
            self.notify(self.precision.reason)
        amp = self.amp_dtype
        started = time.perf_counter()
        with torch.autocast(self.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            out = self.model(views)
        logged = torch.stack([out.loss.detach().float()] + [v.float() for v in out.values.values()])
        loss, *values = (dist.all_reduce_sum(logged) / dist.world_size()).tolist()  # one device sync per step
        if not math.isfinite(loss):
            raise TrainingError(non_finite_message(self.config, step + 1, loss))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        if self.config.optim.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), self.config.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.method.on_step_end(progress)
        if self._compile_pending:
            self._compile_pending = False
            self.notify(f"torch.compile: the first step took {time.perf_counter() - started:.1f} s (compiling).")
        return StepResult(loss, dict(zip(out.values.keys(), values, strict=True)), lr)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "precision": None if self.precision is None else self.precision.name,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.method.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        saved = state.get("precision")
        if self.config.train.precision == "auto" and saved is not None:  # a resumed run keeps what "auto" chose
            dtype = {name: dtype for dtype, name in DTYPE_NAMES.items()}[saved]
            self.precision = PrecisionChoice(dtype, f"Precision {saved} (auto, as chosen when the run started).")
            self.notify(self.precision.reason)


def step_seed(seed: int, step: int) -> int:
    """Augmentation seed of a step: resumable without saving generator state, distinct across steps and seeds."""
    return (seed * 1_000_003 + step * 7_919 + 17) % (2**63 - 1)


def noise_seed(seed: int, step: int) -> int:
    """Seed of a method's own draws in a step (methods/base.py StepNoise), a stream apart from the views'."""
    return (step_seed(seed, step) + NOISE_STREAM) % (2**63 - 1)


def _use_channels_last(config: ExperimentConfig, device: torch.device) -> bool:
    if config.train.channels_last is not None:
        return config.train.channels_last
    return device.type in ("cpu", "cuda") and not config.model.encoder.startswith("vit")


def non_finite_message(config: ExperimentConfig, step: int, value: float) -> str:
    causes = f"a learning rate too high for this batch size ({config.optim.lr:g})"
    if config.method.temperature is not None:
        causes += f" or a temperature too low ({config.method.temperature:g})"
    remedies = "a lower learning rate" + (" or a higher temperature" if config.method.temperature is not None else "")
    return (
        f"The loss became {value} at step {step}, so training stopped (the last good weights are saved). "
        f"Likely cause: {causes}; try {remedies}, gradient clipping, or fp32 precision."
    )
