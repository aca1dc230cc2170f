"""Model-free data checks (CleanVision's issue types): cheap statistics of the decoded images, then a folder report.

`measure` computes, for a batch of decoded uint8 images at once (numpy, no per-image Python work): a 64-bit
difference hash (dHash) and a 16x16 grey thumbnail (near duplicates: the hash proposes, the thumbnail confirms, see
near_duplicates.py), sharpness, brightness percentiles, grey-level entropy and colourfulness. The decoder adds the
original size and a digest of the file's bytes (decode_with_info(digest=True)), so each file is read and decoded once.
`find_issues` turns a folder's measurements into a `DataChecks` report: per issue kind the rows flagged (and, for
duplicates, their groups). Two callers: `load_images(checks=True)` measures the training-resolution rows it already
holds (the decode-once store); `check_folder` (the Data workspace, `workbench scan`) decodes at CHECK_SIZE in chunks.
The statistics describe the square centre crop that training sees; size and aspect use the original size.

We keep our own rather than depend on CleanVision: it pulls pandas and matplotlib, opens every file a second time and
has no cancellation; the statistics are a few lines each, and batched they add ~12 % to a decode of 28-px images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from workbench.data.near_duplicates import THUMB, _groups_by_key, near_duplicate_groups, verified_groups
from workbench.errors import Cancelled

# ---- thresholds. Calibrated on resources/demo (1,000 Fashion-MNIST 28x28 images: none of them should fire) and on
# constructed images (tests/data/test_checks.py), at CHECK_SIZE and at 32 px; the figures are from those measurements.
CHECK_SIZE = 64  # the side check_folder decodes at (shorter side resized, centre crop, as for training)
# Sharpness = var(Laplacian) / var(grey), so contrast does not matter (white noise scores 20). Its scale depends on
# the resolution measured (the demo's median is 0.74 at 32 px, 0.092 at 64 px: upsampling from 28 px smooths), its
# ratio to the folder's median does not: demo images score >= 0.28 x the median at 32 and 64 px (1st percentile
# 0.45), demo images Gaussian-blurred with sigma 1.5 px <= 0.11 x (sigma 2: <= 0.11, sigma 1: 0.06-0.41). So blurry
# is folder-relative: below BLUR_FRACTION of the folder's median sharpness.
BLUR_FRACTION = 0.15
# The 99th percentile of the luma (0-255) below this: even the brightest pixels are dark (CleanVision uses the same
# percentiles). Demo: min 98 (black backgrounds with a bright garment do not fire).
DARK_MAX = 40.0
LIGHT_MIN = 225.0  # the 5th percentile above this: even the darkest pixels are nearly white (demo: max 0)
# Grey-level entropy in bits (0: one grey level; 8: all 256 equally often). Demo: min 1.81 at 32 px (sandals on
# black), 1.92 at 64 px; a half-and-half two-tone image is 1 bit, a constant image 0.
ENTROPY_MIN = 1.2
# An image is grayscale when 99 % of its pixels have max(R,G,B) - min(R,G,B) <= this (JPEG chroma noise of a grey
# photo stays under ~6); flagged only where at least COLOUR_MAJORITY of the folder is in colour.
GREY_SPREAD = 8.0
COLOUR_MAJORITY = 0.5
# Folder-relative size checks: compared with the folder's median, so a folder of panoramas is not all "odd".
ASPECT_FACTOR = 2.0  # width/height more than 2x away from the median aspect (4:3 vs 16:9 is 1.33x: not odd)
SIZE_FACTOR = 4.0  # sqrt(width*height) more than 4x away from the median (CleanVision: 10x in area, ~3.2x in side)
# Near duplicates: dHash candidates within NEAR_MAX_BITS, kept only where their normalised 16x16 grey thumbnails are
# within NEAR_MAX_DISTANCE RMS (near_duplicates.py). Calibrated on the 10,000 Fashion-MNIST images (28 px) with 500
# planted copies each of JPEG q75, 2x upscaled, 0.79x downscaled and +10 % brightness, at 64 px (Data view) and 32 px
# (training): copy-to-original distances are <= 0.082 (JPEG), 0.042 (up), 0.051 (brighter), 0.165 (down; median
# 0.058); only 0.5 % of originals have another original within 0.105 (alike trousers, 0.09-0.10). At 3 bits and 0.09:
# recall 0.96 JPEG, 1.00 up, 0.84-0.88 down, 0.99 brighter (all but "down" limited by the hash), 16-20 of the 10,000
# originals flagged, in 7-8 groups (the hash alone at 2 bits flagged 3,229; at 3 bits 4,681).
NEAR_MAX_BITS = 3
NEAR_MAX_DISTANCE = 0.09
DHASH_MARGIN = 2.0  # a 1 bit needs the right neighbour brighter by > 2 levels: JPEG noise on flat areas is no edge
_CHUNK = 256  # images measured per numpy batch (bounded memory: ~20 MB at 64 px)
_STATS = ("dhash", "sharpness", "dark", "light", "entropy", "colour", "thumb")

ISSUES: dict[str, str] = {  # kind -> label shown in the CLI and the Data workspace
    "exact_duplicates": "Exact duplicates",
    "near_duplicates": "Near duplicates",
    "blurry": "Blurry",
    "dark": "Too dark",
    "light": "Too light",
    "low_information": "Low information",
    "grayscale": "Grayscale in a colour set",
    "odd_aspect_ratio": "Odd aspect ratio",
    "odd_size": "Odd size",
}
_GROUPED = ("exact_duplicates", "near_duplicates")
_WEIGHTS = (np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)  # bit 0 of the hash is last


def measure(images: np.ndarray, channels_first: bool = False) -> dict[str, np.ndarray]:
    """Per-image statistics of uint8 images (B, H, W, 3), or (B, 3, H, W) with channels_first; each (B,) but thumb.

    dhash (uint64): 64-bit difference hash of the grey image area-averaged to 9x8. sharpness: var(4-neighbour
    Laplacian) / var(grey) over the interior (nan for a constant image or one under 3 px). dark / light: the 99th / 5th
    percentile of the luma (0-255). entropy: grey-level entropy in bits. colour: 99th percentile of max(R,G,B) -
    min(R,G,B). thumb (uint8, (B, THUMB * THUMB)): the grey image area-averaged to THUMB x THUMB. Batched: a
    handful of numpy calls per _CHUNK images, whatever their number."""
    out = {k: [] for k in _STATS}
    for start in range(0, images.shape[0], _CHUNK):
        x = np.asarray(images[start : start + _CHUNK])
        planes = [x[:, i] if channels_first else x[..., i] for i in range(3)]  # (B, H, W) each
        for k, v in _measure_chunk(*planes).items():
            out[k].append(v)
    empty = {"dhash": np.zeros(0, np.uint64), "thumb": np.zeros((0, THUMB * THUMB), np.uint8)}
    return {k: np.concatenate(v) if v else empty.get(k, np.zeros(0)) for k, v in out.items()}


def _measure_chunk(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    batch, h, w = r.shape
    n = h * w
    grey = (r * np.int32(19595) + g * np.int32(38470) + b * np.int32(7471) + 0x8000) >> 16  # Pillow's "L" (ITU-R 601)
    hist = _histograms(grey)
    cdf = hist.cumsum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = hist / n
        entropy = -np.where(hist > 0, p * np.log2(p), 0.0).sum(axis=1)
    spread = _histograms(np.maximum(np.maximum(r, g), b).astype(np.int32) - np.minimum(np.minimum(r, g), b))
    y = grey.astype(np.float32)
    var = y.reshape(batch, -1).var(axis=1)
    sharp = np.full(batch, np.nan)
    if h >= 3 and w >= 3:
        lap = (y[:, 1:-1, :-2] + y[:, 1:-1, 2:]) + (y[:, :-2, 1:-1] + y[:, 2:, 1:-1]) - 4.0 * y[:, 1:-1, 1:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            sharp = np.where(var > 1e-6, lap.reshape(batch, -1).var(axis=1) / var, np.nan)
    small = (_area(8, h) @ y) @ _area(9, w).T  # (B, 8, 9) area-averaged: two batched matrix products
    thumb = (_area(THUMB, h) @ y) @ _area(THUMB, w).T  # the near-duplicate check's thumbnail, the same way
    bits = (small[:, :, 1:] - small[:, :, :-1] > DHASH_MARGIN).reshape(batch, 64)
    return {
        "dhash": (bits.astype(np.uint64) * _WEIGHTS).sum(axis=1, dtype=np.uint64),
        "sharpness": sharp.astype(np.float64),
        "dark": (cdf < 0.99 * n).sum(axis=1).astype(np.float64),  # first level where the cdf reaches 99 %
        "light": (cdf < 0.05 * n).sum(axis=1).astype(np.float64),
        "entropy": entropy,
        "colour": (spread.cumsum(axis=1) < 0.99 * n).sum(axis=1).astype(np.float64),
        "thumb": np.clip(np.rint(thumb), 0, 255).astype(np.uint8).reshape(batch, THUMB * THUMB),
    }


def _histograms(levels: np.ndarray) -> np.ndarray:
    """(B, 256) counts of integer levels 0..255 in each of B images, in one bincount."""
    b = levels.shape[0]
    offsets = (np.arange(b, dtype=np.int64) * 256).reshape(b, *([1] * (levels.ndim - 1)))
    return np.bincount((levels + offsets).ravel(), minlength=256 * b).reshape(b, 256)


def _area(m: int, n: int) -> np.ndarray:
    """(m, n) weights averaging n pixels into m equal cells by overlap (Pillow's BOX resize)."""
    edges = np.linspace(0, n, m + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class DataChecks:
    """Per issue kind, the rows flagged (indices into `paths`); duplicates also as groups of rows."""

    root: str
    paths: list[str]  # the images checked, relative posix paths (the scan report's order)
    flagged: dict[str, list[int]] = field(default_factory=dict)  # kind -> sorted rows
    groups: dict[str, list[list[int]]] = field(default_factory=dict)  # duplicate kinds -> groups of rows
    unchecked: int = 0  # images whose properties could not be measured (they failed to decode)

    def count(self, kind: str) -> int:
        return len(self.flagged.get(kind, []))

    def flagged_paths(self, kind: str) -> list[str]:
        return [self.paths[r] for r in self.flagged.get(kind, [])]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataChecks:
        return cls(
            root=str(d["root"]),
            paths=[str(p) for p in d["paths"]],
            flagged={str(k): [int(r) for r in v] for k, v in d.get("flagged", {}).items()},
            groups={str(k): [[int(r) for r in g] for g in v] for k, v in d.get("groups", {}).items()},
            unchecked=int(d.get("unchecked", 0)),
        )

    def summary(self, examples: int = 3) -> str:
        """Text for the CLI: one line per issue kind with its count, then a few example paths."""
        n = len(self.paths)
        lines = [f"Data checks on {n - self.unchecked:,} image{'s' if n != 1 else ''}:"]
        width = max(len(label) for label in ISSUES.values())
        for kind, label in ISSUES.items():
            count = self.count(kind)
            groups = self.groups.get(kind)
            extra = f" in {len(groups):,} group{'s' if len(groups) != 1 else ''}" if groups else ""
            lines.append(f"  {label:<{width}}  {count:,}{extra}")
            lines += [f"      {p}" for p in self.flagged_paths(kind)[:examples]]
            if count > examples:
                lines.append(f"      ... and {count - examples:,} more")
        return "\n".join(lines)


def issue_groups(checks: DataChecks) -> tuple[np.ndarray, list[str]]:
    """Each image's first issue (in ISSUES order) as a group for colouring: (int64 (N,) index into names, names);
    only the issues some image has first are named, then "no issue"."""
    first = np.full(len(checks.paths), len(ISSUES), np.int64)
    for k, kind in reversed(list(enumerate(ISSUES))):  # earlier kinds overwrite later ones
        first[checks.flagged.get(kind, [])] = k
    used = sorted(set(first.tolist()))
    labels = [*ISSUES.values(), "no issue"]
    return np.searchsorted(used, first).astype(np.int64), [labels[k] for k in used]


def find_issues(
    root: str,
    paths: Sequence[str],
    sizes: np.ndarray,
    digests: Sequence[str],
    stats: dict[str, np.ndarray],
    measured: np.ndarray | None = None,
) -> DataChecks:
    """The folder's issues. sizes: (N, 2) original (width, height); digests: per image ("" never matches); stats: from
    `measure`, (N,) each; measured: (N,) bool, False for images that could not be decoded (never flagged)."""
    n = len(paths)
    if len(sizes) != n or len(digests) != n or any(len(stats[k]) != n for k in _STATS):
        raise ValueError(f"{n} paths but measurements of another length")
    measured = np.ones(n, bool) if measured is None else np.asarray(measured, bool)
    rows = np.flatnonzero(measured)
    report = DataChecks(str(root), list(paths), {k: [] for k in ISSUES}, {k: [] for k in _GROUPED})
    report.unchecked = n - rows.size
    if rows.size == 0:
        return report
    st = {k: np.asarray(v)[rows] for k, v in stats.items()}
    w, h = (np.asarray(sizes, dtype=np.float64)[rows].T + 0.0).clip(1, None)
    sharp = st["sharpness"]
    finite = np.isfinite(sharp)  # constant images have no sharpness (they are low information)
    typical = float(np.median(sharp[finite])) if finite.any() else math.nan
    masks = {
        "blurry": finite & (np.nan_to_num(sharp, nan=np.inf) < BLUR_FRACTION * typical),
        "dark": st["dark"] < DARK_MAX,
        "light": st["light"] > LIGHT_MIN,
        "low_information": st["entropy"] < ENTROPY_MIN,
    }
    grey = st["colour"] <= GREY_SPREAD
    masks["grayscale"] = grey if 1.0 - grey.mean() >= COLOUR_MAJORITY else np.zeros_like(grey)
    log_aspect = np.log(w / h)
    masks["odd_aspect_ratio"] = np.abs(log_aspect - np.median(log_aspect)) > math.log(ASPECT_FACTOR)
    log_side = 0.5 * np.log(w * h)
    masks["odd_size"] = np.abs(log_side - np.median(log_side)) > math.log(SIZE_FACTOR)
    for kind, mask in masks.items():
        report.flagged[kind] = rows[mask].tolist()

    kept_digests = [digests[i] for i in rows]
    exact = _groups_by_key(kept_digests)
    near = verified_groups(near_duplicate_groups(st["dhash"], NEAR_MAX_BITS), st["thumb"], NEAR_MAX_DISTANCE)
    near = [g for g in near if len({kept_digests[i] for i in g}) > 1 or not kept_digests[g[0]]]  # not only copies
    for kind, groups in (("exact_duplicates", exact), ("near_duplicates", near)):
        mapped = sorted(([int(rows[i]) for i in g] for g in groups), key=lambda g: g[0])
        report.groups[kind] = mapped
        report.flagged[kind] = sorted(r for g in mapped for r in g)
    return report


def check_folder(
    root: str | Path,
    paths: Sequence[str],
    *,
    workers: int = 2,
    size: int = CHECK_SIZE,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DataChecks:
    """Decode each image once at `size` (with the digest of its bytes), measure in chunks, report the folder's issues;
    for the Data workspace and `workbench scan`, where no training decode runs. Files that fail to decode are counted
    as unchecked. progress(done, total) after each chunk; should_stop() polled between chunks (raises Cancelled)."""
    from workbench.data.decode import decode_with_info

    def one(rel: str):
        try:
            return decode_with_info(Path(root) / rel, size, digest=True)
        except Exception:  # noqa: BLE001 - a DecodeError or an odd file: unchecked, never aborts the others
            return None

    n = len(paths)
    sizes = np.zeros((n, 2), np.int64)
    digests = [""] * n
    measured = np.zeros(n, bool)
    stats = {k: np.zeros(n, np.uint64 if k == "dhash" else np.float64) for k in _STATS if k != "thumb"}
    stats["thumb"] = np.zeros((n, THUMB * THUMB), np.uint8)
    chunk = 64  # images between cancellation points: bounded latency and memory
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="checks") as pool:
        for start in range(0, n, chunk):
            if should_stop is not None and should_stop():
                raise Cancelled("The data checks were cancelled.")
            done = [(start + i, d) for i, d in enumerate(pool.map(one, paths[start : start + chunk])) if d is not None]
            if done:
                idx = np.asarray([i for i, _ in done])
                for k, v in measure(np.stack([d.array for _, d in done])).items():
                    stats[k][idx] = v
                sizes[idx] = [(d.width, d.height) for _, d in done]
                measured[idx] = True
                for i, d in done:
                    digests[i] = d.digest
            if progress is not None:
                progress(min(start + chunk, n), n)
    return find_issues(str(root), paths, sizes, digests, stats, measured)
