"""A fine-tune keeps its best model: checkpoint `best` holds the weights of the best held-out accuracy (the start,
the linear-probe head, included; ties keep the earlier), it stops early after `patience` passes without improvement,
a resume of a run that stopped early does not train again, and predict / export use `best` by default."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_class_folder
from tests.results.test_finetune import write_labels
from tests.results.test_interop import encoder_run
from workbench.engine import fit as fit_module
from workbench.methods.classifier import HOLDOUT_ACC, Classifier
from workbench.results.finetune import finetune, stratified_split
from workbench.results.labels import read_labels
from workbench.results.predict import predict

SIZE = 16
TINY = {"batch_size": 16, "device": "cpu"}  # 20 training images: one step an epoch, a held-out pass each


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("finetune-best")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = write_class_folder(base / "images", per_class=12, size=SIZE)
    labels = write_labels(base / "labels.csv", folder)
    parent = encoder_run(folder, base / "parent", "small-cnn", steps=2)
    yield folder, labels, parent
    torch.set_num_threads(threads)


@pytest.fixture
def every_epoch(monkeypatch):
    """The monitor measures at every epoch end (its time share would otherwise decide, by the machine's speed)."""
    allows = fit_module.Overheads.allows
    monkeypatch.setattr(
        fit_module.Overheads, "allows", lambda self, elapsed, kind: kind == "monitor" or allows(self, elapsed, kind)
    )


class Scripted:
    """A held-out signal injected in place of the measured one, and a copy of the weights at every pass."""

    def __init__(self, values: list[float]):
        self.values, self.weights = list(values), []

    def __call__(self, method: Classifier, spec) -> dict[str, float]:
        self.weights.append({k: v.detach().clone() for k, v in method.state_dict().items()})
        return {HOLDOUT_ACC: self.values.pop(0) if self.values else 0.0}


@pytest.fixture
def scripted(monkeypatch, every_epoch):
    def use(values: list[float]) -> Scripted:
        script = Scripted(values)
        monkeypatch.setattr(Classifier, "monitor_values", lambda self, spec: script(self, spec))
        return script

    return use


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def model(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_best_holds_the_weights_of_the_best_pass_and_a_plateau_stops_the_run(setup, tmp_path, scripted):
    folder, labels, parent = setup
    # step 0 (the probe start), 1, 2 improve; 3 ties 2 (the earlier is kept); 3 passes without improvement: stop
    script = scripted([0.5, 0.6, 0.75, 0.75, 0.7, 0.6, 0.9, 0.9])
    out = tmp_path / "tuned"
    result = finetune(parent, labels, out, steps=30, patience=3, **TINY)
    assert result.status == "finished" and result.step == 5  # 30 steps asked; the plateau ended it
    assert [int(r["step"]) for r in rows(out / "metrics.csv")] == [1, 2, 3, 4, 5]
    status = json.loads((out / "run.json").read_text())
    assert status["best_step"] == 2 and status["best_holdout_acc"] == pytest.approx(0.75)
    assert "stopped early" in status["message"] and "step 2" in status["message"]
    best = torch.load(out / "checkpoints/best.pt", weights_only=True)
    assert best["position"]["step"] == 2
    assert len(script.weights) == 6  # passes at steps 0..5
    assert_same(best["model"], script.weights[2])
    assert_same(model(out / "checkpoints/last.pt"), script.weights[5])

    # a resume of the stopped run does not train again, even with more steps
    again = finetune(parent, None, out, resume=True, steps=60)
    assert again.step == 5 and "stopped early" in again.message
    assert [int(r["step"]) for r in rows(out / "metrics.csv")] == [1, 2, 3, 4, 5]
    assert_same(model(out / "checkpoints/best.pt"), script.weights[2])

    # predict uses best by default; last on request (other weights, other probabilities)
    default, last = predict(out, folder, device="cpu"), predict(out, folder, device="cpu", checkpoint="last")
    assert default.checkpoint == "best" and last.checkpoint == "last"
    assert not np.allclose(default.probabilities, last.probabilities)


def test_the_start_itself_can_be_the_best(setup, tmp_path, scripted):
    folder, labels, parent = setup
    scripted([0.9, 0.5, 0.9, 0.4])  # nothing beats the linear-probe start (a tie does not)
    out = tmp_path / "tuned"
    result = finetune(parent, labels, out, steps=30, patience=3, **TINY)
    assert result.step == 3 and json.loads((out / "run.json").read_text())["best_step"] == 0
    assert_same(model(out / "checkpoints/best.pt"), model(out / "checkpoints/init.pt"))  # the weights it started from


def test_patience_zero_never_stops_early(setup, tmp_path, scripted):
    folder, labels, parent = setup
    scripted([0.9] + [0.1] * 20)
    result = finetune(parent, labels, tmp_path / "tuned", steps=8, patience=0, **TINY)
    assert result.step == 8 and json.loads((tmp_path / "tuned/run.json").read_text())["best_step"] == 0


def test_the_saved_best_scores_the_best_measured_accuracy_on_the_held_out_images(setup, tmp_path, every_epoch):
    folder, labels, parent = setup
    out = tmp_path / "tuned"
    finetune(parent, labels, out, steps=12, patience=0, lr=1e-2, **TINY)
    start = json.loads((out / "untrained.json").read_text())
    curve = [(0, start[HOLDOUT_ACC])] + [(int(r["step"]), float(r[HOLDOUT_ACC])) for r in rows(out / "epochs.csv")]
    top = max(acc for _, acc in curve)
    first = min(step for step, acc in curve if acc == top)
    assert json.loads((out / "run.json").read_text())["best_step"] == first
    # independently: the held-out images (the same stratified split), scored by the saved checkpoint
    given = read_labels(labels, folder)
    _, held = stratified_split(given.ids, 0.2, 0)
    truth = {given.paths[i]: given.names[given.ids[i]] for i in held}
    predictions = predict(out, folder, device="cpu")
    assert predictions.checkpoint == "best"
    hits = [
        predicted == truth[p]
        for p, predicted in zip(predictions.paths, predictions.predicted, strict=True)
        if p in truth
    ]
    assert len(hits) == len(held) and np.mean(hits) == pytest.approx(top)


def test_without_held_out_labels_there_is_no_best_and_predict_uses_last(setup, tmp_path):
    folder, labels, parent = setup
    out = tmp_path / "tuned"
    finetune(parent, labels, out, steps=3, holdout_fraction=0.0, **TINY)
    assert not (out / "checkpoints/best.pt").exists() and "best_step" not in json.loads((out / "run.json").read_text())
    assert predict(out, folder, device="cpu").checkpoint == "last"


def test_an_unlearnable_folder_stops_on_its_plateau(tmp_path, every_epoch, one_torch_thread):
    """Pure noise with random labels: the held-out accuracy never rises for long, so the run stops early."""
    folder = write_class_folder(tmp_path / "images", per_class=12, size=SIZE)
    rng = np.random.default_rng(1)
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{p},{'ab'[int(rng.integers(2))]}\n" for p in paths), encoding="utf-8")
    parent = encoder_run(folder, tmp_path / "parent", "small-cnn", steps=1)
    result = finetune(parent, labels, tmp_path / "tuned", steps=200, patience=2, lr=1e-4, **TINY)
    assert result.step < 200 and "stopped early" in result.message
