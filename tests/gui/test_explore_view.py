"""Explore workspace: a tiny run embeds the demo set; the scatter holds every point; hover and click give the right
path and neighbours; each colour mode; a lasso exports exactly the enclosed files; the duplicate finder finds a
planted copy; exports load back; UMAP replaces PCA; bad input is one sentence on the banner; nothing outlives close."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.conftest import write_class_folder
from tests.gui.conftest import assert_no_work_left
from tests.gui.pictures import plot_picture
from tests.results.test_embeddings import make_run
from workbench.analysis.clusters import kmeans_clusters
from workbench.data import demo_dataset_path
from workbench.gui import explore_view
from workbench.gui.explore_view import ExploreView
from workbench.gui.standalone import StandaloneWindow
from workbench.gui.widgets.scatter import SharedStyleScatter
from workbench.results.embeddings import compute_embeddings
from workbench.results.export import load_embeddings_npz
from workbench.results.maps import UmapParams

TIMEOUT = 60_000  # ms; the machine is shared, embedding 1,000 images takes seconds


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """One tiny real run on the built-in demo dataset (1,000 Fashion-MNIST images), shared by the module."""
    return make_run(demo_dataset_path(), tmp_path_factory.mktemp("explore") / "demo-run")


@pytest.fixture
def small_run(image_folder, tmp_path) -> Path:
    return make_run(image_folder, tmp_path / "small-run")


class StubUmap:
    """Stands in for the UMAP child process in wiring tests (the projection itself is tested in tests/engine)."""

    def __init__(self):
        self.calls: list[UmapParams] = []
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def run(self, x, params, *, should_stop=None, seed=0, knn=None):
        self.calls.append(params)
        self.knn = knn  # the embedding's neighbour graph, so that UMAP builds none of its own
        return np.stack([x[:, 0] * 10, x[:, 1] * 10], axis=1).astype(np.float32)


@pytest.fixture
def make_view(qtbot):
    views = []

    def make(**kw) -> ExploreView:
        view = ExploreView(device="cpu", **{"auto_umap": False, **kw})
        view.resize(1300, 820)
        view.show()
        qtbot.waitExposed(view)
        views.append(view)
        return view

    yield make
    for view in views:
        view.shutdown()
        view.close()
    assert_no_work_left()
    for view in views:
        view.deleteLater()


def _open(qtbot, view: ExploreView, run: Path, folder: Path | None = None) -> None:
    with qtbot.waitSignal(view.map_ready, timeout=TIMEOUT, check_params_cb=lambda kind: kind == "PCA"):
        view.open_run(run, folder)


def _mouse(widget, kind: QEvent.Type, pos: QPoint, button=Qt.MouseButton.NoButton, buttons=None, modifiers=None):
    """Send one mouse event to `widget` (the map's viewport), as a real mouse would."""
    buttons = button if buttons is None else buttons
    point = QPointF(pos)
    event = QMouseEvent(
        kind, point, widget.mapToGlobal(point), button, buttons, modifiers or Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def _click(widget, pos: QPoint) -> None:
    left = Qt.MouseButton.LeftButton
    _mouse(widget, QEvent.Type.MouseMove, pos)
    _mouse(widget, QEvent.Type.MouseButtonPress, pos, left, left)
    _mouse(widget, QEvent.Type.MouseButtonRelease, pos, left, Qt.MouseButton.NoButton)


def _drag(qtbot, widget, points: list[QPoint], modifiers=None) -> None:
    """Press, move through `points` at a mouse's pace (pyqtgraph ignores moves closer than 10 ms), release."""
    left = Qt.MouseButton.LeftButton
    _mouse(widget, QEvent.Type.MouseButtonPress, points[0], left, left, modifiers)
    for p in points[1:]:
        qtbot.wait(12)
        _mouse(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, left, modifiers)
    _mouse(widget, QEvent.Type.MouseButtonRelease, points[-1], left, Qt.MouseButton.NoButton, modifiers)


def _lone_row(view: ExploreView) -> int:
    """A point with no other point within 8 pixels, so the mouse cannot mean another one."""
    scatter = view.scatter
    pixels = np.array([[scatter.widget_pos(r).x(), scatter.widget_pos(r).y()] for r in range(len(scatter.xy))])
    d = np.linalg.norm(pixels[:, None] - pixels[None], axis=2) + np.eye(len(pixels)) * 1e9
    inside = (pixels > 20).all(1) & (pixels[:, 0] < scatter.width() - 20) & (pixels[:, 1] < scatter.height() - 20)
    candidates = np.flatnonzero((d.min(1) > 8) & inside)
    assert candidates.size, "no isolated point to aim at"
    return int(candidates[0])


def test_embeds_the_demo_set_and_the_scatter_holds_every_point(qtbot, make_view, demo_run):
    view = make_view()
    _open(qtbot, view, demo_run)
    emb = view.embedding()
    assert len(emb) == 1000 and emb.mode == "trained" and emb.root == demo_dataset_path().resolve()
    assert view.scatter.point_count() == 1000 and view.scatter.xy.shape == (1000, 2)
    assert (demo_run / "embeddings" / f"{emb.key}.features.npy").is_file()
    ref = compute_embeddings(demo_run, mode="trained", device="cpu")
    assert ref.cached
    np.testing.assert_array_equal(ref.features, emb.features)
    assert view.legend.count() == 10 and view.legend.item(0).text() == "bag  (100)"
    assert view.map_name == "PCA" and view.controls.run_label.text() == "demo-run"


def test_hover_shows_the_thumbnail_and_click_shows_path_label_and_neighbours(qtbot, make_view, demo_run):
    view = make_view()
    _open(qtbot, view, demo_run)
    emb, scatter, viewport = view.embedding(), view.scatter, view.scatter.viewport()
    row = _lone_row(view)
    with qtbot.waitSignal(view.hover.card.shown, timeout=10_000, check_params_cb=lambda r: r == row):
        _mouse(viewport, QEvent.Type.MouseMove, scatter.widget_pos(row))
    card = view.hover.card
    assert card.isVisible() and Path(emb.paths[row]).name in card.text.text() and emb.label(row) in card.text.text()
    assert not card.image.pixmap().isNull()
    _mouse(viewport, QEvent.Type.MouseMove, QPoint(2, 2))  # off every point: the card goes
    assert not card.isVisible()

    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000, check_params_cb=lambda r: r == row):
        _click(viewport, scatter.widget_pos(row))
    qtbot.waitUntil(lambda: str(emb.path(row)) in view.neighbours.detail.caption.text(), timeout=10_000)
    assert emb.label(row) in view.neighbours.detail.caption.text()
    assert scatter.current == row
    # the gallery holds the k nearest by cosine similarity, written out
    unit = emb.features / np.linalg.norm(emb.features, axis=1, keepdims=True)
    sims = unit @ unit[row]
    sims[row] = -np.inf
    expected = np.argsort(-sims, kind="stable")[: view.neighbours.k()]
    model = view.neighbours.model
    assert model.rows.tolist() == expected.tolist()
    np.testing.assert_allclose(model.distances, 1 - sims[expected], atol=1e-5)
    first = model.index(0)
    assert model.data(first, Qt.ItemDataRole.DisplayRole) == f"{1 - sims[expected[0]]:.3f}"
    assert model.path(0) == emb.path(int(expected[0]))
    # double-click a neighbour: it becomes the current point, with its own neighbours
    target = int(expected[0])
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000, check_params_cb=lambda r: r == target):
        view.neighbours.gallery.doubleClicked.emit(first)
    assert scatter.current == target and target not in view.neighbours.model.rows.tolist()


