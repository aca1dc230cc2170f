"""The classifier of a fine-tune: the encoder trained end to end under a linear head on labelled images.

This is the seed article's last step (initialise from the self-supervised encoder, fine-tune on a few labels). It is
a method like the others so that fit() trains it unchanged (one loop, one checkpoint policy, one reporting path:
metrics.csv, epochs.csv, TensorBoard, the app's curves, resumes); `supervised = True` keeps it out of the SSL
choices. results/finetune.py prepares what it needs and calls fit():
- the images fit() trains on are a `LabelledImages`: the training split of the labels (every row labelled), plus
  the held-out split (uint8 images and class ids) whose accuracy `monitor_values` reports at the monitor's passes
  (epochs.csv `holdout_acc`), and the parent run's encoder weights to start from (None on a resume: the checkpoint
  holds the weights);
- one view of the run's augmentations per image (n_views = 1); cross-entropy on the batch's labels, looked up by the
  dataset indices fit() passes each step (`set_batch_indices`);
- the head reads the encoder's default representation (the one kNN, probes and Explore use: small-cnn's 2048-d
  stage3 grid, not its 256-d pooled output), and a fresh fine-tune starts it as the linear probe on the frozen
  features of the training images ("LP-FT", Kumar et al. 2022: a random head's first gradients would wreck the
  pretrained features before it has learned anything);
- the encoder learns at `finetune.backbone_lr_scale` (default 0.1) times the head's rate, so the pretrained features
  move less than the head (discriminative learning rates, Howard & Ruder 2018, ULMFiT);
- with a few labels end-to-end training soon overfits (measured: below its own starting probe after a minute), so
  `selection()` has fit() keep the weights of the best held-out accuracy as checkpoint `best` (the start, the probe
  itself, included) and stop after `finetune.patience` passes without improvement (engine/checkpoints.py).
The head's size comes from `finetune.classes` in the config, so a checkpoint rebuilds from the config alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.augment.views import prepare
from workbench.config import FinetuneConfig, MethodConfig
from workbench.data.cache import ImageSet
from workbench.errors import ConfigError
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder

HOLDOUT_ACC = "holdout_acc"  # epochs.csv column: top-1 on the held-out labelled images
EVAL_BATCH = 256


@dataclass
class LabelledImages(ImageSet):
    """What a fine-tune trains on: the training split (`labels` all >= 0, ids into `class_names`), its held-out
    split and the weights the encoder starts from."""

    holdout_images: Tensor | None = None  # uint8 (H, 3, S, S)
    holdout_labels: np.ndarray | None = None  # int64 (H,)
    holdout_paths: list[str] | None = None
    encoder_weights: dict[str, Tensor] | None = None  # the parent's encoder state_dict; None: keep the built weights
    spec: Any = None  # the run's augmentation spec: how images are prepared for the head's probe start (None: none)
    unlabelled: int = 0  # the last `unlabelled` rows of images have no label (-1): self-training's pseudo-labelled rows


@register_method
class Classifier(Method):
    name = "classifier"
    description = "Fine-tune: the encoder and a linear classification head trained on labelled images."
    n_views = 1
    supervised = True
    hyperparameters: ClassVar[dict[str, Any]] = {}

    def __init__(self, encoder: Encoder, config: MethodConfig, finetune: FinetuneConfig) -> None:
        super().__init__(encoder, config)
        if len(finetune.classes) < 2:
            raise ConfigError(
                "The classifier method needs at least 2 classes (finetune.classes); fine-tune a run with "
                "`workbench finetune RUN --labels labels.csv`."
            )
        self.classes = list(finetune.classes)
        self.backbone_lr_scale = finetune.backbone_lr_scale
        self.patience = finetune.patience
        self.representation = encoder.resolve_representation("auto")
        self.head = nn.Linear(encoder.representation_dim(self.representation), len(self.classes))
        # the training images' class ids, looked up by dataset index each step; not saved (the labels file is)
        self.register_buffer("dataset_labels", torch.zeros(0, dtype=torch.long), persistent=False)
        # self-training's targets for the unlabelled rows: the start probe's probabilities, fixed for the whole run
        # and saved in every checkpoint (a resume must learn the same targets; the parent run may be gone by then)
        self.register_buffer("teacher", torch.zeros(0, len(self.classes), dtype=torch.float16))
        self._unlabelled = 0
        self._batch: Tensor | None = None
        self._holdout: tuple[Tensor, Tensor] | None = None

    def logits(self, x: Tensor) -> Tensor:
        """Normalised images (B, 3, S, S) -> class scores (B, K)."""
        return self.head(self.encoder.represent(x, self.representation))

    def set_dataset(self, images: Any) -> None:
        labels = torch.as_tensor(np.asarray(images.labels), dtype=torch.long)
        unlabelled = getattr(images, "unlabelled", 0)
        known = labels[: len(labels) - unlabelled]
        # a folder's own subfolder classes are not the labels this head was made for (their ids may differ)
        bad = len(known) and (int(known.min()) < 0 or int(known.max()) >= len(self.classes))
        if not isinstance(images, LabelledImages) or bad or bool((labels[len(known) :] >= 0).any()):
            raise ConfigError(
                "The classifier trains on labelled images only; fine-tune a run with "
                "`workbench finetune RUN --labels labels.csv` (also to resume one)."
            )
        self.dataset_labels = labels.to(self.dataset_labels.device)
        self._unlabelled = unlabelled
        if images.holdout_images is not None and images.holdout_labels is not None and len(images.holdout_labels):
            self._holdout = (images.holdout_images, torch.as_tensor(images.holdout_labels, dtype=torch.long))
        if images.encoder_weights is not None:  # a fresh fine-tune (a resume's checkpoint holds both)
            self.encoder.load_state_dict(images.encoder_weights)
            if images.spec is not None and len(known):
                self._start_head_as_probe(images.images[: len(known)], known, images.spec)
                if unlabelled:
                    self.teacher = self.predict(images.images[len(known) :], images.spec).to(torch.float16)

    @torch.no_grad()
    def _features(self, images: Tensor, spec: Any) -> Tensor:
        """The frozen representation (N, D) float32 of uint8 images, prepared without augmentation, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat(
                [
                    self.encoder.represent(prepare(spec, images[i : i + EVAL_BATCH]), self.representation).float()
                    for i in range(0, images.shape[0], EVAL_BATCH)
                ]
            )
        finally:
            self.train(was_training)

    @torch.no_grad()
    def _start_head_as_probe(self, images: Tensor, labels: Tensor, spec: Any) -> None:
        """The head := a multinomial logistic regression on the frozen, standardised features of the training images
        (the standardisation folded into the weights, so the head stays one Linear on the raw features). With
        self-training, this probe's probabilities on the unlabelled rows become their fixed targets (`teacher`, set
        by set_dataset): the student learns the labels and the probe's view of the rest, under augmentation (Xie et
        al. 2020, noisy student; Chen et al. 2020, SimCLRv2's distillation step)."""
        from sklearn.linear_model import LogisticRegression

        feats = self._features(images, spec).numpy()
        mean, std = feats.mean(axis=0), feats.std(axis=0) + 1e-6
        y = labels.numpy()
        probe = LogisticRegression(max_iter=1000, tol=1e-3).fit((feats - mean) / std, y)
        coef, bias = probe.coef_, probe.intercept_
        if len(probe.classes_) == 2:  # sklearn keeps one row for two classes: softmax([-z/2, z/2]) = sigmoid(z)
            coef, bias = np.vstack([-coef, coef]) / 2, np.concatenate([-bias, bias]) / 2
        weight = np.zeros((len(self.classes), feats.shape[1]), np.float32)  # classes with no training image: 0
        offset = np.full(len(self.classes), -1e4 if len(probe.classes_) < len(self.classes) else 0.0, np.float32)
        weight[probe.classes_] = coef / std
        offset[probe.classes_] = bias - (coef * mean / std).sum(axis=1)
        self.head.weight.copy_(torch.from_numpy(weight))
        self.head.bias.copy_(torch.from_numpy(offset))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        key = prefix + "teacher"
        if key in state_dict:  # the saved targets decide the size (a fresh method holds none)
            self.teacher = torch.empty_like(state_dict[key], device=self.teacher.device)
        else:  # a checkpoint from before self-training: no targets
            state_dict[key] = self.teacher
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def set_batch_indices(self, indices: Tensor) -> None:
        self._batch = indices

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        if self._batch is None:
            raise RuntimeError("The classifier needs the batch's dataset indices (set_batch_indices) before a step.")
        if self.teacher.shape[0] != self._unlabelled:
            raise ConfigError(
                f"This fine-tune learns from {self.teacher.shape[0]:,} unlabelled images but the folder now has "
                f"{self._unlabelled:,}; the folder changed since it started: start a new fine-tune."
            )
        index = self._batch.to(self.dataset_labels.device)
        labels = self.dataset_labels[index]  # (B,), -1 for an unlabelled row
        logits = self.logits(views[0]).float()  # (B, K)
        targets = F.one_hot(labels.clamp(min=0), len(self.classes)).float()
        unlabelled = labels < 0
        if bool(unlabelled.any()):  # self-training: the probe's probabilities, its soft labels
            first = len(self.dataset_labels) - self._unlabelled
            targets[unlabelled] = self.teacher[index[unlabelled] - first].float()
        loss = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()  # cross-entropy with soft targets
        # agreement with the targets' top class: the labels, and the probe's guess on unlabelled rows
        train_acc = (logits.detach().argmax(dim=1) == targets.argmax(dim=1)).float().mean()
        return StepOutput(loss, {"train_acc": train_acc})

    def optimizer_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        backbone = [p for p in self.encoder.parameters() if p.requires_grad]
        return [(backbone, self.backbone_lr_scale), (list(self.head.parameters()), 1.0)]

    @torch.no_grad()
    def predict(self, images: Tensor, spec: Any) -> Tensor:
        """Softmax probabilities (N, K) float32 on the CPU for uint8 images (N, 3, S, S), prepared as training does
        (resize, normalise, no augmentation), in eval mode (the previous mode is restored)."""
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        try:
            out = [
                F.softmax(self.logits(prepare(spec, images[i : i + EVAL_BATCH]).to(device)).float(), dim=1).cpu()
                for i in range(0, images.shape[0], EVAL_BATCH)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, len(self.classes))

    def selection(self) -> tuple[str, int] | None:
        """Keep the weights of the best held-out accuracy (checkpoint `best`) and stop after `finetune.patience`
        passes without a better one; none without a held-out split."""
        return (HOLDOUT_ACC, self.patience) if self._holdout is not None else None

    def monitor_values(self, spec: Any) -> dict[str, float]:
        if self._holdout is None:
            return {}
        images, labels = self._holdout
        predicted = self.predict(images, spec).argmax(dim=1)
        return {HOLDOUT_ACC: float((predicted == labels).float().mean())}
