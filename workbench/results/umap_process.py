"""UMAP in a child process: numba compiles there, the GUI process never stalls, and a fit can be stopped.

A UMAP fit cannot be interrupted from inside, so cancelling ends the child process; the next call starts a fresh
one. The child imports only numpy and umap (through `workbench.analysis.project`), never Qt or torch.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import Cancelled, WorkbenchError

if TYPE_CHECKING:
    from workbench.results.maps import UmapParams


def _umap_server(conn: Any) -> None:
    """The child process: compile umap's kernels at once (warm_up_umap), then answer (x, params) jobs."""
    from workbench.analysis.project import umap_2d, warm_up_umap

    warm_up_umap()  # a daemon thread: jobs are received meanwhile, and umap_2d waits for it
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        x, params = job
        try:
            conn.send(("ok", umap_2d(x, **params)))
        except Exception as exc:  # noqa: BLE001 - the parent turns it into a sentence
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class UmapProcess:
    """`umap_2d` in a spawned child process that stays warm between calls.

    numba compiles in the child, so the GUI process never stalls; a UMAP fit cannot be interrupted, so cancelling
    terminates the child (the next call starts a fresh one) and no thread ever waits for a fit to end. As with any
    spawned process, a script that uses it must guard its entry point (`if __name__ == "__main__":`); the app's
    entry points (`workbench`, `python -m workbench`, `python -m workbench.gui.explore_view`) are safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None
        self._busy = False  # a job was sent and its answer not yet received

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

    def run(self, x: np.ndarray, params: UmapParams, *, should_stop: Any = None, seed: int | None = 0) -> np.ndarray:
        """(N, D) -> float32 (N, 2), as `umap_2d(x, **params)` would return. Raises Cancelled (and ends the child)
        when should_stop() turns True, WorkbenchError when the fit fails."""
        params.validate()
        self.start()
        proc, conn = self._proc, self._conn
        cancelled = should_stop if should_stop is not None else (lambda: False)
        self._busy = True
        try:
            conn.send((np.ascontiguousarray(x, dtype=np.float32), {**params.__dict__, "seed": seed}))
            while not conn.poll(0.05):
                if cancelled():
                    self.stop()
                    raise Cancelled("UMAP was cancelled.")
                if not proc.is_alive():
                    code = proc.exitcode
                    self.stop()
                    raise WorkbenchError(f"The UMAP process ended unexpectedly (exit code {code}).")
            status, value = conn.recv()
        except (OSError, EOFError, ValueError):  # stop() from another thread closed the connection under us
            if cancelled():
                raise Cancelled("UMAP was cancelled.") from None
            raise WorkbenchError("The UMAP process ended unexpectedly.") from None
        finally:
            self._busy = False
        if status != "ok":
            raise WorkbenchError(f"UMAP failed ({value}).")
        return np.asarray(value, dtype=np.float32)

    def stop(self) -> None:
        """End the child now (a running fit is abandoned)."""
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