def test_each_colour_mode_with_legend_counts_and_hiding(qtbot, make_view, demo_run):
    view = make_view()
    _open(qtbot, view, demo_run)
    emb, scatter, legend = view.embedding(), view.scatter, view.legend
    assert view.colour_mode() == "label"
    np.testing.assert_array_equal(scatter.groups, emb.labels)
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("cluster", k=3)
    assert legend.count() == 3 and scatter.groups.max() == 2
    np.testing.assert_array_equal(scatter.groups, kmeans_clusters(emb.features, 3))
    counts = np.bincount(scatter.groups, minlength=3)
    assert [legend.item(i).text() for i in range(3)] == [f"cluster {i + 1}  ({counts[i]:,})" for i in range(3)]
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("outlier", k=5)
    assert legend.count() == 4 and np.bincount(scatter.groups).tolist() == [500, 400, 90, 10]
    assert view.colour.outliers.shape == (1000,)
    top = int(np.argmax(view.colour.outliers))
    assert scatter.groups[top] == 3
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("none")
    assert legend.count() == 1 and legend.item(0).text() == "all images  (1,000)"
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("label")
    # clicking a legend entry hides that group's points (and they can no longer be hovered), clicking again shows
    hidden_rows = np.flatnonzero(emb.labels == 2)
    legend.itemClicked.emit(legend.item(2))
    assert legend.hidden_groups() == {2} and not scatter.visible[hidden_rows].any() and scatter.visible.sum() == 900
    assert not scatter.points.data["visible"][hidden_rows].any()
    assert all(scatter.row_at(scatter.mapToScene(scatter.widget_pos(r))) not in hidden_rows for r in hidden_rows[:20])
    legend.itemClicked.emit(legend.item(2))
    assert legend.hidden_groups() == set() and scatter.visible.all()


