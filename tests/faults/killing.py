"""Killing a training process with SIGKILL at chosen or random moments, then resuming it: the machinery of
tests/faults/test_kill.py (5 kills) and benchmarks/faults.py (50).

Each try is a forked child process (the parent has torch loaded already, so a try costs milliseconds, not an
import) that trains the run folder, resuming when it is a run, and is killed:
- "time": by the parent, at a random moment: a random delay after the start (data loading, building the model), or
  a random fraction of a step after a random metrics row (inside a step, a checkpoint or the next row);
- "checkpoint": by itself, half-way through writing the n-th checkpoint (half the bytes in the temporary file);
- "metrics": by itself, half-way through the n-th metrics.csv row (half a line on disk, no newline).
The self-kills patch the child's own copy of the module functions: nothing in the product knows about faults.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from workbench import files
from workbench.config import ExperimentConfig
from workbench.engine import runs
from workbench.engine.runs import LOCK_OWNER_FILE, RunDir

KINDS = ("time", "checkpoint", "metrics")


def kill_config(data: Path, max_steps: int = 16) -> ExperimentConfig:
    """A run that checkpoints after every step (so kills land in checkpoint writes often) on a tiny folder."""
    config = ExperimentConfig()
    config.data.path = str(data)
    config.data.image_size = 16
    config.model.encoder = "small-cnn"
    config.method.proj_hidden_dim = 32
    config.method.proj_output_dim = 16
    config.train.batch_size = 8
    config.train.max_steps = max_steps
    config.train.epochs = 1000
    config.train.workers = 0
    config.train.device = "cpu"
    config.train.precision = "fp32"  # two fresh runs compared bit for bit: see tests/engine/test_fit.py
    config.train.checkpoint_every_s = 1e-6  # `last` after every step
    config.train.checkpoint_every_epochs = 0
    config.train.monitor_every_epochs = 0
    return config


@dataclass
class Kill:
    kind: str  # one of KINDS
    at: float  # "time": seconds after the start (or after row `after_row`); else the n-th checkpoint write / row
    after_row: int | None = None  # "time": wait for this step's metrics row first


@dataclass
class Tally:
    """What a kill loop saw."""

    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    tries: int = 0  # child processes started (kills and the last, finishing one)
    finished: bool = False
    stale_locks: int = 0  # lock owner files left by a killed process, taken over by the next one
    torn_files: list[str] = field(default_factory=list)  # checkpoints that did not load after a kill (goal: none)
    torn_bytes: int = 0
    leftover_temporaries: int = 0  # temporary files of killed writes still there after the run finished
    steps_redone: int = 0  # steps done twice: logged after the last checkpoint before a kill (the price of a kill)


def _child(config: ExperimentConfig, out: Path, kill: Kill | None) -> None:
    torch.set_num_threads(1)
    if kill is not None and kill.kind == "checkpoint":
        _kill_in_nth_checkpoint(int(kill.at))
    elif kill is not None and kill.kind == "metrics":
        _kill_in_nth_metrics_row(int(kill.at))
    from workbench.engine.fit import fit

    fit(config, out, resume=RunDir.is_run(out))


def _kill_in_nth_checkpoint(n: int) -> None:
    real = runs.atomic_write_bytes
    count = 0

    def write(path, data):
        nonlocal count
        if Path(path).suffix == ".pt":
            count += 1
            if count == n:
                with files.atomic_writer(path) as f:
                    f.write(bytes(data)[: len(data) // 2])
                    f.flush()
                    os.fsync(f.fileno())
                    os.kill(os.getpid(), signal.SIGKILL)
        return real(path, data)

    runs.atomic_write_bytes = write


def _kill_in_nth_metrics_row(n: int) -> None:
    real = RunDir.append_metrics
    count = 0

    def append(self, row):
        nonlocal count
        count += 1
        if count == n:
            line = ",".join(str(runs._fmt(v)) for v in row.values())
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(line[: max(1, len(line) // 2)])
                f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, row)

    RunDir.append_metrics = append


def train_once(config: ExperimentConfig, out: Path, kill: Kill | None, timeout_s: float = 120) -> int:
    """One child process; returns its exit code (-9 when killed)."""
    process = multiprocessing.get_context("fork").Process(target=_child, args=(config, out, kill))
    process.start()
    if kill is not None and kill.kind == "time":
        if kill.after_row is not None:
            while process.is_alive() and max(logged_steps(out), default=0) < kill.after_row:
                time.sleep(0.002)
        process.join(kill.at)
        if process.exitcode is None:
            os.kill(process.pid, signal.SIGKILL)
    process.join(timeout_s)
    if process.exitcode is None:
        process.kill()
        process.join()
        raise AssertionError(f"the training process hung (more than {timeout_s} s)")
    return process.exitcode


def last_checkpoint_step(out: Path) -> int:
    path = RunDir(out).checkpoint_path("last")
    if not path.is_file():
        return 0
    return int(torch.load(path, weights_only=True)["position"]["step"])


def logged_steps(out: Path) -> list[int]:
    """The steps of metrics.csv's complete rows (a torn last line is left out, as the readers do)."""
    path = RunDir(out).metrics_path
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text[: text.rfind("\n") + 1].splitlines()
    rows = list(csv.reader(lines))
    width = len(rows[0]) if rows else 0
    return [int(r[0]) for r in rows[1:] if len(r) == width]


