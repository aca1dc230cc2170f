"""load_images: decode once, reuse the disk cache, survive a hostile folder without touching it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile_folder import HOSTILE_BAD, HOSTILE_GOOD, folder_fingerprint, make_hostile_folder, noise

from workbench.data import ImageSet, default_cache_dir, load_images, scan_folder
from workbench.data import cache as cache_module
from workbench.errors import Cancelled, DataError, OutsideImageFolderError


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the loader decodes (the cache must make this list short)."""
    calls: list[str] = []
    real = cache_module._decode.decode_with_info

    def counting(path, size):
        calls.append(Path(path).name)
        return real(path, size)

    monkeypatch.setattr(cache_module._decode, "decode_with_info", counting)
    return calls


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


@pytest.mark.parametrize("workers", [0, 2])
def test_hostile_folder_decodes_the_good_reports_the_bad_and_touches_nothing(tmp_path: Path, workers: int) -> None:
    root = make_hostile_folder(tmp_path / "hostile")
    before = folder_fingerprint(root)
    data = load_images(root, 16, cache_dir=tmp_path / "cache", workers=workers)
    assert data.paths == HOSTILE_GOOD  # hidden files, notes.txt and the symlink loop never show up
    assert data.images.shape == (len(HOSTILE_GOOD), 3, 16, 16)
    assert data.images.dtype == torch.uint8 and data.images.is_contiguous()
    reasons = {s.path: s.reason for s in data.report.skipped}
    assert set(reasons) == set(HOSTILE_BAD)
    for name, fragment in HOSTILE_BAD.items():
        assert fragment in reasons[name]
    assert data.report.paths == data.paths and data.report.sizes["16x16"] >= 7 and data.report.sizes["20x40"] == 1
    assert data.class_names == ["sub"] and list(data.labels) == [-1] * 8 + [0, 0]
    exif = data.images[data.paths.index("exif6.jpg")].int()  # (3, 16, 16), rotated: red on top, blue below
    assert exif[0, :4].float().mean() > 200 and exif[2, -4:].float().mean() > 200
    assert folder_fingerprint(root) == before  # byte-identical, no new files, links intact


def test_disk_cache_hit_decodes_nothing(image_folder: Path, tmp_path: Path, count_decodes: list[str]) -> None:
    cache = tmp_path / "cache"
    first = load_images(image_folder, 16, cache_dir=cache, workers=0)
    assert len(count_decodes) == 16
    count_decodes.clear()
    second = load_images(image_folder, 16, cache_dir=cache, workers=0)
    assert count_decodes == []
    assert torch.equal(first.images, second.images) and second.paths == first.paths
    assert np.array_equal(second.labels, first.labels) and second.labels.dtype == np.int64
    assert second.report.sizes == {"32x32": 16} and second.report.formats == {"PNG": 16}
    load_images(image_folder, 8, cache_dir=cache, workers=0)  # another size is another cache
    assert len(count_decodes) == 16


def test_broken_files_are_cached_as_broken(tmp_path: Path, count_decodes: list[str]) -> None:
    root = make_hostile_folder(tmp_path / "hostile")
    load_images(root, 8, cache_dir=tmp_path / "cache", workers=0)
    count_decodes.clear()
    again = load_images(root, 8, cache_dir=tmp_path / "cache", workers=0)
    assert count_decodes == []
    assert {s.path for s in again.report.skipped} == set(HOSTILE_BAD)


