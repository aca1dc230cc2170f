"""Decode a folder once into a uint8 tensor (N, 3, S, S), with an optional per-file disk cache.

Memory: 3*S*S bytes per image (49 KB at S=128). The disk cache lives in a separate folder (never in the
image folder): per (root, image_size) one JSON index and one .npy of rows. A file's row is reused while
its (path, byte size, mtime_ns) are unchanged; new or changed files are decoded, vanished ones dropped.
Decode failures are cached too, so a broken file is not retried until it changes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.data import decode as _decode
from workbench.data.checks import DataChecks, find_issues, measure
from workbench.data.scan import ScanReport, SkippedFile, scan_folder
from workbench.errors import Cancelled, DataError
from workbench.files import atomic_write_text, atomic_writer, ensure_outside

log = logging.getLogger(__name__)
_PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress calls per second, plus the final one
_CACHE_VERSION = 1
_COPY_CHUNK = 1024  # cached rows copied per chunk (bounds the temporary copy out of the memory map)


@dataclass
class ImageSet:
    root: Path
    paths: list[str]  # relative posix paths of decoded images (failures removed)
    labels: np.ndarray  # int64 (N,), -1 = unlabelled
    class_names: list[str]
    images: torch.Tensor  # uint8 (N, 3, S, S), contiguous, CPU
    image_size: int
    report: ScanReport  # skipped includes decode failures; sizes filled
    checks: DataChecks | None = None  # the model-free data checks, when load_images(checks=True)

    @property
    def has_labels(self) -> bool:
        return len(self.class_names) > 0

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Entry:
    """One file in the disk cache: its key (byte size, mtime_ns) and its row, or why it failed."""

    size: int
    mtime_ns: int
    row: int | None = None  # row in the cached array; None when the file failed to decode
    wh: tuple[int, int] | None = None  # original (width, height)
    format: str | None = None
    reason: str | None = None


def default_cache_dir() -> Path:
    """Per-user cache folder: %LOCALAPPDATA%, ~/Library/Caches or $XDG_CACHE_HOME (~/.cache)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "ssl-workbench" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ssl-workbench"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "ssl-workbench"