def check_checkpoints(out: Path, tally: Tally) -> None:
    """Every checkpoint there loads as weights only (a torn file would fail here)."""
    folder = RunDir(out).checkpoints
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        try:
            torch.load(path, weights_only=True)
        except Exception:  # noqa: BLE001 - counted, and the test fails on any
            tally.torn_files.append(path.name)
            tally.torn_bytes += path.stat().st_size


def kill_loop(config: ExperimentConfig, out: Path, kills: int, seed: int = 0, max_delay_s: float = 1.5) -> Tally:
    """Train `config` in `out`, killing it `kills` times (kinds in turn, moments at random), then let it finish."""
    import random

    rng = random.Random(seed)
    tally = Tally()
    total = config.train.max_steps or 1
    for i in range(kills):
        kind = KINDS[i % len(KINDS)]
        done = last_checkpoint_step(out)
        left = max(total - done, 1)
        if kind == "time" and (left < 2 or rng.random() < 0.3):
            kill = Kill(kind, rng.uniform(0.0, max_delay_s))  # while it starts up
        elif kind == "time":
            kill = Kill(kind, rng.uniform(0.0, 0.05), after_row=rng.randint(done + 1, total - 1))
        elif kind == "checkpoint":
            kill = Kill(kind, rng.randint(1, left))  # the first write of a fresh run is init.pt, then last.pt
        else:
            kill = Kill(kind, rng.randint(1, left))
        tally.stale_locks += (out / LOCK_OWNER_FILE).is_file()
        code = train_once(config, out, kill)
        tally.tries += 1
        if code == 0:  # the random moment came after the end: nothing to kill
            tally.finished = True
            break
        assert code == -signal.SIGKILL, f"try {i + 1} ({kill}) ended with exit code {code}, not by SIGKILL"
        tally.kills[kind] += 1
        check_checkpoints(out, tally)
        tally.steps_redone += max(max(logged_steps(out), default=0) - last_checkpoint_step(out), 0)
    if not tally.finished:
        tally.stale_locks += (out / LOCK_OWNER_FILE).is_file()
        code = train_once(config, out, None)
        tally.tries += 1
        assert code == 0, f"the last, uninterrupted try ended with exit code {code}"
    tally.finished = True
    folder = RunDir(out)
    tally.leftover_temporaries = sum(1 for d in (folder.path, folder.checkpoints) for _ in d.glob(".*.tmp"))
    return tally


def wait_until(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)
