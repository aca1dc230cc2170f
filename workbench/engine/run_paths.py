"""The run folder never leads into the image folder: not itself, and not through a symbolic link inside it.

`ensure_run_outside` is what fit() checks at a start and at a resume, before anything is written (the lock, the
config, a checkpoint). `ensure_outside` (workbench/files.py) resolves the run folder itself; a run folder outside the
images can still hold `checkpoints/` (or `embeddings/`, a log file, one checkpoint) as a link into them, and
training would then write, append or delete temporaries there. Every link inside the run folder is resolved, at any
depth, without following linked folders further (what they lead to is checked by where they lead).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import OutsideImageFolderError
from workbench.files import ensure_outside, is_inside


def ensure_run_outside(run_dir: str | Path, image_roots: Iterable[str | Path | None]) -> Path:
    """`run_dir` resolved, or OutsideImageFolderError (one sentence) when it, or a link anywhere inside it, leads
    into one of `image_roots` (None entries are skipped)."""
    roots = [Path(r) for r in image_roots if r is not None]
    resolved = Path(run_dir).expanduser().resolve()
    for root in roots:
        ensure_outside(run_dir, root, "the run folder")
    if not resolved.is_dir():
        return resolved  # a new run: nothing inside it yet
    for link in _links(resolved):
        for root in roots:
            if is_inside(link, root):
                raise OutsideImageFolderError(
                    f"'{link}' in the run folder is a link into the image folder '{root}' (it leads to "
                    f"'{link.resolve()}'); nothing is ever written there, so remove the link or choose another "
                    "run folder."
                )
    return resolved


def _links(folder: Path) -> list[Path]:
    """The symbolic links below `folder` (files, folders, dangling ones), linked folders not entered."""
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        found += [Path(top, name) for name in (*dirs, *files) if Path(top, name).is_symlink()]
    return found


__all__ = ["ensure_run_outside"]