def test_lasso_on_known_coordinates_exports_exactly_the_expected_files(qtbot, make_view, small_run, tmp_path):
    view = make_view()
    _open(qtbot, view, small_run)
    emb, scatter, viewport = view.embedding(), view.scatter, view.scatter.viewport()
    xy = scatter.xy
    # a vertical cut through the widest gap between points, so no point sits near the lasso's edge
    order = np.sort(xy[:, 0])
    gap = int(np.argmax(np.diff(order)))
    cut = (order[gap] + order[gap + 1]) / 2
    rect = scatter.vb.viewRect()
    top, bottom, left = rect.bottom() - 0.01 * rect.height(), rect.top() + 0.01 * rect.height(), rect.left()
    corners = [(left + 0.01 * rect.width(), bottom), (cut, bottom), (cut, top), (left + 0.01 * rect.width(), top)]
    trace = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):  # along each side
        trace += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, 6)]
    pixels = [scatter.mapFromScene(scatter.vb.mapViewToScene(QPointF(x, y))) for x, y in trace]
    expected = np.flatnonzero(xy[:, 0] < cut)
    assert 0 < expected.size < len(emb)

    view.controls.tool_buttons["lasso"].click()
    with qtbot.waitSignal(scatter.selection_changed, timeout=5000):
        _drag(qtbot, viewport, pixels)
    assert scatter.selected_rows().tolist() == expected.tolist()
    assert view.controls.selection_label.text() == f"{expected.size} selected"
    assert view.selection.model.rowCount() == expected.size  # the selection as a thumbnail grid
    for name in ("selection.txt", "selection.csv"):
        with qtbot.waitSignal(view.selection.exported, timeout=10_000):
            view.selection.export(tmp_path / name)
    txt = (tmp_path / "selection.txt").read_text().splitlines()
    assert txt == [str(emb.path(r)) for r in expected]
    with open(tmp_path / "selection.csv", newline="") as f:
        assert [row["path"] for row in csv.DictReader(f)] == txt
    view.selection.copy_paths()
    assert QApplication.clipboard().text().splitlines() == txt

    # the box tool with Shift adds the rest: everything is selected
    view.controls.tool_buttons["box"].click()
    a = scatter.mapFromScene(scatter.vb.mapViewToScene(QPointF(cut, top)))
    b = scatter.mapFromScene(scatter.vb.mapViewToScene(QPointF(rect.right() - 0.01 * rect.width(), bottom)))
    with qtbot.waitSignal(scatter.selection_changed, timeout=5000):
        _drag(qtbot, viewport, [a, (a + b) / 2, b], Qt.KeyboardModifier.ShiftModifier)
    assert scatter.selected.all()
    view.selection.clear_button.click()
    assert scatter.selected_rows().size == 0 and view.selection.paths() == []


