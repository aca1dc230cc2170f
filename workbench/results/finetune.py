"""Fine-tuning a self-supervised run on a few labels: a new run folder whose encoder starts from the parent's.

`finetune(parent, labels_file, out)` reads the labels (results/labels.py: unknown paths, one class or no rows are
one sentence), decodes the parent's image folder at the parent's resolution, splits the labelled images per class
into a training and a held-out part (stratified, seeded: the same split on every resume), and trains the
`classifier` method (methods/classifier.py: the encoder under a linear head, one augmented view, the backbone at a
tenth of the head's learning rate) with fit() itself. So it reports what any run reports, through the same code:
metrics.csv (loss, train_acc), epochs.csv (holdout_acc at the monitor's passes), TensorBoard, the reporter's
progress; it checkpoints by the same policy, holds the same lock and resumes the same way (`resume=True`).
With a few labels end-to-end training soon overfits, so fit() also keeps the weights of the best held-out accuracy
as checkpoint `best` (the start, the LP-FT probe, measured at step 0 too) and stops after `finetune.patience`
passes without improvement (the classifier's `selection()`, engine/checkpoints.py BestCheckpoint); run.json records
`best_step` and `best_holdout_acc`. A resume of a run that stopped early does not train again.

The new run records where it came from: `finetune.parent` (the SSL run), `finetune.labels` (the file given) and
`finetune.classes` in its config.json, and RUN/labels.csv, a copy of the labels file, which a resume reads (the
original may have changed since). The run folder is made (config + labels.csv) before fit() trains in it as a
resume of a run with no checkpoint yet: fit() refuses a non-empty new folder, and the labels must be in the run
before its first step so that a run killed at any point resumes.

`predict` (results/predict.py) applies a fine-tuned run to a folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from workbench.config import ExperimentConfig, FinetuneConfig, MethodConfig, OptimConfig
from workbench.data import demo_dataset_path
from workbench.engine.fit import FitResult, fit, load_data
from workbench.engine.report import NullReporter, Reporter
from workbench.engine.runs import RunDir
from workbench.errors import ConfigError, DataError
from workbench.files import atomic_write_bytes, ensure_outside
from workbench.methods import resolve_config
from workbench.methods.classifier import LabelledImages
from workbench.results.labels import Labels, read_labels

CLASSIFIER = "classifier"
DEFAULT_STEPS = 300  # when neither steps nor a time budget is given
DEFAULT_LR = 1e-3  # the head's peak rate (AdamW); the encoder's is finetune.backbone_lr_scale times it
DEFAULT_BATCH = 64
DEFAULT_PATIENCE = FinetuneConfig.patience  # held-out passes without improvement before an early stop
MANY_EPOCHS = 1_000_000  # epochs of a few labels are a step or two: the steps or the time budget end the run


def finetune(
    parent: str | Path,
    labels_file: str | Path | None,
    out: str | Path,
    *,
    data: str | Path | None = None,
    steps: int | None = None,
    time_budget_s: float | None = None,
    resume: bool = False,
    reporter: Reporter | None = None,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH,
    backbone_lr_scale: float = 0.1,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    device: str | None = None,
    start: str = "last",
    patience: int = DEFAULT_PATIENCE,
    self_training: bool = True,
) -> FitResult:
    """Fine-tune the parent run's encoder on `labels_file` (path,label rows relative to the image folder: `data`, by
    default the parent's) in the new run folder `out`; or, with `resume=True`, continue the fine-tuned run `out`
    (`parent`, `labels_file` and `data` are then read from it; steps / time budget / device may change).
    Stops after `steps` optimizer steps or `time_budget_s` seconds (default DEFAULT_STEPS steps). `start` is the
    parent's checkpoint the encoder starts from: "last", or "init" for its untrained weights (training from scratch,
    the baseline that shows what self-supervision bought). The weights of the best held-out accuracy (the start, the
    linear probe, included) are kept as checkpoint `best`, what `predict` and `export` use; it stops early after
    `patience` held-out measurements without improvement (0: never). `self_training` (the default: measured 3.5-5
    points better with 100 labels, benchmarks/RESULTS.md) also trains on every image of the folder that has no
    label, towards the probabilities the start's probe gives it (soft pseudo-labels)."""
    reporter = reporter or NullReporter()
    if resume:
        return _resume(out, steps, time_budget_s, device, reporter)
    if labels_file is None:
        raise ConfigError("Fine-tuning needs a labels file (--labels labels.csv: columns path,label).")
    RunDir.check_new(out)  # a taken --out is refused before the images are read
    parent_run = RunDir.open(parent)
    parent_config = parent_run.load_config()
    if not parent_run.has_checkpoint(start):
        raise DataError(f"Run '{parent_run.path}' has no checkpoint '{start}' yet; train it before fine-tuning it.")
    root = Path(data or parent_config.data.path or demo_dataset_path()).expanduser().resolve()
    labels = read_labels(labels_file, root)
    config = finetune_config(
        parent_config,
        FinetuneConfig(
            parent=str(parent_run.path.resolve()),
            parent_checkpoint=start,
            labels=str(Path(labels_file).resolve()),
            classes=labels.names,
            backbone_lr_scale=backbone_lr_scale,
            holdout_fraction=holdout_fraction,
            patience=patience,
            self_training=self_training,
        ),
        root,
        steps=steps,
        time_budget_s=time_budget_s,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        device=device,
    )
    config = resolve_config(config)  # validates; as fit() will save it
    ensure_outside(out, root, "the run folder")
    images = _labelled_images(config, labels, reporter, _parent_encoder(parent_run, start))
    run = RunDir.create(out, config)
    atomic_write_bytes(run.labels_path, Path(labels_file).read_bytes())  # the labels this run learns, kept with it
    reporter.message(f"Fine-tuning {parent_run.path.name} on {len(labels)} labels of {len(labels.names)} classes.")
    return fit(config, out, reporter=reporter, resume=True, images=images)


