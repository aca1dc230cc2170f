"""Fault injection: how many faults of each kind a tiny training run meets, how many runs recover, how many bytes
are lost (goal: 0) and which messages the user sees. The CI tests in tests/faults/ do the same with fewer faults.

    python benchmarks/faults.py [--kills 50] [--repeats 3]

Kinds: kill -9 at random moments / inside a checkpoint write / inside a metrics row (forked training processes,
resumed until done; final weights compared with an uninterrupted run), a full disk (ENOSPC injected) at a checkpoint
and at a metrics row (then resumed with space again), at the embeddings cache and at an export, image files changed
during training and before Explore, the run folder made read-only (EROFS injected) or deleted
mid-run, a second writer and a stale lock, hostile run folders (7 cases x train --resume / eval / embed) and exports
through symbolic links into the image folder. "Recovered": the run ends with the uninterrupted run's weights (or,
for refusals, the user got one sentence and nothing was written). Not a timing benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tests.conftest import write_class_folder  # noqa: E402
from tests.faults import killing  # noqa: E402
from workbench import files  # noqa: E402
from workbench.cli import main as cli  # noqa: E402
from workbench.engine import runs  # noqa: E402
from workbench.engine.fit import fit  # noqa: E402
from workbench.engine.report import NullReporter  # noqa: E402
from workbench.engine.runs import LOCK_OWNER_FILE, RunDir  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402


@dataclass
class Row:
    injected: int = 0
    recovered: int = 0
    bytes_lost: int = 0
    messages: set[str] = field(default_factory=set)


def same_weights(a: Path, b: Path) -> bool:
    x = torch.load(RunDir(a).checkpoint_path(), weights_only=True)["model"]
    y = torch.load(RunDir(b).checkpoint_path(), weights_only=True)["model"]
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def short(message: str, root: Path) -> str:
    """A message with the temporary paths and try numbers taken out, so equal messages count once."""
    return re.sub(r"-\d+/", "-N/", message.replace(str(root), "…"))


def kill_rows(rows, data: Path, work: Path, kills: int, seed: int, reference: Path) -> int:
    """One run killed up to `kills` times and resumed to its end; the kills made (fewer when it finished first)."""
    config = killing.kill_config(data, max_steps=24)
    out = work / f"killed-{seed}"
    tally = killing.kill_loop(config, out, kills, seed=seed, max_delay_s=0.5)
    ok = tally.finished and same_weights(out, reference) and killing.logged_steps(out) == list(range(1, 25))
    for kind in killing.KINDS:
        row = rows[f"kill -9 ({kind})"]
        row.injected += tally.kills[kind]
        row.recovered += tally.kills[kind] if ok else 0
    row = rows["kill -9 (time)"]
    row.bytes_lost += tally.torn_bytes
    if tally.stale_locks:
        row.messages.add("Took over the lock of run '…' left by pid P on host H, which stopped without releasing it")
    print(f"  kill loop {seed}: {tally}", flush=True)
    return sum(tally.kills.values())


class AtStep(NullReporter):
    def __init__(self, step, action):
        self.at, self.action = step, action

    def step(self, report):
        if report.step == self.at:
            self.action()


FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
REAL_WRITE, REAL_OPEN, REAL_OS_OPEN = runs.atomic_write_bytes, open, os.open


def full_at_nth_checkpoint(n: int):
    """runs.atomic_write_bytes that gets half of the n-th checkpoint onto the disk, then ENOSPC."""
    count = 0

    def write(path, blob):
        nonlocal count
        count += 1
        if count == n:
            with files.atomic_writer(path) as f:
                f.write(bytes(blob)[: len(blob) // 2])
                raise FULL
        return REAL_WRITE(path, blob)

    return write


class _FullFile:
    def __init__(self, f):
        self.f = f

    def write(self, text):
        raise FULL

    def __getattr__(self, name):
        return getattr(self.f, name)


def full_metrics_open(metrics: Path):
    def fake_open(path, mode="r", *args, **kwargs):
        f = REAL_OPEN(path, mode, *args, **kwargs)
        return _FullFile(f) if "a" in mode and Path(path) == metrics else f

    return fake_open


def read_only(folder: Path):
    def refuse(path, flags, *args, **kwargs):
        if str(path).startswith(str(folder)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return REAL_OS_OPEN(path, flags, *args, **kwargs)

    return refuse


class StopAfter(NullReporter):
    def __init__(self, steps):
        self.steps, self.seen = steps, 0

    def step(self, report):
        self.seen = report.step

    def should_stop(self):
        return self.seen >= self.steps


def disk_full_rows(rows, data: Path, work: Path, reference: Path, repeats: int, rng: random.Random) -> None:
    config = killing.kill_config(data, max_steps=24)
    for i in range(repeats):
        for kind in ("checkpoint", "metrics row"):
            out = work / f"full-{kind[0]}-{i}"
            at = rng.randint(2, 20)
            row = rows[f"disk full ({kind})"]
            row.injected += 1
            before = None
            try:
                if kind == "checkpoint":
                    runs.atomic_write_bytes = full_at_nth_checkpoint(at)
                else:
                    fit(config, out, reporter=StopAfter(at))  # some rows first; the disk fills at the next one
                    before = RunDir(out).checkpoint_path().read_bytes()
                    runs.open = full_metrics_open(RunDir(out).metrics_path)
                fit(config, out, resume=RunDir.is_run(out))
            except WorkbenchError as exc:
                row.messages.add(short(str(exc), work))
            finally:
                runs.atomic_write_bytes = REAL_WRITE
                runs.__dict__.pop("open", None)
            if before is not None and RunDir(out).checkpoint_path().read_bytes() != before:
                row.bytes_lost += len(before)
            fit(config, out, resume=True)
            row.recovered += same_weights(out, reference)


def folder_rows(rows, data: Path, work: Path, reference: Path, repeats: int, rng: random.Random) -> None:
    config = killing.kill_config(data, max_steps=24)
    for i in range(repeats):
        out = work / f"readonly-{i}"
        row = rows["run folder read-only"]
        row.injected += 1
        try:
            fit(config, out, reporter=AtStep(rng.randint(1, 20), lambda o=out: setattr(os, "open", read_only(o))))
        except WorkbenchError as exc:
            row.messages.add(short(str(exc), work))
        finally:
            os.open = REAL_OS_OPEN
        fit(config, out, resume=True)
        row.recovered += same_weights(out, reference)

        out = work / f"deleted-{i}"
        row = rows["run folder deleted"]
        row.injected += 1
        try:
            fit(config, out, reporter=AtStep(rng.randint(1, 20), lambda o=out: delete_folder(o)))
        except WorkbenchError as exc:
            row.messages.add(short(str(exc), work))
            row.recovered += not out.exists()  # a clean stop that leaves no half run folder behind


def delete_folder(folder: Path) -> None:
    """rmtree until the folder is gone: the TensorBoard writer's thread may add a file while it runs."""
    while folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def _train_forever(config, out):
    torch.set_num_threads(1)
    fit(config, out)


