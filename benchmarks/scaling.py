"""Scaling under torchrun: time per step of the same global batch on 1 process and on N (gloo on a CPU, NCCL on GPUs),
and the share of a step that is communication. Prints a Markdown table, then one JSON line.

    .venv/bin/python benchmarks/scaling.py [--nproc 2] [--batch 256] [--steps 40] [--method simclr] [--device cpu]

Runs `workbench train` on the built-in demo data (1,000 Fashion-MNIST images, 32 px) three ways, one after the other:
1. one process, global batch B (on a CPU with N threads: the same cores as the N processes);
2. `torchrun --standalone --nproc_per_node=N`, global batch B (B / N per process, one thread each on a CPU);
3. N independent single processes at once, each with batch B / N and one thread: the same compute on the same cores
   as (2) without any communication.
Time per step is the median difference of `time_s` between consecutive rows of metrics.csv, after the first
`--warmup` steps. The communication share is 1 - t(3) / t(2): what the gathers, all-reduces and DDP's gradient
all-reduce add to a step. Measure on a quiet machine (nothing else running).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def step_time(run_dir: Path, warmup: int) -> float:
    from workbench.engine.run_summary import MetricsFollower
    from workbench.engine.runs import RunDir

    times = [float(r["time_s"]) for r in MetricsFollower(RunDir(run_dir).metrics_path).read()]
    deltas = [b - a for a, b in zip(times[warmup:], times[warmup + 1 :], strict=False)]
    return statistics.median(deltas)


def train_command(out: Path, batch: int, args: argparse.Namespace) -> list[str]:
    return ["-m", "workbench", "train", "--out", str(out), "--batch-size", str(batch), "--max-steps", str(args.steps),
            "--method", args.method, "--device", args.device, "--workers", "0"]  # fmt: skip


def run(command: list[str], threads: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait(*jobs: subprocess.Popen) -> None:
    for job in jobs:
        _, err = job.communicate()
        if job.returncode != 0:
            raise SystemExit(f"a training run failed: {err.strip()[-800:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    n, cpu = args.nproc, args.device == "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wait(run([sys.executable, *train_command(tmp / "one", args.batch, args)], n if cpu else 1))
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
        wait(run([*torchrun, *train_command(tmp / "ddp", args.batch, args)[1:]], 1))
        alone = [run([sys.executable, *train_command(tmp / f"alone{i}", args.batch // n, args)], 1) for i in range(n)]
        wait(*alone)
        one, ddp = step_time(tmp / "one", args.warmup), step_time(tmp / "ddp", args.warmup)
        compute = statistics.mean(step_time(tmp / f"alone{i}", args.warmup) for i in range(n))
    backend = "gloo" if cpu else "nccl"
    print(f"| {args.method}, global batch {args.batch}, {args.device} | time per step | images/s |")
    print("| --- | --- | --- |")
    print(f"| 1 process | {one * 1000:.0f} ms | {args.batch / one:.0f} |")
    print(f"| {n} processes ({backend}) | {ddp * 1000:.0f} ms | {args.batch / ddp:.0f} |")
    print(f"| {n} independent processes, batch {args.batch // n} each (no communication) | {compute * 1000:.0f} ms | |")
    print(
        json.dumps(
            {
                "benchmark": "scaling",
                "backend": backend,
                "nproc": n,
                "global_batch": args.batch,
                "method": args.method,
                "step_ms_one_process": round(one * 1000, 1),
                "step_ms_ddp": round(ddp * 1000, 1),
                "speedup": round(one / ddp, 3),
                "communication_share": round(max(0.0, 1 - compute / ddp), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
