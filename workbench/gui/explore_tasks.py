"""The Explore workspace's background work, Qt-free: each function takes a TaskState (progress, cancel) and calls
the engine or the analysis modules. Nothing here touches widgets; the view turns results into pictures."""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.gui.worker import TaskState
from workbench.results.embeddings import Embedding, compute_embeddings
from workbench.results.label_set import LabelSet
from workbench.results.maps import UmapParams, quick_map, umap_map
from workbench.results.neighbour_graph import neighbour_graph
from workbench.results.projector import ProjectorFiles
from workbench.results.umap_process import UmapProcess

COLOUR_MODES = {
    "label": "Label (subfolder)",
    "cluster": "k-means cluster",
    "outlier": "Outlier score",
    "data_check": "Data check (model-free)",
    "none": "Nothing",
}


@dataclass
class MapData:
    emb: Embedding
    xy: np.ndarray  # float32 (N, 2), the PCA map
    encoder: str = ""  # what represents the images, e.g. "small-cnn, stage3-grid representation (2048-d)"
    rows_by_path: dict[str, int] = field(default_factory=dict, repr=False)  # for Find (built off the GUI thread)
    # For the Labels panel, built off the GUI thread too (10k paths: ~20 ms; the run's config read: ~30 ms).
    label_set: LabelSet | None = field(default=None, repr=False)  # the embedding's, before any label is given
    labels_path: Path | None = None  # where its labels are saved (labels_path(emb))
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
    import workbench.results.finetune  # noqa: F401 - the Fine-tune panel reads its defaults with the map: import here

    rows = {p: i for i, p in enumerate(emb.paths)}  # one index of the paths, for Find and the label set both
    label_set = LabelSet.from_embedding(emb, rows=rows)
    return MapData(emb, xy, rows_by_path=rows, label_set=label_set, labels_path=labels_path(emb))


def labels_path(emb: Embedding) -> Path | None:
    """Where the labels of the embedded folder are saved: in its run (None when the embeddings have none); labels
    of a folder other than the one it trained on in a file of their own. Reads the run's config."""
    if emb.run_dir is None:
        return None
    from workbench.engine.runs import RunDir
    from workbench.results.embeddings import default_folder

    run = RunDir(emb.run_dir)
    try:
        own = default_folder(run.path).resolve() == Path(emb.root).resolve()
    except WorkbenchError:
        own = False
    key = hashlib.sha1(str(Path(emb.root).resolve()).encode()).hexdigest()[:12]
    return run.labels_path if own else run.labels_path_for(key)


def load_map(run_dir: Path, folder: Path | None, mode: str, device: str, state: TaskState) -> MapData:
    """Embeddings (cached or computed) of `folder` under the run in `mode`, then the PCA map."""
    emb = compute_embeddings(run_dir, folder, mode, device=device, reporter=state)
    data = prepare_map(emb, state)
    data.encoder = describe_encoder(run_dir)
    return data


def describe_encoder(run_dir: Path) -> str:
    """The run's encoder and the representation its embeddings and exports use, with its dimension: the encoder's
    own output size (the registry's "256-d") is often not what represents the images ("2048-d" stage3-grid)."""
    from workbench.engine.runs import RunDir

    try:
        run = RunDir.open(run_dir)
        return _describe(str(run.path), run.config_path.stat().st_mtime_ns)
    except Exception:  # noqa: BLE001 - a description only: the map is shown without it
        return ""


@functools.lru_cache(maxsize=8)  # a Compare switch reloads the map; building a ResNet-50 again to name it is waste
def _describe(run_dir: str, _config_mtime: int) -> str:
    import torch

    from workbench.engine.runs import RunDir
    from workbench.engine.trainer import output_size
    from workbench.models import create_encoder

    try:
        config = RunDir.open(run_dir).load_config()
        with torch.device("meta"):  # shapes only: no memory, and no draw from the random generator training uses
            encoder = create_encoder(config.model.encoder, output_size(config), config.model.small_stem)
        representation = encoder.resolve_representation(config.model.representation)
        dim = encoder.representation_dim(representation)
    except Exception:  # noqa: BLE001 - a description only: the map is shown without it
        return ""
    return f"{config.model.encoder}, {representation} representation ({dim}-d)"