def writers_rows(rows, data: Path, work: Path) -> None:
    config = killing.kill_config(data, max_steps=100_000)
    out = work / "two-writers"
    first = multiprocessing.get_context("fork").Process(target=_train_forever, args=(config, out))
    first.start()
    killing.wait_until(lambda: (out / LOCK_OWNER_FILE).is_file() and RunDir(out).metrics_path.is_file())
    row = rows["second writer"]
    row.injected += 1
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli(["train", "--out", str(out), "--resume", "--max-steps", "100000"])
    row.recovered += code == 2 and first.is_alive()
    row.messages.add(short(err.getvalue().strip().splitlines()[-1], work).replace(str(first.pid), "P"))
    os.kill(first.pid, signal.SIGKILL)
    first.join()
    row = rows["stale lock (holder killed)"]
    row.injected += 1
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        steps = max(killing.logged_steps(out))
        code = cli(["train", "--out", str(out), "--resume", "--max-steps", str(steps + 2)])
    row.recovered += code == 0
    lines = text.getvalue().splitlines()
    row.messages.update(short(m, work).replace(str(first.pid), "P") for m in lines if "Took over the lock" in m)


def hostile_rows(rows, data: Path, work: Path) -> None:
    from tests.faults.test_hostile_runs import CASES

    config = killing.kill_config(data, max_steps=2)
    base = work / "hostile-base"
    fit(config, base)
    for case, (mutate, _) in CASES.items():
        run = shutil.copytree(base, work / f"hostile-{case.replace(' ', '-')}")
        mutate(run)
        row = rows[f"hostile: {case}"]
        for argv in (
            ["train", "--out", str(run), "--resume", "--max-steps", "4"],
            ["eval", str(run), "--train", str(data), "--test", str(data), "--device", "cpu"],
            ["embed", str(run), "--data", str(data), "--out", str(work / "e.npz"), "--device", "cpu"],
        ):
            row.injected += 1
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli(argv)
            last = err.getvalue().strip().splitlines()[-1]
            row.recovered += code == 2 and last.startswith("error: ") and "Traceback" not in err.getvalue()
            row.messages.add(short(last, work))
        row.bytes_lost += (work / "pwned").exists()