def finetune_config(
    parent: ExperimentConfig,
    task: FinetuneConfig,
    root: Path,
    *,
    steps: int | None = None,
    time_budget_s: float | None = None,
    lr: float = DEFAULT_LR,
    batch_size: int = DEFAULT_BATCH,
    seed: int = 0,
    device: str | None = None,
) -> ExperimentConfig:
    """The fine-tune's config: the parent's data resolution, augmentations and encoder; the classifier method;
    AdamW at `lr` (the head's; cosine with warm-up); checkpoints by time only (epochs are a step or two)."""
    parent = resolve_config(parent)
    config = ExperimentConfig(
        data=dataclasses.replace(parent.data, path=str(root)),
        augment=parent.augment,
        model=parent.model,
        method=MethodConfig(name=CLASSIFIER),
        optim=OptimConfig(name="adamw", lr=lr, weight_decay=1e-4, warmup_fraction=0.05),
        train=dataclasses.replace(
            parent.train,
            epochs=MANY_EPOCHS,
            max_steps=steps if steps is not None or time_budget_s is not None else DEFAULT_STEPS,
            time_budget_s=time_budget_s,
            batch_size=batch_size,
            seed=seed,
            compile=False,
            checkpoint_every_epochs=0,
            snapshot_every_s=None,
            monitor_every_epochs=1,
        ),
        finetune=task,
    )
    if device is not None:
        config.train.device = device
    return config


