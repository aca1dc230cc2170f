"""Taking results elsewhere: embeddings (.npz, CSV), lists of paths, and the encoder (state_dict, TorchScript).

- `save_embeddings_npz` / `load_embeddings_npz`: the embeddings file (schema in save_embeddings_npz's docstring),
  written by both the Explore export and `workbench embed`.
- `save_embeddings_csv`: the map as a table, one row per image (or per selected image): path, label, x, y, cluster,
  outlier_score (empty when not computed); no embedding vectors.
- `save_paths`: selected paths as TXT (one per line) or CSV (a `path` column).
- `export_encoder`: `<stem>.pt`, a dict with the encoder's state_dict and what rebuilds it (`load_exported_encoder`),
  and `<stem>.torchscript.pt`, a traced module taking float RGB images in [0, 1], (B, 3, S, S), that normalises them
  as training did and returns the representation (B, D). ONNX as well where the `onnx` package is installed, and
  the backbone under torchvision's (and timm's) names (interop.py, docs/encoders.md).

Every file is written atomically, and never inside the image folder. torch is imported inside functions.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.results.model_files import (  # re-exported: export.py was their home
    ONNX_MISSING,
    ExportError,
    example_images,
    export_onnx,
    on_pixels,
    onnx_available,
    torchscript_bytes,
    write_model_file,
)

if TYPE_CHECKING:
    from workbench.results.embeddings import Embedding

EXPORT_FORMAT = 1  # the encoder file's schema version
EMBEDDINGS_FORMAT = 1  # the embeddings file's schema version (its `format` array)
EMBEDDINGS_REQUIRED = ("format", "mode", "paths", "embeddings", "labels", "class_names")
EMBEDDINGS_OPTIONAL = ("xy", "cluster", "outlier_score")
CSV_COLUMNS = ["path", "label", "x", "y", "cluster", "outlier_score"]


def _optional(values: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values)
    if values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} rows for {n} images.")
    return values


def save_embeddings_npz(
    path: str | Path,
    emb: Embedding,
    xy: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    outliers: np.ndarray | None = None,
) -> Path:
    """Write the embeddings file: one schema for the Explore export and `workbench embed`; `load_embeddings_npz`
    reads it back.

    | key             | dtype, shape    | present  | content                                                           |
    |-----------------|-----------------|----------|-------------------------------------------------------------------|
    | `format`        | int64, ()       | always   | schema version: 1                                                 |
    | `mode`          | str, ()         | always   | `trained`, `untrained` (initial weights) or `raw` (pixels)        |
    | `paths`         | str, (N,)       | always   | absolute image paths; row i of every (N, ...) array is `paths[i]` |
    | `embeddings`    | float32, (N, D) | always   | the run's representation (`model.representation`); `raw`: pixels  |
    | `labels`        | str, (N,)       | always   | class subfolder of the image; "" when it is in none               |
    | `class_names`   | str, (C,)       | always   | the folder's class subfolders, sorted; (0,) when unlabelled       |
    | `xy`            | float32, (N, 2) | optional | Explore's map as shown (PCA or UMAP); `embed --umap`'s UMAP       |
    | `cluster`       | int64, (N,)     | optional | k-means cluster 0..k-1 (Explore, once clustered)                  |
    | `outlier_score` | float32, (N,)   | optional | mean cosine distance to the k nearest (Explore, once scored)      |

    An unlabelled folder still has `labels` (all "") and `class_names` (empty). Every array loads with
    `numpy.load(path, allow_pickle=False)`. Raises ValueError when an optional array has the wrong number of rows,
    OutsideImageFolderError for a path inside the image folder, ExportError when the file cannot be written.
    """
    n = len(emb)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(EMBEDDINGS_FORMAT, dtype=np.int64),
        "mode": np.array(emb.mode, dtype=str),
        "paths": np.array([str(emb.path(i)) for i in range(n)], dtype=str).reshape(n),
        "embeddings": np.asarray(emb.features, dtype=np.float32),
        "labels": np.array(emb.label_names(), dtype=str).reshape(n),
        "class_names": np.array(emb.class_names, dtype=str).reshape(len(emb.class_names)),
    }
    for name, values, dtype in (
        ("xy", xy, np.float32),
        ("cluster", clusters, np.int64),
        ("outlier_score", outliers, np.float32),
    ):
        values = _optional(values, n, name)
        if values is not None:
            arrays[name] = values.astype(dtype, copy=False)
    if "xy" in arrays and arrays["xy"].shape != (n, 2):
        raise ValueError(f"xy must have shape ({n}, 2), got {arrays['xy'].shape}.")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_model_file(Path(path), buffer.getbuffer(), emb.root)


@dataclass(eq=False)
class EmbeddingsFile:
    """What `save_embeddings_npz` wrote; the optional arrays are None where the file lacks them."""

    format: int
    mode: str
    paths: list[str]  # absolute
    embeddings: np.ndarray  # float32 (N, D)
    labels: list[str]  # "" for an image outside any class subfolder
    class_names: list[str]  # [] for an unlabelled folder
    xy: np.ndarray | None = None  # float32 (N, 2)
    cluster: np.ndarray | None = None  # int64 (N,)
    outlier_score: np.ndarray | None = None  # float32 (N,)

    def __len__(self) -> int:
        return len(self.paths)


def load_embeddings_npz(path: str | Path) -> EmbeddingsFile:
    """Read an embeddings file written by `save_embeddings_npz` (or `workbench embed`), without pickle.

    Raises ExportError in one sentence for a file that is not one (or is of a newer format than this version reads).
    """
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, ValueError) as exc:
        raise ExportError(f"'{path}' cannot be read as an .npz file ({exc}).") from None
    missing = [name for name in EMBEDDINGS_REQUIRED if name not in arrays]
    if missing:
        raise ExportError(
            f"'{path}' is not an embeddings file of SSL Workbench format {EMBEDDINGS_FORMAT} "
            f"(it lacks {', '.join(missing)}); read it with numpy.load."
        )
    version = int(arrays["format"])
    if version > EMBEDDINGS_FORMAT:
        raise ExportError(f"'{path}' is of embeddings format {version}; this version reads up to {EMBEDDINGS_FORMAT}.")
    return EmbeddingsFile(
        format=version,
        mode=str(arrays["mode"]),
        paths=arrays["paths"].tolist(),
        embeddings=arrays["embeddings"],
        labels=arrays["labels"].tolist(),
        class_names=arrays["class_names"].tolist(),
        **{name: arrays.get(name) for name in EMBEDDINGS_OPTIONAL},
    )


def embeddings_file(
    emb: Embedding,
    xy: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    outliers: np.ndarray | None = None,
) -> EmbeddingsFile:
    """What `load_embeddings_npz` would read back after `save_embeddings_npz(path, emb, xy, clusters, outliers)`,
    without the file: the form the Projector and Parquet exports (projector.py, tables.py) take."""
    n = len(emb)
    xy, clusters = _optional(xy, n, "xy"), _optional(clusters, n, "clusters")
    outliers = _optional(outliers, n, "outliers")
    return EmbeddingsFile(
        format=EMBEDDINGS_FORMAT,
        mode=emb.mode,
        paths=[str(emb.path(i)) for i in range(n)],
        embeddings=np.asarray(emb.features, dtype=np.float32),
        labels=emb.label_names(),
        class_names=list(emb.class_names),
        xy=None if xy is None else xy.astype(np.float32, copy=False),
        cluster=None if clusters is None else clusters.astype(np.int64, copy=False),
        outlier_score=None if outliers is None else outliers.astype(np.float32, copy=False),
    )


def save_embeddings_csv(
    path: str | Path,
    emb: Embedding,
    xy: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    outliers: np.ndarray | None = None,
    rows: Sequence[int] | None = None,
) -> Path:
    """One row per image with CSV_COLUMNS (the map as a table: no embedding vectors, those are in the .npz); a
    column that was not computed is left empty. `rows`: only those images, in that order (a selection)."""
    n = len(emb)
    xy, clusters, outliers = (
        _optional(xy, n, "xy"),
        _optional(clusters, n, "clusters"),
        _optional(outliers, n, "outliers"),
    )
    sel = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
    # Column by column, not a Path per row: a 100,000-row selection in ~0.3 s instead of ~4 s (measured). The path
    # is str(emb.path(i)): the root's text, a separator, the relative path (a normalised POSIX one, as scanned).
    prefix = str(emb.root / "_")[:-1]
    paths = [
        prefix + (p.replace("/", os.sep) if os.sep != "/" else p) for p in map(emb.paths.__getitem__, sel.tolist())
    ]
    labels = np.array([*emb.class_names, ""], dtype=object)[np.asarray(emb.labels)[sel]].tolist()  # -1: ""
    empty = [""] * len(sel)
    columns = [
        paths,
        labels,
        empty if xy is None else [f"{v:.6g}" for v in np.asarray(xy)[sel, 0].tolist()],
        empty if xy is None else [f"{v:.6g}" for v in np.asarray(xy)[sel, 1].tolist()],
        empty if clusters is None else np.asarray(clusters)[sel].astype(np.int64).tolist(),
        empty if outliers is None else [f"{v:.6g}" for v in np.asarray(outliers)[sel].tolist()],
    ]
    text = "".join(paths) + "".join(labels)
    if any(special in text for special in ',"\r\n'):  # csv's quoting needed somewhere
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(zip(*columns, strict=True))
        body = out.getvalue()
    else:  # nothing to quote: the same bytes as csv.writer, joined at C speed
        columns[4] = list(map(str, columns[4]))
        body = "\n".join([",".join(CSV_COLUMNS), *map(",".join, zip(*columns, strict=True))]) + "\n"
    return write_model_file(Path(path), body.encode("utf-8"), emb.root)


def save_paths(path: str | Path, paths: Sequence[str | Path], image_root: Path | None = None) -> Path:
    """The paths, one per line (.txt, or any other suffix) or as a one-column CSV with a `path` header (.csv)."""
    path = Path(path)
    out = io.StringIO()
    if path.suffix.lower() == ".csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["path"])
        writer.writerows([str(p)] for p in paths)
    else:
        out.writelines(f"{p}\n" for p in paths)
    return write_model_file(path, out.getvalue().encode("utf-8"), image_root)


def read_paths(path: str | Path) -> list[str]:
    """What save_paths wrote, as a list of strings."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]
    return text.splitlines()


