"""The run folder made read-only, or deleted, while training: one sentence and a clean stop (no traceback, no
hang, the lock released); a deleted run is not made again. Root ignores permissions, so there the read-only file
system is injected (EROFS at the file creation, where the kernel would raise it); elsewhere chmod is used as well."""

from __future__ import annotations

import errno
import os
import shutil
import threading

import pytest

from tests.engine.test_fit import tiny_config
from workbench.cli import main
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.engine.runs import LOCK_OWNER_FILE, RunDir
from workbench.errors import TrainingError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def config(folder, steps=8):
    c = tiny_config(folder, max_steps=steps, checkpoint_every_s=1e-6, monitor_every_epochs=0)
    c.data.image_size = 16
    return c


class AtStep(NullReporter):
    def __init__(self, step: int, action):
        self.at, self.action = step, action

    def step(self, report) -> None:
        if report.step == self.at:
            self.action()


def read_only_from_now(monkeypatch, folder):
    """From the call on, creating a file under `folder` fails as on a read-only file system."""
    real = os.open
    inside = str(folder)

    def refuse(path, flags, *args, **kwargs):
        if str(path).startswith(inside) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, flags, *args, **kwargs)

    return lambda: monkeypatch.setattr(os, "open", refuse)


@pytest.mark.parametrize("how", ["injected", "chmod"])
def test_a_run_folder_made_read_only_stops_in_one_sentence(image_folder, tmp_path, monkeypatch, how):
    run = tmp_path / "run"
    if how == "chmod":
        if os.name == "nt" or os.geteuid() == 0:
            pytest.skip("permissions bind neither root nor Windows here; the 'injected' case covers it")
        action = lambda: [p.chmod(0o555) for p in (run, run / "checkpoints")]  # noqa: E731
    else:
        action = read_only_from_now(monkeypatch, run)
    try:
        with pytest.raises(TrainingError) as raised:
            fit(config(image_folder), run, reporter=AtStep(3, action))
    finally:
        monkeypatch.undo()
        for p in (run, run / "checkpoints"):
            p.chmod(0o755)
    text = str(raised.value)
    reason = "the file system is read-only" if how == "injected" else "permission denied"
    assert f"cannot be written: {reason}, so training stopped; make the run folder writable again and resume" in text
    assert "\n" not in text
    assert not (run / LOCK_OWNER_FILE).exists() or how == "injected"  # released (the owner file stays if read-only)
    assert fit(config(image_folder), run, resume=True).step == 8  # writable again: it resumes


def test_a_deleted_run_folder_stops_in_one_sentence_and_is_not_made_again(image_folder, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as raised:
        fit(config(image_folder), run, reporter=AtStep(3, lambda: shutil.rmtree(run)))
    text = str(raised.value)
    assert text.startswith(f"'{run}{os.sep}") and text.endswith(
        "' cannot be written: the run folder was deleted or moved, so training stopped."
    ), text
    assert not run.exists()


def test_the_cli_stops_cleanly_when_the_run_folder_is_deleted(image_folder, tmp_path, capsys):
    run = tmp_path / "run"

    def delete_when_training():
        while not (RunDir(run).metrics_path.is_file() and RunDir(run).metrics_path.stat().st_size > 80):
            if done.is_set():
                return
            done.wait(0.01)
        while run.exists() and not done.is_set():  # training may add a file meanwhile ("directory not empty")
            shutil.rmtree(run, ignore_errors=True)

    done = threading.Event()
    deleter = threading.Thread(target=delete_when_training)
    deleter.start()
    args = ["train", "--data", str(image_folder), "--out", str(run), "--max-steps", "100000", "--epochs", "100000"]
    args += ["--batch-size", "8", "--encoder", "small-cnn", "--image-size", "16", "--workers", "0", "--device", "cpu"]
    try:
        code = main(args)
    finally:
        done.set()
        deleter.join()
    err = capsys.readouterr().err  # the progress, then the sentence
    last = err.splitlines()[-1]
    assert code == 2 and last.startswith("error: '") and "the run folder was deleted or moved" in last, err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not run.exists()
