"""Image files deleted, truncated or replaced by something else: during training the decoded images (in memory, and
the disk cache) keep it going, to the weights of an untouched run; before Explore the embeddings leave the broken
and missing files out and list them with their reason, cached or not."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.engine.test_fit import tiny_config
from workbench import data as data_module
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.results.embeddings import compute_embeddings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def config(folder, cache_dir, steps=6):
    c = tiny_config(folder, max_steps=steps, monitor_every_epochs=0)
    c.data.image_size = 16
    c.data.cache_dir = str(cache_dir)
    return c


def damage(folder):
    """Two files deleted, two truncated, one replaced by text; returns their relative paths."""
    files = sorted(p for p in folder.rglob("*.png"))
    for p in files[:2]:
        p.unlink()
    for p in files[2:4]:
        p.write_bytes(p.read_bytes()[:40])
    files[4].write_text("not an image any more")
    return [p.relative_to(folder).as_posix() for p in files[:5]]


class DamageAt(NullReporter):
    def __init__(self, folder, step):
        self.folder, self.at = folder, step

    def step(self, report):
        if report.step == self.at:
            damage(self.folder)


def test_files_changed_during_training_do_not_disturb_it(image_folder, tmp_path):
    untouched = shutil.copytree(image_folder, tmp_path / "copy")
    fit(config(untouched, tmp_path / "cache-a"), tmp_path / "straight")
    fit(config(image_folder, tmp_path / "cache"), tmp_path / "run", reporter=DamageAt(image_folder, 2))
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_embeddings_leave_out_and_list_broken_and_missing_files(image_folder, tmp_path, monkeypatch):
    fit(config(image_folder, tmp_path / "cache", steps=2), tmp_path / "run")
    deleted, truncated, replaced = (lambda d: (d[:2], d[2:4], d[4]))(damage(image_folder))
    messages: list[str] = []
    reporter = NullReporter()
    reporter.message = messages.append
    emb = compute_embeddings(tmp_path / "run", image_folder, device="cpu", reporter=reporter)
    assert len(emb) == 11 and emb.features.shape[0] == 11
    reasons = dict(emb.skipped)
    assert set(reasons) == {*deleted, *truncated, replaced}
    assert all(reasons[p] == "missing: deleted or moved since training" for p in deleted)
    assert all(reasons[p] and not reasons[p].startswith("missing") for p in [*truncated, replaced]), reasons
    assert not set(emb.paths) & set(reasons)
    assert any(m.startswith("5 files could not be read and are left out: ") for m in messages), messages
    again = compute_embeddings(tmp_path / "run", image_folder, device="cpu")
    assert again.cached and again.skipped == emb.skipped  # the cache remembers what was left out
    assert torch.equal(torch.from_numpy(again.features), torch.from_numpy(emb.features))

    (image_folder / emb.paths[0]).unlink()  # gone after embedding: shown as missing, not opened
    assert emb.missing_rows() == [0]


def test_a_file_deleted_between_the_scan_and_the_decoding_is_reported_not_crashed_on(
    image_folder, tmp_path, monkeypatch
):
    fit(config(image_folder, tmp_path / "cache", steps=2), tmp_path / "run")
    real_scan = data_module.scan_folder
    victim = sorted(image_folder.rglob("*.png"))[0]

    def scan_then_delete(*args, **kwargs):
        report = real_scan(*args, **kwargs)
        victim.unlink()
        return report

    monkeypatch.setattr(data_module, "scan_folder", scan_then_delete)
    emb = compute_embeddings(tmp_path / "run", image_folder, device="cpu", use_cache=False)
    rel = victim.relative_to(image_folder).as_posix()
    assert len(emb) == 15 and rel not in emb.paths and rel in dict(emb.skipped)
