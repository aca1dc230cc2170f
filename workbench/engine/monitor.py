"""Per-epoch health of the representation on a fixed subset of the training images.

Label-free: alignment of two augmented views, uniformity, std of normalised embeddings (collapse warning) and
effective rank. With labels: a kNN top-1 with half of the subset as memory bank and half as queries, logged as
`knn_top1_train_split`: both halves are training images, so it tracks progress, not accuracy on held-out images
(that is `workbench eval`). Runs logged before the rename call the column `knn_top1`.

When it runs is a time schedule (engine/timing.py): evaluation takes a bounded share of the training time, so with
short epochs the health is measured every few epochs, and always for the final weights.
"""

from __future__ import annotations

import torch

from workbench.analysis.embed import embed_images, view_pair_features
from workbench.analysis.health import alignment, health_metrics
from workbench.analysis.knn import knn_top1
from workbench.augment.spec import AugmentSpec
from workbench.config import ExperimentConfig
from workbench.data import ImageSet
from workbench.engine.report import Reporter
from workbench.engine.runs import RunDir
from workbench.methods import Method

KNN_TRAIN_SPLIT = "knn_top1_train_split"  # epochs.csv column; older runs: "knn_top1"
MONITOR_IMAGES = 1024  # small enough to cost about a second a pass on a laptop CPU


def monitor_indices(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + 12_345)
    return torch.randperm(n, generator=generator)[: min(n, MONITOR_IMAGES)]


@torch.no_grad()
def epoch_metrics(
    method: Method, data: ImageSet, spec: AugmentSpec, config: ExperimentConfig, device: torch.device
) -> dict[str, float]:
    encoder = method.encoder
    rep = config.model.representation
    idx = monitor_indices(len(data), config.train.seed)
    images = data.images[idx]
    clean = embed_images(encoder, images, spec, representation=rep, device=device)
    values = health_metrics(clean)
    values["alignment"] = alignment(*view_pair_features(encoder, images, spec, rep, config.train.seed, device))
    labels = data.labels[idx.numpy()]
    if data.has_labels and (labels >= 0).sum() >= 8:
        half = len(idx) // 2
        values[KNN_TRAIN_SPLIT] = knn_top1(clean[:half], labels[:half], clean[half:], labels[half:])
    values.update(method.monitor_values(spec))  # e.g. the classifier's held-out accuracy
    return values


class Monitor:
    """fit()'s epochs.csv: one row per epoch (its mean loss), and on the rows fit() measures the health of the weights
    (label-free, plus the train-split kNN when labelled) on a fixed image subset. fit() measures when the time
    schedule allows it (engine/timing.py: at most `train.monitor_share` of the training time, and at most every
    `train.monitor_every_epochs` epochs) and always for the final weights of a run that finishes. Either knob at 0
    turns the monitor off: rows then hold the loss alone."""

    def __init__(
        self,
        run: RunDir,
        method: Method,
        data: ImageSet,
        spec: AugmentSpec,
        config: ExperimentConfig,
        device: torch.device,
        reporter: Reporter,
        main: bool,
    ) -> None:
        self.run, self.method, self.data, self.spec, self.config = run, method, data, spec, config
        self.device, self.reporter, self.main = device, reporter, main
        self.every = config.train.monitor_every_epochs
        self.enabled = self.every > 0 and config.train.monitor_share > 0

    def due(self, epoch: int) -> bool:
        """Whether `monitor_every_epochs` lets the 0-based `epoch` just finished be measured (time permitting)."""
        return self.enabled and (epoch + 1) % self.every == 0

    def end_epoch(
        self, epoch: int, step: int, losses: list[float], elapsed_s: float, measure: bool
    ) -> dict[str, float]:
        """The row of the 0-based `epoch` (finished, or where the run ended) at `step`: the mean loss, plus the health
        of the current weights when `measure`; appended to epochs.csv (main process) and reported. Returns it."""
        values: dict[str, float] = {"loss": sum(losses) / max(len(losses), 1)}
        if measure and self.main:  # the main process alone: the others would compute the same
            values.update(epoch_metrics(self.method, self.data, self.spec, self.config, self.device))
            self.method.train()
        if self.main:
            self.run.append_epoch({"epoch": epoch + 1, "step": step, "time_s": elapsed_s, **values})
        self.reporter.epoch(epoch + 1, values)
        return values
