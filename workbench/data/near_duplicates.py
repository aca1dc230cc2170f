"""Near duplicates without comparing every pair: dHash candidates, then a pixel-level check of the candidates.

A 64-bit dHash says "alike" too often on small images: on Fashion-MNIST (28 px) 817 different garments share one
hash exactly, and a 2-bit radius flagged 3,229 of 10,000 images. So the hash only proposes: `near_duplicate_groups`
joins the images whose hashes are within a few bits (a multi-index, not N^2), and `verified_groups` keeps, inside
each such group, only the pairs whose small grey thumbnails (THUMB x THUMB, area-averaged, zero mean, unit RMS)
are within `max_distance` RMS of each other, then splits the group into the connected parts of those pairs.
Not every pair of a group is compared: rows are projected on the group's 8 main directions (subspace iteration)
and sorted by the first; since a projection never exceeds the distance, only rows within the threshold along the
first direction are candidates, and only those within it in all 8 are compared in full - exact, not an
approximation. Groups up to _SMALL_GROUP rows compare every pair. A group so dense that even the window would
exceed _MAX_GROUP_PAIRS (thousands of alike images, e.g. blank ones) compares each row with its _DENSE_NEIGHBOURS
next ones in that order instead: chains of close rows still join, at a bounded cost. Connected parts are found
vectorised (label propagation with pointer jumping), no per-pair Python work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.errors import Cancelled

THUMB = 16  # the thumbnail's side: 256 grey levels per image (uint8), 256 MB at a million images
_BANDS = 4  # dHash split into 4 interleaved 16-bit bands for the multi-index (see near_duplicate_groups)
_PAIRS_PER_BLOCK = 1 << 21  # candidate hash pairs verified per numpy batch in near_duplicate_groups (~50 MB)
_THUMB_PAIRS_PER_BLOCK = 1 << 15  # thumbnail pairs compared per batch (2 x 32 MB of gathered rows)
_MAX_GROUP_PAIRS = 1 << 24  # above this, a group is compared with each row's next _DENSE_NEIGHBOURS only
_DENSE_NEIGHBOURS = 16
_SMALL_GROUP = 64  # groups up to this size compare every pair (<= 2,016): cheaper than finding directions
_FLAT_STD = 8.0  # grey levels: a flatter thumbnail is scaled as if it had this spread (rounding and JPEG noise
# of a flat image stay far below NEAR_MAX_DISTANCE instead of being blown up to unit RMS)


def normalised(thumbs: np.ndarray) -> np.ndarray:
    """float32 rows with zero mean and unit RMS (a brightness or contrast change leaves them alike); flat rows ~0."""
    x = np.asarray(thumbs, np.float32)
    x = x - x.mean(axis=1, keepdims=True)
    return x / np.maximum(x.std(axis=1, keepdims=True), _FLAT_STD)


def near_duplicate_groups(
    hashes: np.ndarray, max_bits: int = 2, should_stop: Callable[[], bool] | None = None
) -> list[list[int]]:
    """Connected groups of rows whose 64-bit hashes differ in <= max_bits bits, without comparing every pair.

    Equal hashes are merged first (one entry per distinct hash). Then a multi-index: the 64 bits are split into 4
    interleaved 16-bit bands (bit k goes to band k % 4, so a flat region does not make one band all zeros); two hashes
    within max_bits <= 7 differ in at most 1 bit in some band (pigeonhole), so probing each band's exact value and its
    16 one-bit neighbours finds every candidate pair; candidates are verified by popcount. Cost: the bucket sizes,
    not N^2. Raises ValueError for max_bits outside 0..7.
    """
    if not 0 <= max_bits <= 7:
        raise ValueError(f"max_bits must be in 0..7, got {max_bits}")
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.size == 0:
        return []
    unique, inverse = np.unique(hashes, return_inverse=True)
    edges: list[np.ndarray] = []  # first * U + second of the close pairs of distinct hashes
    bits = np.unpackbits(unique.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)  # (U, 64), MSB first
    probes = [0] + ([1 << k for k in range(16)] if max_bits >= _BANDS else [])
    for band in range(_BANDS):
        if should_stop is not None and should_stop():
            raise Cancelled("The data checks were cancelled.")
        values = np.packbits(bits[:, band::_BANDS], axis=1).view(">u2").ravel().astype(np.int64)  # (U,)
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        for mask in probes:
            query = values ^ mask
            lo = np.searchsorted(ordered, query, "left")
            counts = np.searchsorted(ordered, query, "right") - lo
            ends = np.cumsum(counts)
            start = 0
            while start < unique.size:  # blocks of rows with <= _PAIRS_PER_BLOCK candidates: bounded memory
                base = ends[start - 1] if start else 0
                stop = max(start + 1, int(np.searchsorted(ends, base + _PAIRS_PER_BLOCK, "right")))
                c = counts[start:stop]
                first = np.repeat(np.arange(start, stop), c)
                offsets = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
                second = order[np.repeat(lo[start:stop], c) + offsets]
                keep = first < second
                first, second = first[keep], second[keep]
                close = np.bitwise_count(unique[first] ^ unique[second]) <= max_bits
                edges.append(np.unique(first[close].astype(np.int64) * unique.size + second[close]))
                start = stop
                if should_stop is not None and should_stop():
                    raise Cancelled("The data checks were cancelled.")
    pairs = np.unique(np.concatenate(edges)) if edges else np.zeros(0, np.int64)
    labels = _labels(unique.size, pairs // unique.size, pairs % unique.size)
    return _groups_by_key([str(label) for label in labels[inverse]])


def verified_groups(
    groups: list[list[int]],
    thumbs: np.ndarray,
    max_distance: float,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[int]]:
    """`groups` split into the connected parts of their pairs whose normalised thumbnails differ by <= max_distance
    (RMS, in units of the images' own spread: 0 alike, sqrt(2) uncorrelated); parts of one row are dropped."""
    out: list[list[int]] = []
    pairs = [g for g in groups if len(g) == 2]
    if pairs:  # most groups: one batched comparison for all of them
        a, b = np.asarray(pairs).T
        close = _distances(normalised(thumbs[a]), normalised(thumbs[b])) <= max_distance
        out += [pairs[k] for k in np.flatnonzero(close)]
    for g in groups:
        if len(g) > 2:
            if should_stop is not None and should_stop():
                raise Cancelled("The data checks were cancelled.")
            rows = np.asarray(g)
            out += [rows[part].tolist() for part in _split(normalised(thumbs[rows]), max_distance)]
    return sorted(out, key=lambda g: g[0])


def _distances(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    return np.sqrt(((za - zb) ** 2).mean(axis=1))


def _split(z: np.ndarray, max_distance: float) -> list[list[int]]:
    """Connected parts (>= 2 rows, sorted) of the rows of z joined by distance <= max_distance."""
    m, d = z.shape
    proj = z @ _main_directions(z)  # (m, k): the distance between projections never exceeds the distance
    order = np.argsort(proj[:, 0], kind="stable")
    proj, limit = proj[order], max_distance * np.sqrt(d) + 1e-4  # RMS distance * sqrt(d) = L2 distance
    reach = np.searchsorted(proj[:, 0], proj[:, 0] + limit, "right") - np.arange(m) - 1  # later rows in the window
    if int(reach.sum()) > _MAX_GROUP_PAIRS:
        reach = np.minimum(reach, _DENSE_NEIGHBOURS)
    ends = np.cumsum(reach)
    edges: list[tuple[np.ndarray, np.ndarray]] = []
    start = 0
    while start < m:
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + _THUMB_PAIRS_PER_BLOCK, "right")))
        c = reach[start:stop]
        first = np.repeat(np.arange(start, stop), c)
        second = first + 1 + np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        near = ((proj[first] - proj[second]) ** 2).sum(axis=1) <= limit**2  # cheap: k columns, not d
        first, second = order[first[near]], order[second[near]]
        close = _distances(z[first], z[second]) <= max_distance
        edges.append((first[close], second[close]))
        start = stop
    return _components(m, np.concatenate([a for a, _ in edges]), np.concatenate([b for _, b in edges]))


