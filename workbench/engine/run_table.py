"""The runs list for every front end: its columns (the Train workspace's list and `workbench runs` show the same
cells), the terminal table, the differences of two runs' configs, and the folder where the app keeps its runs.

Reads runs through engine/run_summary.py only; imports neither torch nor Qt, so `workbench runs` answers at once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.run_summary import RunSummary, list_runs
from workbench.engine.runs import RunDir, read_json_object
from workbench.errors import RunError

RUNS_DIR_ENV = "WORKBENCH_RUNS_DIR"  # overrides where the app (and `workbench runs`) look for runs
# The app's QCoreApplication organisation and application names (gui/app.py), which name its data folder;
# tests/test_cli_runs.py checks that default_runs_dir() is the folder the app itself uses.
APP_ORGANIZATION, APP_NAME = "SSL Workbench", "workbench"
MISSING = "(missing)"  # a config key one of two compared runs does not have


@dataclass(frozen=True)
class RunColumn:
    title: str
    cell: Callable[[RunSummary], str]  # "" when the run has no value yet
    numeric: bool = False  # right-aligned


def _best_cell(run: RunSummary) -> str:
    """A fine-tune's best held-out accuracy and the step of that checkpoint ("87.5% at step 120"); "" otherwise."""
    if run.best_holdout is None or run.best_step is None:
        return ""
    return f"{run.best_holdout:.1%} at step {run.best_step:,}"


RUN_COLUMNS = (
    RunColumn("Run", lambda r: r.name),
    RunColumn("Date", lambda r: r.date),
    RunColumn("Status", lambda r: r.status),
    RunColumn("Method", lambda r: r.method),
    RunColumn("Encoder", lambda r: r.encoder),
    RunColumn("Images", lambda r: "" if r.images is None else f"{r.images:,}", numeric=True),
    RunColumn("Step", lambda r: f"{r.step:,}", numeric=True),
    RunColumn("Final loss", lambda r: "" if r.loss is None else f"{r.loss:.4f}", numeric=True),
    RunColumn("kNN (train split)", lambda r: "" if r.knn is None else f"{r.knn:.1%}", numeric=True),
    RunColumn("Best held-out", _best_cell, numeric=True),  # a fine-tune's `best` checkpoint
)


def run_cells(run: RunSummary) -> list[str]:
    """The run's row of the runs list, one string per RUN_COLUMNS entry."""
    return [column.cell(run) for column in RUN_COLUMNS]


def format_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain-text table: columns padded to their widest cell, two spaces apart, a rule under the header, empty
    cells shown as '-'; columns in `right` are right-aligned."""
    right = right or set()
    rows = [[cell or "-" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def runs_table(runs: list[RunSummary]) -> str:
    """The runs list as text, one line per run, in the order given (list_runs: newest first)."""
    right = {i for i, column in enumerate(RUN_COLUMNS) if column.numeric}
    return format_table([c.title for c in RUN_COLUMNS], [run_cells(r) for r in runs], right)


def default_runs_dir() -> Path:
    """$WORKBENCH_RUNS_DIR, else the app's data folder + runs: what Qt's AppDataLocation is for the app's names
    (%APPDATA%, ~/Library/Application Support or $XDG_DATA_HOME (~/.local/share), then organisation/application)."""
    if os.environ.get(RUNS_DIR_ENV):
        return Path(os.environ[RUNS_DIR_ENV])
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / APP_ORGANIZATION / APP_NAME / "runs"


def list_runs_in(root: str | Path) -> list[RunSummary]:
    """list_runs(root), refusing a root that is not a folder with one sentence."""
    if not Path(root).is_dir():
        raise RunError(f"The runs folder '{root}' does not exist; pass --root DIR (or set {RUNS_DIR_ENV}).")
    return list_runs(root)


def find_run(name_or_path: str | Path, root: str | Path) -> Path:
    """A run given as a folder path or as a run name under `root`; RunError (one sentence) when it is neither."""
    given = Path(name_or_path).expanduser()
    for candidate in (given, Path(root) / given):
        if RunDir.is_run(candidate):
            return candidate
    if given.is_dir() or (Path(root) / given).is_dir():
        folder = given if given.is_dir() else Path(root) / given
        raise RunError(f"'{folder}' is not a run folder (it has no run config).")
    raise RunError(f"'{name_or_path}' is neither a run folder nor the name of a run in '{root}'.")


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON config -> {dotted key: value}; objects and lists of objects open up (augment.views.0.crop.scale),
    other lists stay whole values."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every key whose values differ, in a's order then b's new keys; a key
    only one config has is MISSING in the other."""
    flat_a, flat_b = flatten(a), flatten(b)
    return [
        (key, flat_a.get(key, MISSING), flat_b.get(key, MISSING))
        for key in dict.fromkeys([*flat_a, *flat_b])
        if key not in flat_a or key not in flat_b or flat_a[key] != flat_b[key]
    ]


def compare_runs(a: str | Path, b: str | Path, root: str | Path) -> str:
    """The text of `workbench runs --compare A B`: the configs' differences as a table (key, A, B)."""
    path_a, path_b = find_run(a, root), find_run(b, root)
    config_a, config_b = (_config(p) for p in (path_a, path_b))
    differences = config_differences(config_a, config_b)
    if not differences:
        return f"The configs of {path_a.name} and {path_b.name} are the same."
    names = [path_a.name, path_b.name] if path_a.name != path_b.name else [str(path_a), str(path_b)]
    rows = [[key, _show(va), _show(vb)] for key, va, vb in differences]
    return format_table(["Config key", *names], rows)


def _config(path: Path) -> dict[str, Any]:
    config = read_json_object(RunDir(path).config_path)
    if not config:
        raise RunError(f"The config of run '{path}' cannot be read.")
    return config


def _show(value: Any) -> str:
    if value is MISSING or isinstance(value, str):
        return value or "''"
    return json.dumps(value)


__all__ = [
    "RUNS_DIR_ENV",
    "RUN_COLUMNS",
    "RunColumn",
    "compare_runs",
    "config_differences",
    "default_runs_dir",
    "find_run",
    "format_table",
    "list_runs_in",
    "run_cells",
    "runs_table",
]