def test_duplicate_finder_finds_a_planted_duplicate(qtbot, make_view, small_run, image_folder, tmp_path):
    folder = write_class_folder(tmp_path / "with-copy", per_class=6, seed=3)
    shutil.copy(folder / "square" / "002.png", folder / "circle" / "zz-copy.png")  # the planted duplicate
    view = make_view()
    _open(qtbot, view, small_run, folder)
    emb = view.embedding()
    a, b = emb.paths.index("circle/zz-copy.png"), emb.paths.index("square/002.png")
    with qtbot.waitSignal(view.duplicates_ready, timeout=TIMEOUT):
        view.duplicates.find_button.click()
    # the copy is listed once, as identical files (by content), not again among the near-identical embeddings
    assert view.duplicates.identical_rows() == [(min(a, b), max(a, b))]
    assert (min(a, b), max(a, b)) not in view.duplicates.pair_rows()
    model = view.duplicates.identical_model
    assert {model.data(model.index(0, 0)), model.data(model.index(0, 1))} == {"circle/zz-copy.png", "square/002.png"}
    qtbot.waitUntil(lambda: len(model.thumbs.cached_rows()) >= 2, timeout=10_000)  # both thumbnails decode
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000):
        view.duplicates.identical_table.doubleClicked.emit(model.index(0, 1))
    assert view.scatter.current == max(a, b)
    assert model.data(model.index(0, 2)) == "identical file"
    tip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)  # the full path and label on hover
    assert tip == f"{emb.path(min(a, b))}\nlabel: {emb.label(min(a, b))}"
    # near-identical embeddings: brute force over the unit features, less the identical pair
    unit = emb.features / np.linalg.norm(emb.features, axis=1, keepdims=True)
    sims = unit @ unit.T
    threshold = view.duplicates.threshold.value()
    expected = {(i, j) for i in range(len(emb)) for j in range(i + 1, len(emb)) if sims[i, j] >= threshold - 1e-6}
    assert set(view.duplicates.pair_rows()) == expected - {(min(a, b), max(a, b))}


def test_capped_duplicates_say_so_in_a_whole_sentence(qtbot, make_view, small_run, monkeypatch):
    from workbench.gui.widgets import duplicates as panel

    monkeypatch.setattr(panel, "MAX_PAIRS", 5)
    view = make_view()
    _open(qtbot, view, small_run)
    monkeypatch.setattr(explore_view.tasks, "duplicates", lambda emb, t, state: ([], near_dups(emb.features, t)))
    view.duplicates.threshold.setValue(0.5)
    with qtbot.waitSignal(view.duplicates_ready, timeout=TIMEOUT, check_params_cb=lambda n: n == 5):
        view.duplicates.find_button.click()
    label = view.duplicates.summary
    assert "Only the 5 most similar are listed" in label.text() and label.text().endswith(".")
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()), timeout=5000)  # not cut off
    assert view.duplicates.identical_summary.text() == "No two files have identical content."


