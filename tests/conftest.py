"""Shared fixtures: tiny generated image folders (nothing is downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def write_class_folder(
    root: Path, classes: tuple[str, ...] = ("circle", "square"), per_class: int = 8, size: int = 32, seed: int = 0
) -> Path:
    """Write `per_class` PNGs per class subfolder; each class has a distinct, learnable shape."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for c, name in enumerate(classes):
        (root / name).mkdir(exist_ok=True)
        for i in range(per_class):
            cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
            r = rng.integers(size // 8, size // 4)
            if c % 2 == 0:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
            else:
                mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
            colour = np.array([(50 + 80 * c) % 256, 200 - 60 * c % 200, 120], dtype=np.uint8)
            img = rng.integers(0, 40, size=(size, size, 3), dtype=np.uint8)
            img[mask] = colour
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes x 8 images of 32 px, in class subfolders."""
    return write_class_folder(tmp_path / "images")


@pytest.fixture
def one_torch_thread():
    """Tiny models run faster and steadier on one thread than split across cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
