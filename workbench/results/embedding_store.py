"""Embeddings on disk, written batch by batch: bounded memory, cancellable, resumable after Cancel.

A folder of a million images does not fit in memory decoded (3*S*S bytes each) nor its features as one float32
array held twice, so `stream_features` decodes BATCH_ROWS images, embeds them, writes their rows into a
memory-mapped .npy and moves on; at any moment it holds one decoded batch (plus the one being decoded ahead), its
features and the memory map, whose pages the OS may evict.

Files, in the run's embeddings folder, per cache stem (embeddings.py names the stem):
  <stem>.features.npy   float32 (N, D), memory-mapped on load; float32 because the neighbour graph, outlier scores,
                        near-duplicates and exports need the full precision (the UMAP child maps the same file, so a
                        float16 copy would save disk, not memory)
  <stem>.meta.npz       paths (one "\\0"-joined UTF-8 buffer: 1M paths as fixed-width strings would take ~250 MB),
                        labels, class names, skipped files
  <stem>.partial.npy    the rows embedded so far, in scan order (N_scan, D), while embedding is unfinished
  <stem>.progress.json  {"n", "d", "done", "failed"}: rows [0, done) are in the partial file; written atomically at
                        most once a second, on Cancel and at the end (after the memory map is flushed), so a rerun
                        continues at `done`, redoing at most a second of work. Batches start at multiples of
                        BATCH_ROWS from row 0 whether resumed or not, so a resumed result equals an uninterrupted one
                        bit for bit.
Without a cache folder (use_cache=False, or a run inside the image folder) the same files live in a temporary folder
that is removed once the result is mapped (POSIX keeps a mapped, deleted file readable) and nothing resumes.

torch is imported inside functions: the GUI imports this module at start-up.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import Cancelled, DataError, WriteError
from workbench.files import atomic_write_bytes, atomic_write_text, ensure_outside, flush_memmap

if TYPE_CHECKING:
    import torch

    from workbench.data import ImageSet
    from workbench.engine.report import Reporter

BATCH_ROWS = 256  # analysis.embed's default batch: the same numerics as embedding all images at once
FEATURES, META, PARTIAL, PROGRESS = ".features.npy", ".meta.npz", ".partial.npy", ".progress.json"
_RECORD_INTERVAL_S = 1.0
_ETA_INTERVAL_S = 10.0
_COPY_BYTES = 64 * 2**20  # per chunk when compacting / centring the partial file (a bounded temporary copy)

# A source turns scan rows into (uint8 images (B, 3, S, S) of the readable ones, their rows, [(row, reason)] failed).
Source = Callable[[list[int]], "tuple[torch.Tensor, list[int], list[tuple[int, str]]]"]


def store_files(cache_dir: Path, stem: str) -> list[Path]:
    return [cache_dir / f"{stem}{suffix}" for suffix in (FEATURES, META, PARTIAL, PROGRESS)]


def load_store(cache_dir: Path, stem: str) -> tuple[dict[str, Any], np.ndarray] | None:
    """(meta, read-only float32 memory map (N, D)) of a finished store, or None when absent or damaged."""
    try:
        with np.load(cache_dir / f"{stem}{META}", allow_pickle=False) as f:
            meta = {
                "paths": _split(f["paths"]),
                "labels": f["labels"].astype(np.int64),
                "class_names": f["class_names"].tolist(),
                "skipped": list(zip(f["skipped_paths"].tolist(), f["skipped_reasons"].tolist(), strict=True)),
            }
        features = np.load(cache_dir / f"{stem}{FEATURES}", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError):
        return None  # absent or damaged: recomputed (and replaced)
    if features.dtype != np.float32 or features.ndim != 2 or len(features) != len(meta["paths"]):
        return None
    if len(meta["labels"]) != len(meta["paths"]):
        return None
    return meta, features


def _join(paths: list[str]) -> np.ndarray:
    return np.frombuffer("\0".join(paths).encode("utf-8"), dtype=np.uint8)


def _split(buffer: np.ndarray) -> list[str]:
    text = buffer.tobytes().decode("utf-8")
    return text.split("\0") if text else []


def save_meta(cache_dir: Path, stem: str, paths: list[str], labels: np.ndarray, class_names: list[str], skipped):
    import io

    buffer = io.BytesIO()
    np.savez(
        buffer,
        paths=_join(paths),
        labels=np.asarray(labels, np.int64),
        class_names=np.array(class_names, dtype=str),
        skipped_paths=np.array([p for p, _ in skipped], dtype=str),
        skipped_reasons=np.array([r for _, r in skipped], dtype=str),
    )
    atomic_write_bytes(cache_dir / f"{stem}{META}", buffer.getbuffer())


@contextmanager
def decode_source(
    root: Path, paths: list[str], image_size: int, *, workers: int = 2, decode_cache: str | Path | None = None
) -> Iterator[Source]:
    """Decode scan rows on `workers` threads, reusing the rows of data.cache's disk cache (read only: a streamed
    folder may not fit in memory, and that cache is rewritten whole) while a file's size and mtime are unchanged."""
    import torch

    from workbench.data import decode as _decode
    from workbench.data.cache import read_cache

    entries, cached_rows = {}, None
    if decode_cache:
        try:
            cache_path = ensure_outside(decode_cache, root, "the cache folder")
            entries, cached_rows = read_cache(cache_path, root, image_size)
        except (OSError, DataError, ValueError):
            entries, cached_rows = {}, None  # a cache inside the image folder is not read; decoding still works

    def one(i: int) -> np.ndarray | str:
        path = root / paths[i]
        try:
            st = os.stat(path)
        except OSError as e:
            return f"unreadable ({e.strerror or e})"
        entry = entries.get(paths[i])
        if entry is not None and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns):
            if entry.row is None:
                return entry.reason or "could not be decoded"
            return np.asarray(cached_rows[entry.row])
        try:
            return _decode.decode_with_info(path, image_size).array.transpose(2, 0, 1)
        except _decode.DecodeError as e:
            return str(e)
        except Exception as e:  # noqa: BLE001 - one odd file must not abort embedding the other thousands
            return f"could not be decoded ({type(e).__name__}: {e})"

    pool = ThreadPoolExecutor(workers, thread_name_prefix="embed-decode") if workers > 0 else None

    def source(rows: list[int]):
        results = list(pool.map(one, rows)) if pool is not None else [one(i) for i in rows]
        ok = [(i, r) for i, r in zip(rows, results, strict=True) if not isinstance(r, str)]
        failed = [(i, r) for i, r in zip(rows, results, strict=True) if isinstance(r, str)]
        # Contiguous (N, 3, S, S), as data.cache's store: a channels-last batch would convolve with other rounding.
        stacked = np.ascontiguousarray(np.stack([r for _, r in ok])) if ok else np.empty((0, 3, image_size, image_size))
        return torch.from_numpy(stacked.astype(np.uint8, copy=False)), [i for i, _ in ok], failed

    try:
        yield source
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def memory_source(images: ImageSet, paths: list[str], fallback: Source) -> Source:
    """Rows from images already decoded (training's uint8 store) where `images` has the path, else `fallback`."""
    import torch

    where = {rel: j for j, rel in enumerate(images.paths)}

    def source(rows: list[int]):
        have = [i for i in rows if paths[i] in where]
        rest = [i for i in rows if paths[i] not in where]
        batch = images.images[[where[paths[i]] for i in have]]
        if not rest:
            return batch, have, []
        more, more_rows, failed = fallback(rest)
        merged = sorted([*zip(have, batch, strict=True), *zip(more_rows, more, strict=True)], key=lambda t: t[0])
        if not merged:
            return batch, [], failed
        return torch.stack([m for _, m in merged]), [i for i, _ in merged], failed

    return source


