"""Data layer: find images (scan), decode them robustly (decode), hold them decoded once (cache).

The cache names (ImageSet, load_images, default_cache_dir) are imported lazily: they need torch, and
importing workbench.data.scan on the GUI start-up path must not pull torch in before the window shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.data.decode import DecodeError, decode_image, open_image
from workbench.data.demo import demo_dataset_path
from workbench.data.scan import IMAGE_EXTENSIONS, ScanReport, SkippedFile, scan_folder

if TYPE_CHECKING:
    from workbench.data.cache import ImageSet, default_cache_dir, load_images

_LAZY = {"ImageSet", "default_cache_dir", "load_images"}

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodeError",
    "ImageSet",
    "ScanReport",
    "SkippedFile",
    "decode_image",
    "default_cache_dir",
    "demo_dataset_path",
    "load_images",
    "open_image",
    "scan_folder",
]


def __getattr__(name: str):
    if name in _LAZY:
        from workbench.data import cache

        return getattr(cache, name)
    raise AttributeError(f"module 'workbench.data' has no attribute {name!r}")