def stratified_split(ids: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows) of class ids (L,): about `fraction` of each class held out, at least one of a
    class with two or more images and never its last one; the same for the same ids and seed. Rows are sorted."""
    rng = np.random.default_rng(seed + 7_777)
    train, held = [], []
    for c in np.unique(ids):
        rows = np.flatnonzero(ids == c)
        rng.shuffle(rows)
        k = int(round(fraction * len(rows)))
        k = 0 if fraction <= 0 or len(rows) < 2 else min(max(k, 1), len(rows) - 1)
        held.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _labelled_images(
    config: ExperimentConfig, labels: Labels, reporter: Reporter, weights: dict | None
) -> LabelledImages:
    """The labelled images decoded at the run's resolution, split into training rows and the held-out part."""
    images = load_data(config, reporter, config.data.path)
    row = {p: i for i, p in enumerate(images.paths)}
    keep = np.array([p in row for p in labels.paths], dtype=bool)
    if not keep.all():
        reporter.message(f"{int((~keep).sum())} labelled image(s) could not be read and are left out.")
    paths = [p for p, k in zip(labels.paths, keep, strict=True) if k]
    ids = labels.ids[keep]
    if len(np.unique(ids)) < 2:
        raise DataError("Fewer than 2 classes have a readable labelled image; label images of at least 2 classes.")
    train, held = stratified_split(ids, config.finetune.holdout_fraction, config.train.seed)
    rows = np.array([row[p] for p in paths], dtype=np.int64)
    reporter.message(f"{len(train)} labelled images to train on, {len(held)} held out for accuracy.")
    unlabelled = np.array([], dtype=np.int64)
    if config.finetune.self_training:  # every image without a label (nor held out) learns the probe's soft labels
        unlabelled = np.setdiff1d(np.arange(len(images.paths)), rows)
        reporter.message(f"Self-training: {len(unlabelled):,} unlabelled images learn the start probe's predictions.")
    train_rows = np.concatenate([rows[train], unlabelled])
    return LabelledImages(
        root=images.root,
        paths=[paths[i] for i in train] + [images.paths[i] for i in unlabelled],
        labels=np.concatenate([ids[train], np.full(len(unlabelled), -1, dtype=ids.dtype)]),
        class_names=list(labels.names),
        images=images.images[torch.as_tensor(train_rows)].contiguous(),
        image_size=images.image_size,
        report=images.report,
        holdout_images=images.images[rows[held]].contiguous(),
        holdout_labels=ids[held],
        holdout_paths=[paths[i] for i in held],
        encoder_weights=weights,
        spec=config.augment,
        unlabelled=len(unlabelled),
    )


def _parent_encoder(run: RunDir, checkpoint: str) -> dict:
    """The encoder's weights in the run's checkpoint (its method's `encoder.*` entries)."""
    state = run.load_checkpoint(checkpoint)["model"]
    prefix = "encoder."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _resume(
    out: str | Path, steps: int | None, time_budget_s: float | None, device: str | None, reporter: Reporter
) -> FitResult:
    run = RunDir.open(out)
    config = run.load_config()
    if config.method.name != CLASSIFIER:
        raise ConfigError(f"'{run.path}' is not a fine-tuned run; resume it with `workbench train --resume`.")
    if steps is not None or time_budget_s is not None:  # a new end: the given one alone
        config.train.max_steps, config.train.time_budget_s = steps, time_budget_s
    if device is not None:
        config.train.device = device
    if not run.labels_path.is_file():
        raise DataError(f"The fine-tuned run '{run.path}' has lost its labels file ({run.labels_path.name}).")
    labels = read_labels(run.labels_path, config.data.path)
    if labels.names != config.finetune.classes:
        raise DataError(
            f"The labels in '{run.labels_path}' name other classes than the run was trained on "
            f"({', '.join(config.finetune.classes)}); start a new fine-tune for them."
        )
    weights = None
    if not run.has_checkpoint():  # killed before its first checkpoint: it starts from the parent again
        parent = RunDir.open(config.finetune.parent)
        weights = _parent_encoder(parent, config.finetune.parent_checkpoint)
    images = _labelled_images(config, labels, reporter, weights)
    return fit(config, out, reporter=reporter, resume=True, images=images)


__all__ = ["CLASSIFIER", "finetune", "finetune_config", "stratified_split"]
