"""Two writers on one run folder: while one process trains a run, another is refused in one sentence naming it (pid,
host); once the first is killed, its lock is found stale and taken over. Readers never need the lock."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket

import pytest
import torch

from tests.conftest import write_class_folder
from tests.faults.killing import kill_config, wait_until
from workbench.cli import main
from workbench.engine.lock import RunBusyError, RunLock
from workbench.engine.run_summary import read_summary
from workbench.engine.runs import LOCK_OWNER_FILE, RunDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train_forever(config, out) -> None:
    torch.set_num_threads(1)
    from workbench.engine.fit import fit

    fit(config, out)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the first writer is a forked process (POSIX)")
def test_a_second_writer_is_refused_and_a_killed_writers_lock_is_taken_over(tmp_path, capsys):
    data = write_class_folder(tmp_path / "images", per_class=4, size=16)
    out = tmp_path / "run"
    config = kill_config(data, max_steps=100_000)
    config.train.checkpoint_every_s = 60.0
    first = multiprocessing.get_context("fork").Process(target=_train_forever, args=(config, out))
    first.start()
    try:
        wait_until(lambda: (out / LOCK_OWNER_FILE).is_file() and RunDir(out).metrics_path.is_file())
        resume = ["train", "--out", str(out), "--resume", "--max-steps", "3"]
        assert main(resume) == 2
        err = capsys.readouterr().err
        expected = f"error: The run '{out}' is being trained by another process (pid {first.pid} on host "
        assert err.startswith(expected) and socket.gethostname() in err, err
        assert err.count("\n") == 1 and "Traceback" not in err  # one sentence
        assert read_summary(out).status == "running"  # readers need no lock
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.join()
    assert (out / LOCK_OWNER_FILE).is_file()  # what the killed process left behind

    steps = max(int(r.split(",")[0]) for r in RunDir(out).metrics_path.read_text().splitlines()[1:] if r[:1].isdigit())
    assert main(["train", "--out", str(out), "--resume", "--max-steps", str(steps + 2)]) == 0
    captured = capsys.readouterr()
    assert f"left by pid {first.pid} on host" in captured.out + captured.err
    assert RunDir(out).status()["status"] == "finished"
    assert not (out / LOCK_OWNER_FILE).exists()  # released at the end


def test_one_lock_per_run_even_within_a_process_and_released_for_the_next(tmp_path):
    tmp_path.joinpath("config.json").write_text("{}")
    heard: list[str] = []
    one, two = RunLock(tmp_path), RunLock(tmp_path)
    one.acquire(heard.append)
    with pytest.raises(RunBusyError, match=rf"pid {os.getpid()} on host"):
        two.acquire()
    one.release()
    two.acquire(heard.append)
    assert heard == []  # released properly: not a stale lock
    two.release()
    assert not (tmp_path / LOCK_OWNER_FILE).exists()
