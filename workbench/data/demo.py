"""The built-in demo dataset: 1,000 Fashion-MNIST images (100 per class) shipped in resources/demo."""

from __future__ import annotations

from pathlib import Path


def demo_dataset_path() -> Path:
    """Folder of the demo images (resources/demo/<class>/NNNNN.png in the source checkout)."""
    return Path(__file__).resolve().parents[2] / "resources" / "demo"
