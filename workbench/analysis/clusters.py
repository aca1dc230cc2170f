"""k-means clusters of embeddings (scikit-learn), on L2-normalised features so that clusters follow the same
cosine geometry as the neighbours and the duplicate finder (spherical k-means, approximately)."""

from __future__ import annotations

import numpy as np

from workbench.analysis.neighbours import normalize_rows


def kmeans_clusters(x: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """int64 (N,) cluster of each row, 0..k-1, numbered by size (0 is the largest; ties by first row).

    Deterministic for a given seed. Raises ValueError unless 1 <= k <= N.
    """
    from sklearn.cluster import KMeans

    unit = normalize_rows(x)
    n = unit.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}.")
    raw = KMeans(n_clusters=k, n_init="auto", random_state=seed).fit_predict(unit).astype(np.int64)
    counts = np.bincount(raw, minlength=k)
    first_row = np.array([np.argmax(raw == c) if counts[c] else n for c in range(k)])
    order = np.lexsort((first_row, -counts))  # old ids, largest cluster first
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(k)
    return renumber[raw]
