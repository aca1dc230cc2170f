"""Label-free and label-based evaluation of learned representations, and 2-D projections.

Knows nothing about training: it takes encoders (anything with `represent` / `representation_dim`) and
feature arrays. Submodules import torch, sklearn or umap, so names are re-exported lazily: importing
`workbench.analysis` costs nothing at GUI start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "embed_images": "embed",
    "raw_pixels": "embed",
    "prepared_pixels": "embed",
    "knn_predict": "knn",
    "knn_top1": "knn",
    "linear_probe_top1": "probe",
    "alignment": "health",
    "uniformity": "health",
    "normalized_std": "health",
    "effective_rank": "health",
    "health_metrics": "health",
    "pca_2d": "project",
    "umap_2d": "project",
    "warm_up_umap": "project",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
