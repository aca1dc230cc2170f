"""2-D maps of embeddings: PCA at once (`quick_map`), UMAP under `UmapParams`, cached next to the embeddings.

UMAP layouts are cached in the run folder next to the embeddings they project:
RUN/embeddings/<embeddings stem>.umap-<n_neighbors>-<min_dist>-<metric>.npy, so a stale embeddings file takes its
maps with it, with a .json beside it holding the plan the layout followed (analysis.umap_scale: all rows, the
precomputed neighbour graph, or a sample fitted and the rest placed), which `umap_note` turns into the sentence the
map shows. `umap_map` reads that cache or fits and fills it; the app fits in a child process (umap_process.py),
the CLI in its own process, with the same seed: both give, and share, the same layout.

sklearn and umap are imported inside functions: the GUI imports this module at start-up.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import Cancelled, WorkbenchError
from workbench.files import atomic_write_bytes, atomic_write_text
from workbench.results.embeddings import EMBEDDINGS_DIR, Embedding

if TYPE_CHECKING:
    from workbench.engine.report import Reporter

PCA_FIT_FLOPS = 5e8  # quick_map fits PCA axes on a subset of rows when N * D^2 exceeds this
PCA_MIN_FIT_ROWS = 2_000
UMAP_METRICS = ("cosine", "euclidean", "correlation", "manhattan")
UMAP_SEED = 0  # UmapProcess.run's default too: the app's and the CLI's layouts are the same


def quick_map(features: np.ndarray) -> np.ndarray:
    """(N, D) -> float32 (N, 2) PCA coordinates, fast enough for the first view of 100,000 points.

    When fitting on every row would cost more than PCA_FIT_FLOPS (N * D^2), the axes are fitted on an evenly spread
    subset of rows (at least PCA_MIN_FIT_ROWS) and every row is projected on them: the same map up to sampling
    noise, at a fraction of the time and without copying the features. Small inputs get exactly `pca_2d`.
    """
    from workbench.analysis.project import pca_2d

    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        return pca_2d(x)  # raises the shape error
    n, d = x.shape
    fit_rows = max(PCA_MIN_FIT_ROWS, int(PCA_FIT_FLOPS / max(d * d, 1)))
    if n <= fit_rows:
        return pca_2d(x)
    from workbench.analysis.project import principal_axes

    subset = np.linspace(0, n - 1, fit_rows).round().astype(np.int64)
    mean, axes = (a.astype(np.float32) for a in principal_axes(x[subset]))
    return x @ axes - mean @ axes  # = (x - mean) @ axes, without a centred copy of x


@dataclass(frozen=True)
class UmapParams:
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"

    def validate(self) -> UmapParams:
        if self.n_neighbors < 2:
            raise WorkbenchError(f"UMAP n_neighbors must be at least 2, got {self.n_neighbors}.")
        if not 0.0 <= self.min_dist <= 1.0:
            raise WorkbenchError(f"UMAP min_dist must be between 0 and 1, got {self.min_dist}.")
        if self.metric not in UMAP_METRICS:
            raise WorkbenchError(f"UMAP metric must be one of {', '.join(UMAP_METRICS)}, got '{self.metric}'.")
        return self

    def suffix(self) -> str:
        return f"umap-{self.n_neighbors}-{self.min_dist:g}-{self.metric}"


def fit_umap(x: np.ndarray, params: UmapParams, knn: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(N, D) -> float32 (N, 2): `umap_layout` in this process, with the seed the app's UMAP process uses; knn: an
    optional precomputed (indices, cosine distances) graph (N, k) of x."""
    from workbench.analysis.umap_scale import umap_layout

    return umap_layout(x, **asdict(params.validate()), seed=UMAP_SEED, knn=knn)[0]


def umap_map(
    emb: Embedding,
    params: UmapParams,
    fit: Callable[..., np.ndarray] = fit_umap,
    *,
    reporter: Reporter | None = None,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The UMAP map float32 (N, 2) of `emb`: from the run's cache, or `fit(features, params)` (with a graph:
    `fit(features, params, knn)`) and then cached with its plan.

    knn: the embedding's k-NN graph (indices (N, k), cosine distances 1 - cos; each row itself included or not), so
    UMAP does not build its own; by default, for the cosine metric, the embedding's one graph (results/
    neighbour_graph.py: read from memory or the run's cache, or built there first), so the app and the CLI fit on
    the same neighbours. Raises Cancelled (and caches nothing) when the reporter asks to stop.
    """
    from workbench.analysis.umap_scale import plan_umap
    from workbench.results.neighbour_graph import neighbour_graph

    params.validate()
    cached = load_cached_umap(emb, params)
    if cached is not None:
        return cached
    if knn is None and params.metric == "cosine" and len(emb) > params.n_neighbors:
        knn = neighbour_graph(emb, params.n_neighbors, reporter)
    plan = plan_umap(len(emb), params.n_neighbors, knn, UMAP_SEED)
    if reporter is not None:
        reporter.message(f"Computing the UMAP map of {len(emb):,} points … ({plan.sentence()})")
    started = time.monotonic()
    xy = fit(emb.features, params) if knn is None else fit(emb.features, params, knn)
    xy = np.asarray(xy, dtype=np.float32)
    if reporter is not None and reporter.should_stop():
        raise Cancelled("UMAP was cancelled.")
    save_cached_umap(emb, params, xy, {**plan.to_dict(), "seconds": round(time.monotonic() - started, 1)})
    return xy


def umap_note(emb: Embedding, params: UmapParams) -> str:
    """The sentence saying how the cached layout was made (the plan), or "" when unknown."""
    from workbench.analysis.umap_scale import UmapPlan

    path = umap_cache_path(emb, params)
    if path is None:
        return ""
    try:
        info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        fields = {k: info[k] for k in ("strategy", "rows", "fit_rows", "n_epochs", "seeded")}
        fields["init"] = info.get("init", "spectral")  # layouts cached before the PCA start have no init
        return UmapPlan(**fields).sentence()
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def umap_cache_path(emb: Embedding, params: UmapParams) -> Path | None:
    """Where the layout of `emb` under `params` is cached; None when `emb` is not cached itself."""
    if not emb.key or emb.run_dir is None:
        return None
    return emb.run_dir / EMBEDDINGS_DIR / f"{emb.key}.{params.suffix()}.npy"


def load_cached_umap(emb: Embedding, params: UmapParams) -> np.ndarray | None:
    path = umap_cache_path(emb, params)
    if path is None or not path.is_file():
        return None
    try:
        xy = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return xy if xy.shape == (len(emb), 2) else None


def save_cached_umap(emb: Embedding, params: UmapParams, xy: np.ndarray, plan: dict | None = None) -> None:
    path = umap_cache_path(emb, params)
    if path is not None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(xy, dtype=np.float32))
        if plan is not None:  # first: a layout on disk always has the plan it was made with (or none, from before)
            atomic_write_text(path.with_suffix(".json"), json.dumps(plan))
        atomic_write_bytes(path, buffer.getbuffer())
