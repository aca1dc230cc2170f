"""What the Train workspace's runs list reads, with a memory: the list is refreshed at every epoch of a run (and its
selection restored, which redraws the overlaid loss curves), so a run folder, or a selected run's metrics.csv, is
read again only when its files changed (inode, mtime or size). A refresh then costs a few stats per run instead of
parsing every run's scan report (all its image paths) and every overlaid run's whole log on the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.run_summary import RunSummary, read_loss_curve, read_summary
from workbench.engine.runs import RunDir

Stamp = tuple[int, int, int] | None  # (inode, mtime_ns, size) of a file; None while it is missing


def stamp(path: Path) -> Stamp:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class RunListing:
    """`list()` returns what `list_runs(runs_dir)` would, reading only the folders that changed since the last call."""

    def __init__(self) -> None:
        self._known: dict[Path, tuple[tuple[Stamp, ...], RunSummary | None]] = {}

    def list(self, runs_dir: str | Path) -> list[RunSummary]:
        """Every run folder directly under `runs_dir`, newest first; other folders and files are skipped."""
        try:
            folders = [p for p in Path(runs_dir).iterdir() if p.is_dir()]
        except OSError:
            return []
        known, self._known = self._known, {}
        for folder in folders:
            run = RunDir(folder)
            # the files read_summary (engine/run_summary.py) reads: keep the two in step
            stamps = tuple(
                stamp(p)
                for p in (run.config_path, run.status_path, run.scan_report_path, run.metrics_path, run.epochs_path)
            )
            cached = known.get(folder)
            summary = cached[1] if cached is not None and cached[0] == stamps else read_summary(folder)
            self._known[folder] = (stamps, summary)
        runs = [summary for _, summary in self._known.values() if summary is not None]
        return sorted(runs, key=lambda r: r.name, reverse=True)


class Overlays:
    """The selected runs' loss curves overlaid on the live curves' loss plot (`curves.set_overlays`), each read again
    only when its metrics.csv changed and redrawn only when one of them changed."""

    def __init__(self, curves: Any):
        self.curves = curves
        self._known: dict[Path, tuple[Stamp, np.ndarray]] = {}

    def show(self, run_dirs: list[Path]) -> None:
        known, self._known = self._known, {}
        changed = set(known) != set(map(Path, run_dirs))
        for run_dir in map(Path, run_dirs):
            now, cached = stamp(RunDir(run_dir).metrics_path), known.get(run_dir)
            if cached is None or cached[0] != now or now is None:
                cached, changed = (now, read_loss_curve(run_dir)), True
            self._known[run_dir] = cached
        if changed:
            self.curves.set_overlays({p.name: rows for p, (_, rows) in self._known.items()})
