"""How much memory does Explore need for a big folder, and how long do its maps take there?

Opens the Explore workspace (offscreen) on a synthetic embedding of --points rows x --dim (10 Gaussian clusters),
memory-mapped from a .npy file as the embeddings cache is, and runs what a user does on a new map: the first (PCA)
map, colouring by outlier score (which builds the neighbour graph), the UMAP map (its child process), then waits
for the UMAP process's idle exit. A thread samples the resident memory of the app and its children
(workbench/memory.py) every SAMPLE_S; per phase it prints the wall time and the peak, and as its last line one JSON
object. Goal (issue 13): 1,000,000 images within 8 GB for the whole app; the UMAP map within about 10 minutes.

    .venv/bin/python benchmarks/app_memory.py [--points 1000000] [--dim 128] [--skip-umap] [--first-map-only]

--first-map-only stops after the first (PCA) map, so that phase can be measured (or profiled) alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SAMPLE_S = 0.25
GIB = 1024**3
IDLE_EXIT_WAIT_S = 75  # the UMAP process ends after 60 s idle (results/umap_process.py)


class PeakSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        from workbench.memory import memory_use

        while not self.done.wait(SAMPLE_S):
            self.peak = max(self.peak, memory_use().total_bytes)

    def reset(self) -> int:
        from workbench.memory import memory_use

        peak, self.peak = self.peak, memory_use().total_bytes
        return peak


def memmapped_embedding(folder: Path, points: int, dim: int, seed: int = 0):
    """Clustered rows written chunk by chunk into a .npy and mapped back read-only (as the cache loads them)."""
    from workbench.results.embeddings import Embedding

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(10, dim)).astype(np.float32) * 3
    labels = np.arange(points) % 10
    path = folder / "features.npy"
    out = np.lib.format.open_memmap(path, "w+", np.float32, (points, dim))
    for start in range(0, points, 50_000):
        rows = labels[start : start + 50_000]
        out[start : start + len(rows)] = centres[rows] + rng.standard_normal((len(rows), dim), dtype=np.float32)
    out.flush()
    del out
    features = np.load(path, mmap_mode="r", allow_pickle=False)
    paths = [f"class{i % 10}/{i:07d}.png" for i in range(points)]
    return Embedding(folder, paths, labels.astype(np.int64), [f"class{c}" for c in range(10)], features, "trained")


def pump(app, condition, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--first-map-only", action="store_true", help="stop after the first (PCA) map")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per phase")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from workbench.memory import memory_use

    app = QApplication.instance() or QApplication([])
    from workbench.gui.explore_view import ExploreView

    phases: dict[str, dict] = {}
    sampler = PeakSampler()
    sampler.start()

    def phase(name: str, start, done) -> None:
        sampler.reset()
        began = time.perf_counter()
        start()
        pump(app, done, args.timeout)
        seconds = time.perf_counter() - began
        peak = max(sampler.reset(), memory_use().total_bytes)
        phases[name] = {"s": round(seconds, 1), "peak_gb": round(peak / GIB, 2)}
        print(f"{name:14s} {seconds:8.1f} s   peak {peak / GIB:6.2f} GB", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        emb = memmapped_embedding(Path(tmp), args.points, args.dim)
        print(f"data written and mapped: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        view = ExploreView(device="cpu", auto_umap=False)
        view.resize(1300, 820)
        view.show()
        pump(app, view.isVisible, 60)
        base = memory_use().total_bytes
        print(f"window open: {base / GIB:.2f} GB", flush=True)
        maps: list[str] = []
        colours: list[str] = []
        view.map_ready.connect(maps.append)
        view.colours_ready.connect(colours.append)
        said: list[str] = []
        view.status.connect(said.append)
        phase("first map", lambda: view.show_embedding(emb), lambda: "PCA" in maps)
        if not args.first_map_only:
            phase("outlier score", lambda: view.set_colour_mode("outlier", 10), lambda: "outlier" in colours)
        if not (args.skip_umap or args.first_map_only):
            kind = view.controls.map_kind

            def umap() -> None:
                if kind.currentData() == "umap":  # the default kind: the view waits for a request (auto_umap off)
                    view.start_umap()
                else:
                    kind.setCurrentIndex(kind.findData("umap"))

            phase("UMAP map", umap, lambda: "UMAP" in maps)
            idle_start = time.monotonic()
            pump(app, lambda: time.monotonic() - idle_start > IDLE_EXIT_WAIT_S, IDLE_EXIT_WAIT_S + 30)
            after = memory_use()
            phases["after UMAP idle"] = {"gb": round(after.total_bytes / GIB, 2), "children": after.children}
            print(f"map status: {said[-1] if said else ''}", flush=True)
            print(f"after {IDLE_EXIT_WAIT_S} s idle: {after.sentence()}", flush=True)
        sampler.done.set()
        overall = max(p.get("peak_gb", 0) for p in phases.values())
        view.shutdown()
    print(
        json.dumps(
            {
                "points": args.points,
                "dim": args.dim,
                "window_open_gb": round(base / GIB, 2),
                "peak_gb": overall,
                "phases": phases,
            }
        )
    )


if __name__ == "__main__":
    main()
