"""Self-training in a fine-tune: every image of the folder without a label also trains, towards the probabilities the
start's probe gives it. Checked against an independent probe and loss, for the rows it trains on, and for resumes
(the targets travel in the checkpoint) and a folder that changed since."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import write_class_folder
from tests.engine.test_fit import StopAfter
from tests.results.test_finetune import SIZE, TINY, read_rows
from tests.results.test_interop import encoder_run
from workbench.config import FinetuneConfig
from workbench.engine.report import NullReporter
from workbench.engine.runs import RunDir
from workbench.errors import ConfigError
from workbench.results.finetune import _labelled_images, _parent_encoder, finetune, finetune_config
from workbench.results.labels import read_labels

LABELLED_PER_CLASS = 5  # of 12 images per class: 7 per class stay unlabelled


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(image folder, a labels file naming 5 of each class's 12 images, an SSL parent run), made once."""
    base = tmp_path_factory.mktemp("self_training")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = write_class_folder(base / "images", per_class=12, size=SIZE)
    rows = ["path,label"] + [
        f"{name}/{i:03d}.png,{name}" for name in ("circle", "square") for i in range(LABELLED_PER_CLASS)
    ]
    labels = base / "labels.csv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    parent = encoder_run(folder, base / "parent", "small-cnn", steps=2)
    yield folder, labels, parent
    torch.set_num_threads(threads)


def _images(setup, self_training: bool = True):
    folder, labels, parent = setup
    given = read_labels(labels, folder)
    task = FinetuneConfig(parent=str(parent), classes=given.names, self_training=self_training)
    config = finetune_config(RunDir.open(parent).load_config(), task, folder, steps=4, device="cpu")
    weights = _parent_encoder(RunDir.open(parent), "last")
    return config, given, _labelled_images(config, given, NullReporter(), weights)


def test_every_image_without_a_label_trains_and_the_held_out_ones_do_not(setup):
    folder, _, _ = setup
    _, given, images = _images(setup)
    every = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    unlabelled = sorted(set(every) - set(given.paths))
    assert len(unlabelled) == 2 * (12 - LABELLED_PER_CLASS)
    assert images.unlabelled == len(unlabelled) and sorted(images.paths[-images.unlabelled :]) == unlabelled
    assert list(images.labels[-images.unlabelled :]) == [-1] * len(unlabelled)
    labelled = images.paths[: len(images.paths) - images.unlabelled]
    assert set(labelled) | set(images.holdout_paths) == set(given.paths)
    assert set(images.paths).isdisjoint(images.holdout_paths)
    assert images.images.shape[0] == len(images.paths)
    _, _, plain = _images(setup, self_training=False)
    assert plain.unlabelled == 0 and sorted(plain.paths) == sorted(labelled)


def test_the_unlabelled_rows_learn_the_start_probes_probabilities(setup):
    """The targets are a logistic regression's probabilities (fitted here independently on the standardised frozen
    features of the labelled training rows) on each unlabelled image."""
    from sklearn.linear_model import LogisticRegression

    from workbench.augment.views import prepare
    from workbench.engine.trainer import build_method

    config, _, images = _images(setup)
    method = build_method(config)
    method.set_dataset(images)
    method.eval()
    n_known = len(images.paths) - images.unlabelled
    with torch.no_grad():
        feats = method.encoder.represent(prepare(config.augment, images.images), method.representation).numpy()
    known, rest = feats[:n_known], feats[n_known:]
    mean, std = known.mean(axis=0), known.std(axis=0) + 1e-6
    reference = LogisticRegression(max_iter=1000, tol=1e-3).fit((known - mean) / std, images.labels[:n_known])
    expected = reference.predict_proba((rest - mean) / std)  # columns: circle, square (the class ids 0, 1)
    assert method.teacher.shape == (images.unlabelled, 2)
    np.testing.assert_allclose(method.teacher.float().numpy(), expected, atol=2e-3)  # float16 targets


def test_a_step_is_cross_entropy_with_the_labels_and_the_soft_targets(setup):
    from workbench.engine.trainer import build_method

    config, _, images = _images(setup)
    method = build_method(config)
    method.set_dataset(images)
    n_known = len(images.paths) - images.unlabelled
    batch = torch.tensor([0, n_known - 1, n_known, len(images.paths) - 1])  # two labelled rows, two unlabelled
    x = torch.randn(4, 3, SIZE, SIZE)
    method.set_batch_indices(batch)
    loss = method.step([x]).loss
    with torch.no_grad():
        logp = F.log_softmax(method.logits(x).float(), dim=1).numpy()
    teacher = method.teacher.float().numpy()
    expected = np.mean(
        [
            -logp[0, images.labels[0]],
            -logp[1, images.labels[n_known - 1]],
            -(teacher[0] * logp[2]).sum(),
            -(teacher[-1] * logp[3]).sum(),
        ]
    )
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_a_stopped_self_training_fine_tune_resumes_to_the_same_weights(setup, tmp_path):
    _, labels, parent = setup
    tiny = {**TINY, "steps": 6, "self_training": True}
    finetune(parent, labels, tmp_path / "straight", **tiny)
    stopped = finetune(parent, labels, tmp_path / "run", reporter=StopAfter(3), **tiny)
    assert stopped.status == "stopped" and stopped.step == 3
    assert RunDir.open(tmp_path / "run").load_config().finetune.self_training
    resumed = finetune(parent, None, tmp_path / "run", resume=True)
    assert resumed.status == "finished" and resumed.step == 6
    assert [r["loss"] for r in read_rows(tmp_path / "run/metrics.csv")] == [
        r["loss"] for r in read_rows(tmp_path / "straight/metrics.csv")
    ]
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    assert a["teacher"].shape == (2 * (12 - LABELLED_PER_CLASS), 2)
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_a_folder_that_changed_since_the_start_is_one_sentence(setup, tmp_path):
    folder, labels, parent = setup
    copy = tmp_path / "images"
    copy.mkdir()
    for p in folder.rglob("*.png"):
        (copy / p.parent.name).mkdir(exist_ok=True)
        (copy / p.parent.name / p.name).write_bytes(p.read_bytes())
    tiny = {**TINY, "steps": 4, "self_training": True}
    finetune(parent, labels, tmp_path / "run", data=copy, reporter=StopAfter(2), **tiny)
    write_class_folder(copy / "extra", classes=("more",), per_class=3, size=SIZE, seed=3)  # 3 new unlabelled
    with pytest.raises(ConfigError, match=r"learns from 14 unlabelled images but the folder now has 17"):
        finetune(parent, None, tmp_path / "run", resume=True)


def test_a_checkpoint_from_before_self_training_still_loads(setup, tmp_path):
    """Fine-tuned runs made before the `teacher` buffer existed keep predicting."""
    from workbench.results.predict import predict

    folder, labels, parent = setup
    finetune(parent, labels, tmp_path / "run", **TINY, self_training=False)
    for name in ("last", "best"):
        path = Path(tmp_path / f"run/checkpoints/{name}.pt")
        if path.exists():
            state = torch.load(path, weights_only=True)
            del state["model"]["teacher"]
            torch.save(state, path)
    predictions = predict(tmp_path / "run", folder, device="cpu")
    assert len(predictions) == 24
