"""benchmarks/neighbours.py --structured: its rows have the low-dimensional structure they stand in for, and its
chunked exact reference (the recall's truth at 1M x 2048) agrees with brute force over the whole array."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("neighbours_bench", ROOT / "benchmarks" / "neighbours.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_structured_rows_lie_near_a_subspace_on_disk_with_the_planted_rows(tmp_path: Path):
    bench = _bench()
    x, pairs, outliers = bench.structured_wide(tmp_path / "f.npy", 3000, 256, 20, 16, 0.02, "float32")
    assert isinstance(x, np.memmap) and x.shape == (3000, 256) and not x.flags.writeable
    ordinary = np.setdiff1d(np.arange(3000), np.concatenate([pairs.ravel(), outliers]))
    rows = np.asarray(x[ordinary], dtype=np.float64)
    share = np.linalg.svd(rows, compute_uv=False) ** 2
    assert 0.97 < share[:16].sum() / share.sum() < 0.99  # 16 latent axes hold all but the ~2 % noise
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    copy, original = (np.asarray(x[pairs[:, i]], dtype=np.float64) for i in (0, 1))
    cosine = (copy * original).sum(1) / np.linalg.norm(copy, axis=1) / np.linalg.norm(original, axis=1)
    assert cosine.min() > 0.9999  # planted near-duplicates
    out = np.asarray(x[outliers], dtype=np.float64)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    assert np.abs(out @ unit.T).max(axis=1).max() < np.median(np.sort(unit[:200] @ unit.T, axis=1)[:, -2])


def test_chunked_exact_neighbours_match_brute_force():
    bench = _bench()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1500, 24)).astype(np.float32)
    rows = rng.choice(1500, size=200, replace=False)
    truth = bench.exact_neighbours(x, rows, 10)
    chunked = bench.exact_neighbours_chunked(x, rows, 10, budget_bytes=200 * 4 * 97)  # 97-row chunks
    assert np.array_equal(np.sort(chunked, axis=1), np.sort(truth, axis=1))
    assert not (chunked == rows[:, None]).any()
