"""The neighbour graph at scale: build time, peak memory, recall@10 of the approximate graph, and the time of what
Explore reads off it (outlier scores and near-duplicate pairs).

For each --rows x --dim configuration (each in a fresh child process, so that its peak memory is its own):
synthetic clustered features (--clusters Gaussian clusters, float32) with PLANTED near-duplicates (a row's copy at
another scale plus tiny noise) and outliers (random directions, far from every cluster), then
- graph_s: `analysis.graph.build_graph(x, k)` (exact where `graph.is_exact`, pynndescent above), after an
  untimed warm-up that compiles pynndescent's numba kernels (compile_s, once per process);
- peak_rss_mb: the process's peak resident memory (features included: data_mb of it);
- recall_at_10: on a --sample of rows (default 20,000), their exact 10 nearest among ALL rows by brute force (batched
  matrix products) against the graph's first 10 columns (1.0 on the exact path);
- derived_s: outliers_from_graph + duplicates_from_graph on the graph; planted_duplicates_found and
  planted_outliers_in_top (share of the planted outliers among the highest scores) say they found what was planted.

Prints one JSON line per configuration. Goal (issue 13) for 1M x 128 on 2 cores: graph <= 10 minutes, derived <= 30 s,
recall@10 >= 0.95.

    .venv/bin/python benchmarks/neighbours.py [--rows 100000,1000000] [--dim 128,512] [--k 16] [--sample 20000]
    .venv/bin/python benchmarks/neighbours.py --rows 3000 --dim 32 --sample 500   # a smoke run (exact path)
    --exact-max-rows N moves the exact/approximate threshold (0: pynndescent at any size).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLANTED = 100  # near-duplicate pairs and outliers each (fewer for tiny --rows)
DUPLICATE_THRESHOLD = 0.995  # analysis.duplicates.DEFAULT_THRESHOLD


def synthetic(rows: int, dim: int, clusters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 (rows, dim) clustered features, built in chunks (bounded extra memory), with planted pairs
    (P, 2) (copy row, original row) and outlier rows (P,)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    x = np.empty((rows, dim), np.float32)
    for start in range(0, rows, 65_536):
        stop = min(start + 65_536, rows)
        x[start:stop] = centres[rng.integers(0, clusters, stop - start)]
        x[start:stop] += 0.35 * rng.standard_normal((stop - start, dim), dtype=np.float32)
    planted = min(PLANTED, rows // 10)
    rows_used = rng.choice(rows, size=3 * planted, replace=False)
    copies, originals, outliers = np.split(rows_used, 3)
    x[copies] = 2.5 * x[originals] + 1e-3 * rng.standard_normal((planted, dim), dtype=np.float32)
    x[outliers] = rng.standard_normal((planted, dim), dtype=np.float32)  # a random direction: far from all clusters
    return x, np.stack([copies, originals], axis=1), outliers


def exact_neighbours(x: np.ndarray, rows: np.ndarray, k: int, batch: int = 1024) -> np.ndarray:
    """(len(rows), k) exact cosine nearest other rows of x[rows] among all of x, by batched products (torch)."""
    import torch

    from workbench.analysis.neighbours import normalize_rows

    unit = torch.from_numpy(normalize_rows(x))
    out = np.empty((len(rows), k), np.int64)
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            chunk = torch.from_numpy(rows[start : start + batch])
            sim = unit[chunk] @ unit.T  # (B, N)
            sim[torch.arange(len(chunk)), chunk] = -float("inf")  # not its own neighbour
            out[start : start + len(chunk)] = sim.topk(k, dim=1).indices.numpy()
    return out


def measure(rows: int, dim: int, k: int, sample: int, clusters: int, exact_max_rows: int | None) -> dict:
    from workbench.analysis import graph as graphs
    from workbench.analysis.duplicates import duplicates_from_graph
    from workbench.analysis.outliers import outliers_from_graph

    x, pairs, outliers = synthetic(rows, dim, clusters)
    data_mb = x.nbytes / 2**20
    graphs.build_graph(x[:100], k)  # imports torch, untimed
    compile_s = 0.0
    exact = graphs.is_exact(rows, dim) if exact_max_rows is None else rows <= exact_max_rows
    if not exact:  # compile the numba kernels once, untimed (the app pays this on its first big folder)
        t = time.perf_counter()
        graphs.build_graph(x[:3000], k, exact_max_rows=0)
        compile_s = time.perf_counter() - t
    t = time.perf_counter()
    indices, distances = graphs.build_graph(x, k, exact_max_rows=exact_max_rows)
    graph_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    t = time.perf_counter()
    scores = outliers_from_graph(distances, 10)
    found = duplicates_from_graph(indices, distances, DUPLICATE_THRESHOLD)
    derived_s = time.perf_counter() - t

    check = np.random.default_rng(1).choice(rows, size=min(sample, rows), replace=False)
    t = time.perf_counter()
    truth = exact_neighbours(x, check, min(10, rows - 1))
    exact_sample_s = time.perf_counter() - t
    found_pairs = {(p.first, p.second) for p in found}
    planted = {(int(min(a, b)), int(max(a, b))) for a, b in pairs}
    top = set(np.argsort(-scores, kind="stable")[: 2 * len(outliers)].tolist())
    return {
        "rows": rows,
        "dim": dim,
        "k": int(indices.shape[1]),
        "path": "exact" if exact else "pynndescent",
        "compile_s": round(compile_s, 2),
        "graph_s": round(graph_s, 2),
        "peak_rss_mb": round(peak_mb),
        "data_mb": round(data_mb),
        "recall_at_10": round(graphs.recall_at(indices[check], truth, 10), 4),
        "recall_sample": int(len(check)),
        "exact_sample_s": round(exact_sample_s, 2),
        "derived_s": round(derived_s, 3),
        "pairs_found": len(found),
        "planted_duplicates_found": round(len(planted & found_pairs) / max(len(planted), 1), 3),
        "planted_outliers_in_top": round(len(top & set(outliers.tolist())) / max(len(outliers), 1), 3),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--dim", default="128,512", help="comma-separated dimensions")
    parser.add_argument("--k", type=int, default=16, help="graph columns (the app builds 16)")
    parser.add_argument("--sample", type=int, default=20_000, help="rows whose exact neighbours give the recall")
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--exact-max-rows", type=int, default=None, help="default: analysis.graph.is_exact decides")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # one configuration, this process
    args = parser.parse_args(argv)
    rows = [int(r) for r in args.rows.split(",")]
    dims = [int(d) for d in args.dim.split(",")]
    if args.single:
        line = measure(rows[0], dims[0], args.k, args.sample, args.clusters, args.exact_max_rows)
        print(json.dumps(line), flush=True)
        return 0
    failed = 0
    for n in rows:
        for d in dims:
            cmd = [sys.executable, __file__, "--single", f"--rows={n}", f"--dim={d}", f"--k={args.k}"]
            cmd += [f"--sample={args.sample}", f"--clusters={args.clusters}"]
            cmd += [] if args.exact_max_rows is None else [f"--exact-max-rows={args.exact_max_rows}"]
            done = subprocess.run(cmd, capture_output=True, text=True)  # a fresh process: its own peak memory
            line = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
            if line:
                print(line[0], flush=True)
            else:
                failed += 1
                error = (done.stderr.strip().splitlines() or ["no output"])[-1]
                print(json.dumps({"rows": n, "dim": d, "error": error}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
