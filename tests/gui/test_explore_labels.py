"""The Labels tab of Explore: label a box selection, undo, relabel; labels saved with the run and loaded back;
propagation predicts every image and colours the map; suggestions jump; the exports write what was labelled."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt

from tests.gui.test_explore_view import TIMEOUT, _drag, _open, make_view, small_run  # noqa: F401 (fixtures)
from workbench.results.labels import read_entries


def _box_select(qtbot, view, left: bool) -> np.ndarray:
    """Drag a box over the points left (or right) of the widest vertical gap; returns the rows it should select."""
    scatter = view.scatter
    xy = scatter.xy
    order = np.sort(xy[:, 0])
    gap = int(np.argmax(np.diff(order)))
    cut = (order[gap] + order[gap + 1]) / 2
    rect = scatter.vb.viewRect()
    x0 = rect.left() + 0.005 * rect.width() if left else cut
    x1 = cut if left else rect.right() - 0.005 * rect.width()
    top, bottom = rect.bottom() - 0.005 * rect.height(), rect.top() + 0.005 * rect.height()
    a = scatter.mapFromScene(scatter.vb.mapViewToScene(QPointF(x0, top)))
    b = scatter.mapFromScene(scatter.vb.mapViewToScene(QPointF(x1, bottom)))
    view.controls.tool_buttons["box"].click()
    with qtbot.waitSignal(scatter.selection_changed, timeout=5000):
        _drag(qtbot, scatter.viewport(), [a, (a + b) / 2, b])
    expected = np.flatnonzero(xy[:, 0] < cut) if left else np.flatnonzero(xy[:, 0] > cut)
    assert scatter.selected_rows().tolist() == expected.tolist()
    return expected


def _saved(qtbot, labels) -> dict[str, str]:
    """Wait for the labels file to be written and read it back."""
    with qtbot.waitSignal(labels.saved, timeout=10_000) as blocker:
        pass
    return {e.path: e.label for e in read_entries(Path(blocker.args[0]), allow_empty=True)}


def test_label_a_box_selection_undo_relabel_propagate_and_export(qtbot, make_view, small_run, tmp_path):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    labels, panel, emb = view.labels, view.labels.panel, view.embedding()
    left = _box_select(qtbot, view, left=True)
    assert 0 < left.size < len(emb) and panel.label_selection.isEnabled()

    panel.name.setEditText("spots")
    panel.label_selection.click()
    assert [labels.labels.label_of(i) for i in range(len(emb))] == [
        "spots" if i in left else None for i in range(len(emb))
    ]
    assert _saved(qtbot, labels) == {emb.paths[i]: "spots" for i in left}
    assert (small_run / "labels.csv").is_file()

    panel.undo.click()
    assert all(labels.labels.label_of(i) is None for i in range(len(emb))) and not panel.undo.isEnabled()
    assert _saved(qtbot, labels) == {}
    panel.name.setEditText("stripes")
    panel.label_selection.click()  # relabel the same selection under another name
    right = _box_select(qtbot, view, left=False)
    panel.name.setEditText("plain")
    panel.label_selection.click()
    expected = {**{emb.paths[i]: "stripes" for i in left}, **{emb.paths[i]: "plain" for i in right}}
    assert _saved(qtbot, labels) == expected
    assert "2 classes" in panel.summary.text()

    panel.colour_labels.click()
    counts = [int(view.legend.item(i).text().split("(")[-1].rstrip(")")) for i in range(view.legend.count())]
    assert counts == [right.size, left.size, len(emb) - left.size - right.size]  # plain, stripes, (unlabelled)

    with qtbot.waitSignal(labels.propagated, timeout=TIMEOUT) as blocker:
        panel.method.setCurrentIndex(panel.method.findData("knn"))
        panel.propagate.click()
    assert blocker.args == [len(emb)]
    assert labels.prediction.predicted.shape == (len(emb),) and panel.colour_confidence.isEnabled()
    legend_total = sum(int(view.legend.item(i).text().split("(")[-1].rstrip(")")) for i in range(view.legend.count()))
    assert legend_total == len(emb)
    table = labels.table.model()
    assert table.rowCount() == len(emb)  # the table lists every prediction, least confident first
    shown = [float(table.index(r, 2).data().rstrip("%")) for r in range(table.rowCount())]
    assert shown == sorted(shown)
    least = int(np.argmin(labels.prediction.confidence))
    assert table.index(0, 0).data() == emb.paths[least] or shown[0] == shown[1]
    table.sort(0, Qt.SortOrder.AscendingOrder)
    assert [table.index(r, 0).data() for r in range(table.rowCount())] == emb.paths
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000):
        labels.table.clicked.emit(table.index(4, 1))
    assert view.scatter.current == 4

    with qtbot.waitSignal(labels.exported, timeout=10_000):
        labels.export_predictions(tmp_path / "predictions.csv")
    with open(tmp_path / "predictions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == emb.paths
    assert {r["path"]: r["user_label"] for r in rows if r["user_label"]} == expected
    with qtbot.waitSignal(labels.exported, timeout=10_000):
        labels.export_curated(tmp_path / "curated")
    curated = tmp_path / "curated"
    for label in ("plain", "stripes"):  # each class folder holds exactly its images (names may take a suffix)
        got = sorted(p.read_bytes() for p in (curated / label).iterdir())
        assert got == sorted((emb.root / path).read_bytes() for path, lab in expected.items() if lab == label)
    assert {p.name for p in curated.iterdir()} == {"plain", "stripes", "manifest.csv"}


def test_suggestions_jump_and_labels_come_back_with_the_run(qtbot, make_view, small_run, tmp_path):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    labels, panel, emb = view.labels, view.labels.panel, view.embedding()
    view.scatter.select(np.arange(len(emb)) < 3)
    labels.assign("first three")
    with qtbot.waitSignal(labels.suggested, timeout=TIMEOUT) as blocker:
        panel.suggest_kind.setCurrentIndex(panel.suggest_kind.findData("diverse"))
        panel.suggest.click()
    assert blocker.args == [len(emb) - 3]  # every unlabelled image, since there are fewer than 50
    rows = [panel.suggestions.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.suggestions.count())]
    assert sorted(rows) == list(range(3, len(emb)))
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000):
        panel.suggestions.itemClicked.emit(panel.suggestions.item(0))
    assert view.scatter.current == rows[0]
    with qtbot.waitSignal(labels.exported, timeout=10_000):  # the selection only: unlabelled ones say so
        labels.export_curated(tmp_path / "picked", rows=np.array([1, 5]))
    picked = {p.relative_to(tmp_path / "picked").as_posix() for p in (tmp_path / "picked").rglob("*.png")}
    assert picked == {f"first three/{Path(emb.paths[1]).name}", f"unlabelled/{Path(emb.paths[5]).name}"}
    view.shutdown()  # the pending save is written on close

    again = make_view()
    _open(qtbot, again, small_run)
    assert [again.labels.labels.label_of(i) for i in range(4)] == ["first three"] * 3 + [None]
