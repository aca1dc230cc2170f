"""The Data workspace's quick image check after a scan: image sizes from a sample of headers, and a full decode of a
few images so that a folder of broken files is reported before the user meets a grid of crosses."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.data.decode import DecodeError, decode_image
from workbench.data.scan import ScanReport, SkippedFile
from workbench.errors import DataError
from workbench.gui.worker import TaskState

SIZE_SAMPLE = 2000  # image headers read for the size summary (evenly spread over the folder)
DECODE_SAMPLE = 64  # images fully decoded to catch a folder of broken files early


@dataclass
class FolderCheck:
    sizes: dict[str, int]  # original "WxH" -> count, over the sampled images
    sampled: int  # images whose size was read
    broken: list[SkippedFile]  # sampled files that cannot be decoded, with the engine's reason


def _reason(path: Path) -> str | None:
    """The engine's reason why `path` cannot be decoded, or None when it decodes."""
    try:
        decode_image(path, 8)
    except DecodeError as exc:
        return str(exc)
    return None


def check_images(report: ScanReport, state: TaskState, sizes_limit: int = SIZE_SAMPLE) -> FolderCheck:
    """Image sizes from the headers of up to `sizes_limit` images; a full decode of up to DECODE_SAMPLE of them.

    The scan only looks at names; this finds a folder whose files are all broken (truncated, not images)
    before the user meets a grid of crosses. Raises DataError when every decoded sample fails.
    """
    n = len(report.paths)
    decoded = set(np.linspace(0, n - 1, min(n, DECODE_SAMPLE)).round().astype(int).tolist())
    spread = sorted(decoded | set(np.linspace(0, n - 1, min(n, sizes_limit)).round().astype(int).tolist()))
    root = Path(report.root)
    sizes: Counter[str] = Counter()
    broken: list[SkippedFile] = []
    failed_decodes = 0
    for k, row in enumerate(spread):
        state.check()
        path = root / report.paths[row]
        reason = _reason(path) if row in decoded else None
        failed_decodes += reason is not None
        if reason is None:
            try:
                with Image.open(path) as im:  # reads the header only
                    sizes[f"{im.width}x{im.height}"] += 1
            except Exception:  # noqa: BLE001 - any failure: ask the engine why
                reason = _reason(path) or "cannot be read"
        if reason is not None:
            broken.append(SkippedFile(report.paths[row], reason))
        state.progress(k + 1, len(spread))
    if decoded and failed_decodes == len(decoded):
        first = broken[0]
        which = (
            f"all {n:,} image files are broken"
            if len(decoded) == n
            else (f"none of the {len(decoded)} image files checked can be decoded")
        )
        raise DataError(
            f"Folder '{report.root}' has no readable images: {which} (first: {first.path}: {first.reason})."
        )
    return FolderCheck(dict(sizes), len(spread), broken)
