"""The Augment workspace's background work, Qt-free: decode samples, draw views with the engine, export them.

Both calls go through `workbench.augment.views.make_views`, the function training uses, imported inside the
task so that torch loads on a worker thread after the window has painted.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.augment.spec import AugmentSpec
from workbench.data.decode import DecodeError, decode_image
from workbench.errors import ConfigError, DataError
from workbench.files import atomic_write_bytes, ensure_outside
from workbench.gui.worker import TaskState


class DecodedCache:
    """(path, size) -> (S, S, 3) uint8, least recently used dropped; shared by the preview tasks (thread-safe)."""

    def __init__(self, capacity: int = 256):
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def get(self, path: Path, size: int) -> np.ndarray:
        key = (str(path), size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        array = decode_image(path, size)  # outside the lock: decoding is the slow part
        with self._lock:
            self._items[key] = array
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return array


@dataclass
class Preview:
    paths: list[Path]  # the images actually shown (undecodable ones are left out)
    originals: np.ndarray  # (K, S0, S0, 3) uint8 at the training resolution S0
    views: np.ndarray  # (V, K, S, S, 3) uint8, S = spec.output_size or S0
    seed: int
    skipped: list[str]  # "path: reason" of samples that could not be decoded


def decode_samples(paths: list[Path], size: int, cache: DecodedCache, state: TaskState) -> tuple[list, list, list]:
    """Decode each path at `size`; returns (kept paths, arrays, skipped "path: reason")."""
    kept, arrays, skipped = [], [], []
    for path in paths:
        state.check()
        try:
            arrays.append(cache.get(path, size))
            kept.append(path)
        except DecodeError as exc:
            skipped.append(f"{Path(path).name}: {exc}")
    return kept, arrays, skipped


def _views_uint8(spec: AugmentSpec, batch: np.ndarray, seed: int) -> np.ndarray:
    """(K, S0, S0, 3) uint8 -> (V, K, S, S, 3) uint8 through the engine's make_views + denormalize."""
    import torch  # here, on the worker thread: never on the start-up path

    from workbench.augment.views import denormalize, make_views

    images = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).contiguous()  # (K, 3, S0, S0)
    with torch.no_grad():
        views = make_views(spec, images, seed)  # V x float (K, 3, S, S), normalised
        return np.stack([denormalize(spec, v).permute(0, 2, 3, 1).cpu().numpy() for v in views])


def compute_preview(
    spec: AugmentSpec, paths: list[Path], image_size: int, seed: int, cache: DecodedCache, state: TaskState
) -> Preview:
    spec.validate()
    kept, arrays, skipped = decode_samples(paths, image_size, cache, state)
    if not kept:
        raise DataError("None of the sample images can be decoded; pick other images in the Data workspace.")
    originals = np.stack(arrays)
    state.check()
    return Preview(kept, originals, _views_uint8(spec, originals, seed), seed, skipped)


def check_export_folder(out_dir: Path, source_root: Path) -> Path:
    """The resolved export folder; refuses one inside the source image folder (nothing is written there)."""
    return ensure_outside(out_dir, source_root, "the export folder")


def export_views(
    spec: AugmentSpec,
    paths: list[Path],
    source_root: Path,
    image_size: int,
    copies: int,
    seed: int,
    out_dir: Path,
    state: TaskState,
) -> int:
    """Write `copies` augmented views of each image as PNG to out_dir/<subfolder>/<stem>_aug<NNN>.png.

    Views are drawn for the whole batch at once, ceil(copies / V) calls of make_views with seeds seed, seed+1, ...
    Returns the number of files written.
    """
    if copies < 1:
        raise ConfigError(f"The number of views per image must be at least 1, got {copies}.")
    spec.validate()
    out = check_export_folder(out_dir, source_root)
    root = Path(source_root).resolve()
    kept, arrays, _ = decode_samples(paths, image_size, DecodedCache(len(paths) + 1), state)
    if not kept:
        raise DataError("None of the chosen images can be decoded, so nothing was exported.")
    batch = np.stack(arrays)
    targets = []
    for path in kept:
        rel = Path(path).resolve().relative_to(root) if Path(path).resolve().is_relative_to(root) else Path(path.name)
        targets.append(out / rel.parent / rel.stem)
    rounds = math.ceil(copies / spec.n_views)
    written = 0
    for r in range(rounds):
        state.check()
        views = _views_uint8(spec, batch, seed + r)  # (V, K, S, S, 3)
        for v in range(views.shape[0]):
            n = r * spec.n_views + v
            if n >= copies:
                break
            for k, target in enumerate(targets):
                png = io.BytesIO()
                Image.fromarray(views[v, k]).save(png, format="PNG")
                atomic_write_bytes(target.parent / f"{target.name}_aug{n:03d}.png", png.getbuffer())
                written += 1
        state.progress(r + 1, rounds)
    return written
