"""Fine-tuning: a run's encoder + a head trained on a labels file through fit(), as a new run that records its parent,
learns (beats chance on images it never saw), trains the backbone slower than the head, resumes exactly, and whose
predictions cover every image; bad labels files are one sentence and leave nothing behind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_class_folder
from tests.engine.test_fit import StopAfter
from tests.results.test_interop import encoder_run
from workbench.engine.report import NullReporter
from workbench.engine.runs import RunDir
from workbench.errors import ConfigError, DataError, RunError
from workbench.results.finetune import finetune, stratified_split
from workbench.results.predict import predict, save_predictions_csv

SIZE = 16
TINY = {"steps": 20, "batch_size": 16, "device": "cpu", "patience": 0}  # no early stop: the steps are known


def write_labels(path: Path, folder: Path, classes: dict[str, str] | None = None) -> Path:
    """labels.csv naming every image of `folder` by its subfolder (or by `classes[subfolder]`)."""
    rows = ["path,label"]
    for p in sorted(folder.rglob("*.png")):
        name = p.parent.name
        rows.append(f"{p.relative_to(folder).as_posix()},{(classes or {}).get(name, name)}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(image folder, its labels file, an SSL parent run, a fine-tuned run), made once for the module."""
    base = tmp_path_factory.mktemp("finetune")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = write_class_folder(base / "images", per_class=12, size=SIZE)
    labels = write_labels(base / "labels.csv", folder)
    parent = encoder_run(folder, base / "parent", "small-cnn", steps=2)
    tuned = base / "tuned"
    finetune(parent, labels, tuned, **TINY)
    yield folder, labels, parent, tuned
    torch.set_num_threads(threads)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_fine_tuned_run_records_its_parent_and_labels_and_starts_from_the_parents_encoder(setup):
    folder, labels, parent, tuned = setup
    config = RunDir.open(tuned).load_config()
    assert config.method.name == "classifier" and config.finetune.parent == str(Path(parent).resolve())
    assert config.finetune.classes == ["circle", "square"] and config.finetune.labels == str(labels.resolve())
    assert (tuned / "labels.csv").read_bytes() == labels.read_bytes()
    assert json.loads((tuned / "run.json").read_text())["status"] == "finished"
    parent_state = torch.load(Path(parent) / "checkpoints/last.pt", weights_only=True)["model"]
    init = torch.load(tuned / "checkpoints/init.pt", weights_only=True)["model"]
    encoder_keys = [k for k in parent_state if k.startswith("encoder.")]
    assert encoder_keys and all(torch.equal(init[k], parent_state[k]) for k in encoder_keys)
    rows = read_rows(tuned / "metrics.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 21)) and "train_acc" in rows[0]
    epochs = read_rows(tuned / "epochs.csv")
    assert any(r.get("holdout_acc") for r in epochs)  # the held-out accuracy is logged as training goes


def test_it_beats_chance_on_images_it_never_saw(setup, tmp_path):
    _, _, _, tuned = setup
    unseen = write_class_folder(tmp_path / "unseen", per_class=10, size=SIZE, seed=7)  # new images, same classes
    predictions = predict(tuned, unseen, device="cpu")
    truth = [p.split("/")[0] for p in predictions.paths]
    accuracy = np.mean([a == b for a, b in zip(truth, predictions.predicted, strict=True)])
    assert len(predictions) == 20 and accuracy >= 0.8  # chance is 0.5
    assert np.all((predictions.confidence >= 0.5) & (predictions.confidence <= 1.0))  # the top of 2 probabilities
    np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_the_backbone_learns_at_a_tenth_of_the_heads_rate(setup):
    from workbench.engine.optim import set_lr
    from workbench.engine.trainer import Trainer

    _, _, _, tuned = setup
    config = RunDir.open(tuned).load_config()
    trainer = Trainer(config, torch.device("cpu"), 8)
    encoder_ids = {id(p) for p in trainer.method.encoder.parameters()}
    head_ids = {id(p) for p in trainer.method.head.parameters()}
    rates = {"encoder": set(), "head": set()}
    set_lr(trainer.optimizer, 0.01)  # the schedule's rate for a step, times each group's scale
    for group in trainer.optimizer.param_groups:
        ids = {id(p) for p in group["params"]}
        assert ids <= encoder_ids or ids <= head_ids
        rates["encoder" if ids <= encoder_ids else "head"].add(round(group["lr"], 12))
    assert rates == {"encoder": {0.001}, "head": {0.01}}
    optimised = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert optimised == encoder_ids | head_ids  # end to end: every weight trains


def test_a_stopped_fine_tune_resumes_to_the_same_weights(setup, tmp_path):
    folder, labels, parent, _ = setup
    tiny = {**TINY, "steps": 6}
    finetune(parent, labels, tmp_path / "straight", **tiny)
    stopped = finetune(parent, labels, tmp_path / "run", reporter=StopAfter(3), **tiny)
    assert stopped.status == "stopped" and stopped.step == 3
    resumed = finetune(parent, None, tmp_path / "run", resume=True)
    assert resumed.status == "finished" and resumed.step == 6
    rows = read_rows(tmp_path / "run/metrics.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    assert [r["loss"] for r in rows] == [r["loss"] for r in read_rows(tmp_path / "straight/metrics.csv")]
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_a_fine_tune_killed_before_its_first_checkpoint_resumes_from_the_parent(setup, tmp_path):
    folder, labels, parent, _ = setup
    tiny = {**TINY, "steps": 4}
    finetune(parent, labels, tmp_path / "straight", **tiny)
    finetune(parent, labels, tmp_path / "run", reporter=StopAfter(2), **tiny)
    (tmp_path / "run/checkpoints/last.pt").unlink()  # as if killed before `last` was first written
    resumed = finetune(parent, None, tmp_path / "run", resume=True)
    assert resumed.status == "finished" and resumed.step == 4
    assert [int(r["step"]) for r in read_rows(tmp_path / "run/metrics.csv")] == [1, 2, 3, 4]
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key])


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("path,label\nnowhere/x.png,circle\ncircle/000.png,circle\n", r"names 1 image\(s\) that are not in"),
        ("path,label\ncircle/000.png,circle\ncircle/001.png,circle\n", r"only one class \('circle'\)"),
        ("", r"is empty"),
        ("path,label\n", r"has a header but no labelled images"),
    ],
    ids=["unknown-path", "one-class", "empty", "no-rows"],
)
def test_a_bad_labels_file_is_one_sentence_and_makes_no_run(setup, tmp_path, rows, match):
    _, _, parent, _ = setup
    bad = tmp_path / "bad.csv"
    bad.write_text(rows, encoding="utf-8")
    with pytest.raises(DataError, match=match) as caught:
        finetune(parent, bad, tmp_path / "run", **TINY)
    assert str(caught.value).count(". ") == 0 and not (tmp_path / "run").exists()