def umap_layout(service: UmapProcess, emb: Embedding, params: UmapParams, state: TaskState) -> np.ndarray:
    """The UMAP map (N, 2): from the run's cache, or fitted in the UMAP child process (on the embedding's one
    neighbour graph, see maps.umap_map) and cached."""

    def fit(x: np.ndarray, p: UmapParams, knn=None) -> np.ndarray:
        return service.run(x, p, should_stop=state.should_stop, knn=knn)

    return umap_map(emb, params, fit, reporter=state)


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
        from workbench.analysis.outliers import outliers_from_graph, score_bands

        _, distances = neighbour_graph(emb, k, state)  # the one graph, built once (in this task) and reused
        state.message(f"Scoring outliers (mean distance to the {k} nearest neighbours) …")
        scores = outliers_from_graph(distances, k)
        bands, names = score_bands(scores)
        return Colouring(mode, bands, [f"outlier score: {name}" for name in names], k, outliers=scores)
    if mode == "data_check":  # each image's first issue of the model-free checks (data/checks.py)
        from workbench.data.checks import check_folder, issue_groups

        state.message(f"Checking {n:,} images (model-free data checks) …")
        checks = check_folder(emb.root, emb.paths, progress=state.progress, should_stop=state.should_stop)
        groups, names = issue_groups(checks)
        return Colouring(mode, groups, names)
    if mode == "none":
        return Colouring(mode, np.zeros(n, np.int64), ["all images"])
    raise ValueError(f"colour mode must be one of {', '.join(COLOUR_MODES)}, got '{mode}'.")


def neighbours(data: MapData, row: int, k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(row, neighbour rows, cosine distances) of one point: its row of the neighbour graph when that is in memory
    already, else one exact pass over every point (O(N)); a click never waits for a graph to be built."""
    from workbench.analysis.graph import graph_neighbours
    from workbench.results.neighbour_graph import in_memory

    rows, distances = graph_neighbours(in_memory(data.emb, k), data.unit, row, k)
    return row, rows, distances


def duplicates(emb: Embedding, threshold: float, state: TaskState):
    """(groups of rows with identical file content, near-identical pairs by embedding: the neighbour graph's edges
    above the threshold)."""
    from workbench.analysis.duplicates import duplicates_from_graph, identical_files

    state.message(f"Looking for identical files among {len(emb):,} …")
    identical = identical_files(emb.root, emb.paths, progress=state.progress, should_stop=state.should_stop)
    indices, distances = neighbour_graph(emb, 0, state)
    pairs = duplicates_from_graph(indices, distances, threshold)
    return identical, pairs


def latest_columns(colourings: list[Colouring]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The most recently computed clusters and outlier scores among `colourings` (None where never computed)."""
    clusters = next((c.clusters for c in reversed(colourings) if c.clusters is not None), None)
    outliers = next((c.outliers for c in reversed(colourings) if c.outliers is not None), None)
    return clusters, outliers


def export_embeddings(
    path: Path, emb: Embedding, xy: np.ndarray, clusters: np.ndarray | None, outliers: np.ndarray | None
) -> Path:
    """`.csv` -> one row per image (path, label, x, y, cluster, outlier score); `.parquet` -> the same and the
    vector (results/tables.py); anything else -> `.npz`."""
    if Path(path).suffix.lower() == ".parquet":  # the table for pandas users (results/tables.py)
        from workbench.results.export import embeddings_file
        from workbench.results.tables import save_embeddings_parquet

        return save_embeddings_parquet(path, embeddings_file(emb, xy, clusters, outliers), emb.root)
    from workbench.results.export import save_embeddings_csv, save_embeddings_npz

    save = save_embeddings_csv if Path(path).suffix.lower() == ".csv" else save_embeddings_npz
    return save(path, emb, xy, clusters, outliers)


def export_projector(
    out_dir: Path,
    emb: Embedding,
    xy: np.ndarray,
    clusters: np.ndarray | None,
    outliers: np.ndarray | None,
    state: TaskState,
) -> ProjectorFiles:
    """vectors, metadata, sprite and config in `out_dir`, for TensorBoard's Embedding Projector."""
    from workbench.results.export import embeddings_file
    from workbench.results.projector import save_projector

    return save_projector(out_dir, embeddings_file(emb, xy, clusters, outliers), image_root=emb.root, reporter=state)


def export_encoder(run_dir: Path, out_dir: Path, image_root: Path | None, state: TaskState) -> dict[str, Path]:
    """state_dict + TorchScript, ONNX where the onnx package is installed, and for ResNets and ViTs the weights under
    torchvision's (and timm's) names, in `out_dir` (docs/encoders.md)."""
    from workbench.engine.runs import RunDir
    from workbench.methods import resolve_config
    from workbench.results.export import export_encoder as export
    from workbench.results.export import onnx_available
    from workbench.results.interop import has_torchvision_counterpart

    state.message("Exporting the encoder …")
    encoder = resolve_config(RunDir(run_dir).load_config()).model.encoder
    torchvision = has_torchvision_counterpart(encoder)
    return export(run_dir, out_dir, image_root=image_root, onnx=onnx_available(), torchvision=torchvision)
