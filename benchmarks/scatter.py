"""The Explore view at 100,000 (or 1,000,000) points: first map, hover thumbnails, pan/zoom frames, selection
exports, and UMAP overhead.

Builds the Explore view on --points synthetic embedded points (10 Gaussian clusters in D dimensions, labelled by
cluster) whose rows point at real PNG files (--files of them, row i -> file i mod files, 28 px, written to a
temporary folder), then measures:

- first_view_ms: embeddings in memory -> the first 2-D map painted (PCA in the background, the scatter's setData,
  the label colours and legend, one paint), median of --repeats.
- hover_ms_p50 / p95: a synthetic mouse move onto a point -> its real thumbnail (decoded off the GUI thread, not
  the placeholder) painted next to the cursor; --hovers moves to random points, at a user's pace.
- pan_frame_ms (zoomed out, the whole map in view) and pan_frame_zoomed_in_ms (a view with a few thousand points):
  a pan or zoom step, the map's level-of-detail refresh that its throttle timer would run (past LOD_POINTS: the
  density image zoomed out, the points in view zoomed in) and one repaint (medians); `levels` says what was drawn.
- select_ms: a 100,000-point selection handed to the map and the Selection panel; export_csv_ms / export_txt_ms:
  that selection written as the table (path, label, x, y, cluster, outlier score) and as a list of paths, from the
  click to the file written (the background export).
- umap_vs_bare: the app's UMAP (explore_tasks.umap_layout -> the UMAP child process) on a 10,000-point subset,
  divided by umap-learn called directly in this process with the same parameters; both warm (one untimed fit each).

Prints one JSON object as its last line. Goals: hover <= 100 ms, first view <= 1000 ms (1,500 ms at 1,000,000
points), pan/zoom frame <= 100 ms, a 100,000-point selection exported in under a second, UMAP overhead <= 1.2.

    .venv/bin/python benchmarks/scatter.py [--points 100000] [--dim 512] [--files 100000] [--skip-umap]
    .venv/bin/python benchmarks/scatter.py --points 1000000 --dim 128 --skip-umap   # 1M x 512 floats take 2 GB
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def synthetic_embedding(folder: Path, points: int, dim: int, files: int, seed: int = 0):
    """An Embedding of `points` rows in 10 clusters; row i's image is file i % files (written here if missing)."""
    from PIL import Image

    from workbench.results.embeddings import Embedding

    rng = np.random.default_rng(seed)
    classes = [f"class{c}" for c in range(10)]
    names = []
    for i in range(files):
        rel = f"{classes[i % 10]}/{i:06d}.png"
        names.append(rel)
        path = folder / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 255, size=(28, 28, 3), dtype=np.uint8)
            pixels[8:20, 8:20] = (25 * (i % 10), 200 - 15 * (i % 10), 120)
            Image.fromarray(pixels).save(path, compress_level=1)
    labels = np.arange(points) % files % 10
    centres = rng.normal(size=(10, dim)).astype(np.float32) * 3
    features = centres[labels] + rng.standard_normal((points, dim), dtype=np.float32)  # no float64 copy
    return Embedding(
        folder, [names[i % files] for i in range(points)], labels.astype(np.int64), classes, features, "trained"
    )


def wait(app, condition, timeout_s: float = 30.0) -> None:
    end = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > end:
            raise SystemExit("timed out waiting for the view")
        app.processEvents()
        time.sleep(0.0005)


def first_view_ms(app, view, emb) -> float:
    done = []
    view.map_ready.connect(done.append)
    start = time.perf_counter()
    view.show_embedding(emb)
    wait(app, lambda: done)
    view.scatter.viewport().repaint()  # the first map, painted
    elapsed = (time.perf_counter() - start) * 1000
    view.map_ready.disconnect()
    return elapsed


