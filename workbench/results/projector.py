"""A map for the TensorBoard Embedding Projector: one folder that `tensorboard --logdir FOLDER` opens as it is, and
whose two TSVs projector.tensorflow.org's "Load" button takes.

| file                     | content                                                                              |
|--------------------------|--------------------------------------------------------------------------------------|
| `vectors.tsv`            | N rows of D tab-separated floats (7 significant digits), row i for image i; no header |
| `metadata.tsv`           | a header row, then N rows: path, label, and cluster / outlier_score where computed    |
| `sprite.png`             | the N thumbnails, row-major on a ceil(sqrt(N)) x ceil(sqrt(N)) grid of square tiles   |
| `projector_config.pbtxt` | the ProjectorConfig naming the three files (relative paths) and the tile size         |

The Projector reads sprites of at most 8192 x 8192 px, so a tile is min(64, 8192 // ceil(sqrt(N))) px (64 px up to
1,024 images, 8 px at a million). A thumbnail is the image's centre square, decoded as training decodes it
(data/decode.py); a missing or unreadable image leaves its tile grey. The config is written with TensorBoard's own
ProjectorConfig message (tensorboard is a dependency), so it is what the projector plugin parses.

Every file is written atomically, and the folder is never inside the image folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import Cancelled
from workbench.files import atomic_write_bytes, atomic_writer, ensure_outside
from workbench.results.export import EmbeddingsFile, ExportError

if TYPE_CHECKING:
    from workbench.engine.report import Reporter

CONFIG_NAME = "projector_config.pbtxt"  # the name the projector plugin looks for (its metadata.PROJECTOR_FILENAME)
VECTORS_NAME = "vectors.tsv"
METADATA_NAME = "metadata.tsv"
SPRITE_NAME = "sprite.png"
MAX_SPRITE_PX = 8192  # the Projector's limit on either side of the sprite
MAX_THUMBNAIL_PX = 64
MISSING_GREY = 128  # the tile of an image that cannot be read
_CHUNK = 2048  # rows (vectors) or thumbnails between progress reports and cancellation checks


@dataclass(frozen=True)
class ProjectorFiles:
    """What `save_projector` wrote (absolute paths)."""

    folder: Path
    config: Path
    vectors: Path
    metadata: Path
    sprite: Path
    thumbnail_px: int  # the config's single_image_dim (square tiles)


def sprite_grid(n: int) -> tuple[int, int]:
    """(tiles per side, tile size in px) for a sprite of `n` thumbnails within the Projector's 8192 px limit."""
    if n < 1:
        raise ValueError(f"a sprite needs at least one image, got {n}")
    side = math.isqrt(n - 1) + 1  # ceil(sqrt(n)) without floating point
    tile = min(MAX_THUMBNAIL_PX, MAX_SPRITE_PX // side)
    if tile < 1:
        raise ExportError(f"{n:,} images do not fit in the Projector's {MAX_SPRITE_PX} px sprite, even at 1 px each.")
    return side, tile


def save_projector(
    out_dir: str | Path,
    embeddings: EmbeddingsFile,
    *,
    image_root: Path | None = None,
    name: str | None = None,
    reporter: Reporter | None = None,
) -> ProjectorFiles:
    """Write the Projector folder for `embeddings` (see the module docstring) into `out_dir`, created if needed.

    `image_root` is the image folder, which the folder must lie outside; `name` is the tensor's name in the Projector
    (default: "<mode> embeddings"). The reporter gets messages and progress and may stop the work (Cancelled); files
    already written then stay, each one whole. Raises OutsideImageFolderError, ExportError (cannot be written).
    """
    folder = ensure_outside(Path(out_dir), image_root, "the Projector folder")
    n = len(embeddings)
    if n == 0:
        raise ExportError("There are no embeddings to export.")
    side, tile = sprite_grid(n)
    vectors = np.asarray(embeddings.embeddings, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise ValueError(f"embeddings has shape {vectors.shape} for {n} paths.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _say(reporter, f"Writing {n:,} vectors of dimension {vectors.shape[1]} …")
        with atomic_writer(folder / VECTORS_NAME) as f:
            for start in range(0, n, _CHUNK):
                _check(reporter)
                np.savetxt(f, vectors[start : start + _CHUNK], fmt="%.7g", delimiter="\t")
        atomic_write_bytes(folder / METADATA_NAME, metadata_tsv(embeddings).encode("utf-8"))
        _say(reporter, f"Drawing {n:,} thumbnails of {tile} px …")
        sprite = sprite_image(embeddings.paths, tile, reporter)
        atomic_write_bytes(folder / SPRITE_NAME, _png(sprite))
        config = projector_config(name or f"{embeddings.mode} embeddings", tile)
        atomic_write_bytes(folder / CONFIG_NAME, config.encode("utf-8"))
    except OSError as exc:
        raise ExportError(f"The Projector folder '{out_dir}' cannot be written ({exc.strerror or exc}).") from None
    return ProjectorFiles(
        folder, folder / CONFIG_NAME, folder / VECTORS_NAME, folder / METADATA_NAME, folder / SPRITE_NAME, tile
    )


def metadata_tsv(embeddings: EmbeddingsFile) -> str:
    """Header + one row per image: path, label, and cluster / outlier_score where the file has them.

    There are always two columns or more, so the Projector reads the first row as the header. Tabs and line breaks
    inside a value (a path may hold them) become spaces, which the format cannot quote.
    """
    columns: list[tuple[str, Sequence]] = [("path", embeddings.paths), ("label", embeddings.labels)]
    if embeddings.cluster is not None:
        columns.append(("cluster", [str(int(c)) for c in embeddings.cluster]))
    if embeddings.outlier_score is not None:
        columns.append(("outlier_score", [f"{float(s):.6g}" for s in embeddings.outlier_score]))
    lines = ["\t".join(name for name, _ in columns)]
    lines += ["\t".join(_cell(values[i]) for _, values in columns) for i in range(len(embeddings))]
    return "\n".join(lines) + "\n"


def sprite_image(paths: Sequence[str | Path], tile: int, reporter: Reporter | None = None) -> np.ndarray:
    """uint8 (side * tile, side * tile, 3): thumbnail i at tile row i // side, column i % side; grey where an image
    cannot be read, black after the last one. Decoding runs on a few threads (Pillow releases the GIL)."""
    from workbench.data.decode import DecodeError, decode_image

    def thumbnail(path: str | Path) -> np.ndarray:
        try:
            return decode_image(Path(path), tile)
        except DecodeError:
            return np.full((tile, tile, 3), MISSING_GREY, np.uint8)

    n = len(paths)
    side = math.isqrt(n - 1) + 1 if n else 0
    sprite = np.zeros((side * tile, side * tile, 3), np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, n, _CHUNK):
            _check(reporter)
            for i, image in enumerate(pool.map(thumbnail, paths[start : start + _CHUNK]), start):
                row, col = divmod(i, side)
                sprite[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile] = image
            if reporter is not None:
                reporter.progress(min(start + _CHUNK, n), n)
    return sprite


def projector_config(tensor_name: str, tile: int) -> str:
    """The projector_config.pbtxt text: one embedding, its files named relative to the config (the plugin resolves
    them against the config's folder, so the folder can be moved or copied whole)."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = tensor_name
    embedding.tensor_path = VECTORS_NAME
    embedding.metadata_path = METADATA_NAME
    embedding.sprite.image_path = SPRITE_NAME
    embedding.sprite.single_image_dim.extend([tile, tile])
    return text_format.MessageToString(config)


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=3)  # an 8192 px sprite: speed over size
    return buffer.getvalue()


def _cell(value: object) -> str:
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _say(reporter: Reporter | None, text: str) -> None:
    if reporter is not None:
        reporter.message(text)


def _check(reporter: Reporter | None) -> None:
    if reporter is not None and reporter.should_stop():
        raise Cancelled("cancelled")