def _components(m: int, a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    """Connected parts (>= 2 rows, sorted, ordered by first row) of the graph on m rows with edges a[k]-b[k]."""
    return _groups_by_key([str(label) for label in _labels(m, a, b)]) if a.size else []


def _labels(m: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m,) the smallest row of each row's connected part (edges a[k]-b[k]), vectorised: every row takes the
    smallest label among its neighbours, then its label's label, until nothing changes."""
    labels = np.arange(m)
    while a.size:
        low = np.minimum(labels[a], labels[b])
        updated = labels.copy()
        np.minimum.at(updated, a, low)
        np.minimum.at(updated, b, low)
        updated = updated[updated]  # pointer jumping: halves the distance to the smallest label of the part
        if np.array_equal(updated, labels):
            break
        labels = updated
    return labels


def _main_directions(z: np.ndarray, k: int = 8, iterations: int = 3) -> np.ndarray:
    """(d, k) orthonormal directions along which the rows spread most (subspace iteration from a fixed start: a few
    (m, d) x (d, k) products); any orthonormal directions keep the comparison exact, these make its prefilter sharp.
    A small group needs no prefilter: there every pair is compared (the window then holds every row)."""
    m, d = z.shape
    if m <= _SMALL_GROUP:
        return np.zeros((d, 1), np.float32)
    centred = z - z.mean(axis=0)
    q = np.random.default_rng(0).standard_normal((d, k)).astype(np.float32)
    for _ in range(iterations):
        q, _ = np.linalg.qr(centred.T @ (centred @ q))
    return np.ascontiguousarray(q, dtype=np.float32)


def _groups_by_key(keys) -> list[list[int]]:
    """Groups (sorted, >= 2 members, ordered by first row) of rows with equal keys; "" never matches."""
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key:
            by_key.setdefault(key, []).append(i)
    return sorted((g for g in by_key.values() if len(g) > 1), key=lambda g: g[0])


__all__ = ["THUMB", "near_duplicate_groups", "normalised", "verified_groups"]
