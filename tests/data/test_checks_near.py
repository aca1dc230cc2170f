"""Near duplicates are the dHash candidates that the pixels confirm: planted copies (re-encoded, resized, brighter)
are found, distinct images whose hashes collide are not grouped, and the pixel check's split equals an all-pairs
comparison (an independent reference, brute force)."""

from __future__ import annotations

import io
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from workbench.data.checks import NEAR_MAX_BITS, NEAR_MAX_DISTANCE, check_folder, measure
from workbench.data.near_duplicates import near_duplicate_groups as hash_groups
from workbench.data.near_duplicates import normalised, verified_groups
from workbench.data.scan import scan_folder


def garment(seed: int, size: int = 28) -> Image.Image:
    """A small bright silhouette on black, the same outline for every seed (so their hashes collide), with its own
    pattern inside: stripes, a print and shading at random places, as garments of one class differ."""
    rng = np.random.default_rng(seed)
    a = np.zeros((size, size), np.float64)
    a[3:25, 7:21] = 170.0  # the outline: one rectangle for all
    yy, xx = np.mgrid[0:size, 0:size]
    a[3:25, 7:21] += 50 * np.sin(yy[3:25, 7:21] / rng.uniform(1.0, 3.0) + rng.uniform(0, 6))  # stripes
    y, x = rng.integers(5, 17, 2)
    a[y : y + 6, 8 + x % 7 : 14 + x % 7] = rng.uniform(40, 110)  # a dark print
    a[3:25, 7:21] *= np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0), 14)[None, :]  # shading
    return Image.fromarray(np.repeat(a.clip(0, 255).astype(np.uint8)[..., None], 3, axis=2))


def jpeg(im: Image.Image, quality: int = 75) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def garments(tmp_path: Path) -> Path:
    root = tmp_path / "garments"
    root.mkdir()
    for i in range(60):
        garment(i).save(root / f"g{i:02d}.png")
    original = garment(7)
    (root / "g07_q75.jpg").write_bytes(jpeg(original))
    original.resize((56, 56), Image.Resampling.LANCZOS).save(root / "g07_up.png")
    ImageEnhance.Brightness(garment(21)).enhance(1.1).save(root / "g21_bright.png")
    garment(40).resize((24, 24), Image.Resampling.LANCZOS).save(root / "g40_small.png")
    return root


@pytest.mark.parametrize("size", [32, 64])
def test_planted_copies_are_found_and_distinct_garments_with_colliding_hashes_are_not(garments, size):
    paths = scan_folder(garments).paths
    checks = check_folder(garments, paths, size=size)
    named = [{Path(paths[r]).stem for r in g} for g in checks.groups["near_duplicates"]]
    assert named == [{"g07", "g07_q75", "g07_up"}, {"g21", "g21_bright"}, {"g40", "g40_small"}]
    # the hash alone would have grouped distinct garments: the pixels are what keeps them apart
    originals = [i for i, p in enumerate(paths) if "_" not in Path(p).stem]
    by_hash = hash_groups(measure_folder(garments, [paths[i] for i in originals], size)["dhash"], NEAR_MAX_BITS)
    assert sum(len(g) for g in by_hash) >= 20


def measure_folder(root: Path, paths: list[str], size: int) -> dict[str, np.ndarray]:
    from workbench.data.decode import decode_with_info

    return measure(np.stack([decode_with_info(root / p, size).array for p in paths]))


def brute_force_split(groups: list[list[int]], thumbs: np.ndarray, max_distance: float) -> list[list[int]]:
    """Every pair of each group compared by the formula, union-find over the close ones."""
    z = normalised(thumbs)  # row by row: zero mean, unit RMS (or the flat floor)
    parent = {}

    def find(i):
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for g in groups:
        for i, j in combinations(g, 2):
            if np.sqrt(np.mean((z[i] - z[j]) ** 2)) <= max_distance:
                parent[find(j)] = find(i)
    parts: dict[int, list[int]] = {}
    for g in groups:
        for i in g:
            parts.setdefault(find(i), []).append(i)
    return sorted((sorted(p) for p in parts.values() if len(p) > 1), key=lambda p: p[0])


@pytest.mark.parametrize("group_size", [2, 9, 150])  # 150: past the size where every pair is compared
def test_the_pixel_check_splits_groups_as_comparing_every_pair_does(group_size):
    rng = np.random.default_rng(group_size)
    centres = rng.integers(0, 256, (max(group_size // 4, 1), 256))
    rows = []
    for k in range(group_size):  # clusters of noisy copies, some chained, some far apart
        base = centres[k % len(centres)]
        rows.append(np.clip(base + rng.normal(0, rng.choice([2, 6, 12, 40]), 256), 0, 255))
    thumbs = np.vstack([np.asarray(rows), rng.integers(0, 256, (5, 256))]).astype(np.uint8)
    groups = [list(range(group_size)), [group_size, group_size + 1], list(range(group_size + 2, group_size + 5))]
    for max_distance in (0.05, NEAR_MAX_DISTANCE, 0.3):
        expected = brute_force_split(groups, thumbs, max_distance)
        assert verified_groups(groups, thumbs, max_distance) == expected
    assert verified_groups([[0, 1]], np.zeros((2, 256), np.uint8), 0.0) == [[0, 1]]  # flat images are alike


def test_a_brighter_or_higher_contrast_copy_is_alike_but_a_mirror_is_not():
    im = np.asarray(garment(3), np.float64)
    copies = [im, im * 1.1, (im - im.mean()) * 1.3 + im.mean(), im[:, ::-1]]
    st = measure(np.stack([np.clip(c, 0, 255).astype(np.uint8) for c in copies]))
    groups = verified_groups([[0, 1, 2, 3]], st["thumb"], NEAR_MAX_DISTANCE)
    assert groups == [[0, 1, 2]]