def hover_ms(app, view, moves: int, seed: int = 1) -> list[float]:
    from PySide6.QtCore import QEvent, QObject, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    scatter, card = view.scatter, view.hover.card
    viewport = scatter.viewport()
    painted = []

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint and card.final:
                painted.append((card.row, time.perf_counter()))
            return False

    watch = PaintWatch()
    card.installEventFilter(watch)
    rng = np.random.default_rng(seed)
    w, h = viewport.width(), viewport.height()
    candidates = rng.integers(0, len(scatter.xy), 20 * moves)
    rows = [r for r in candidates if 0 < scatter.widget_pos(r).x() < w - 1 and 0 < scatter.widget_pos(r).y() < h - 1]
    times = []
    for row in rows[:moves]:
        pos = QPointF(scatter.widget_pos(int(row)))
        painted.clear()
        start = time.perf_counter()
        QApplication.sendEvent(
            viewport,
            QMouseEvent(
                QEvent.Type.MouseMove,
                pos,
                viewport.mapToGlobal(pos),
                Qt.MouseButton.NoButton,
                Qt.MouseButton.NoButton,
                Qt.KeyboardModifier.NoModifier,
            ),
        )
        target = scatter.hover_row
        if target < 0:
            continue
        wait(app, lambda t=target: any(r == t for r, _ in painted), 5.0)
        times.append((next(t for r, t in painted if r == target) - start) * 1000)
        pause = time.perf_counter() + 0.03  # a user's pace between points
        while time.perf_counter() < pause:
            app.processEvents()
    card.removeEventFilter(watch)
    return times


def pan_frame_ms(view, frames: int = 10) -> tuple[float, list[str]]:
    """Median ms of a pan or zoom step + the level-of-detail refresh + one repaint; the levels drawn."""
    scatter = view.scatter
    vb, viewport = scatter.vb, scatter.viewport()
    times, levels = [], []
    for i in range(frames):
        rect = vb.viewRect()
        step = rect.width() * (0.05 if i % 2 else -0.05)
        start = time.perf_counter()
        if i % 3 == 2:
            vb.scaleBy((0.95, 0.95) if i % 2 else (1 / 0.95, 1 / 0.95))  # zoom in or out a little
        else:
            vb.setRange(xRange=(rect.left() + step, rect.right() + step), padding=0)
        scatter.refresh_lod()  # what the throttle timer runs after a pan or zoom (nothing below LOD_POINTS)
        viewport.repaint()
        times.append((time.perf_counter() - start) * 1000)
        levels.append(scatter.level)
    return statistics.median(times), sorted(set(levels))


def zoom_in(app, view, target: int = 5000) -> int:
    """Zoom around a point until about `target` points are in view; how many are."""
    from PySide6.QtCore import QPointF

    scatter = view.scatter
    xy = scatter.xy
    centre = QPointF(float(np.median(xy[:, 0])), float(np.median(xy[:, 1])))
    for _ in range(60):
        r = scatter.vb.viewRect()
        inside = int(
            np.count_nonzero(
                (xy[:, 0] >= r.left()) & (xy[:, 0] <= r.right()) & (xy[:, 1] >= r.top()) & (xy[:, 1] <= r.bottom())
            )
        )
        if inside <= target:
            break
        scatter.vb.scaleBy((0.8, 0.8), center=centre)
        app.processEvents()
    scatter.refresh_lod()
    return inside


def selection_export_ms(app, view, folder: Path, count: int = 100_000, profile: bool = False) -> dict[str, float]:
    """A `count`-point selection: handed to the map and the Selection panel, then exported as CSV and as TXT."""
    n = len(view.scatter.xy)
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(3).choice(n, min(count, n), replace=False)] = True
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            view.scatter.select(mask)
            app.processEvents()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    else:
        view.scatter.select(mask)
        app.processEvents()
    result = {"selected": int(mask.sum()), "select_ms": round((time.perf_counter() - start) * 1000, 1)}
    for kind in ("csv", "txt"):
        written = []
        view.selection.exported.connect(written.append)
        start = time.perf_counter()
        view.selection.export(folder / f"selection.{kind}")
        wait(app, lambda w=written: w, 120.0)
        result[f"export_{kind}_ms"] = round((time.perf_counter() - start) * 1000, 1)
        view.selection.exported.disconnect()
    return result