def test_changed_added_and_removed_files(image_folder: Path, tmp_path: Path, count_decodes: list[str]) -> None:
    cache = tmp_path / "cache"
    first = load_images(image_folder, 16, cache_dir=cache, workers=0)
    target = image_folder / "circle" / "003.png"
    old_mtime = target.stat().st_mtime_ns
    noise(32, seed=99).save(target)
    os.utime(target, ns=(old_mtime + 5_000_000_000, old_mtime + 5_000_000_000))
    noise(32, seed=7).save(image_folder / "square" / "new.png")
    (image_folder / "square" / "000.png").unlink()
    count_decodes.clear()
    second = load_images(image_folder, 16, cache_dir=cache, workers=0)
    assert sorted(count_decodes) == ["003.png", "new.png"]
    assert len(second) == 16 and "square/000.png" not in second.paths and "square/new.png" in second.paths
    i_old, i_new = first.paths.index("circle/003.png"), second.paths.index("circle/003.png")
    assert not torch.equal(first.images[i_old], second.images[i_new])
    j = second.paths.index("circle/004.png")
    assert torch.equal(first.images[first.paths.index("circle/004.png")], second.images[j])
    count_decodes.clear()
    load_images(image_folder, 16, cache_dir=cache, workers=0)
    assert count_decodes == []  # the rewritten cache is complete


def test_cache_dir_inside_the_image_folder_is_refused(image_folder: Path) -> None:
    for inside in (image_folder, image_folder / "circle" / "cache"):
        with pytest.raises(OutsideImageFolderError, match=r"^The cache folder '.*' is inside the image folder '.*'"):
            load_images(image_folder, 8, cache_dir=inside)
    assert not (image_folder / "circle" / "cache").exists()


@pytest.mark.parametrize("victim", ["json", "npy"])
def test_corrupt_cache_is_ignored_and_rebuilt(
    image_folder: Path, tmp_path: Path, count_decodes: list[str], victim: str
) -> None:
    cache = tmp_path / "cache"
    first = load_images(image_folder, 16, cache_dir=cache, workers=0)
    (file,) = [p for p in cache.iterdir() if p.suffix == f".{victim}"]
    file.write_bytes(file.read_bytes()[:100])  # cut short, as after a crash or a full disk
    count_decodes.clear()
    second = load_images(image_folder, 16, cache_dir=cache, workers=0)
    assert len(count_decodes) == 16 and torch.equal(first.images, second.images)
    count_decodes.clear()
    load_images(image_folder, 16, cache_dir=cache, workers=0)
    assert count_decodes == []  # rebuilt
    assert len([n for n in cache_files(cache) if n.endswith(".npy")]) == 1  # the old rows file was removed


def test_without_cache_dir_nothing_is_written(image_folder: Path, tmp_path: Path) -> None:
    before = folder_fingerprint(tmp_path)
    data = load_images(image_folder, 8, workers=2)
    assert isinstance(data, ImageSet) and len(data) == 16 and data.has_labels
    assert folder_fingerprint(tmp_path) == before


def test_all_files_broken_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_text("text")
    with pytest.raises(DataError) as e:
        load_images(tmp_path, 8, workers=0)
    assert str(e.value) == (
        f"Folder '{tmp_path.resolve()}' has no readable images: all 2 image files were skipped "
        "(first: a.png: empty file (0 bytes))."
    )


def test_should_stop_cancels_and_progress_reaches_total(image_folder: Path) -> None:
    calls: list[tuple[int, int]] = []
    load_images(image_folder, 8, workers=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (16, 16) and all(t == 16 and 0 <= d <= 16 for d, t in calls)
    polls = []
    with pytest.raises(Cancelled):
        load_images(image_folder, 8, workers=2, should_stop=lambda: polls.append(1) or len(polls) > 3)


def test_given_report_is_used_and_not_modified(tmp_path: Path) -> None:
    root = make_hostile_folder(tmp_path / "hostile")
    report = scan_folder(root)
    n_paths = len(report.paths)
    data = load_images(root, 8, workers=0, report=report)
    assert len(report.paths) == n_paths and report.sizes == {}
    assert len(data.report.paths) == n_paths - len(HOSTILE_BAD)
    with pytest.raises(ValueError, match="report is for"):
        load_images(tmp_path, 8, report=report)


def test_bad_arguments(image_folder: Path) -> None:
    with pytest.raises(ValueError, match="image_size must be >= 1, got 0"):
        load_images(image_folder, 0)
    with pytest.raises(ValueError, match="workers must be >= 0, got -1"):
        load_images(image_folder, 8, workers=-1)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG applies to Linux and other Unixes")
def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "ssl-workbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "ssl-workbench"
