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
    --no-reduce: wide rows (graph.REDUCE_ABOVE_DIM) go to NN-descent in full, not as principal components. The
    synthetic rows are isotropic clusters, the worst case for principal components (20,000 x 512: recall@10 0.665
    reduced, 0.998 not): their --dim 512 figures say little about real encoder features; --features does.

Real features (--features FILE.npy[,FILE2.npy]: float32 (N, D) files, e.g. RUN/embeddings/*.features.npy, which
`workbench embed` and Explore cache; several are stacked): the exact graph (torch) is the reference, then for each
--widths entry pynndescent forced at any size: "full" (no reduction) or P principal components, timed by stage
(reduce_s: axes + projection, descent_s, rerank_s), with the recall@10 of NN-descent's own order in P dimensions
(recall_before_rerank) and after re-ranking its first --rerank candidates by their exact full-width cosine
(recall_at_10; the app re-ranks all 49), and the largest difference between the graph's distances and the exact
cosine distances of its pairs (max_distance_error). One JSON line per width and re-rank count.

    .venv/bin/python benchmarks/neighbours.py --features RUN/embeddings/trained-...features.npy --widths full,128,64

Structured wide features (--structured): isotropic rows are the wrong proxy for a wide encoder (no low-dimensional
structure; real features have it: 128 principal axes hold ~98 % of the stage3-grid rows' squared norm). So: clusters
in a --latent-dimensional subspace (centres and spread as above), mapped to --dim by a random orthonormal basis, plus
isotropic noise holding --noise-share of the squared norm, with the same planted near-duplicates and outliers
(outliers: random directions in all --dim, so off the subspace). Written chunk by chunk to a memory-mapped .npy in
--workdir (float32 as the embeddings cache is: 1M x 2048 is 8 GB on disk; --dtype float16 halves the file, but
the re-rank then copies it whole to float32) and read back read-only, so the features never sit in RAM whole.
The graph is `analysis.graph.build_graph` on that memory map, Explore's path (principal axes, projection,
NN-descent, re-rank in graph_reduce.py), each phase timed in place (axes_s, project_s, descent_s, rerank_s);
peak_anon_mb is the peak of the process's anonymous memory (the page cache of the mapped file not counted, which
peak_rss_mb, the kernel's peak resident size, includes); axes_share is the squared norm the searched principal axes
hold (on the axes' own sample); recall@10 on --sample rows against exact neighbours over all rows (read in chunks).

    .venv/bin/python benchmarks/neighbours.py --structured --rows 1000000 --dim 2048 --workdir /big/disk
    .venv/bin/python benchmarks/neighbours.py --structured --rows 20000 --dim 512 --sample 2000 --exact-max-rows 0
    (a smoke run: 20,000 rows are otherwise exact, torch; --exact-max-rows 0 takes the approximate path at any size)
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


def structured_wide(
    path: Path, rows: int, dim: int, clusters: int, latent: int, noise_share: float, dtype: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, dim) clustered features of low intrinsic dimension written to the .npy `path` chunk by chunk and
    mapped back read-only; with planted pairs (P, 2) (copy row, original row) and outlier rows (P,) as `synthetic`."""
    rng = np.random.default_rng(seed)
    latent = min(latent, dim)
    basis = np.linalg.qr(rng.standard_normal((dim, latent)))[0].T.astype(np.float32)  # (L, D) orthonormal rows
    centres = rng.normal(size=(clusters, latent)).astype(np.float32)
    spread = 0.35
    # noise of variance s2 in each of dim axes holds noise_share of E|row|^2 = latent (1 + spread^2) + dim s2
    signal = latent * (1 + spread**2)
    sigma = float(np.sqrt(noise_share / max(1 - noise_share, 1e-9) * signal / dim))
    out = np.lib.format.open_memmap(path, "w+", np.dtype(dtype), (rows, dim))
    step = max(1, 2**26 // (4 * dim))  # 64 MiB of float32 rows at a time
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        z = centres[rng.integers(0, clusters, stop - start)]
        z += spread * rng.standard_normal((stop - start, latent), dtype=np.float32)
        chunk = z @ basis
        chunk += sigma * rng.standard_normal((stop - start, dim), dtype=np.float32)
        out[start:stop] = chunk
    planted = min(PLANTED, rows // 10)
    copies, originals, outliers = np.split(rng.choice(rows, size=3 * planted, replace=False), 3)
    order = np.argsort(copies)  # a memory map's fancy assignment: rows in order
    source = np.asarray(out[originals[order]], dtype=np.float32)
    out[copies[order]] = 2.5 * source + 1e-3 * sigma * rng.standard_normal((planted, dim), dtype=np.float32)
    scale = np.sqrt(signal + dim * sigma**2) / np.sqrt(dim)  # a typical row's norm
    out[np.sort(outliers)] = scale * rng.standard_normal((planted, dim), dtype=np.float32)
    out.flush()
    del out
    x = np.load(path, mmap_mode="r", allow_pickle=False)
    return x, np.stack([copies, originals], axis=1), outliers


def exact_neighbours_chunked(x: np.ndarray, rows: np.ndarray, k: int, budget_bytes: int = 2**28) -> np.ndarray:
    """(len(rows), k) exact cosine nearest other rows of x[rows] among all of x, reading x a chunk of rows at a
    time (a memory map is never normalised whole): a running top-k per query row (torch)."""
    import torch

    from workbench.analysis.neighbours import normalize_rows

    n = len(x)
    order = np.argsort(rows)
    queries = torch.from_numpy(normalize_rows(x[rows[order]]))  # (S, D), read in row order from the map
    query_rows = torch.from_numpy(rows[order])
    best_sim = torch.full((len(rows), k), -float("inf"))
    best_idx = torch.zeros((len(rows), k), dtype=torch.int64)
    step = max(k, budget_bytes // (4 * max(len(rows), 1)))  # (S, step) similarities in the budget
    with torch.no_grad():
        for start in range(0, n, step):
            stop = min(start + step, n)
            sim = queries @ torch.from_numpy(normalize_rows(x[start:stop])).T  # (S, B)
            own = (query_rows >= start) & (query_rows < stop)
            sim[own.nonzero().squeeze(1), query_rows[own] - start] = -float("inf")  # not its own neighbour
            top = sim.topk(min(k, stop - start), dim=1)
            both_sim = torch.cat([best_sim, top.values], dim=1)
            both_idx = torch.cat([best_idx, top.indices + start], dim=1)
            keep = both_sim.topk(k, dim=1).indices
            best_sim, best_idx = both_sim.gather(1, keep), both_idx.gather(1, keep)
    out = np.empty((len(rows), k), np.int64)
    out[order] = best_idx.numpy()
    return out


class AnonPeak:
    """The peak of this process's anonymous resident memory (RssAnon: not the mapped file's page cache), sampled."""

    def __init__(self, every_s: float = 0.1):
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


def _timed(module, name: str, times: dict) -> None:
    """Wrap module.name so that its wall time adds to times[name] (the graph's phases, timed in place)."""
    inner = getattr(module, name)

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - t

    setattr(module, name, timed)


def measure_structured(
    rows: int,
    dim: int,
    k: int,
    sample: int,
    clusters: int,
    latent: int,
    noise_share: float,
    dtype: str,
    workdir: str,
    exact_max_rows: int | None = None,
) -> dict:
    """The approximate graph of structured wide rows memory-mapped from disk, built as Explore builds it."""
    import tempfile

    from workbench.analysis import graph as graphs
    from workbench.analysis import graph_reduce
    from workbench.analysis.duplicates import duplicates_from_graph
    from workbench.analysis.outliers import outliers_from_graph

    anon = AnonPeak()
    with tempfile.TemporaryDirectory(dir=workdir or None, prefix="neighbours-structured-") as tmp:
        t = time.perf_counter()
        file = Path(tmp) / "features.npy"
        x, pairs, outliers = structured_wide(file, rows, dim, clusters, latent, noise_share, dtype)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        warm = np.ascontiguousarray(x[:3000], dtype=np.float32)
        graphs.build_graph(warm, k, exact_max_rows=0)  # torch, pynndescent's and the re-rank's numba kernels: untimed
        compile_s = time.perf_counter() - t
        exact = graphs.is_exact(rows, dim) if exact_max_rows is None else rows <= exact_max_rows
        width = graphs.reduced_dim(dim)
        axes = graph_reduce.principal_axes(x, width)
        sample_rows = np.unique(np.linspace(0, rows - 1, min(graph_reduce.PCA_SAMPLE_ROWS, rows)).round().astype(int))
        unit = graph_reduce.normalize_rows(x[sample_rows])
        axes_share = float(np.square(unit @ axes).sum() / np.square(unit).sum())
        del unit, warm
        times: dict[str, float] = {}
        for module, name in [(graph_reduce, "principal_axes"), (graph_reduce, "project"), (graphs, "_descent")]:
            _timed(module, name, times)
        _timed(graph_reduce, "rerank", times)
        anon_before = AnonPeak.now()
        t = time.perf_counter()
        indices, distances = graphs.build_graph(x, k, exact_max_rows=exact_max_rows)
        graph_s = time.perf_counter() - t
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        scores = outliers_from_graph(distances, 10)
        found = duplicates_from_graph(indices, distances, DUPLICATE_THRESHOLD)
        derived_s = time.perf_counter() - t
        peak_anon = anon.stop()  # the graph's peak; the recall's reference below reads x in chunks of its own
        check = np.random.default_rng(1).choice(rows, size=min(sample, rows), replace=False)
        t = time.perf_counter()
        truth = exact_neighbours_chunked(x, check, min(10, rows - 1))
        exact_sample_s = time.perf_counter() - t
        file_gb = x.nbytes / 2**30
        del x
    found_pairs = {(p.first, p.second) for p in found}
    planted = {(int(min(a, b)), int(max(a, b))) for a, b in pairs}
    top = set(np.argsort(-scores, kind="stable")[: 2 * len(outliers)].tolist())
    return {
        "generator": "structured",
        "rows": rows,
        "dim": dim,
        "latent": min(latent, dim),
        "noise_share": noise_share,
        "dtype": dtype,
        "file_gb": round(file_gb, 2),
        "k": int(indices.shape[1]),
        "path": "exact" if exact else "pynndescent",
        "searched_dim": dim if exact else width,
        "axes_share": round(axes_share, 4),
        "write_s": round(write_s, 1),
        "compile_s": round(compile_s, 1),
        "axes_s": round(times.get("principal_axes", 0.0), 2),
        "project_s": round(times.get("project", 0.0), 2),
        "descent_s": round(times.get("_descent", 0.0), 2),
        "rerank_s": round(times.get("rerank", 0.0), 2),
        "graph_s": round(graph_s, 2),
        "peak_rss_mb": round(peak_rss_mb),
        "peak_anon_mb": round(peak_anon / 2**20),
        "anon_before_graph_mb": round(anon_before / 2**20),
        **_found(indices, check, truth, exact_sample_s, derived_s, found, planted, found_pairs, top, outliers),
    }


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
        "searched_dim": dim if exact else graphs.reduced_dim(dim),
        "compile_s": round(compile_s, 2),
        "graph_s": round(graph_s, 2),
        "peak_rss_mb": round(peak_mb),
        "data_mb": round(data_mb),
        **_found(indices, check, truth, exact_sample_s, derived_s, found, planted, found_pairs, top, outliers),
    }


def _reduction_off() -> None:
    from workbench.analysis import graph as graphs

    graphs.REDUCE_ABOVE_DIM = 1 << 30


def load_features(files: list[str]) -> np.ndarray:
    """The rows of the .npy files, stacked (a single file stays memory-mapped, as the app reads its cache)."""
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise SystemExit(f"--features: no such file: {', '.join(missing)}.")
    parts = [np.load(f, mmap_mode="r") for f in files]
    if any(p.ndim != 2 or p.shape[1] != parts[0].shape[1] for p in parts):
        raise SystemExit("--features: every file must hold a 2-D (N, D) array of the same width D.")
    return parts[0] if len(parts) == 1 else np.concatenate(parts).astype(np.float32)


def measure_features(files: list[str], widths: list[str], reranks: list[int], k: int, seed: int = 0) -> list[dict]:
    """Recall@10 and time of the approximate graph of real features at each width and number of candidates
    re-ranked, against the exact graph."""
    from workbench.analysis import graph as graphs
    from workbench.analysis import graph_reduce
    from workbench.analysis.neighbours import knn_graph

    x = load_features(files)
    n, d = x.shape
    k = min(k, n - 1)
    t = time.perf_counter()
    truth_idx, _ = knn_graph(x, k)
    exact_s = time.perf_counter() - t
    graphs.build_graph(np.ascontiguousarray(x[:3000]), k, exact_max_rows=0)  # numba compile, untimed
    unit = graph_reduce.normalize_rows(x)
    lines = []
    for w in widths:
        p = d if w == "full" else min(int(w), d)
        columns = min(max(k, graphs.MIN_DESCENT_NEIGHBOURS - 1), n - 1) if p < d else k
        t = time.perf_counter()
        data = x
        if p < d:
            data = graph_reduce.project(x, graph_reduce.principal_axes(x, p, seed=seed))
        reduce_s = time.perf_counter() - t
        t = time.perf_counter()
        found_idx, found_dist = graphs._descent(data, columns, seed)
        descent_s = time.perf_counter() - t
        before = graphs.recall_at(found_idx, truth_idx, 10)
        for rerank in reranks if p < d else [0]:
            t = time.perf_counter()
            idx, dist = found_idx, found_dist
            if p < d:
                idx, dist = graph_reduce.rerank(x, found_idx[:, : max(k, min(rerank, columns))], k)
            rerank_s = time.perf_counter() - t
            true_dist = np.concatenate(  # in chunks: unit[idx] whole would be N x k x D
                [1.0 - np.einsum("nd,nkd->nk", unit[a : a + 512], unit[idx[a : a + 512, :k]]) for a in range(0, n, 512)]
            )
            lines.append(
                {
                    "features": ",".join(Path(f).name for f in files),
                    "rows": n,
                    "dim": d,
                    "width": w,
                    "k": k,
                    "reranked": max(k, min(rerank, columns)) if p < d else 0,
                    "exact_s": round(exact_s, 2),
                    "reduce_s": round(reduce_s, 2),
                    "descent_s": round(descent_s, 2),
                    "rerank_s": round(rerank_s, 2),
                    "approx_s": round(reduce_s + descent_s + rerank_s, 2),
                    "recall_before_rerank": round(before, 4),
                    "recall_at_10": round(graphs.recall_at(idx, truth_idx, 10), 4),
                    "max_distance_error": float(np.abs(dist[:, :k] - true_dist).max()),
                    "cpus": os.cpu_count(),
                }
            )
    return lines



def _found(indices, check, truth, exact_sample_s, derived_s, found, planted, found_pairs, top, outliers) -> dict:
    """The quality half of a result line: recall on the sample and what was found of the planted rows."""
    from workbench.analysis import graph as graphs

    return {
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
    parser.add_argument("--no-reduce", action="store_true", help="no principal-component reduction of wide rows")
    parser.add_argument("--features", default="", help="comma-separated float32 (N, D) .npy files: real features")
    parser.add_argument("--widths", default="full,256,128,64,32", help="with --features: 'full' or P components")
    parser.add_argument("--rerank", default="16,24,32,49", help="with --features: candidates re-ranked in full")
    parser.add_argument("--structured", action="store_true", help="clusters in a low-dimensional subspace, on disk")
    parser.add_argument("--latent", type=int, default=48, help="with --structured: the subspace's dimension")
    parser.add_argument("--noise-share", type=float, default=0.02, help="with --structured: noise's share of |x|^2")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="with --structured")
    parser.add_argument("--workdir", default="", help="with --structured: folder for the .npy (default: the temp dir)")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # one configuration, this process
    args = parser.parse_args(argv)
    if args.features:
        reranks = [int(r) for r in args.rerank.split(",")]
        for line in measure_features(args.features.split(","), args.widths.split(","), reranks, args.k):
            print(json.dumps(line), flush=True)
        return 0
    if args.no_reduce:
        _reduction_off()
    rows = [int(r) for r in args.rows.split(",")]
    dims = [int(d) for d in args.dim.split(",")]
    if args.single and args.structured:
        shape = (rows[0], dims[0], args.k, args.sample, args.clusters)
        wide = (args.latent, args.noise_share, args.dtype, args.workdir, args.exact_max_rows)
        line = measure_structured(*shape, *wide)
        print(json.dumps(line), flush=True)
        return 0
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
            cmd += ["--no-reduce"] if args.no_reduce else []
            if args.structured:
                cmd += ["--structured", f"--latent={args.latent}", f"--noise-share={args.noise_share}"]
                cmd += [f"--dtype={args.dtype}"] + ([f"--workdir={args.workdir}"] if args.workdir else [])
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
