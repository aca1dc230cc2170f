"""A fine-tuned run applied to a folder: one predicted class and its confidence per image, and the predictions CSV.

`predict(run, folder)` rebuilds the run's classifier (encoder + head, methods/classifier.py) from its `best`
checkpoint (the weights of the best held-out accuracy, kept by fit(): engine/checkpoints.py), or its `last` one when
it has no best (no held-out split) or `checkpoint="last"` is asked for, decodes the folder at the run's resolution
(the decode cache, never a file in the folder) and scores every readable image prepared as training prepares it
(resize, normalise, no augmentation). Confidence is the softmax probability of the predicted class.

`save_predictions_csv` writes `path,predicted,confidence,user_label` (user_label: the image's label in a labels
file, if any), atomically and never inside the image folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.engine.checkpoints import BestCheckpoint
from workbench.engine.report import NullReporter, Reporter
from workbench.engine.runs import RunDir
from workbench.errors import ConfigError
from workbench.results.curate import PREDICTION_COLUMNS, write_predictions

BEST = BestCheckpoint.NAME


@dataclass
class Predictions:
    root: Path
    paths: list[str]  # relative posix paths of the readable images, in the folder's order
    predicted: list[str]  # class name per image
    confidence: np.ndarray  # float32 (N,): softmax probability of the predicted class
    probabilities: np.ndarray  # float32 (N, K)
    class_names: list[str]
    checkpoint: str = "last"  # the run's checkpoint that predicted

    def __len__(self) -> int:
        return len(self.paths)


def default_checkpoint(run: RunDir) -> str:
    """The checkpoint a user gets from a fine-tuned run: `best` when fit() kept one, else `last`."""
    return BEST if run.has_checkpoint(BEST) else "last"


def load_classifier(run_dir: str | Path, checkpoint: str | None = None, device: str = "cpu"):
    """(config, the run's Classifier in eval mode on `device`) from `checkpoint` (None: `default_checkpoint`, the
    best one when there is one); ConfigError when the run is not a fine-tune. The method's `checkpoint` attribute
    names the one loaded."""
    import torch

    from workbench.engine.devices import resolve_device
    from workbench.engine.trainer import build_method
    from workbench.results.finetune import CLASSIFIER

    run = RunDir.open(run_dir)
    config = run.load_config()
    if config.method.name != CLASSIFIER:
        raise ConfigError(
            f"'{run.path}' is a {config.method.name} run, not a fine-tuned one; fine-tune it first with "
            "`workbench finetune RUN --labels labels.csv --out RUN2`."
        )
    checkpoint = checkpoint or default_checkpoint(run)
    state = run.load_checkpoint(checkpoint)
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; the caller's generator must not move
        method = build_method(config)
    method.load_state_dict(state["model"])
    method.checkpoint = checkpoint
    return config, method.to(resolve_device(device)).eval()


def predict(
    run_dir: str | Path,
    folder: str | Path,
    *,
    device: str = "auto",
    reporter: Reporter | None = None,
    checkpoint: str | None = None,
) -> Predictions:
    """The fine-tuned run's class and confidence for every readable image of `folder` (sub-folders included), by its
    `checkpoint` (None: the best one when there is one, else the last)."""
    from workbench.engine.fit import load_data

    reporter = reporter or NullReporter()
    config, method = load_classifier(run_dir, checkpoint, device=device)
    images = load_data(config, reporter, folder)
    reporter.message(f"Predicting {len(images)} images with checkpoint '{method.checkpoint}' ...")
    probabilities = method.predict(images.images, config.augment).numpy().astype(np.float32)
    best = probabilities.argmax(axis=1) if len(images) else np.zeros(0, dtype=np.int64)
    names = list(method.classes)
    return Predictions(
        root=images.root,
        paths=list(images.paths),
        predicted=[names[i] for i in best],
        confidence=probabilities[np.arange(len(best)), best].astype(np.float32),
        probabilities=probabilities,
        class_names=names,
        checkpoint=method.checkpoint,
    )


def save_predictions_csv(
    path: str | Path,
    predictions: Predictions,
    user_labels: dict[str, str] | None = None,
    image_root: Path | None = None,
) -> Path:
    """One row per image: path, predicted class, confidence, the user's label (empty if none): the one predictions
    table (results/curate.py writes it, for propagation too)."""
    names = sorted(set(predictions.predicted))
    ids = {name: i for i, name in enumerate(names)}
    user = [(user_labels or {}).get(p) for p in predictions.paths]
    predicted = [ids[name] for name in predictions.predicted]
    root = image_root or predictions.root
    return write_predictions(path, predictions.paths, names, predicted, predictions.confidence, user, image_root=root)


__all__ = [
    "BEST",
    "PREDICTION_COLUMNS",
    "Predictions",
    "default_checkpoint",
    "load_classifier",
    "predict",
    "save_predictions_csv",
]