# ---- the encoder ------------------------------------------------------------------------------------------------


def export_encoder(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    stem: str = "encoder",
    trained: bool = True,
    onnx: bool = False,
    torchvision: bool = False,
    image_root: Path | None = None,
    checkpoint: str = "last",
) -> dict[str, Path]:
    """Write the run's encoder (from `checkpoint`, e.g. a fine-tune's "best") for downstream use; returns
    {"state_dict": path, "torchscript": path[, "onnx": path][, "torchvision": path[, "timm": path]]}.

    torchvision=True (resnet18/34/50, vit-tiny) adds `<stem>.torchvision.pt`, the backbone's state dict under
    torchvision's names, and for the ViT `<stem>.timm.pt` under timm's (interop.py; docs/encoders.md).

    The state_dict file is a plain dict (loads with torch.load(weights_only=True)): `state_dict`, `encoder` (registry
    name), `image_size`, `small_stem`, `representation`, `feature_dim`, `mean`, `std`, `config` (the run's resolved
    config) and `format`. onnx=True raises ExportError with one sentence when the onnx package is missing.
    """
    import torch

    from workbench.results.evaluate import load_encoder

    config, encoder = load_encoder(run_dir, checkpoint, device="cpu", trained=trained)
    encoder = encoder.float().eval()
    if torchvision:
        from workbench.results.interop import check_torchvision_counterpart

        check_torchvision_counterpart(config.model.encoder)  # before any file is written
    if onnx and not onnx_available():
        raise ExportError(ONNX_MISSING)
    representation = encoder.resolve_representation(config.model.representation)
    size = int(encoder.image_size or config.augment.output_size or config.data.image_size)
    meta = {
        "format": EXPORT_FORMAT,
        "encoder": config.model.encoder,
        "image_size": size,
        "small_stem": config.model.small_stem,
        "representation": representation,
        "feature_dim": encoder.representation_dim(representation),
        "mean": list(config.augment.mean),
        "std": list(config.augment.std),
        "trained": trained,
        "config": config.to_dict(),
    }
    out_dir = Path(out_dir).expanduser()
    written: dict[str, Path] = {}
    buffer = io.BytesIO()
    torch.save({**meta, "state_dict": encoder.state_dict()}, buffer)
    written["state_dict"] = write_model_file(out_dir / f"{stem}.pt", buffer.getbuffer(), image_root)

    module = on_pixels(encoder, lambda m, x: m.represent(x, representation), config.augment.mean, config.augment.std)
    script = torchscript_bytes(module, size, f"The '{config.model.encoder}' encoder")
    written["torchscript"] = write_model_file(out_dir / f"{stem}.torchscript.pt", script, image_root)
    if onnx:
        written["onnx"] = export_onnx(module, example_images(size), out_dir / f"{stem}.onnx", image_root)
    if torchvision:
        from workbench.results.interop import interop_state_dicts

        for kind, state in interop_state_dicts(config.model.encoder, encoder).items():
            buffer = io.BytesIO()
            torch.save(state, buffer)
            written[kind] = write_model_file(out_dir / f"{stem}.{kind}.pt", buffer.getbuffer(), image_root)
    return written


def load_exported_encoder(path: str | Path) -> tuple[dict[str, Any], Any]:
    """(metadata, encoder in eval mode) rebuilt from an `export_encoder` state_dict file, for fine-tuning."""
    import torch

    from workbench.models import create_encoder

    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != EXPORT_FORMAT:
        raise ExportError(f"'{path}' is not an encoder exported by SSL Workbench.")
    encoder = create_encoder(state["encoder"], image_size=state["image_size"], small_stem=state["small_stem"])
    encoder.load_state_dict(state["state_dict"])
    meta = {k: v for k, v in state.items() if k != "state_dict"}
    return meta, encoder.eval()
