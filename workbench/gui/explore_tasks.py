"""The Explore workspace's background work, Qt-free: each function takes a TaskState (progress, cancel) and calls
the engine or the analysis modules. Nothing here touches widgets; the view turns results into pictures."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.gui.worker import TaskState
from workbench.results.embeddings import Embedding, compute_embeddings
from workbench.results.maps import UmapParams, quick_map, umap_map
from workbench.results.umap_process import UmapProcess

COLOUR_MODES = {
    "label": "Label (subfolder)",
    "cluster": "k-means cluster",
    "outlier": "Outlier score",
    "none": "Nothing",
}


@dataclass
class MapData:
    emb: Embedding
    xy: np.ndarray  # float32 (N, 2), the PCA map
    _unit: np.ndarray | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def unit(self) -> np.ndarray:
        """float32 (N, D) L2-normalised features, computed on first use (by the first neighbours task, off the GUI
        thread, not before the first map): then each point's neighbours are one matrix-vector product away."""
        from workbench.analysis.neighbours import normalize_rows

        with self._lock:
            if self._unit is None:
                self._unit = normalize_rows(self.emb.features)
            return self._unit


@dataclass
class Colouring:
    mode: str  # a key of COLOUR_MODES
    groups: np.ndarray  # int64 (N,), index into names
    names: list[str]
    k: int = 0  # clusters or outlier neighbours; 0 when not used
    clusters: np.ndarray | None = None  # int64 (N,), for the exports
    outliers: np.ndarray | None = None  # float32 (N,) outlier scores, for the exports

    def counts(self) -> list[int]:
        return np.bincount(self.groups, minlength=len(self.names)).tolist()


def prepare_map(emb: Embedding, state: TaskState) -> MapData:
    """The PCA map of embeddings already in memory (the benchmark starts here)."""
    if len(emb) == 0:
        raise WorkbenchError("The folder has no readable images to show.")
    state.message(f"Projecting {len(emb):,} embeddings (PCA) …")
    xy = quick_map(emb.features)
    state.check()
    return MapData(emb, xy)


def load_map(run_dir: Path, folder: Path | None, mode: str, device: str, state: TaskState) -> MapData:
    """Embeddings (cached or computed) of `folder` under the run in `mode`, then the PCA map."""
    emb = compute_embeddings(run_dir, folder, mode, device=device, reporter=state)
    return prepare_map(emb, state)


def umap_layout(service: UmapProcess, emb: Embedding, params: UmapParams, state: TaskState) -> np.ndarray:
    """The UMAP map (N, 2): from the run's cache, or fitted in the UMAP child process and cached."""
    return umap_map(emb, params, lambda x, p: service.run(x, p, should_stop=state.should_stop), reporter=state)


def colouring(mode: str, emb: Embedding, k: int, state: TaskState) -> Colouring:
    """Groups to colour the map by: labels, k-means clusters, outlier-score bands, or one group."""
    n = len(emb)
    if mode == "label":
        if not emb.has_labels:
            return Colouring(mode, np.zeros(n, np.int64), ["(unlabelled)"])
        groups = np.where(emb.labels >= 0, emb.labels, len(emb.class_names)).astype(np.int64)
        names = list(emb.class_names) + (["(unlabelled)"] if (emb.labels < 0).any() else [])
        return Colouring(mode, groups, names)
    if mode == "cluster":
        from workbench.analysis.clusters import kmeans_clusters

        if not 2 <= k <= n:
            raise WorkbenchError(f"The number of clusters must be between 2 and the number of images ({n}); got {k}.")
        state.message(f"Clustering {n:,} points into {k} groups (k-means) …")
        clusters = kmeans_clusters(emb.features, k)
        return Colouring(mode, clusters, [f"cluster {c + 1}" for c in range(k)], k, clusters=clusters)
    if mode == "outlier":
        from workbench.analysis.outliers import outlier_scores, score_bands

        state.message(f"Scoring outliers (mean distance to the {k} nearest neighbours) …")
        scores = outlier_scores(emb.features, k, progress=state.progress, should_stop=state.should_stop)
        bands, names = score_bands(scores)
        return Colouring(mode, bands, [f"outlier score: {name}" for name in names], k, outliers=scores)
    if mode == "none":
        return Colouring(mode, np.zeros(n, np.int64), ["all images"])
    raise ValueError(f"colour mode must be one of {', '.join(COLOUR_MODES)}, got '{mode}'.")


def neighbours(data: MapData, row: int, k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(row, neighbour rows, cosine distances) of one point."""
    from workbench.analysis.neighbours import neighbours_of

    rows, distances = neighbours_of(data.unit(), row, k)
    return row, rows, distances


def duplicates(emb: Embedding, threshold: float, state: TaskState):
    from workbench.analysis.duplicates import near_duplicates

    state.message(f"Comparing {len(emb):,} images pairwise …")
    return near_duplicates(emb.features, threshold, progress=state.progress, should_stop=state.should_stop)


def latest_columns(colourings: list[Colouring]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The most recently computed clusters and outlier scores among `colourings` (None where never computed)."""
    clusters = next((c.clusters for c in reversed(colourings) if c.clusters is not None), None)
    outliers = next((c.outliers for c in reversed(colourings) if c.outliers is not None), None)
    return clusters, outliers


def export_embeddings(
    path: Path, emb: Embedding, xy: np.ndarray, clusters: np.ndarray | None, outliers: np.ndarray | None
) -> Path:
    """`.csv` -> one row per image (path, label, x, y, cluster, outlier score); anything else -> `.npz`."""
    from workbench.results.export import save_embeddings_csv, save_embeddings_npz

    save = save_embeddings_csv if Path(path).suffix.lower() == ".csv" else save_embeddings_npz
    return save(path, emb, xy, clusters, outliers)


def export_encoder(run_dir: Path, out_dir: Path, image_root: Path | None, state: TaskState) -> dict[str, Path]:
    """state_dict + TorchScript (and ONNX where the onnx package is installed) in `out_dir`."""
    from workbench.results.export import export_encoder as export
    from workbench.results.export import onnx_available

    state.message("Exporting the encoder …")
    return export(run_dir, out_dir, image_root=image_root, onnx=onnx_available())