def symlink_rows(rows, data: Path, work: Path) -> None:
    import numpy as np

    from workbench.errors import OutsideImageFolderError
    from workbench.results.embeddings import Embedding
    from workbench.results.export import save_embeddings_csv, save_embeddings_npz

    paths = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    emb = Embedding(data, paths, np.zeros(len(paths), np.int64), [], np.zeros((len(paths), 2), np.float32), "raw")
    links = work / "links"
    links.mkdir()
    (links / "folder").symlink_to(data, target_is_directory=True)
    (links / "file.npz").symlink_to(data / "file.npz")
    row = rows["export through a symlink"]
    for target, save in ((links / "folder/e.npz", save_embeddings_npz), (links / "folder/e.csv", save_embeddings_csv),
                         (links / "file.npz", save_embeddings_npz)):  # fmt: skip
        row.injected += 1
        try:
            save(target, emb)
        except OutsideImageFolderError as exc:
            row.recovered += 1
            row.messages.add(short(str(exc), work))
    row.bytes_lost += sum(p.stat().st_size for p in data.rglob("e.*"))


def run_link_rows(rows, data: Path, work: Path) -> None:
    """A run folder that is, or holds, a link into the image folder: refused before anything is written."""
    from workbench.errors import OutsideImageFolderError

    def image_bytes() -> dict[str, bytes]:
        return {p.relative_to(data).as_posix(): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}

    before = image_bytes()
    config = killing.kill_config(data, max_steps=2)
    row = rows["run folder linked into the image folder"]
    linked_run = work / "linked-run"
    linked_run.symlink_to(data / "circle", target_is_directory=True)
    inside = work / "run-with-link"
    fit(config, inside)
    shutil.rmtree(RunDir(inside).checkpoints)
    RunDir(inside).checkpoints.symlink_to(data, target_is_directory=True)
    for out, resume in ((linked_run, False), (inside, True), (work / "run-new-link", False)):
        if out.name == "run-new-link":
            out.mkdir()
            RunDir(out).metrics_path.symlink_to(data / runs.METRICS_FILE)  # dangling: training would create it there
        row.injected += 1
        try:
            fit(config, out, resume=resume)
        except OutsideImageFolderError as exc:
            row.recovered += 1
            row.messages.add(short(str(exc), work))
    after = image_bytes()
    row.bytes_lost += sum(len(v) for k, v in after.items() if before.get(k) != v)


