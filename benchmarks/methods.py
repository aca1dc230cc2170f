"""Method comparison on a CPU: every method, the same time budget, kNN and linear top-1 on a labelled split.

    python benchmarks/fashion_mnist.py /tmp/fm --train 10000 --test 2000
    python benchmarks/methods.py --train /tmp/fm/train --test /tmp/fm/test [--time-budget 240] [--methods a,b]
        [--out DIR] [any `workbench train` flags, applied to every method]

Each method trains with `workbench train --method NAME` (its default encoder and hyper-parameters unless flags say
otherwise) for the time budget, then `workbench.results.evaluate.evaluate_run` scores it on --test with --train as the
kNN memory bank and the linear probe's training set, beside the same encoder untrained. Methods run one after the
other, never in parallel (the budget is wall time). Prints a Markdown table, then, as its last line, one JSON object.
A method that fails is reported with its error and the comparison goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from workbench.cli import main as cli_main
from workbench.engine.runs import RunDir
from workbench.methods import list_methods
from workbench.results.evaluate import evaluate_run

COLUMNS = (
    ("method", "method"),
    ("encoder", "encoder"),
    ("steps", "steps"),
    ("images_per_s", "img/s"),
    ("knn_top1", "kNN top-1"),
    ("linear_top1", "linear top-1"),
    ("knn_top1_untrained", "kNN untrained"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, type=Path, help="labelled training folder (class subfolders)")
    parser.add_argument("--test", required=True, type=Path, help="labelled test folder")
    parser.add_argument("--time-budget", type=float, default=240.0, help="training seconds per method (default 240)")
    parser.add_argument("--methods", default="all", help="comma-separated method names (default: all registered)")
    parser.add_argument("--out", type=Path, help="folder for the runs (default: a temporary folder)")
    args, train_flags = parser.parse_known_args(argv)
    names = list_methods() if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in list_methods()]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(list_methods())}")
    out = args.out or Path(tempfile.mkdtemp(prefix="methods-"))
    out.mkdir(parents=True, exist_ok=True)

    rows = []
    for name in names:
        print(f"== {name}: training for {args.time_budget:g} s ...", file=sys.stderr, flush=True)
        rows.append(run_method(name, args.train, args.test, out / name, args.time_budget, train_flags))
        print(f"== {name}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)

    print(markdown_table(rows))
    summary = {
        "train": str(args.train),
        "test": str(args.test),
        "time_budget_s": args.time_budget,
        "flags": train_flags,
        "threads": torch.get_num_threads(),
        "results": rows,
    }
    print(json.dumps(summary))
    return 0


def run_method(name: str, train: Path, test: Path, run_dir: Path, budget: float, flags: list[str]) -> dict[str, Any]:
    """Train `name` for `budget` seconds in `run_dir`, then evaluate it; a dict of figures (or of the error)."""
    row: dict[str, Any] = {"method": name}
    command = [
        "train", "--data", str(train), "--out", str(run_dir), "--method", name,
        "--time-budget", str(budget), "--epochs", "100000", *flags,
    ]  # fmt: skip
    started = time.perf_counter()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):  # only the table is printed
        code = cli_main(command)
    row["wall_s"] = round(time.perf_counter() - started, 1)
    if not RunDir.is_run(run_dir):
        row["error"] = _last_error(stderr.getvalue()) or f"training exited with status {code}"
        return row
    run = RunDir.open(run_dir)
    config, status = run.load_config(), run.status()
    row.update(
        encoder=config.model.encoder,
        status=status.get("status"),
        steps=status.get("step"),
        train_s=round(float(status.get("time_s") or 0.0), 1),
    )
    if row["train_s"]:
        row["images_per_s"] = round(row["steps"] * config.train.batch_size / row["train_s"])
    if code != 0 or status.get("status") != "finished":
        row["error"] = status.get("message") or _last_error(stderr.getvalue())
        if not run.has_checkpoint():
            return row
    result = evaluate_run(run_dir, train, test, device=config.train.device)
    for key in ("knn_top1", "linear_top1", "knn_top1_untrained", "knn_top1_raw", "effective_rank", "std"):
        row[key] = round(float(result[key]), 4)
    row["representation"] = result["representation"]
    return row


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for row in rows:
        cells = [_cell(row.get(key)) for key, _ in COLUMNS]
        if row.get("error"):
            cells[-1] = f"failed: {row['error']}"
        lines.append("| " + " | ".join(cells) + " |")
    raw = next((r["knn_top1_raw"] for r in rows if "knn_top1_raw" in r), None)
    if raw is not None:
        lines.append(f"\nRaw pixels, kNN top-1: {raw:.4f}.")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if value <= 1 else f"{value:g}"
    return str(value)


def _last_error(text: str) -> str:
    errors = [line.removeprefix("error: ") for line in text.splitlines() if line.startswith("error:")]
    return errors[-1] if errors else ""


if __name__ == "__main__":
    sys.exit(main())
