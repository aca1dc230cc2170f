"""Leaf module: how SSL Workbench writes files, so that nothing a user owns is ever damaged or lost.

- `atomic_write_bytes` / `atomic_write_text` (and `atomic_writer` to stream a large file): a temporary file in the
  target's folder, flushed and fsynced, renamed over the target, then the folder fsynced (where the platform allows
  it), so a crash or a full disk leaves either the old file or the new one, never half of one; a failed write raises
  WriteError, one sentence naming the file and the reason ("no space left on the device"). A new file gets the
  permissions a plain open() would give it (0666 less the umask); a replaced file keeps its mode.
- `ensure_outside(path, image_root, what)`: the one "never inside the image folder" rule, with one wording.

Named `files`, not `io`: a module called `io` inside the package would shadow the standard library's `io` for any
script run from within the package folder.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from workbench.errors import OutsideImageFolderError, WriteError


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            Path(tmp).unlink(missing_ok=True)
        except OSError:
            pass  # a folder made read-only or deleted meanwhile: the error below says so
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    fsync_folder(path.parent)


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    getattr(errno, "EDQUOT", errno.ENOSPC): "no space left on the device (disk quota exceeded)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "its folder no longer exists (deleted or moved)",
}


def write_error(path: str | Path, exc: OSError) -> WriteError:
    """The one sentence for a failed write of `path` (a WriteError passes through unchanged)."""
    if isinstance(exc, WriteError):
        return exc
    reason = _REASONS.get(exc.errno) or (exc.strerror or str(exc) or type(exc).__name__).lower()
    return WriteError(path, reason, exc.errno)


def is_temporary(path: str | Path) -> bool:
    """Whether `path` is the temporary file of an atomic write (one a killed process may leave behind)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp")


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writes killed mid-way left in `folder` (only while no one else writes there,
    e.g. under the run's lock); returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new, uniquely named file next to `path`, open for writing, with the permissions the file will keep.

    Not tempfile.mkstemp: it creates files 0600, so every export would be private. A new file gets mode 0666 passed
    to os.open, so the kernel applies the umask as for any open() - atomically; reading the umask from Python
    (os.umask twice) would change it for every thread meanwhile. A file being replaced keeps its own mode.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            return fd, tmp  # a new file: the umask's permissions
        try:
            os.chmod(tmp, mode)
        except OSError:
            pass  # a file system without permissions (FAT, some network mounts): what it gives is what we get
        return fd, tmp
    raise FileExistsError(f"No free temporary name next to '{path}'.")


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


def flush_memmap(array) -> None:
    """Write a memory map's rows to disk. numpy's flush is mmap.flush, whose msync holds the GIL for as long as the
    disk takes (~0.1 s for 80 MB, over a second on a busy disk: the window froze while embeddings were written).
    On Linux, msync(MS_SYNC) of a shared file mapping is an fsync of the file (the mapped pages are its page cache),
    and os.fsync releases the GIL; elsewhere numpy's flush."""
    filename = getattr(array, "filename", None)
    if not sys.platform.startswith("linux") or filename is None:
        if hasattr(array, "flush"):
            array.flush()
        return
    try:
        fd = os.open(filename, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # e.g. no space for the dirty pages: the cache is skipped, as for any failed write
        raise write_error(filename, exc) from None


__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "ensure_outside",
    "flush_memmap",
    "fsync_folder",
    "is_inside",
    "is_temporary",
    "remove_temporaries",
    "write_error",
]