def images_gone_rows(rows, data: Path, work: Path) -> None:
    """Images deleted between a stop and a resume: the resume says how many are gone and trains on."""
    folder = shutil.copytree(data, work / "images-gone")
    out = work / "run-images-gone"
    fit(killing.kill_config(folder, max_steps=2), out)
    for path in sorted(folder.rglob("*.png"))[:3]:
        path.unlink()
    seen: list[str] = []
    reporter = NullReporter()
    reporter.message = seen.append
    row = rows["images deleted before a resume"]
    row.injected += 1
    result = fit(killing.kill_config(folder, max_steps=4), out, resume=True, reporter=reporter)
    said = [m for m in seen if "are gone; training goes on with" in m]
    row.recovered += bool(said) and result.status == "finished" and result.step == 4
    row.messages.update(short(m, work) for m in said)


def images_rows(rows, data: Path, work: Path, reference: Path) -> None:
    from tests.faults.test_images_change import damage
    from workbench.results.embeddings import compute_embeddings

    folder = shutil.copytree(data, work / "images-changing")
    out = work / "images-changed"
    row = rows["images deleted/truncated/replaced while training"]
    fit(killing.kill_config(folder, max_steps=24), out, reporter=AtStep(5, lambda: damage(folder)))
    row.injected += 5
    row.recovered += 5 * same_weights(out, reference)
    row = rows["images deleted/truncated/replaced before Explore"]
    emb = compute_embeddings(out, folder, device="cpu")
    row.injected += 5
    row.recovered += len(emb.skipped) * (len(emb) == 11)
    row.messages.add(short(emb.skipped_note(), work))


def cache_and_export_rows(rows, data: Path, work: Path, reference: Path) -> None:
    from workbench.results.embeddings import compute_embeddings
    from workbench.results.export import save_embeddings_npz

    messages = []
    reporter = NullReporter()
    reporter.message = messages.append
    real = files.os.fsync

    def no_space(fd):
        raise FULL

    files.os.fsync = no_space
    try:
        emb = compute_embeddings(reference, data, device="cpu", reporter=reporter)
        row = rows["disk full (embeddings cache)"]
        row.injected += 1
        row.recovered += len(emb) == 16 and emb.key == ""
        row.messages.update(short(m, work) for m in messages if "not cached" in m)
        row = rows["disk full (export)"]
        row.injected += 1
        try:
            save_embeddings_npz(work / "exports" / "e.npz", emb)
        except WorkbenchError as exc:
            row.recovered += not (work / "exports" / "e.npz").exists()
            row.messages.add(short(str(exc), work))
    finally:
        files.os.fsync = real
    row.bytes_lost += sum(p.stat().st_size for p in (work / "exports").glob(".*.tmp"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="kill -9 faults in all (in loops of 10)")
    parser.add_argument("--repeats", type=int, default=3, help="faults of each other kind")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(0)
    rows: dict[str, Row] = defaultdict(Row)
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        work = Path(tmp)
        data = write_class_folder(work / "images", per_class=8, size=16)
        reference = work / "reference"
        fit(killing.kill_config(data, max_steps=24), reference)
        killed, seed = 0, 0
        # a run may finish before its last kill: another run takes the rest
        while killed < args.kills and seed <= args.kills:
            killed += kill_rows(rows, data, work, min(10, args.kills - killed), seed, reference)
            seed += 1
        disk_full_rows(rows, data, work, reference, args.repeats, rng)
        cache_and_export_rows(rows, data, work, reference)
        folder_rows(rows, data, work, reference, args.repeats, rng)
        writers_rows(rows, data, work)
        hostile_rows(rows, data, work)
        symlink_rows(rows, data, work)
        run_link_rows(rows, data, work)
        images_gone_rows(rows, data, work)
        images_rows(rows, data, work, reference)
    print("\n| fault | injected | recovered | bytes lost |")
    print("|---|---:|---:|---:|")
    for kind, row in rows.items():
        print(f"| {kind} | {row.injected} | {row.recovered} | {row.bytes_lost} |")
    print("\nmessages seen:")
    for kind, row in rows.items():
        for message in sorted(row.messages):
            print(f"- {kind}: {message}")


if __name__ == "__main__":
    main()