def near_dups(features, threshold):
    from workbench.analysis.duplicates import near_duplicates

    return near_duplicates(features, threshold, max_pairs=5)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_exports_load_back(qtbot, make_view, small_run, tmp_path):
    import torch

    view = make_view()
    _open(qtbot, view, small_run)
    emb = view.embedding()
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("cluster", k=2)
    for name in ("emb.npz", "emb.csv"):
        with qtbot.waitSignal(view.status, timeout=TIMEOUT, check_params_cb=lambda t, n=name: n in t):
            view.export_embeddings(tmp_path / name)
    with np.load(tmp_path / "emb.npz", allow_pickle=False) as f:
        assert set(f.files) == {"format", "mode", "paths", "embeddings", "labels", "class_names", "xy", "cluster"}
    saved = load_embeddings_npz(tmp_path / "emb.npz")  # the schema `workbench embed` writes too
    assert saved.mode == "trained" and saved.paths == [str(emb.path(i)) for i in range(len(emb))]
    np.testing.assert_array_equal(saved.embeddings, emb.features)
    np.testing.assert_allclose(saved.xy, view.xy)
    np.testing.assert_array_equal(saved.cluster, view.colour.clusters)
    assert saved.outlier_score is None and saved.class_names == ["circle", "square"]
    with open(tmp_path / "emb.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and rows[0]["path"] == str(emb.path(0)) and rows[0]["label"] == "circle"
    assert float(rows[5]["x"]) == pytest.approx(float(view.xy[5, 0]), rel=1e-5)
    assert [int(r["cluster"]) for r in rows] == view.colour.clusters.tolist() and rows[0]["outlier_score"] == ""
    with qtbot.waitSignal(view.status, timeout=TIMEOUT, check_params_cb=lambda t: "torchscript" in t):
        view.export_encoder(tmp_path / "encoder")
    scripted = torch.jit.load(str(tmp_path / "encoder" / "encoder.torchscript.pt"))
    assert scripted(torch.rand(2, 3, 16, 16)).shape == (2, emb.features.shape[1])


def test_compare_switch_recomputes_untrained_and_raw(qtbot, make_view, small_run):
    view = make_view()
    _open(qtbot, view, small_run)
    trained = view.embedding()
    for mode, dim in (("untrained", trained.features.shape[1]), ("raw", 3 * 16 * 16)):
        with qtbot.waitSignal(view.map_ready, timeout=TIMEOUT):
            view.controls.compare.setCurrentIndex(view.controls.compare.findData(mode))
        emb = view.embedding()
        assert emb.mode == mode and emb.features.shape == (16, dim) and view.scatter.point_count() == 16
    assert not np.allclose(view.embedding().features[:, :4], trained.features[:, :4])


def test_umap_replaces_pca_when_ready_and_is_cached(qtbot, make_view, small_run):
    stub = StubUmap()
    view = make_view(umap=stub, auto_umap=True)
    maps, statuses = [], []
    view.map_ready.connect(maps.append)
    view.status.connect(statuses.append)
    view.open_run(small_run)
    qtbot.waitUntil(lambda: len(maps) == 2, timeout=TIMEOUT)
    assert maps == ["PCA", "UMAP"]
    assert stub.running and stub.calls == [UmapParams()]
    # UMAP is fitted on the embedding's one neighbour graph (no graph of its own), and the map says so
    assert stub.knn is not None and stub.knn[0].shape == (16, 15)
    assert statuses[-1] == "UMAP of 16 points on the precomputed neighbour graph."
    emb = view.embedding()
    np.testing.assert_allclose(view.scatter.xy[:, 0], emb.features[:, 0] * 10, rtol=1e-5)
    brushes = view.scatter.points.data["brush"]  # the points keep their label colours on the new map
    assert brushes[0] is brushes[1] and brushes[0] is not brushes[15] and emb.labels[0] != emb.labels[15]
    assert view.map_name == "UMAP" and any((small_run / "embeddings").glob("*.umap-15-0.1-cosine.npy"))
    with qtbot.waitSignal(view.map_ready, timeout=TIMEOUT, check_params_cb=lambda k: k == "UMAP"):
        view.controls.n_neighbors.setValue(7)  # new parameters, a new layout (after a short pause)
    assert stub.calls[-1].n_neighbors == 7
    with qtbot.waitSignal(view.map_ready, timeout=TIMEOUT, check_params_cb=lambda k: k == "PCA"):
        view.controls.map_kind.setCurrentIndex(view.controls.map_kind.findData("pca"))
    np.testing.assert_array_equal(view.scatter.xy, view.data.xy)
    assert not stub.running  # no fit keeps a core busy for nothing


@pytest.mark.parametrize("bad", ["not-a-run", "missing-folder"])
def test_bad_input_is_one_sentence_on_the_banner(qtbot, small_run, tmp_path, bad):
    view = ExploreView(device="cpu", auto_umap=False)
    window = StandaloneWindow(view, "Explore")
    qtbot.addWidget(window)
    window.show()
    if bad == "not-a-run":
        view.open_run(tmp_path)
        expected = f"'{tmp_path}' is not a run folder (it has no config.json)."
    else:
        view.open_run(small_run, tmp_path / "nowhere")
        expected = f"Folder '{tmp_path / 'nowhere'}' does not exist."
    qtbot.waitUntil(lambda: window.banner.text() != "", timeout=TIMEOUT)
    assert window.banner.text() == expected
    window.close()
    assert_no_work_left()


def test_close_during_embedding_cancels_and_leaves_no_thread(qtbot, demo_run, tmp_path):
    shutil.rmtree(demo_run / "embeddings", ignore_errors=True)
    view = ExploreView(device="cpu", auto_umap=False)
    qtbot.addWidget(view)
    view.show()
    view.controls.compare.setCurrentIndex(view.controls.compare.findData("untrained"))
    view.open_run(demo_run)
    qtbot.waitUntil(lambda: view.controls.cancel_button.isVisible(), timeout=5000)
    view.shutdown()
    assert_no_work_left()


def test_runs_alone(qtbot, monkeypatch, small_run):
    from PySide6.QtCore import QTimer

    monkeypatch.setattr(explore_view, "UmapProcess", StubUmap)
    seen = {}

    def poll():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, StandaloneWindow) and w.isVisible()]
        if windows and windows[0].workspace.map_name == "UMAP":
            seen["points"] = windows[0].workspace.scatter.point_count()
            windows[0].close()
        else:
            QTimer.singleShot(50, poll)

    QTimer.singleShot(0, poll)
    assert explore_view.main([str(small_run)]) == 0
    assert seen["points"] == 16
    assert_no_work_left()


