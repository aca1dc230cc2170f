"""workbench.files: atomic, durable writes and the one "never inside the image folder" rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench import files
from workbench.errors import ConfigError, OutsideImageFolderError


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    files.atomic_write_text(target, "first")
    files.atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.npy"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), files.atomic_writer(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["rows.npy"]


def test_the_write_and_the_rename_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    files.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert len(synced) == (1 if os.name == "nt" else 2)  # the file, then its folder


@pytest.mark.parametrize("inside", [".", "a", "a/b/c.npz"])
def test_anything_inside_the_image_folder_is_refused(tmp_path: Path, inside: str) -> None:
    images = tmp_path / "images"
    (images / "a").mkdir(parents=True)
    with pytest.raises(OutsideImageFolderError) as info:
        files.ensure_outside(images / inside, images, "the export")
    assert str(info.value).startswith("The export '")
    assert "is inside the image folder" in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_a_sibling_folder_or_a_link_out_is_allowed_and_a_link_in_is_not(tmp_path: Path) -> None:
    images, runs = tmp_path / "images", tmp_path / "images-runs"  # a shared name prefix is not "inside"
    images.mkdir()
    runs.mkdir()
    assert files.ensure_outside(runs / "r1", images, "the run folder") == (runs / "r1").resolve()
    assert files.ensure_outside(runs, None) == runs.resolve()
    link = tmp_path / "link"
    link.symlink_to(images, target_is_directory=True)
    with pytest.raises(OutsideImageFolderError):
        files.ensure_outside(link / "run", images, "the run folder")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_a_new_file_gets_the_umask_permissions_and_a_replaced_one_keeps_its_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)  # the test's own umask, so the expected mode does not depend on the machine's
    try:
        new = files.atomic_write_text(tmp_path / "new.csv", "a")
        plain = tmp_path / "plain.csv"
        with open(plain, "w") as f:  # what a normal open() gives
            f.write("a")
    finally:
        os.umask(old)
    assert new.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o640
    kept = tmp_path / "kept.sh"
    kept.write_text("old")
    kept.chmod(0o751)
    files.atomic_write_text(kept, "new")
    assert kept.read_text() == "new" and kept.stat().st_mode & 0o777 == 0o751
    assert sorted(os.listdir(tmp_path)) == ["kept.sh", "new.csv", "plain.csv"]
