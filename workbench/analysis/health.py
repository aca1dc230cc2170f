"""Label-free health of an embedding: is it aligned, spread out, collapsed, low-rank?

All inputs are (N, D) numpy arrays or torch tensors; every metric returns a Python float.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _tensor(z: Any, name: str, min_rows: int = 1) -> torch.Tensor:
    t = z.detach().cpu().float() if isinstance(z, torch.Tensor) else torch.as_tensor(np.asarray(z, dtype=np.float32))
    if t.ndim != 2 or t.shape[0] < min_rows:
        raise ValueError(f"{name} must be (N, D) with at least {min_rows} rows, got shape {tuple(t.shape)}.")
    return t


def alignment(z1: Any, z2: Any, alpha: float = 2) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs (rows of z1, z2), features L2-normalised.

    Wang & Isola 2020, "Understanding contrastive representation learning through alignment and
    uniformity on the hypersphere". 0 = both views map to the same point; lower is better.
    """
    a, b = _tensor(z1, "z1"), _tensor(z2, "z2")
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}.")
    return float((F.normalize(a, dim=1) - F.normalize(b, dim=1)).norm(dim=1).pow(alpha).mean())


def uniformity(z: Any, t: float = 2, max_samples: int = 5000) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs, features L2-normalised (Wang & Isola 2020).

    0 for a fully collapsed embedding, more negative the more evenly it covers the sphere. Rows beyond
    `max_samples` are subsampled (fixed seed) since the pair count grows as N^2.
    """
    if t <= 0:
        raise ValueError(f"t must be positive, got {t}.")
    if max_samples < 2:
        raise ValueError(f"max_samples must be at least 2, got {max_samples}.")
    x = _tensor(z, "z", min_rows=2)
    if x.shape[0] > max_samples:
        x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:max_samples]]
    sq = torch.pdist(F.normalize(x, dim=1).double(), p=2).pow(2)  # (N(N-1)/2,) distinct pairs
    # log-mean-exp, stable however small exp(-t d^2) gets.
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel()))


def normalized_std(z: Any) -> float:
    """Mean per-dimension std of the L2-normalised embedding (SimSiam's collapse monitor).

    About 1/sqrt(D) for a healthy embedding spread over the sphere; tends to 0 as it collapses to a point.
    """
    x = F.normalize(_tensor(z, "z", min_rows=2), dim=1)
    return float(x.std(dim=0).mean())


def effective_rank(z: Any, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of p = s / sum(s) + eps over singular values s of z.

    Between 1 and min(N, D): about k for an embedding spread evenly over k directions, 1 for a rank-one
    collapse. No centring, as in the paper.
    """
    x = _tensor(z, "z").double()
    if x.shape[0] > x.shape[1]:
        # (D, D) Gram eigenvalues are the squared singular values, far cheaper than an SVD for N >> D.
        s = torch.linalg.eigvalsh(x.T @ x).clamp_min(0).sqrt()
    else:
        s = torch.linalg.svdvals(x)
    total = s.sum()
    if total <= 0:
        return 1.0  # all-zero embedding: fully collapsed
    p = s / total + eps
    return float(torch.exp(-(p * p.log()).sum()))


def health_metrics(z1: Any, z2: Any = None) -> dict[str, float]:
    """All label-free metrics of z1 (N, D); "alignment" too when the paired views z2 (N, D) are given."""
    metrics: dict[str, float] = {}
    if z2 is not None:
        metrics["alignment"] = alignment(z1, z2)
    metrics["uniformity"] = uniformity(z1)
    metrics["std"] = normalized_std(z1)
    metrics["effective_rank"] = effective_rank(z1)
    return metrics