def test_a_taken_out_folder_and_a_run_that_is_not_a_fine_tune_are_refused(setup):
    _, labels, parent, tuned = setup
    with pytest.raises(RunError, match="already holds a run"):
        finetune(parent, labels, tuned, **TINY)
    with pytest.raises(ConfigError, match="is not a fine-tuned run"):
        finetune(parent, None, parent, resume=True)
    with pytest.raises(ConfigError, match="not a fine-tuned one"):
        predict(parent, tuned, device="cpu")


def test_the_predictions_csv_has_every_image_once(setup, tmp_path):
    folder, _, _, tuned = setup
    predictions = predict(tuned, folder, device="cpu")
    path = save_predictions_csv(tmp_path / "p.csv", predictions, {"circle/000.png": "circle"})
    rows = read_rows(path)
    assert sorted(r["path"] for r in rows) == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert set(rows[0]) == {"path", "predicted", "confidence", "user_label"}
    assert {r["predicted"] for r in rows} <= {"circle", "square"}
    assert [r["user_label"] for r in rows if r["path"] == "circle/000.png"] == ["circle"]
    assert sum(1 for r in rows if r["user_label"]) == 1


@pytest.mark.parametrize("n_per_class", [[1, 2, 5, 10], [3, 3], [20, 1]])
def test_the_split_is_stratified_seeded_and_keeps_a_training_image_per_class(n_per_class):
    ids = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    np.random.default_rng(0).shuffle(ids)
    train, held = stratified_split(ids, 0.2, seed=3)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(ids)))  # a partition of the rows
    for c, n in enumerate(n_per_class):
        n_held = int((ids[held] == c).sum())
        expected = 0 if n < 2 else min(max(round(0.2 * n), 1), n - 1)
        assert n_held == expected and (ids[train] == c).sum() == n - expected
    again = stratified_split(ids, 0.2, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], held)


