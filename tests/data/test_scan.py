"""scan_folder: what a user's folder is turned into (paths, labels, skipped) and every refusal sentence."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hostile_folder import can_symlink, make_hostile_folder, noise

from workbench.data import ScanReport, SkippedFile, scan_folder
from workbench.errors import Cancelled, DataError


def touch_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise(4).save(path, "PNG")


def test_recursive_case_insensitive_sorted_and_labelled(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for rel in ["b/x/y/deep.png", "a/1.PNG", "a/2.JpEg", "b/z.webp", "top.Tif", "a/0.gif"]:
        touch_png(root / rel)
    (root / "c").mkdir()
    (root / "c" / "readme.txt").write_text("no images here")
    report = scan_folder(root)
    assert report.root == str(root.resolve())
    assert report.paths == ["a/0.gif", "a/1.PNG", "a/2.JpEg", "b/x/y/deep.png", "b/z.webp", "top.Tif"]
    assert report.class_names == ["a", "b"]  # "c" holds no images: not a class
    assert report.labels == [0, 0, 0, 1, 1, -1]  # root-level image is unlabelled
    assert report.has_labels
    assert report.formats == {"GIF": 1, "JPEG": 1, "PNG": 2, "TIFF": 1, "WEBP": 1}
    assert scan_folder(root).paths == report.paths  # deterministic


def test_flat_folder_has_no_labels(tmp_path: Path) -> None:
    for i in range(3):
        touch_png(tmp_path / f"{i}.png")
    report = scan_folder(tmp_path)
    assert report.class_names == [] and not report.has_labels
    assert report.labels == [-1, -1, -1]


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    touch_png(tmp_path / "cls" / "ok.png")
    touch_png(tmp_path / "cls" / ".hidden.png")
    touch_png(tmp_path / ".cache" / "thumb.png")
    touch_png(tmp_path / "cls" / ".git" / "x.png")
    report = scan_folder(tmp_path)
    assert report.paths == ["cls/ok.png"]
    assert report.skipped == []


def test_symlink_loop_terminates_and_linked_folder_is_followed_once(tmp_path: Path) -> None:
    if not can_symlink(tmp_path):
        pytest.skip("symlinks not available")
    outside = tmp_path / "outside"
    touch_png(outside / "o.png")
    root = tmp_path / "root"
    touch_png(root / "a" / "1.png")
    (root / "a" / "loop").symlink_to("..", target_is_directory=True)  # a/loop -> root
    (root / "a" / "self").symlink_to(".", target_is_directory=True)  # a/self -> a
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "linked_again").symlink_to(outside, target_is_directory=True)
    report = scan_folder(root)
    assert report.paths == ["a/1.png", "linked/o.png"]
    assert report.class_names == ["a", "linked"]


def test_broken_link_is_reported(tmp_path: Path) -> None:
    if not can_symlink(tmp_path):
        pytest.skip("symlinks not available")
    touch_png(tmp_path / "ok.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "missing.png")
    report = scan_folder(tmp_path)
    assert report.paths == ["ok.png"]
    assert [s.path for s in report.skipped] == ["gone.png"]
    assert "broken link" in report.skipped[0].reason


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^Folder '.*nope' does not exist\.$"):
        scan_folder(tmp_path / "nope")


def test_file_is_not_a_folder(tmp_path: Path) -> None:
    touch_png(tmp_path / "a.png")
    with pytest.raises(DataError, match=r"^'.*a\.png' is not a folder\.$"):
        scan_folder(tmp_path / "a.png")


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    touch_png(tmp_path / ".hidden.png")
    with pytest.raises(DataError, match=r"^Folder '.*' contains no image files \(.*\.jpg.*\.png.*\)\.$"):
        scan_folder(tmp_path)


def test_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch_png(tmp_path / "a.png")

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "listdir", denied)  # chmod does not stop root, so simulate the OS refusing
    with pytest.raises(DataError, match=r"^Folder '.*' cannot be read \(Permission denied\)\.$"):
        scan_folder(tmp_path)


def test_should_stop_cancels(tmp_path: Path) -> None:
    touch_png(tmp_path / "a" / "1.png")
    with pytest.raises(Cancelled):
        scan_folder(tmp_path, should_stop=lambda: True)


def test_progress_ends_with_done_equals_total(tmp_path: Path) -> None:
    for i in range(5):
        touch_png(tmp_path / f"{i}.png")
    calls = []
    scan_folder(tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (5, 5)


def test_report_round_trip_save_and_summary(tmp_path: Path) -> None:
    root = make_hostile_folder(tmp_path / "h")
    report = scan_folder(root)
    assert ScanReport.from_dict(report.to_dict()) == report
    out = tmp_path / "report.json"
    report.save(out)
    assert ScanReport.from_dict(json.loads(out.read_text())) == report
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left

    report.skipped = [SkippedFile(f"bad{i:02d}.png", "truncated image file") for i in range(25)]
    text = report.summary()
    assert f"Found {len(report.paths)} images" in text
    assert re.search(r"^\s+sub\s+2$", text, re.M) and re.search(r"^\s+\(unlabelled\)\s+12$", text, re.M)
    assert "Skipped 25 files:" in text
    assert "bad00.png: truncated image file" in text
    assert "bad24.png" not in text and "and 5 more" in text


def test_links_to_images_already_listed_are_reported_and_dropped_by_default(tmp_path: Path) -> None:
    if not can_symlink(tmp_path):
        pytest.skip("symlinks not available")
    outside = tmp_path / "outside"
    touch_png(outside / "o.png")
    root = tmp_path / "root"
    touch_png(root / "b" / "real.png")
    touch_png(root / "b" / "other.png")
    (root / "a").mkdir()
    (root / "a" / "alias.png").symlink_to(root / "b" / "real.png")  # sorts before its target: the real file stays
    (root / "b" / "relative.png").symlink_to("real.png")
    (root / "x.png").symlink_to(outside / "o.png")  # two links to one file outside: the first one stays
    (root / "y.png").symlink_to(outside / "o.png")
    (root / "z.png").symlink_to(outside / "gone.png")  # broken: skipped, not a duplicate

    report = scan_folder(root)
    assert report.paths == ["b/other.png", "b/real.png", "x.png"]
    assert [(d.path, d.same_as) for d in report.duplicate_links] == [
        ("a/alias.png", "b/real.png"),
        ("b/relative.png", "b/real.png"),
        ("y.png", "x.png"),
    ]
    assert not report.duplicate_links_kept
    assert report.class_names == ["b"]  # "a" held only a duplicate: no class of its own
    assert [s.path for s in report.skipped] == ["z.png"]
    text = report.summary()
    assert "3 symbolic links to images already in the folder left out (exact duplicates" in text
    assert "  a/alias.png -> b/real.png" in text
    assert ScanReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report

    kept = scan_folder(root, keep_duplicate_links=True)
    assert kept.paths == ["a/alias.png", "b/other.png", "b/real.png", "b/relative.png", "x.png", "y.png"]
    assert kept.duplicate_links == report.duplicate_links and kept.duplicate_links_kept
    assert kept.class_names == ["a", "b"]
    assert "3 symbolic links to images already in the folder kept as separate images" in kept.summary()


def test_a_folder_without_links_reports_no_duplicates(tmp_path: Path) -> None:
    touch_png(tmp_path / "a" / "1.png")
    touch_png(tmp_path / "a" / "2.png")  # same content, different files: not a link, not reported here
    report = scan_folder(tmp_path)
    assert report.paths == ["a/1.png", "a/2.png"] and report.duplicate_links == []
    assert report.duplicate_links_note() == "" and "symbolic" not in report.summary()
    assert ScanReport.from_dict({"root": "/r", "paths": [], "labels": [], "class_names": []}).duplicate_links == []


def test_training_data_follows_the_configured_link_option(tmp_path: Path) -> None:
    if not can_symlink(tmp_path):
        pytest.skip("symlinks not available")
    from workbench.config import ExperimentConfig
    from workbench.engine.fit import load_data
    from workbench.engine.report import NullReporter

    for i in range(3):
        touch_png(tmp_path / "imgs" / f"{i}.png")
    (tmp_path / "imgs" / "3.png").symlink_to(tmp_path / "imgs" / "0.png")
    config = ExperimentConfig()
    config.data.path, config.data.image_size, config.train.workers = str(tmp_path / "imgs"), 4, 0
    assert not config.data.keep_duplicate_links  # the default: each image counts once
    dropped = load_data(config, NullReporter())
    assert len(dropped) == 3 and [d.path for d in dropped.report.duplicate_links] == ["3.png"]
    config.data.keep_duplicate_links = True
    kept = load_data(config, NullReporter())
    assert len(kept) == 4 and kept.report.paths[-1] == "3.png"
    assert (kept.images[3] == kept.images[0]).all()  # an exact duplicate, as the report says


def test_a_large_scan_leaves_the_garbage_collector_alone(tmp_path: Path) -> None:
    """No object per file: 100,000 of them would survive into the oldest generation and set off a full collection,
    which holds the GIL (in the app: the window froze for ~1 s while a scan collected). Counted by gc itself."""
    import gc

    for d in range(4):
        (tmp_path / f"c{d}").mkdir()
        for i in range(1500):
            (tmp_path / f"c{d}" / f"{i:05d}.png").touch()  # the scan only looks at names
    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100, 10, 10)  # sensitive: 100 new container objects start a collection
    try:
        before = [s["collections"] for s in gc.get_stats()]
        report = scan_folder(tmp_path)
        after = [s["collections"] for s in gc.get_stats()]
    finally:
        gc.set_threshold(*old)
    assert len(report.paths) == 6000 and report.paths[0] == "c0/00000.png" and report.labels[-1] == 3
    young = after[0] - before[0]
    assert young <= 6, f"{young} collections for 6,000 files"  # an object per file would be >= 60
    assert after[2] == before[2]