def stream_features(
    out_dir: Path | None,
    stem: str,
    n: int,
    source: Source,
    featurize: Callable[[torch.Tensor], np.ndarray],
    *,
    centre: bool = False,
    reporter: Reporter,
    batch_rows: int | None = None,
    before_final: Callable[[list[int], list[tuple[int, str]]], None] | None = None,
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """Embed scan rows 0..n-1 batch by batch into `out_dir`/<stem>.partial.npy, continuing a cancelled run.

    featurize: uint8 (B, 3, S, S) -> float32 (B, D). centre=True subtracts the mean of the kept rows (the raw-pixel
    baseline). before_final(kept, failed) runs once every row is embedded, before the result file replaces the
    partial one (embeddings.py writes the meta file there, so a finished features file always has its meta).
    Returns (read-only float32 memory map (K, D) of the K readable rows, their scan rows, [(row, reason)] failed).
    Raises Cancelled (progress kept) when reporter.should_stop(), DataError when no row is readable.
    """
    batch_rows = batch_rows or BATCH_ROWS
    if out_dir is not None:
        return _stream_into(out_dir, stem, n, source, featurize, centre, reporter, batch_rows, before_final)
    folder = Path(tempfile.mkdtemp(prefix="workbench-embed-"))  # not cached: the same memory map, thrown away
    try:
        return _stream_into(folder, stem, n, source, featurize, centre, reporter, batch_rows, before_final, False)
    except WriteError:  # no room for it either (a full disk): in memory, as before streaming
        return _in_memory(n, source, featurize, centre, reporter, batch_rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a mapped result stays readable after its file is removed


def _stream_into(
    folder: Path,
    stem: str,
    n: int,
    source: Source,
    featurize: Callable[[torch.Tensor], np.ndarray],
    centre: bool,
    reporter: Reporter,
    batch_rows: int,
    before_final: Callable[[list[int], list[tuple[int, str]]], None] | None,
    keep_progress: bool = True,
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """stream_features into `folder`; keep_progress=False: no progress record (a temporary folder has no rerun)."""
    folder.mkdir(parents=True, exist_ok=True)
    _, _, partial_path, record_path = store_files(folder, stem)
    if not keep_progress:
        record_path = None
    array, done, failed = _resume(partial_path, record_path, n) if keep_progress else (None, 0, {})
    if done:
        reporter.message(f"Resuming the embedding at image {done + 1:,} of {n:,}.")
    eta = _Eta(reporter, n, done)
    last_record = time.monotonic()
    starts = range(done - done % batch_rows, n, batch_rows)
    with ThreadPoolExecutor(1, thread_name_prefix="embed-ahead") as ahead:
        pending = ahead.submit(source, list(range(starts[0], min(starts[0] + batch_rows, n)))) if starts else None
        for start in starts:
            if reporter.should_stop():
                pending.cancel()
                _record(array, record_path, n, start, failed)
                raise Cancelled("Embedding was cancelled; the images embedded so far are kept for the next run.")
            images, rows, bad = pending.result()
            nxt = start + batch_rows
            pending = ahead.submit(source, list(range(nxt, min(nxt + batch_rows, n)))) if nxt < n else None
            failed.update(bad)
            if rows:
                feats = np.asarray(featurize(images), dtype=np.float32)
                if array is None:
                    array = _open_partial(partial_path, n, feats.shape[1])
                array[rows] = feats
            done = min(nxt, n)
            if time.monotonic() - last_record >= _RECORD_INTERVAL_S:
                _record(array, record_path, n, done, failed)
                last_record = time.monotonic()
            eta(done)
    kept = [i for i in range(n) if i not in failed]
    if not kept:
        first = f" (first: {min(failed.items())[1]})" if failed else ""
        raise DataError(f"None of the {n:,} images could be read{first}.")
    _record(array, record_path, n, n, failed)
    fails = sorted(failed.items())
    if before_final is not None:
        before_final(kept, fails)
    final = _finalise(array, folder, stem, kept, centre)
    del array
    partial_path.unlink(missing_ok=True)
    if record_path is not None:
        record_path.unlink(missing_ok=True)
    return np.load(final, mmap_mode="r", allow_pickle=False), kept, fails


def _open_partial(path: Path, n: int, d: int) -> np.ndarray:
    """The (n, d) float32 memory map rows are written into. Its pages are only allocated when written, and a write
    to a mapped page on a full disk kills the process (SIGBUS), so the space is checked first: too little is a
    WriteError, which compute_embeddings turns into "not cached" and an in-memory embedding."""
    need = n * d * 4 + 2**20
    free = shutil.disk_usage(path.parent).free
    if free < 2 * need:  # the result file may be a second copy (rows failed, or centred)
        raise WriteError(path, "no space left on the device", errno.ENOSPC)
    return np.lib.format.open_memmap(path, "w+", np.float32, (n, d))


def _in_memory(
    n: int,
    source: Source,
    featurize: Callable[[torch.Tensor], np.ndarray],
    centre: bool,
    reporter: Reporter,
    batch_rows: int,
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """stream_features without a folder: the rows in RAM, no progress kept (nothing to resume)."""
    array: np.ndarray | None = None
    failed: dict[int, str] = {}
    eta = _Eta(reporter, n, 0)
    for start in range(0, n, batch_rows):
        if reporter.should_stop():
            raise Cancelled("Embedding was cancelled.")
        images, rows, bad = source(list(range(start, min(start + batch_rows, n))))
        failed.update(bad)
        if rows:
            feats = np.asarray(featurize(images), dtype=np.float32)
            if array is None:
                array = np.zeros((n, feats.shape[1]), np.float32)
            array[rows] = feats
        eta(min(start + batch_rows, n))
    kept = [i for i in range(n) if i not in failed]
    if not kept or array is None:
        first = f" (first: {min(failed.items())[1]})" if failed else ""
        raise DataError(f"None of the {n:,} images could be read{first}.")
    out = array[kept] if len(kept) < n else array
    if centre:
        out = out - out.mean(axis=0, dtype=np.float64).astype(np.float32)
    return out, kept, sorted(failed.items())


def _resume(partial_path: Path, record_path: Path, n: int) -> tuple[np.ndarray | None, int, dict[int, str]]:
    """(partial memory map, rows done, failed rows) of a cancelled run with the same rows, else a fresh start."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        array = np.load(partial_path, mmap_mode="r+", allow_pickle=False)
        done = int(record["done"])
        if record["n"] != n or array.shape != (n, record["d"]) or array.dtype != np.float32 or not 0 <= done <= n:
            raise ValueError("another shape")
        return array, done, {int(i): str(r) for i, r in record["failed"]}
    except (OSError, ValueError, KeyError, TypeError):
        partial_path.unlink(missing_ok=True)  # unusable or unrelated: start again
        return None, 0, {}


def _record(array: np.ndarray | None, record_path: Path | None, n: int, done: int, failed: dict[int, str]) -> None:
    """Flush the rows to disk first, then say how far they go: a crash in between only loses work."""
    if record_path is None:  # nothing to resume from
        return
    if array is None:
        if failed:  # only unreadable files so far: nothing to keep but those
            record_path.unlink(missing_ok=True)
        return
    flush_memmap(array)
    text = json.dumps({"n": n, "d": int(array.shape[1]), "done": done, "failed": sorted(failed.items())})
    atomic_write_text(record_path, text)


def _finalise(array: np.ndarray, folder: Path, stem: str, kept: list[int], centre: bool) -> Path:
    """The result file <stem>.features.npy: the partial file renamed, or (rows failed / centring) written chunk by
    chunk from it into a temporary name first, so it appears whole or not at all."""
    final = folder / f"{stem}{FEATURES}"
    if not centre and len(kept) == len(array):
        flush_memmap(array)
        os.replace(folder / f"{stem}{PARTIAL}", final)
        return final
    idx = np.asarray(kept, dtype=np.int64)
    step = max(1, _COPY_BYTES // (4 * array.shape[1]))
    mean = np.zeros(array.shape[1], np.float64)
    if centre:
        for s in range(0, len(idx), step):
            mean += array[idx[s : s + step]].sum(axis=0, dtype=np.float64)
        mean /= len(idx)
    tmp = folder / f".{stem}{FEATURES}.tmp"  # files.is_temporary's pattern: a crash leaves nothing that looks real
    out = np.lib.format.open_memmap(tmp, "w+", np.float32, (len(idx), array.shape[1]))
    for s in range(0, len(idx), step):
        out[s : s + step] = array[idx[s : s + step]] - mean.astype(np.float32)
    flush_memmap(out)
    del out
    os.replace(tmp, final)
    return final


class _Eta:
    """progress(done, n) per batch and, every _ETA_INTERVAL_S, a sentence with the time left."""

    def __init__(self, reporter: Reporter, n: int, done: int) -> None:
        self.reporter, self.n, self.first = reporter, n, done
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        self.reporter.progress(done, self.n)
        now = time.monotonic()
        if now - self.last >= _ETA_INTERVAL_S and done > self.first and done < self.n:
            self.last = now
            left = (now - self.t0) / (done - self.first) * (self.n - done)
            when = f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"
            self.reporter.message(f"Embedded {done:,} of {self.n:,} images; about {when} left.")