def umap_ratio(emb, subset: int, repeats: int) -> dict[str, float]:
    """Seconds of the app's UMAP path and of umap-learn called directly, both warm, on the same subset: one untimed
    fit each, then `repeats` timed fits of each, interleaved (the machine's load drifts), medians compared."""
    import umap

    from workbench.gui.explore_tasks import umap_layout
    from workbench.results.embeddings import Embedding
    from workbench.results.maps import UmapParams
    from workbench.results.umap_process import UmapProcess

    rows = np.linspace(0, len(emb) - 1, subset).round().astype(np.int64)
    small = Embedding(
        emb.root,
        [emb.paths[r] for r in rows],
        emb.labels[rows],
        emb.class_names,
        np.ascontiguousarray(emb.features[rows]),
        "trained",
    )  # no key: nothing cached, always fitted
    params = UmapParams()

    class State:  # the TaskState interface umap_layout uses
        def message(self, text):
            pass

        def should_stop(self):
            return False

        def check(self):
            pass

    def bare():
        reducer = umap.UMAP(
            n_components=2,
            n_neighbors=params.n_neighbors,
            min_dist=params.min_dist,
            metric=params.metric,
            random_state=0,
            n_jobs=1,
        )
        return reducer.fit_transform(small.features)

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    service = UmapProcess()
    try:
        app = lambda: umap_layout(service, small, params, State())  # noqa: E731
        app()  # warm: numba compiled in the child, one fit done
        bare()  # warm: compiled in this process, one fit done
        app_s, bare_s = [], []
        for _ in range(repeats):
            app_s.append(timed(app))
            bare_s.append(timed(bare))
    finally:
        service.stop()
    a, b = statistics.median(app_s), statistics.median(bare_s)
    return {
        "umap_app_s": round(a, 2),
        "umap_bare_s": round(b, 2),
        "umap_vs_bare": round(a / b, 3),
        "umap_app_s_all": [round(v, 2) for v in app_s],
        "umap_bare_s_all": [round(v, 2) for v in bare_s],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512, help="embedding width (resnet18's representation: 512)")
    parser.add_argument("--files", type=int, default=100_000, help="distinct image files behind the points")
    parser.add_argument("--data", help="folder for the generated images (kept between runs); default: a temp folder")
    parser.add_argument("--hovers", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--umap-points", type=int, default=10_000)
    parser.add_argument("--umap-repeats", type=int, default=3)
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument(
        "--lod-points", type=int, help="the map's LOD_POINTS (to try the density level on fewer points)"
    )
    parser.add_argument("--profile-select", action="store_true", help="print a profile of the selection step")
    parser.add_argument("--display", help="X display instead of the offscreen platform, e.g. :99")
    args = parser.parse_args()
    if args.display:
        os.environ.update(DISPLAY=args.display, QT_QPA_PLATFORM="xcb")

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from workbench.gui.explore_view import ExploreView

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data) if args.data else Path(tmp) / "images"
        t = time.perf_counter()
        emb = synthetic_embedding(folder, args.points, args.dim, min(args.files, args.points))
        print(f"data: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        view = ExploreView(device="cpu", auto_umap=False)
        if args.lod_points:
            view.scatter.lod_points = args.lod_points
        view.resize(1300, 820)
        view.show()
        wait(app, lambda: view.isVisible())
        view.warm_up()  # what open_run starts while the images are embedded (imports sklearn and scipy)
        wait(app, lambda: not view._warm_runner.is_running())
        first = [first_view_ms(app, view, emb) for _ in range(args.repeats)]
        hovers = hover_ms(app, view, args.hovers)
        frame, levels_out = pan_frame_ms(view)
        view.scatter.fit_view()
        exports = selection_export_ms(app, view, Path(tmp), profile=args.profile_select)
        view.scatter.select(np.zeros(len(view.scatter.xy), dtype=bool))
        in_view = zoom_in(app, view, min(5000, view.scatter.lod_points // 2))
        frame_in, levels_in = pan_frame_ms(view)
        result = {
            "points": view.scatter.point_count(),
            "dim": args.dim,
            "files": min(args.files, args.points),
            "first_view_ms": round(statistics.median(first), 1),
            "first_view_ms_all": [round(v, 1) for v in first],
            "hover_ms_p50": round(float(np.percentile(hovers, 50)), 1),
            "hover_ms_p95": round(float(np.percentile(hovers, 95)), 1),
            "hovers": len(hovers),
            "pan_frame_ms": round(frame, 1),
            "pan_levels": levels_out,
            "pan_frame_zoomed_in_ms": round(frame_in, 1),
            "zoomed_in_points": in_view,
            "zoomed_in_levels": levels_in,
            **exports,
        }
        view.shutdown()
        view.close()
        if not args.skip_umap:
            result.update(umap_ratio(emb, args.umap_points, args.umap_repeats))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
