"""A full disk (ENOSPC injected at the write, as no test may mount a small file system) while writing a checkpoint,
a metrics row, the embeddings cache or an export: one sentence naming the file and "no space left", the previous
checkpoint intact, and the run resumable, to the uninterrupted run's weights, once there is space again."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

from tests.engine.test_fit import tiny_config
from workbench import files
from workbench.cli import main
from workbench.engine import runs
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.engine.runs import RunDir
from workbench.errors import TrainingError
from workbench.results.embeddings import EMBEDDINGS_DIR, compute_embeddings
from workbench.results.export import ExportError, save_embeddings_npz

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def config(folder, steps=6):
    c = tiny_config(folder, max_steps=steps, checkpoint_every_s=1e-6, monitor_every_epochs=0)
    c.data.image_size = 16
    return c


def fill_disk_at_checkpoint(monkeypatch, n: int) -> None:
    """The n-th checkpoint write gets half its bytes onto the disk, then ENOSPC (inside files.atomic_writer)."""
    count = 0
    real = runs.atomic_write_bytes

    def write(path, data):
        nonlocal count
        count += 1
        if count < n:
            return real(path, data)
        with files.atomic_writer(path) as f:
            f.write(bytes(data)[: len(data) // 2])
            raise FULL

    monkeypatch.setattr(runs, "atomic_write_bytes", write)


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_stops_in_one_sentence_and_the_run_resumes_exactly(
    image_folder, tmp_path, monkeypatch
):
    fit(config(image_folder), tmp_path / "straight")
    run = tmp_path / "run"
    fill_disk_at_checkpoint(monkeypatch, 5)  # init.pt; last.pt after step 1, step 2 and its epoch end; then step 3
    with pytest.raises(TrainingError) as raised:
        fit(config(image_folder), run)
    text = str(raised.value)
    last = RunDir(run).checkpoint_path("last")
    assert text.startswith(f"'{last}' cannot be written: no space left on the device, so training stopped;"), text
    assert "resume the run, whose last checkpoint is intact" in text and "\n" not in text
    monkeypatch.undo()  # space again
    assert torch.load(last, weights_only=True)["position"]["step"] == 2  # the previous one, whole
    assert not list(RunDir(run).checkpoints.glob(".*.tmp"))  # the half-written temporary is gone
    assert RunDir(run).status()["status"] == "failed"
    assert fit(config(image_folder), run, resume=True).step == 6
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(last, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


class _FullFile:
    def __init__(self, f):
        self.f = f

    def write(self, text):
        raise FULL

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_full_disk_at_a_metrics_row_names_metrics_csv(image_folder, tmp_path, monkeypatch):
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return _FullFile(f) if "a" in mode else f

    monkeypatch.setattr(runs, "open", fake_open, raising=False)
    with pytest.raises(TrainingError, match=r"metrics\.csv' cannot be written: no space left on the device, so"):
        fit(config(image_folder), tmp_path / "run")
    monkeypatch.undo()
    assert fit(config(image_folder), tmp_path / "run", resume=True).step == 6


def test_the_cli_shows_the_sentence_and_exits_non_zero(image_folder, tmp_path, monkeypatch, capsys):
    fill_disk_at_checkpoint(monkeypatch, 2)
    args = ["train", "--data", str(image_folder), "--out", str(tmp_path / "run"), "--max-steps", "4"]
    args += ["--batch-size", "8", "--encoder", "small-cnn", "--image-size", "16", "--workers", "0", "--device", "cpu"]
    assert main(args) == 2
    err = capsys.readouterr().err  # the progress, then the sentence
    last = err.splitlines()[-1]
    assert last.startswith("error: '") and "no space left on the device, so training stopped" in last, err
    assert err.count("error:") == 1 and "Traceback" not in err


class Messages(NullReporter):
    def __init__(self):
        self.seen: list[str] = []

    def message(self, text: str) -> None:
        self.seen.append(text)


def test_a_full_disk_skips_the_embeddings_cache_and_refuses_the_export_in_one_sentence(
    image_folder, tmp_path, monkeypatch
):
    fit(config(image_folder, steps=2), tmp_path / "run")

    def no_space(fd):
        raise FULL

    monkeypatch.setattr(files.os, "fsync", no_space)  # every atomic write now fails at its fsync
    reporter = Messages()
    emb = compute_embeddings(tmp_path / "run", image_folder, reporter=reporter, device="cpu")
    assert len(emb) == 16 and emb.key == "" and np.isfinite(emb.features).all()  # computed all the same
    assert any(
        m.startswith("The embeddings were not cached: '")
        and m.endswith("cannot be written: no space left on the device.")
        for m in reporter.seen
    ), reporter.seen
    assert not list((tmp_path / "run" / EMBEDDINGS_DIR).glob("*"))  # neither a cache file nor a temporary
    target = tmp_path / "out" / "emb.npz"
    with pytest.raises(ExportError, match=r"emb\.npz' cannot be written \(no space left on the device\)\.$"):
        save_embeddings_npz(target, emb)
    assert not target.exists() and not list(target.parent.glob(".*.tmp"))
