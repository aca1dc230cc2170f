"""A run folder that leads into the image folder through a symbolic link, itself or through a subfolder inside it
(checkpoints/, embeddings/, a log file), is refused at a start and at a resume before anything is written: one
sentence naming the link and the image folder, the CLI exits non-zero without a traceback, the images stay as they
were, byte for byte."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_fit import tiny_config
from workbench.engine.fit import fit
from workbench.engine.runs import CHECKPOINTS_DIR, METRICS_FILE
from workbench.errors import OutsideImageFolderError

pytestmark = [
    pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows"),
    pytest.mark.usefixtures("one_torch_thread"),
]


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry below `folder` with the digest of its bytes (folders as "dir"): equal means byte-identical."""

    def state(p: Path) -> str:
        if p.is_symlink():
            return f"link to {os.readlink(p)}"
        return "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()

    return {p.relative_to(folder).as_posix(): state(p) for p in sorted(folder.rglob("*"))}


def config(images: Path):
    c = tiny_config(images, max_steps=2, monitor_every_epochs=0)
    c.data.image_size = 16
    return c


def test_a_run_folder_linked_into_the_image_folder_is_refused(image_folder, tmp_path):
    link = tmp_path / "run"
    link.symlink_to(image_folder / "circle", target_is_directory=True)
    before = snapshot(image_folder)
    with pytest.raises(OutsideImageFolderError, match="The run folder .* is inside the image folder"):
        fit(config(image_folder), link)
    with pytest.raises(OutsideImageFolderError, match="The run folder .* is inside the image folder"):
        fit(config(image_folder), link, resume=True)
    assert snapshot(image_folder) == before


@pytest.mark.parametrize("inside", [CHECKPOINTS_DIR, "embeddings", METRICS_FILE])
def test_a_link_inside_the_run_folder_into_the_image_folder_is_refused_at_resume(image_folder, tmp_path, inside):
    run = tmp_path / "run"
    fit(config(image_folder), run)
    moved = tmp_path / "moved"
    moved.mkdir()
    if (run / inside).exists():
        (run / inside).rename(moved / inside)
    target = image_folder / "square" if inside != METRICS_FILE else image_folder / "metrics.csv"  # dangling file
    (run / inside).symlink_to(target, target_is_directory=target.is_dir())
    before = snapshot(image_folder)
    run_files = snapshot(run)
    with pytest.raises(OutsideImageFolderError) as caught:
        fit(config(image_folder), run, resume=True)
    text = str(caught.value)
    assert f"'{run / inside}' in the run folder is a link into the image folder '{image_folder}'" in text
    assert snapshot(image_folder) == before
    assert snapshot(run) == run_files  # not even the lock was taken


def test_the_cli_refuses_a_linked_checkpoints_folder_in_one_sentence(image_folder, tmp_path):
    run = tmp_path / "run"
    fit(config(image_folder), run)
    (run / CHECKPOINTS_DIR).rename(tmp_path / "old-checkpoints")
    (run / CHECKPOINTS_DIR).symlink_to(image_folder / "circle", target_is_directory=True)
    before = snapshot(image_folder)
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "train", "--out", str(run), "--resume", "--max-steps", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert f"is a link into the image folder '{image_folder}'" in done.stderr + done.stdout
    assert snapshot(image_folder) == before


def test_a_link_inside_the_run_folder_to_elsewhere_is_fine(image_folder, tmp_path):
    run = tmp_path / "run"
    fit(config(image_folder), run)
    (run / CHECKPOINTS_DIR).rename(tmp_path / "elsewhere")
    (run / CHECKPOINTS_DIR).symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    c = config(image_folder)
    c.train.max_steps = 3
    assert fit(c, run, resume=True).step == 3
    assert (tmp_path / "elsewhere" / "last.pt").is_file()
