"""The Fine-tune tab of Explore: two labelled classes fine-tune the open run as a new run next to it (its parent and
labels recorded, held-out accuracy logged, live curves), whose predictions fill the Predictions tab for every image;
Cancel leaves a resumable run that the Train workspace lists and resumes; closing mid-run is quick; the bad cases
are one sentence."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from tests.gui.test_explore_view import TIMEOUT, _open, make_view, small_run  # noqa: F401 (fixtures)
from tests.gui.test_train_view import runs_dir  # noqa: F401 (fixture: the app's runs folder in tmp_path)
from tests.results.test_embeddings import make_run
from workbench.engine.runs import RunDir
from workbench.gui.worker import active_threads, closing
from workbench.results.labels import read_entries


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _label_by_folder(view) -> dict[str, str]:
    """Label every image by its subfolder under a new name (as a user would, selection by selection)."""
    emb = view.embedding()
    for k in range(len(emb.class_names)):
        view.scatter.select(emb.labels == k)
        assert view.labels.assign(f"kind-{k}") == int((emb.labels == k).sum())
    return {p: f"kind-{int(k)}" for p, k in zip(emb.paths, emb.labels, strict=True)}


def _status(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def test_a_fine_tune_is_a_new_run_next_to_its_parent_and_predicts_every_image(qtbot, make_view, small_run):  # noqa: F811
    from workbench.results.predict import predict

    view = make_view()
    _open(qtbot, view, small_run)
    ft, emb = view.finetune, view.embedding()
    expected = _label_by_folder(view)
    assert ft.panel.output.text() == "small-run-finetune-1" and not ft.panel.predict.isEnabled()
    ft.panel.steps.setValue(4)
    with qtbot.waitSignal(ft.ended, timeout=TIMEOUT) as ended, qtbot.waitSignal(ft.runs_changed, timeout=TIMEOUT):
        ft.panel.start.click()
        assert not ft.panel.start.isEnabled() and ft.panel.cancel.isEnabled()
    assert ended.args == ["finished"]

    out = small_run.parent / "small-run-finetune-1"
    config = RunDir.open(out).load_config()
    assert config.method.name == "classifier" and config.finetune.parent == str(small_run.resolve())
    assert config.finetune.classes == ["kind-0", "kind-1"]
    saved = {e.path: e.label for e in read_entries(small_run / "labels.csv")}  # saved first, then learned from
    assert saved == expected and (out / "labels.csv").read_bytes() == (small_run / "labels.csv").read_bytes()
    metrics = _rows(out / "metrics.csv")
    assert [int(r["step"]) for r in metrics] == [1, 2, 3, 4] and _status(out)["status"] == "finished"
    holdout = [float(r["holdout_acc"]) for r in _rows(out / "epochs.csv") if r.get("holdout_acc")]
    assert holdout and all(0.0 <= a <= 1.0 for a in holdout)
    # the curves drew what the run logged: the loss of every step, the held-out accuracy of the start (epoch 0,
    # untrained.json: the level to beat) and of every measured pass
    start = json.loads((out / "untrained.json").read_text())["holdout_acc"]
    np.testing.assert_allclose(ft.panel.loss.y, [float(r["loss"]) for r in metrics], rtol=1e-5)
    np.testing.assert_allclose(ft.panel.accuracy.y, [start, *holdout], rtol=1e-5)
    assert ft.panel.accuracy.x[0] == 0
    assert ft.panel.output.text() == "small-run-finetune-2"  # the next one never overwrites this one

    with qtbot.waitSignal(ft.predicted, timeout=TIMEOUT) as predicted:
        assert ft.panel.predict.isEnabled()
        ft.panel.predict.click()
    assert predicted.args == [len(emb)]
    reference = predict(out, emb.root, device="cpu")  # the same run applied directly, outside the app
    by_path = dict(zip(reference.paths, reference.predicted, strict=True))
    table = view.labels.table.model()
    assert view.tabs.currentWidget() is view.labels.table and table.rowCount() == len(emb)
    table.sort(0, Qt.SortOrder.AscendingOrder)
    shown = {table.index(r, 0).data(): (table.index(r, 1).data(), table.index(r, 3).data()) for r in range(len(emb))}
    assert shown == {p: (by_path[p], expected[p]) for p in emb.paths}
    legend_total = sum(int(view.legend.item(i).text().split("(")[-1].rstrip(")")) for i in range(view.legend.count()))
    assert view.labels.shown == "prediction" and legend_total == len(emb)  # the map is coloured by the predictions


def test_cancel_leaves_a_resumable_run_that_the_train_workspace_lists_and_resumes(
    qtbot,
    make_window,
    image_folder,
    runs_dir,  # noqa: F811
):
    parent = make_run(image_folder, runs_dir / "parent")
    window = make_window(image_folder)
    view, train = window.explore_view, window.train_view
    view.auto_umap = False  # the map's PCA is enough here
    window.tabs.setCurrentWidget(train)  # the catalog loads when the tab is first shown
    qtbot.waitUntil(lambda: train.catalog is not None, timeout=30_000)
    window.explore_run(parent)
    qtbot.waitUntil(lambda: view.labels.emb is not None, timeout=TIMEOUT)
    ft = view.finetune
    _label_by_folder(view)
    ft.panel.steps.setValue(40)
    ft.panel.start.click()
    qtbot.waitUntil(lambda: ft.job.buffer.last is not None, timeout=TIMEOUT)  # it trains
    with qtbot.waitSignal(ft.ended, timeout=TIMEOUT) as ended:
        ft.panel.cancel.click()
    assert ended.args == ["stopped"]
    out = runs_dir / "parent-finetune-1"
    status = _status(out)
    assert status["status"] == "stopped" and 0 < status["step"] < 40 and RunDir(out).has_checkpoint()
    assert len(ft.panel.loss.x) == status["step"] and ft.panel.predict.isEnabled()
    listed = {r.path.name: r.status for r in train.runs.runs}
    assert listed.get("parent-finetune-1") == "stopped"  # the window refreshed the Train workspace's list

    assert train.start(out)  # Resume in the Train workspace: the fine-tune goes on from its checkpoint
    qtbot.waitUntil(lambda: not train.is_training(), timeout=TIMEOUT)
    final = _status(out)["step"]  # 40, or earlier where the held-out accuracy stopped improving (patience)
    assert train.job.error is None and _status(out)["status"] == "finished" and status["step"] < final <= 40
    assert [int(r["step"]) for r in _rows(out / "metrics.csv")] == list(range(1, final + 1))
    assert RunDir.open(out).load_config().finetune.parent == str(parent.resolve())


def test_closing_during_a_fine_tune_stops_it_cleanly_and_quickly(qtbot, make_view, small_run):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    _label_by_folder(view)
    ft = view.finetune
    ft.panel.steps.setValue(100_000)
    ft.panel.start.click()
    qtbot.waitUntil(lambda: ft.job.buffer.last is not None, timeout=TIMEOUT)
    started = time.monotonic()
    with closing(1.5):
        view.shutdown()
    assert time.monotonic() - started < 2.0  # the window's close budget, whatever the step takes
    assert ft.job.wait(30.0) and active_threads() == 0  # the stop asked for is honoured after that step
    status = _status(small_run.parent / "small-run-finetune-1")
    assert status["status"] == "stopped" and status["step"] < 100_000  # resumable


def test_what_cannot_be_fine_tuned_is_one_sentence(qtbot, make_view, small_run):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    ft, emb = view.finetune, view.embedding()
    sentences: list[str] = []
    view.failed.connect(sentences.append)

    def refused() -> str:
        before = len(sentences)
        assert not ft.start()
        assert len(sentences) == before + 1 and ft.panel.message.text() == sentences[-1]
        return sentences[-1]

    assert "Label some images first" in refused()
    view.scatter.select(emb.labels == 0)
    view.labels.assign("only")
    assert "at least 2 classes" in refused()
    view.scatter.select(emb.labels == 1)
    view.labels.assign("other")
    (small_run / "checkpoints" / "last.pt").unlink()  # a run that has not been trained (yet)
    assert "has no trained weights" in refused()
    for sentence in sentences:
        assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence each
    assert not (small_run.parent / "small-run-finetune-1").exists() and not ft.is_running()


def test_self_training_is_on_by_default_and_trains_the_unlabelled_images_too(qtbot, make_view, small_run):  # noqa: F811
    import torch

    view = make_view()
    _open(qtbot, view, small_run)
    ft, emb = view.finetune, view.embedding()
    for k in range(len(emb.class_names)):  # half of each folder labelled, the rest left for self-training
        rows = np.flatnonzero(emb.labels == k)[::2]
        view.scatter.select(np.isin(np.arange(len(emb)), rows))
        view.labels.assign(f"kind-{k}")
    labelled = sum(len(np.flatnonzero(emb.labels == k)[::2]) for k in range(len(emb.class_names)))
    ft.panel.steps.setValue(2)
    assert ft.panel.self_training.isChecked()
    with qtbot.waitSignal(ft.ended, timeout=TIMEOUT) as ended:
        ft.panel.start.click()
        assert not ft.panel.self_training.isEnabled()  # settings are fixed while it runs
    assert ended.args == ["finished"]
    out = small_run.parent / "small-run-finetune-1"
    assert RunDir.open(out).load_config().finetune.self_training
    teacher = torch.load(out / "checkpoints/last.pt", weights_only=True)["model"]["teacher"]
    assert teacher.shape == (len(emb) - labelled, 2)  # one soft label per image without a user label
