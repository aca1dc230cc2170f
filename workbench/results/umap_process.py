"""UMAP in a child process: numba compiles there, the GUI process never stalls, and a fit can be stopped.

A UMAP fit cannot be interrupted from inside, so cancelling ends the child process; the next call starts a fresh
one. The child imports only numpy and umap (through `workbench.analysis`), never Qt or torch.

The N x D features are never pickled through the pipe: a memory-mapped .npy (the embeddings cache) goes as its path
and offset and the child maps the same file; any other array (and a k-NN graph) goes through shared memory, copied
once and released when the answer is back. The child is ended IDLE_EXIT_S after its last fit, so the memory a fit
leaves behind in it (1 GB after 60,000 points) is given back; the next request starts a fresh child, whose numba
kernels load from umap's on-disk cache.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import threading
import time
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import Cancelled, WorkbenchError

if TYPE_CHECKING:
    from workbench.results.maps import UmapParams

IDLE_EXIT_S = 60.0


def share_array(x: np.ndarray) -> tuple[tuple, shared_memory.SharedMemory | None]:
    """(a picklable reference the child can open, the shared memory to release afterwards, or None)."""
    # Only a whole memory map (its base the mmap itself): a slice of one keeps the parent's offset.
    if isinstance(x, np.memmap) and isinstance(x.base, mmap.mmap) and x.flags.c_contiguous:
        if isinstance(x.filename, str | os.PathLike) and os.path.isfile(x.filename):
            return ("file", os.fspath(x.filename), int(x.offset), x.shape, x.dtype.str), None
    x = np.ascontiguousarray(x)
    shm = shared_memory.SharedMemory(create=True, size=max(x.nbytes, 1))
    np.ndarray(x.shape, x.dtype, buffer=shm.buf)[...] = x
    return ("shm", shm.name, x.shape, x.dtype.str), shm


def open_shared(ref: tuple) -> tuple[np.ndarray, Any]:
    """The array behind a `share_array` reference, read-only, and what to close when done with it."""
    if ref[0] == "file":
        _, path, offset, shape, dtype = ref
        return np.memmap(path, dtype=np.dtype(dtype), mode="r", offset=offset, shape=tuple(shape)), None
    _, name, shape, dtype = ref
    shm = shared_memory.SharedMemory(name=name)
    x = np.ndarray(tuple(shape), np.dtype(dtype), buffer=shm.buf)
    x.flags.writeable = False
    return x, shm


def _umap_server(conn: Any) -> None:
    """The child process: compile umap's kernels at once (warm_up_umap), then answer (x ref, params, knn refs)."""
    from workbench.analysis.project import warm_up_umap
    from workbench.analysis.umap_scale import umap_layout

    warm_up_umap()  # a daemon thread: jobs are received meanwhile, and umap_2d waits for it
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        x_ref, params, knn_refs = job
        opened = []
        try:
            x, handle = open_shared(x_ref)
            opened.append(handle)
            knn = None
            if knn_refs is not None:
                knn = tuple(open_shared(ref) for ref in knn_refs)
                opened += [h for _, h in knn]
                knn = tuple(a for a, _ in knn)
            xy, plan = umap_layout(x, knn=knn, **params)
            del x, knn
            conn.send(("ok", xy, plan.to_dict()))
        except Exception as exc:  # noqa: BLE001 - the parent turns it into a sentence
            conn.send(("error", f"{type(exc).__name__}: {exc}", None))
        finally:
            for handle in opened:
                if handle is not None:
                    try:
                        handle.close()
                    except BufferError:  # a view is still alive somewhere: the parent unlinks it anyway
                        pass