def test_shared_style_scatter_draws_what_pyqtgraph_draws(qtbot):
    """The fast atlas lookup gives exactly the picture of pyqtgraph's per-point path."""
    import pyqtgraph as pg
    from PySide6.QtGui import QBrush, QColor

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(400, 2))
    groups = rng.integers(0, 3, 400)
    brushes = [QBrush(QColor(c)) for c in ("#1f77b4", "#ff7f0e", "#2ca02c")]

    def picture(item) -> QImage:
        return plot_picture(qtbot, item)

    reference = pg.ScatterPlotItem(pxMode=True, size=6, pen=None)
    reference.setData(x=xy[:, 0], y=xy[:, 1])
    table = np.empty(3, dtype=object)
    for i, brush in enumerate(brushes):
        table[i] = brush
    reference.setBrush(table[groups])
    fast = SharedStyleScatter(pxMode=True, size=6, pen=None)
    fast.setData(x=xy[:, 0], y=xy[:, 1])
    fast.set_brushes(groups, brushes)
    swapped = SharedStyleScatter(pxMode=True, size=6, pen=None)
    swapped.setData(x=xy[:, 0], y=xy[:, 1])
    swapped.set_brushes((groups + 1) % 3, brushes)
    expected = picture(reference)
    assert picture(fast) == expected
    assert picture(swapped) != expected  # the comparison can fail


def test_closing_during_a_real_umap_fit_ends_its_process_at_once(qtbot, small_run):
    import os
    import time

    view = ExploreView(device="cpu")  # the real UMAP child process (still compiling numba when we close)
    qtbot.addWidget(view)
    view.show()
    _open(qtbot, view, small_run)
    qtbot.waitUntil(lambda: view.umap_runner.is_running() and view.umap.pid is not None, timeout=10_000)
    pid = view.umap.pid
    start = time.monotonic()
    view.shutdown()
    assert time.monotonic() - start < 10
    assert_no_work_left()
    with pytest.raises(OSError):
        os.kill(pid, 0)  # the child is gone


def _red_pixels(view: ExploreView, row: int) -> int:
    """Ring-red pixels around a point in what is on screen (the window's backing store, not a fresh render: a ring
    that was never repainted must not count)."""
    window = view.window()
    image = window.screen().grabWindow(window.winId()).toImage()
    centre = view.scatter.mapTo(window, view.scatter.widget_pos(row))
    ratio = image.devicePixelRatio()
    count = 0
    for dx in range(-10, 11):
        for dy in range(-10, 11):
            c = image.pixelColor(int((centre.x() + dx) * ratio), int((centre.y() + dy) * ratio))
            count += c.red() > 170 and c.green() < 90 and c.blue() < 90
    return count


