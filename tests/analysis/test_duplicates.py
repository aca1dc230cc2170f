"""Near-duplicate pairs: planted copies are found, each pair once, most similar first, capped and cancellable."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.duplicates import DuplicatePair, near_duplicates
from workbench.errors import Cancelled


def _brute(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = unit @ unit.T
    return {(i, j) for i in range(len(x)) for j in range(i + 1, len(x)) if sim[i, j] >= threshold}


def test_planted_duplicates_are_found_across_blocks():
    x = np.random.default_rng(0).normal(size=(60, 32)).astype(np.float32)
    x[45] = x[3] * 2.0  # an exact copy (scale does not matter to cosine)
    x[59] = x[20] + 0.01  # a near copy
    pairs = near_duplicates(x, 0.99, batch_size=16)
    assert [(p.first, p.second) for p in pairs] == [(3, 45), (20, 59)]
    assert pairs[0].similarity == pytest.approx(1.0) and pairs[0].similarity >= pairs[1].similarity > 0.99


def test_matches_brute_force_at_a_low_threshold_and_orders_by_similarity():
    x = np.random.default_rng(2).normal(size=(40, 3))
    pairs = near_duplicates(x, 0.8, batch_size=7)
    assert {(p.first, p.second) for p in pairs} == _brute(x, 0.8)
    assert all(p.first < p.second for p in pairs)
    sims = [p.similarity for p in pairs]
    assert sims == sorted(sims, reverse=True)


def test_max_pairs_keeps_the_most_similar():
    x = np.random.default_rng(3).normal(size=(40, 3))
    every = near_duplicates(x, 0.0, max_pairs=10_000)
    top = near_duplicates(x, 0.0, max_pairs=5, batch_size=4)  # trimmed while scanning, too
    assert top == every[:5] and isinstance(top[0], DuplicatePair)


def test_bad_threshold_and_cancel():
    x = np.eye(4)
    assert near_duplicates(x, 0.5) == []
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(x, 1.5)
    with pytest.raises(Cancelled):
        near_duplicates(x, 0.5, should_stop=lambda: True)


def test_identical_files_groups_same_bytes_only(tmp_path):
    from workbench.analysis.duplicates import identical_files

    files = {
        "a/1.png": b"same bytes",
        "b/2.png": b"same bytes",  # a copy under another name
        "c/3.png": b"same bytez",  # same size, one byte different: not a copy
        "d/4.png": b"other",
        "e/5.png": b"other",
        "f/6.png": b"same bytes",
        "g/7.png": b"unique, longer",
    }
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(data)
    paths = list(files)
    groups = identical_files(tmp_path, [*paths, "missing.png"])  # an unreadable file is in no group
    brute = {}
    for i, rel in enumerate(paths):
        brute.setdefault(files[rel], []).append(i)
    assert groups == sorted((g for g in brute.values() if len(g) > 1), key=lambda g: g[0]) == [[0, 1, 5], [3, 4]]
    with pytest.raises(Cancelled):
        identical_files(tmp_path, paths, should_stop=lambda: True)
