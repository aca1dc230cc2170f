"""Whole-process wall time of 60 training steps: `workbench train` against the seed article's plain loop.

    python benchmarks/seed_speed.py FOLDER [--steps 60] [--repeats 1]

Both run as fresh processes on the same folder (start-up, imports and image reading included):
    workbench train --preset seed --encoder seed-cnn --image-size 32 --batch-size 256 --workers 2 --max-steps 60
    python benchmarks/seed_reference.py FOLDER --steps 60
The last line is one JSON object; `ratio` = seed wall time / workbench wall time (above 1: we are faster).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    ours, seed = [], []
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both alike
        with tempfile.TemporaryDirectory() as tmp:
            ours.append(
                timed(
                    [
                        sys.executable,
                        "-m",
                        "workbench",
                        "train",
                        "--data",
                        str(args.folder),
                        "--out",
                        str(Path(tmp) / "run"),
                        "--preset",
                        "seed",
                        "--encoder",
                        "seed-cnn",
                        "--image-size",
                        "32",
                        "--batch-size",
                        "256",
                        "--workers",
                        "2",
                        "--max-steps",
                        str(args.steps),
                    ]
                )
            )
        seed.append(
            timed([sys.executable, str(HERE / "seed_reference.py"), str(args.folder), "--steps", str(args.steps)])
        )
    result = {
        "steps": args.steps,
        "workbench_s": round(min(ours), 1),
        "seed_s": round(min(seed), 1),
        "ratio": round(min(seed) / min(ours), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