def test_a_click_rings_the_point_and_its_neighbours_at_once_and_a_compare_switch_clears_them(
    qtbot, make_view, small_run
):
    view = make_view()
    _open(qtbot, view, small_run)
    scatter, viewport = view.scatter, view.scatter.viewport()
    row = _lone_row(view)
    qtbot.waitUntil(lambda: view.scatter.points.data["sourceRect"]["w"].all(), timeout=5000)  # painted once
    before = _red_pixels(view, row)
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000, check_params_cb=lambda r: r == row):
        _click(viewport, scatter.widget_pos(row))
    qtbot.waitUntil(lambda: _red_pixels(view, row) > before + 20, timeout=5000)  # on screen, with no zoom
    rings = scatter.current_item.data
    assert len(rings) == 1 and (rings["x"][0], rings["y"][0]) == tuple(scatter.xy[row])
    near = view.neighbours.model.rows
    assert len(near) == view.neighbours.k() and scatter.neighbour_rows.tolist() == near.tolist()
    ringed = {(x, y) for x, y in zip(scatter.neighbour_item.data["x"], scatter.neighbour_item.data["y"], strict=True)}
    assert ringed == {tuple(scatter.xy[r]) for r in near}

    with qtbot.waitSignal(view.map_ready, timeout=TIMEOUT):
        view.controls.compare.setCurrentIndex(view.controls.compare.findData("untrained"))
    assert scatter.current == -1 and len(scatter.current_item.data) == 0 and len(scatter.neighbour_item.data) == 0
    assert view.neighbours.model.rowCount() == 0
    qtbot.waitUntil(lambda: _red_pixels(view, row) <= before, timeout=5000)


def test_fit_view_by_button_and_keys_shows_every_point(qtbot, make_view, small_run):
    view = make_view()
    _open(qtbot, view, small_run)
    scatter = view.scatter

    def all_in_view() -> bool:
        rect = scatter.vb.viewRect()
        return all(rect.contains(QPointF(x, y)) for x, y in scatter.xy)

    assert all_in_view()
    for press in (
        lambda: view.controls.fit_button.click(),
        lambda: qtbot.keyClick(scatter, Qt.Key.Key_F),
        lambda: qtbot.keyClick(scatter, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier),
    ):
        scatter.vb.scaleBy((0.1, 0.1), center=QPointF(*scatter.xy[0]))  # zoomed far in
        qtbot.waitUntil(lambda: not all_in_view(), timeout=2000)
        press()
        qtbot.waitUntil(all_in_view, timeout=2000)


def test_searching_a_file_name_marks_its_point_and_shows_it(qtbot, make_view, small_run):
    view = make_view()
    _open(qtbot, view, small_run)
    emb, search = view.embedding(), view.controls.search
    target = emb.paths.index("square/005.png")
    qtbot.mouseClick(search, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(search, "SQUARE/005")  # any part of the path, any case
    popup = search.completer().popup()
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    assert popup.model().rowCount() == 1 and popup.model().index(0, 0).data() == "square/005.png"
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000, check_params_cb=lambda r: r == target):
        qtbot.keyClick(popup, Qt.Key.Key_Down)
        qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert view.scatter.current == target and view.tabs.currentWidget() is view.neighbours
    assert str(emb.path(target)) in view.neighbours.detail.caption.text()
    with qtbot.waitSignal(view.status, timeout=5000, check_params_cb=lambda t: "no-such" in t):
        search.setText("no-such-file")
        qtbot.keyClick(search, Qt.Key.Key_Return)
    assert view.scatter.current == target


