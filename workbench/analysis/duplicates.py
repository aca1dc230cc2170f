"""Duplicate finders.

- `duplicates_from_graph`: near-identical pairs read off the neighbour graph (analysis/graph.py): its edges with a
  similarity above the threshold, O(N k). What Explore uses. A group of more than k + 1 near-copies of one image lists
  each member's k nearest pairs, not every pair of the group (enough to find and show them).
- `near_duplicates`: the same pairs by comparing every pair, in row blocks (O(N^2), exact): the reference the tests
  hold the graph to, and fine for a few thousand rows.
- `identical_files`: groups of files with the same bytes (the same size first, then the same SHA-1 of the content),
  whatever their embeddings; only files that share a size with another are read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.analysis.neighbours import normalize_rows
from workbench.errors import Cancelled

# Near-identical, not "similar": measured on the built-in demo (1,000 Fashion-MNIST images) with a 20-step small-cnn
# run (2048-d representation), 0.98 listed 808 pairs (similar trousers and sneakers, not copies), 0.99 68, 0.995 6
# (the closest non-copies, at <= 0.9967); 30 re-encoded copies of demo images (JPEG q75, +5 % brightness, 2x resize)
# scored >= 0.997 (trained) and >= 0.998 (untrained), so 0.995 keeps every one of them. Identical files score
# 1.0000 and are listed by content hash as well (identical_files).
DEFAULT_THRESHOLD = 0.995
MAX_PAIRS = 5000
POLL_EVERY = 256  # files between cancellation checks and progress reports of identical_files
WHOLE_READ_BYTES = 1 << 22  # files up to 4 MiB are hashed from one read


@dataclass(frozen=True)
class DuplicatePair:
    first: int  # row index, first < second
    second: int
    similarity: float  # cosine similarity in [-1, 1]


def near_duplicates(
    x: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    max_pairs: int = MAX_PAIRS,
    batch_size: int = 1024,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[DuplicatePair]:
    """Pairs (i < j) with cos(x_i, x_j) >= threshold, most similar first; at most `max_pairs` (the most similar).

    x: (N, D) features. Raises ValueError for a threshold outside [-1, 1] and Cancelled when should_stop()
    returns True (polled between blocks).
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}.")
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1, got {max_pairs}.")
    unit = normalize_rows(x)
    n = unit.shape[0]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (first, second, similarity) per block
    kept = 0
    for start in range(0, n, batch_size):
        if should_stop is not None and should_stop():
            raise Cancelled("The duplicate search was cancelled.")
        stop = min(start + batch_size, n)
        block = unit[start:stop] @ unit[start:].T  # (B, N - start): each row against itself and the later rows
        block[np.tril_indices(stop - start, 0, m=block.shape[1])] = -np.inf  # j <= i: each pair once, no self
        i, j = np.nonzero(block >= threshold - 1e-6)  # tolerance: exact copies compute as 0.9999999
        found.append((i + start, j + start, np.minimum(block[i, j], 1.0)))
        kept += i.size
        if kept > 2 * max_pairs:  # a low threshold: keep memory bounded by dropping all but the best so far
            found, kept = [_best(found, max_pairs)], max_pairs
        if progress is not None:
            progress(stop, n)
    first, second, sim = _best(found, max_pairs)
    return [DuplicatePair(int(a), int(b), float(s)) for a, b, s in zip(first, second, sim, strict=True)]


def duplicates_from_graph(
    indices: np.ndarray,
    distances: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    max_pairs: int = MAX_PAIRS,
) -> list[DuplicatePair]:
    """Graph edges i -> j (indices, cosine distances: (N, k), nearest first) with similarity 1 - d >= threshold, as
    pairs (first < second) listed once, most similar first (ties: lower indices first), at most `max_pairs`."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}.")
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1, got {max_pairs}.")
    indices = np.asarray(indices, dtype=np.int64)
    sim = 1.0 - np.asarray(distances, dtype=np.float32)
    rows, cols = np.nonzero((sim >= threshold - 1e-6) & (indices >= 0))  # tolerance as in near_duplicates
    other = indices[rows, cols]
    first, second = np.minimum(rows, other), np.maximum(rows, other)
    pair_sim = np.minimum(sim[rows, cols], 1.0)
    keyed = first * np.int64(indices.shape[0]) + second  # one integer per pair: i -> j and j -> i coincide
    _, once = np.unique(keyed, return_index=True)
    found = [(first[once], second[once], pair_sim[once])]
    first, second, pair_sim = _best(found, max_pairs)
    return [DuplicatePair(int(a), int(b), float(s)) for a, b, s in zip(first, second, pair_sim, strict=True)]


def _best(found: list[tuple[np.ndarray, ...]], limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `limit` most similar pairs, most similar first (ties: lower indices first)."""
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    first, second, sim = (np.concatenate(column) for column in zip(*found, strict=True))
    order = np.lexsort((second, first, -sim))[:limit]
    return first[order].astype(np.int64), second[order].astype(np.int64), sim[order].astype(np.float32)


def identical_files(
    root: Path,
    paths: list[str],
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[int]]:
    """Groups of rows whose files (`root / paths[i]`) have identical content, each sorted, ordered by first row.

    A file that cannot be read is left out of every group. Raises Cancelled when should_stop() returns True (polled
    every POLL_EVERY files).

    Little Python per file (plain string paths, one stat, a small file read and hashed in one call each): this runs
    on a worker of the window, and while its Python holds the GIL the GUI thread waits for it.
    """
    root_text, stat, join = os.fspath(root), os.stat, os.path.join
    sizes = np.full(len(paths), -1, dtype=np.int64)  # -1: unreadable
    for start in range(0, len(paths), POLL_EVERY):
        _check(should_stop)
        stop = min(start + POLL_EVERY, len(paths))
        chunk = []
        for rel in paths[start:stop]:
            try:
                chunk.append(stat(join(root_text, rel)).st_size)
            except OSError:
                chunk.append(-1)
        sizes[start:stop] = chunk
    readable = np.flatnonzero(sizes >= 0)
    _, inverse, counts = np.unique(sizes[readable], return_inverse=True, return_counts=True)
    todo = readable[counts[inverse.reshape(-1)] > 1].tolist()  # rows sharing their size with another, in order
    by_hash: dict[tuple[int, bytes], list[int]] = {}
    for start in range(0, len(todo), POLL_EVERY):
        _check(should_stop)
        for row in todo[start : start + POLL_EVERY]:
            try:
                digest = _sha1(join(root_text, paths[row]), int(sizes[row]))
            except OSError:
                continue
            by_hash.setdefault((int(sizes[row]), digest), []).append(row)
        if progress is not None:
            progress(min(start + POLL_EVERY, len(todo)), len(todo))
    return sorted((rows for rows in by_hash.values() if len(rows) > 1), key=lambda rows: rows[0])


def _sha1(path: str, size: int) -> bytes:
    """The SHA-1 of a file's content: read in one call when small (an image), else in blocks."""
    with open(path, "rb", buffering=0) as f:
        if size <= WHOLE_READ_BYTES:
            return hashlib.sha1(f.read()).digest()
        return hashlib.file_digest(f, "sha1").digest()


def _check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("The duplicate search was cancelled.")