class UmapProcess:
    """`umap_2d` in a spawned child process that stays warm between calls.

    numba compiles in the child, so the GUI process never stalls; a UMAP fit cannot be interrupted, so cancelling
    terminates the child (the next call starts a fresh one) and no thread ever waits for a fit to end. As with any
    spawned process, a script that uses it must guard its entry point (`if __name__ == "__main__":`); the app's
    entry points (`workbench`, `python -m workbench`, `python -m workbench.gui.explore_view`) are safe.
    """

    def __init__(self, idle_exit_s: float | None = IDLE_EXIT_S) -> None:
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None
        self._busy = False  # a job was sent and its answer not yet received
        self._running = threading.Lock()  # held by run() throughout: the idle exit never ends a child in use
        self.idle_exit_s = idle_exit_s  # None: the child stays until stop()
        self._last_used = 0.0
        self._idle_timer: threading.Timer | None = None
        self.last_plan: dict | None = None  # the plan (analysis.umap_scale) of the last layout

    def start(self) -> None:
        """Start the child (if not running); it begins compiling at once. Cheap to call again."""
        with self._lock:
            if self._proc is not None and self._proc.is_alive():
                return
            ctx = multiprocessing.get_context("spawn")  # never fork a process that runs Qt and torch threads
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_umap_server, args=(child,), name="workbench-umap", daemon=True)
            proc.start()
            child.close()
            self._proc, self._conn = proc, parent

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def run(
        self,
        x: np.ndarray,
        params: UmapParams,
        *,
        should_stop: Any = None,
        seed: int | None = 0,
        knn: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """(N, D) -> float32 (N, 2), as `umap_layout(x, **params, seed=seed, knn=knn)` would return (its plan in
        `last_plan`). knn: an optional precomputed (indices, cosine distances) graph (N, k) of x, used instead of
        UMAP's own. Raises Cancelled (and ends the child) when should_stop() turns True, WorkbenchError when the fit
        fails."""
        params.validate()
        with self._running:
            return self._run(x, params, should_stop, seed, knn)

    def _run(self, x, params, should_stop, seed, knn) -> np.ndarray:
        self._cancel_idle_timer()
        self.start()
        proc, conn = self._proc, self._conn
        cancelled = should_stop if should_stop is not None else (lambda: False)
        shared = []
        self._busy = True
        try:
            x_ref, shm = share_array(x)
            shared.append(shm)
            knn_refs = None
            if knn is not None:
                pairs = [share_array(np.asarray(a)) for a in knn]
                shared += [s for _, s in pairs]
                knn_refs = tuple(ref for ref, _ in pairs)
            conn.send((x_ref, {**params.__dict__, "seed": seed}, knn_refs))
            while not conn.poll(0.05):
                if cancelled():
                    self.stop()
                    raise Cancelled("UMAP was cancelled.")
                if not proc.is_alive():
                    code = proc.exitcode
                    self.stop()
                    raise WorkbenchError(f"The UMAP process ended unexpectedly (exit code {code}).")
            status, value, plan = conn.recv()
        except (OSError, EOFError, ValueError):  # stop() from another thread closed the connection under us
            if cancelled():
                raise Cancelled("UMAP was cancelled.") from None
            raise WorkbenchError("The UMAP process ended unexpectedly.") from None
        finally:
            self._busy = False
            for shm in shared:
                if shm is not None:
                    shm.close()
                    shm.unlink()
            self._schedule_idle_exit()
        if status != "ok":
            raise WorkbenchError(f"UMAP failed ({value}).")
        self.last_plan = plan
        return np.asarray(value, dtype=np.float32)

    def _schedule_idle_exit(self) -> None:
        """End the child once it has been idle for idle_exit_s (its memory given back; the next run restarts it)."""
        self._last_used = time.monotonic()
        if self.idle_exit_s is None or not self.is_running():
            return
        timer = threading.Timer(self.idle_exit_s, self._idle_exit)
        timer.daemon = True
        self._idle_timer = timer
        timer.start()

    def _cancel_idle_timer(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()

    def _idle_exit(self) -> None:
        if not self._running.acquire(blocking=False):
            return  # a run started meanwhile; it schedules the next check itself
        try:
            if time.monotonic() - self._last_used >= (self.idle_exit_s or 0.0):
                self.stop()
        finally:
            self._running.release()

    def stop(self) -> None:
        """End the child now (a running fit is abandoned)."""
        if threading.current_thread() is not self._idle_timer:
            self._cancel_idle_timer()
        with self._lock:
            proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if proc is None:
            return
        if not self._busy:  # idle: ask it to leave (a clean exit releases what it holds), then make sure
            try:
                conn.send(None)
                proc.join(2)
            except (OSError, ValueError):
                pass
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()
        proc.close()