def test_the_selection_grid_names_each_image_and_exports_a_table(qtbot, make_view, small_run, tmp_path):
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    view = make_view()
    _open(qtbot, view, small_run)
    emb = view.embedding()
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("cluster", k=2)
    rows = np.array([1, 9, 12])
    mask = np.zeros(len(emb), bool)
    mask[rows] = True
    view.scatter.select(mask)
    grid = view.selection.grid
    qtbot.waitUntil(lambda: grid.visualRect(grid.model().index(1, 0)).isValid(), timeout=5000)
    centre = grid.visualRect(grid.model().index(1, 0)).center()
    QApplication.sendEvent(
        grid.viewport(), QHelpEvent(QEvent.Type.ToolTip, centre, grid.viewport().mapToGlobal(centre))
    )
    qtbot.waitUntil(QToolTip.isVisible, timeout=5000)
    assert emb.paths[9] in QToolTip.text() and f"label: {emb.label(9)}" in QToolTip.text()
    QToolTip.hideText()

    with qtbot.waitSignal(view.selection.exported, timeout=10_000):
        view.selection.export(tmp_path / "sel.csv")
    with open(tmp_path / "sel.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["path"] for r in table] == [str(emb.path(r)) for r in rows]
    assert [r["label"] for r in table] == [emb.label(r) for r in rows]
    assert [int(r["cluster"]) for r in table] == view.colour.clusters[rows].tolist()
    assert float(table[2]["x"]) == pytest.approx(float(view.xy[12, 0]), rel=1e-5)
    with qtbot.waitSignal(view.selection.exported, timeout=10_000):
        view.selection.export(tmp_path / "sel.txt")  # the paths-only list stays
    assert (tmp_path / "sel.txt").read_text().splitlines() == [str(emb.path(r)) for r in rows]


def test_loading_state_stable_toolbar_and_named_exports(qtbot, make_view, small_run, tmp_path):
    import os

    view = make_view()
    c = view.controls
    assert view.scatter.empty_text == explore_view.EMPTY_HINT
    folder_x = c.folder_button.mapTo(view, QPoint(0, 0)).x()
    maps = []
    view.map_ready.connect(maps.append)
    view.open_run(small_run)
    assert view.scatter.empty_text.startswith("Loading run 'small-run'")  # not "Open a run …"
    qtbot.waitUntil(lambda: c.cancel_button.isVisible() or maps, timeout=TIMEOUT)
    assert c.folder_button.mapTo(view, QPoint(0, 0)).x() == folder_x  # the progress widgets' room was reserved
    qtbot.waitUntil(lambda: maps == ["PCA"] and not c.cancel_button.isVisible(), timeout=TIMEOUT)
    assert c.folder_button.mapTo(view, QPoint(0, 0)).x() == folder_x
    assert view.scatter.empty_text == explore_view.EMPTY_HINT  # drawn only while there are no points
    # the exports say what they hold; the encoder entry gives the representation's dimension (what the files hold)
    dim = view.embedding().features.shape[1]
    assert c.export_csv.text() == "Map table (CSV)…" and "embedding vectors" in c.export_npz.toolTip()
    assert f"({dim}-d)" in c.export_encoder.text() and "small-cnn" in c.export_encoder.text()
    with qtbot.waitSignal(view.status, timeout=TIMEOUT, check_params_cb=lambda t: "map.csv" in t):
        view.export_embeddings(tmp_path / "map.csv")
    umask = os.umask(0)
    os.umask(umask)
    if os.name != "nt":
        assert (tmp_path / "map.csv").stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would, not 0600


def test_outliers_duplicates_and_a_click_share_one_neighbour_graph(qtbot, make_view, small_run, monkeypatch):
    """One graph build serves the outlier colours, the duplicate pairs and (once built) a click's neighbours; each
    equals brute force over the unit features."""
    from workbench.analysis import graph as graphs
    from workbench.results import neighbour_graph

    neighbour_graph.forget()
    builds, real = [], graphs.build_graph
    monkeypatch.setattr(graphs, "build_graph", lambda x, k, **kw: builds.append(k) or real(x, k, **kw))
    view = make_view()
    _open(qtbot, view, small_run)
    emb = view.embedding()
    unit = emb.features / np.linalg.norm(emb.features, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT, check_params_cb=lambda mode: mode == "outlier"):
        view.set_colour_mode("outlier", k=4)
    nearest = np.sort(sims, axis=1)[:, ::-1]
    np.testing.assert_allclose(view.colour.outliers, (1 - nearest[:, :4]).mean(axis=1), atol=1e-5)
    view.duplicates.threshold.setValue(0.9)
    with qtbot.waitSignal(view.duplicates_ready, timeout=TIMEOUT):
        view.duplicates.find_button.click()
    expected = {(i, j) for i in range(len(emb)) for j in range(i + 1, len(emb)) if sims[i, j] >= 0.9 - 1e-6}
    assert set(view.duplicates.pair_rows()) == expected
    with qtbot.waitSignal(view.neighbours_shown, timeout=10_000):
        view.show_point(3)
    assert view.neighbours.model.rows.tolist() == np.argsort(-sims[3], kind="stable")[: view.neighbours.k()].tolist()
    assert builds == [neighbour_graph.graph_k(4)]  # built once, for all three
    neighbour_graph.forget()
