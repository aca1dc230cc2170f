"""Leaf module: how SSL Workbench writes files, so that nothing a user owns is ever damaged or lost.

- `atomic_write_bytes` / `atomic_write_text` (and `atomic_writer` to stream a large file): a temporary file in the
  target's folder, flushed and fsynced, renamed over the target, then the folder fsynced (where the platform allows
  it), so a crash or a full disk leaves either the old file or the new one, never half of one.
- `ensure_outside(path, image_root, what)`: the one "never inside the image folder" rule, with one wording.

Named `files`, not `io`: a module called `io` inside the package would shadow the standard library's `io` for any
script run from within the package folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from workbench.errors import OutsideImageFolderError


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """True when `path` (resolved, links followed) is `folder` or lies below it."""
    return Path(path).expanduser().resolve().is_relative_to(Path(folder).expanduser().resolve())


def ensure_outside(path: str | Path, image_root: str | Path | None, what: str = "output") -> Path:
    """`path` resolved, or OutsideImageFolderError when it is inside `image_root` (None: nothing to guard).

    `what` names the thing in the sentence: "the run folder", "the export", "the cache folder", ...
    """
    resolved = Path(path).expanduser().resolve()
    if image_root is not None and is_inside(resolved, image_root):
        raise OutsideImageFolderError(
            f"{what[:1].upper()}{what[1:]} '{path}' is inside the image folder '{image_root}'; nothing is ever "
            "written there, so choose a place outside it."
        )
    return resolved


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through, for data too large to hold in memory; on a clean exit it is fsynced
    and renamed over `path` (then the folder fsynced); on an error the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes | bytearray | memoryview) -> Path:
    """Write `data` to `path` atomically and durably (temp file, fsync, rename, fsync of the folder)."""
    with atomic_writer(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in `folder` durable. Windows cannot open a folder for fsync; there the rename is what we get."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network mounts) refuse fsync on folders; the data itself is already synced
    finally:
        os.close(fd)


__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "ensure_outside",
    "fsync_folder",
    "is_inside",
]
