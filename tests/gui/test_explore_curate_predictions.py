"""Explore's curated export with predictions: the user's labels as labelled, every unlabelled image predicted at
least as confidently as asked by its prediction, the manifest saying which, the image folder untouched."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tests.gui.test_explore_view import TIMEOUT, _open, make_view, small_run  # noqa: F401 (fixtures)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else b"<folder>", p.stat().st_mtime_ns)
        for p in root.rglob("*")
    }


def test_the_curated_export_adds_confident_predictions(qtbot, make_view, small_run, tmp_path):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    labels, panel, emb = view.labels, view.labels.panel, view.embedding()
    for rows, name in ((np.arange(len(emb)) < 3, "first"), (np.arange(len(emb)) >= len(emb) - 3, "last")):
        view.scatter.select(rows)
        labels.assign(name)
    with qtbot.waitSignal(labels.propagated, timeout=TIMEOUT):
        panel.method.setCurrentIndex(panel.method.findData("knn"))
        panel.propagate.click()
    p, names = labels.prediction, labels.prediction_names
    user = {emb.paths[i]: labels.labels.label_of(i) for i in range(len(emb)) if labels.labels.label_of(i)}
    unlabelled = [i for i in range(len(emb)) if emb.paths[i] not in user]
    threshold = float(np.median(p.confidence[unlabelled]))
    predicted = {emb.paths[i]: names[p.predicted[i]] for i in unlabelled if p.confidence[i] >= threshold}
    before = _snapshot(emb.root)
    with qtbot.waitSignal(labels.exported, timeout=10_000):
        labels.export_curated(tmp_path / "curated", min_confidence=threshold)
    assert _snapshot(emb.root) == before
    with open(tmp_path / "curated/manifest.csv", newline="", encoding="utf-8") as f:
        manifest = list(csv.DictReader(f))
    got = {
        Path(r["source"]).relative_to(emb.root.resolve()).as_posix(): (r["label"], r["label_source"]) for r in manifest
    }
    assert got == {**{k: (v, "user") for k, v in user.items()}, **{k: (v, "predicted") for k, v in predicted.items()}}
    assert predicted and len(user) == 6
    for r in manifest:
        assert (tmp_path / "curated" / r["written"]).read_bytes() == Path(r["source"]).read_bytes()


def _written(folder: Path) -> dict[str, list[bytes]]:
    """Each class folder of a curated dataset -> the sorted bytes of its images (file names may take a suffix)."""
    return {d.name: sorted(f.read_bytes() for f in d.iterdir()) for d in folder.iterdir() if d.is_dir()}


def test_the_labels_tab_box_includes_the_confident_predictions(qtbot, make_view, small_run, tmp_path, monkeypatch):  # noqa: F811
    """Driven through the tab's own controls: label, Propagate, tick "Include predicted labels with confidence ≥",
    set the threshold, Curated dataset…; unticked, the same export holds the user's labels only."""
    from PySide6.QtWidgets import QFileDialog

    view = make_view()
    _open(qtbot, view, small_run)
    labels, panel, emb = view.labels, view.labels.panel, view.embedding()
    assert not panel.include_predicted.isEnabled() and not panel.min_confidence.isEnabled()  # nothing predicted yet
    for rows, name in ((np.arange(len(emb)) < 3, "first"), (np.arange(len(emb)) >= len(emb) - 3, "last")):
        view.scatter.select(rows)
        panel.name.setEditText(name)
        panel.label_selection.click()
    user = {emb.paths[i]: labels.labels.label_of(i) for i in range(len(emb)) if labels.labels.label_of(i)}
    assert len(user) == 6
    with qtbot.waitSignal(labels.propagated, timeout=TIMEOUT):
        panel.method.setCurrentIndex(panel.method.findData("knn"))
        panel.propagate.click()
    assert panel.include_predicted.isEnabled() and not panel.min_confidence.isEnabled()  # until the box is ticked
    panel.include_predicted.click()
    assert panel.include_predicted.isChecked() and panel.min_confidence.isEnabled()
    assert panel.min_confidence.value() == 0.9  # the default: only confident predictions

    p, names = labels.prediction, labels.prediction_names
    unlabelled = [i for i in range(len(emb)) if emb.paths[i] not in user]
    levels = sorted({round(float(p.confidence[i]), 2) for i in unlabelled})
    assert len(levels) >= 2, f"the knn vote gave one confidence level only: {levels}"
    panel.min_confidence.setValue((levels[0] + levels[-1]) / 2)  # some predictions above it, some below
    threshold = panel.min_confidence.value()
    confident = {emb.paths[i]: names[p.predicted[i]] for i in unlabelled if float(p.confidence[i]) >= threshold}
    assert 0 < len(confident) < len(unlabelled)

    before, out = _snapshot(emb.root), tmp_path / "with-predictions"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    with qtbot.waitSignal(labels.exported, timeout=10_000):
        panel.curate.click()
    assert _snapshot(emb.root) == before  # the image folder is only read
    expected = {**user, **confident}
    by_label: dict[str, list[bytes]] = {}
    for path, label in expected.items():
        by_label.setdefault(label, []).append((emb.root / path).read_bytes())
    assert _written(out) == {label: sorted(images) for label, images in by_label.items()}
    assert {f.name for f in out.iterdir() if f.is_file()} == {"manifest.csv"}
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        sources = {r["source"]: r["label_source"] for r in csv.DictReader(f)}
    root = emb.root.resolve()
    assert sources == {str(root / k): ("user" if k in user else "predicted") for k in expected}

    panel.include_predicted.click()  # unticked: the user's labels only
    assert panel.threshold() is None and not panel.min_confidence.isEnabled()
    out = tmp_path / "labels-only"
    with qtbot.waitSignal(labels.exported, timeout=10_000):
        panel.curate.click()
    user_by_label: dict[str, list[bytes]] = {}
    for path, label in user.items():
        user_by_label.setdefault(label, []).append((emb.root / path).read_bytes())
    assert _written(out) == {label: sorted(images) for label, images in user_by_label.items()}
    assert _snapshot(emb.root) == before