def test_the_held_out_images_are_not_trained_on(setup):
    from workbench.results.finetune import _labelled_images
    from workbench.results.labels import read_labels

    folder, labels, _, tuned = setup
    config = RunDir.open(tuned).load_config()
    given = read_labels(labels, folder)
    images = _labelled_images(config, given, NullReporter(), None)
    assert set(images.paths).isdisjoint(images.holdout_paths)
    assert sorted(images.paths + images.holdout_paths) == sorted(given.paths)
    assert len(images.holdout_paths) == 2 * round(0.2 * 12)  # 20 % of each class of 12
    truth = {p: p.split("/")[0] for p in given.paths}  # the folder is each image's class here
    assert [images.class_names[i] for i in images.labels] == [truth[p] for p in images.paths]
    assert [images.class_names[i] for i in images.holdout_labels] == [truth[p] for p in images.holdout_paths]


def test_the_classifier_is_not_an_ssl_choice_and_trains_only_on_labelled_images(setup, tmp_path):
    from workbench.engine.fit import fit
    from workbench.methods import list_methods, method_class

    _, _, _, tuned = setup
    assert "classifier" not in list_methods() and method_class("classifier").supervised
    config = RunDir.open(tuned).load_config()
    with pytest.raises(ConfigError, match=r"trains on labelled images only; fine-tune a run with"):
        fit(config, tmp_path / "run")  # the folder's own images, without a labels file's split


def test_a_fresh_fine_tune_starts_its_head_as_the_linear_probe_on_the_frozen_features(setup):
    """LP-FT: before any step, the head's logits are a logistic regression's on the representation's standardised
    features (fitted here independently), folded into one Linear on the raw features."""
    from sklearn.linear_model import LogisticRegression

    from workbench.augment.views import prepare
    from workbench.engine.trainer import build_method
    from workbench.results.finetune import _labelled_images, _parent_encoder
    from workbench.results.labels import read_labels

    folder, labels, parent, tuned = setup
    config = RunDir.open(tuned).load_config()
    weights = _parent_encoder(RunDir.open(parent), "last")
    images = _labelled_images(config, read_labels(labels, folder), NullReporter(), weights)
    method = build_method(config)
    method.set_dataset(images)
    method.eval()
    with torch.no_grad():
        x = prepare(config.augment, images.images)
        feats = method.encoder.represent(x, method.representation).numpy()
        logits = method.logits(x).numpy()
    assert feats.shape[1] == method.head.in_features == method.encoder.representation_dim("stage3-grid")
    mean, std = feats.mean(axis=0), feats.std(axis=0) + 1e-6
    reference = LogisticRegression(max_iter=1000, tol=1e-3).fit((feats - mean) / std, images.labels)
    expected = reference.decision_function((feats - mean) / std)  # two classes: logit(square) - logit(circle)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], expected, rtol=1e-3, atol=1e-3)