def load_images(
    root: str | Path,
    image_size: int,
    *,
    cache_dir: str | Path | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    report: ScanReport | None = None,
    keep_duplicate_links: bool = False,
    exclude: Collection[str] = (),
    checks: bool = False,
) -> ImageSet:
    """Scan (unless `report` is given) and decode every image to (3, S, S) uint8, S = image_size.

    Files that fail to decode move to report.skipped with their reason. workers=0 decodes in this thread.
    keep_duplicate_links and exclude are scan_folder's (used only when this function scans).
    checks=True also runs the data checks (checks.py) and fills ImageSet.checks: each file's bytes are hashed as it is
    decoded (so every file is decoded: cached rows hold no digest), and the decoded rows are measured in batches.
    cache_dir=None (or "") disables the disk cache. Raises DataError when nothing decodes, OutsideImageFolderError
    when cache_dir is inside the image folder, ValueError for a bad image_size/workers, Cancelled when should_stop()
    returns True.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if report is None:
        report = scan_folder(root, should_stop=should_stop, keep_duplicate_links=keep_duplicate_links, exclude=exclude)
    elif Path(report.root) != Path(root).expanduser().resolve():
        raise ValueError(f"report is for '{report.root}', not for '{root}'")
    else:
        report = copy.deepcopy(report)  # the caller's report stays as it was
    root = Path(report.root)
    if cache_dir == "":  # an empty settings field means "no cache", not the current directory
        cache_dir = None
    cache_path = _check_cache_dir(cache_dir, root) if cache_dir is not None else None

    n = len(report.paths)
    images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    rows = images.numpy()  # shares memory with `images`
    cached, cached_rows = read_cache(cache_path, root, image_size) if cache_path is not None else ({}, None)
    entries, failed, todo, hits = _match_cache(root, report.paths, cached if not checks else {})
    digests = [""] * n
    for start in range(0, len(hits), _COPY_CHUNK):
        idx, src = zip(*hits[start : start + _COPY_CHUNK], strict=True)
        rows[list(idx)] = cached_rows[list(src)]
    del cached_rows  # releases the memory map (Windows cannot replace a mapped file)

    tick = _Throttle(progress, n)
    tick(n - len(todo))
    decode_jobs = _decode_many(root, report.paths, todo, image_size, workers, should_stop, checks)
    for done, (i, result) in enumerate(decode_jobs, start=n - len(todo) + 1):
        entry = entries[report.paths[i]]
        if isinstance(result, str):
            failed[i] = entry.reason = result
        else:
            rows[i] = result.array.transpose(2, 0, 1)  # (S, S, 3) -> (3, S, S)
            entry.wh, entry.format = (result.width, result.height), result.format
            digests[i] = result.digest
        tick(done)
    tick(n, force=True)

    keep = [i for i in range(n) if i not in failed]
    if not keep:
        all_skipped = report.skipped + [SkippedFile(report.paths[i], r) for i, r in sorted(failed.items())]
        first = all_skipped[0]
        raise DataError(
            f"Folder '{root}' has no readable images: all {len(all_skipped)} image files were skipped "
            f"(first: {first.path}: {first.reason})."
        )
    for new, old in enumerate(keep):  # compact in place: no second (N, 3, S, S) copy
        if new != old:
            rows[new] = rows[old]
    images = images[: len(keep)]
    # Cache rows follow the order of `keep`: row j of the saved array is image keep[j].
    for j, i in enumerate(keep):
        entries[report.paths[i]].row = j
    if cache_path is not None and (todo or set(entries) != set(cached)):
        write_cache(cache_path, root, image_size, entries, rows[: len(keep)])

    checked = None
    if checks:
        sizes = [entries[report.paths[i]].wh or (0, 0) for i in keep]
        stats = measure(rows[: len(keep)], channels_first=True)
        checked = find_issues(str(root), [report.paths[i] for i in keep], sizes, [digests[i] for i in keep], stats)
    _update_report(report, keep, failed, entries)
    return ImageSet(
        root=root,
        paths=report.paths,
        labels=np.asarray(report.labels, dtype=np.int64),
        class_names=report.class_names,
        images=images,
        image_size=image_size,
        report=report,
        checks=checked,
    )


def _match_cache(
    root: Path, paths: list[str], cached: dict[str, Entry]
) -> tuple[dict[str, Entry], dict[int, str], list[int], list[tuple[int, int]]]:
    """Compare each file's (size, mtime_ns) with the cache.

    Returns the entries the cache will hold afterwards, failures {index: reason} (unreadable now or cached
    as broken), the indices to decode, and the hits as (index, row in the cached array).
    """
    entries: dict[str, Entry] = {}
    failed: dict[int, str] = {}
    todo: list[int] = []
    hits: list[tuple[int, int]] = []
    for i, rel in enumerate(paths):
        try:
            st = os.stat(root / rel)
        except OSError as e:
            failed[i] = f"unreadable ({e.strerror or e})"
            continue
        old = cached.get(rel)
        if old is not None and (old.size, old.mtime_ns) == (st.st_size, st.st_mtime_ns):
            entries[rel] = old
            if old.row is None:
                failed[i] = old.reason or "could not be decoded"
            else:
                hits.append((i, old.row))
        else:
            entries[rel] = Entry(st.st_size, st.st_mtime_ns)
            todo.append(i)
    return entries, failed, todo, hits


def _cache_stem(root: Path, image_size: int) -> str:
    digest = hashlib.sha256(os.path.normcase(str(root)).encode("utf-8")).hexdigest()[:20]
    return f"images-{digest}-{image_size}px"


def read_cache(cache_dir: Path, root: Path, image_size: int) -> tuple[dict[str, Entry], np.ndarray | None]:
    """The cached entries and a read-only memory map of rows (M, 3, S, S); ({}, None) when absent or unusable."""
    index_path = cache_dir / f"{_cache_stem(root, image_size)}.json"
    if not index_path.is_file():
        return {}, None
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if (index["version"], index["root"], index["image_size"]) != (_CACHE_VERSION, str(root), image_size):
            return {}, None
        name = index["rows_file"]
        if Path(name).name != name:  # only a plain file name next to the index is trusted
            return {}, None
        entries = {}
        for rel, e in index["files"].items():
            wh = tuple(int(v) for v in e["wh"]) if e.get("wh") else None
            if wh is not None and len(wh) != 2:
                raise ValueError(f"bad size {wh} for {rel}")
            row = None if e.get("row") is None else int(e["row"])
            entries[str(rel)] = Entry(int(e["size"]), int(e["mtime_ns"]), row, wh, e.get("format"), e.get("reason"))
        rows = np.load(cache_dir / name, mmap_mode="r", allow_pickle=False)
        n_rows = sum(e.row is not None for e in entries.values())
        valid_rows = {e.row for e in entries.values() if e.row is not None} == set(range(n_rows))
        if rows.dtype != np.uint8 or rows.shape != (n_rows, 3, image_size, image_size) or not valid_rows:
            raise ValueError(f"rows {rows.shape} {rows.dtype} do not match the index")
        return entries, rows
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # corrupt: ignore and rebuild
        log.warning("Ignoring unusable image cache %s (%s); it will be rebuilt.", index_path, e)
        return {}, None


def write_cache(cache_dir: Path, root: Path, image_size: int, entries: dict[str, Entry], rows: np.ndarray) -> None:
    """Atomically replace the cache: a new uniquely named .npy first, then the index that points to it.

    A crash at any point leaves the previous index pointing at its own, intact rows file. Failing to write
    (disk full, read-only) only costs the next load a re-decode, so it is logged, not raised.
    """
    stem = _cache_stem(root, image_size)
    rows_name = f"{stem}-{uuid.uuid4().hex[:12]}.npy"  # a fresh name: the old index keeps its own rows file
    index = {
        "version": _CACHE_VERSION,
        "root": str(root),
        "image_size": image_size,
        "rows_file": rows_name,
        "files": {rel: asdict(e) for rel, e in entries.items()},
    }
    try:
        with atomic_writer(cache_dir / rows_name) as f:  # streamed: the rows may be larger than free memory
            np.save(f, rows, allow_pickle=False)
        atomic_write_text(cache_dir / f"{stem}.json", json.dumps(index))
    except OSError as e:
        log.warning("Could not write the image cache in %s (%s).", cache_dir, e)
        (cache_dir / rows_name).unlink(missing_ok=True)
        return
    for old in cache_dir.glob(f"{stem}-*.npy"):  # previous rows files, including orphans of a corrupt index
        if old.name != index["rows_file"]:
            try:
                old.unlink(missing_ok=True)
            except OSError:  # e.g. still mapped by another process on Windows; harmless leftover
                pass


def _check_cache_dir(cache_dir: str | Path, root: Path) -> Path:
    """The resolved cache folder; refuses one inside the image folder, which must stay untouched."""
    return ensure_outside(cache_dir, root, "the cache folder")


def _decode_many(
    root: Path,
    paths: list[str],
    todo: list[int],
    size: int,
    workers: int,
    should_stop: Callable[[], bool] | None,
    checks: bool = False,
) -> Iterator[tuple[int, _decode.Decoded | str]]:
    """Yield (index, Decoded or reason) for each index in `todo`, in completion order."""

    def one(i: int) -> tuple[int, _decode.Decoded | str]:
        try:
            if checks:
                return i, _decode.decode_with_info(root / paths[i], size, digest=True)
            return i, _decode.decode_with_info(root / paths[i], size)
        except _decode.DecodeError as e:
            return i, str(e)
        except Exception as e:  # one odd file must not abort loading the other thousands
            return i, f"could not be decoded ({type(e).__name__}: {e})"

    def stop() -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("loading images cancelled")

    if workers == 0:
        for i in todo:
            stop()
            yield one(i)
        return
    queue = iter(todo)
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        pending: set = set()
        try:
            while True:
                # A bounded window of submitted work: cancelling stays fast and memory stays flat.
                while len(pending) < 4 * workers and (i := next(queue, None)) is not None:
                    pending.add(pool.submit(one, i))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                stop()
        finally:
            for fut in pending:
                fut.cancel()


def _update_report(report: ScanReport, keep: list[int], failed: dict[int, str], entries: dict[str, Entry]) -> None:
    """Move decode failures into report.skipped; count real formats and original sizes of the kept images."""
    report.skipped = sorted(
        report.skipped + [SkippedFile(report.paths[i], reason) for i, reason in failed.items()], key=lambda s: s.path
    )
    report.paths = [report.paths[i] for i in keep]
    report.labels = [report.labels[i] for i in keep]
    kept = [entries[p] for p in report.paths]
    report.formats = dict(sorted(Counter(e.format or "unknown" for e in kept).items()))
    report.sizes = dict(Counter(f"{e.wh[0]}x{e.wh[1]}" for e in kept if e.wh).most_common())


class _Throttle:
    """Calls progress(done, total) at most every _PROGRESS_INTERVAL_S seconds (and always when forced)."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress, self.total, self.last = progress, total, 0.0

    def __call__(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is not None and (force or now - self.last >= _PROGRESS_INTERVAL_S):
            self.last = now
            self.progress(done, self.total)
