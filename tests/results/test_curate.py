"""results/curate.py: exactly the expected ImageFolder files, a manifest, clashes resolved, the source untouched."""

from __future__ import annotations

import csv
import errno
import os
import random
from pathlib import Path

import pytest

from workbench.errors import ConfigError, OutsideImageFolderError
from workbench.results import curate as curate_module
from workbench.results.curate import curate_dataset, folder_name, plan_layout, write_predictions


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i, rel in enumerate(["cat/a.png", "cat/b.png", "dog/a.png", "dog/c.jpg", "a.png", "deep/x/y/a.png"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"image {i} {rel}".encode())
        os.utime(root / rel, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
    return root


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and every file's and folder's modification time (a folder's changes when anything is
    created or removed in it)."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else b"<folder>", p.stat().st_mtime_ns)
        for p in root.rglob("*")
    }


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


ITEMS = [("cat/a.png", "pet"), ("dog/a.png", "pet"), ("a.png", "pet"), ("dog/c.jpg", "Wild"), ("cat/b.png", "wild")]


@pytest.mark.parametrize("link", [False, True])
def test_writes_exactly_the_imagefolder_files_and_leaves_the_source_byte_identical(source, tmp_path, link):
    before = _snapshot(source)
    out = tmp_path / "curated"
    result = curate_dataset(source, ITEMS, out, link=link)
    assert _snapshot(source) == before
    expected = {  # (label, path) order: 'Wild' < 'pet' < 'wild'; 'wild' clashes with 'Wild' ignoring case
        "Wild/c.jpg": "dog/c.jpg",
        "pet/a.png": "a.png",
        "pet/a (2).png": "cat/a.png",
        "pet/a (3).png": "dog/a.png",
        "wild (2)/b.png": "cat/b.png",
    }
    assert _tree(out) == {*expected, "manifest.csv"}
    for written, rel in expected.items():
        assert (out / written).read_bytes() == (source / rel).read_bytes()
        assert (out / written).stat().st_mtime_ns == (source / rel).stat().st_mtime_ns
        assert os.path.samefile(out / written, source / rel) == link  # same file system here: links when asked
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["written"]: (r["source"], r["how"]) for r in rows} == {
        w: (str(source.resolve() / rel), "link" if link else "copy") for w, rel in expected.items()
    }
    assert result.written == 5 and (result.linked == 5) == link


def test_links_fall_back_to_copies_when_the_file_system_refuses(source, tmp_path, monkeypatch):
    def refuse(*_args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(curate_module.os, "link", refuse)
    result = curate_dataset(source, ITEMS[:2], tmp_path / "out", link=True)
    assert (result.linked, result.copied) == (0, 2)
    assert not os.path.samefile(tmp_path / "out/pet/a.png", source / "cat/a.png")


def test_the_layout_does_not_depend_on_the_order_of_the_items():
    shuffled = ITEMS[:]
    random.Random(0).shuffle(shuffled)
    assert plan_layout(shuffled) == plan_layout(ITEMS)


@pytest.mark.parametrize(
    "label, name", [("a/b", "a_b"), ("..", "_"), ("x:y*?", "x_y__"), ("con", "_con"), (" dots. ", "dots")]
)
def test_labels_become_safe_folder_names(label, name):
    assert folder_name(label) == name


def test_a_label_named_like_the_manifest_does_not_replace_it():
    plan = plan_layout([("a.png", "manifest.csv")])
    assert plan == [("a.png", "manifest.csv", "manifest (2).csv/a.png")]


def test_the_output_must_be_outside_the_images_and_new_or_empty(source, tmp_path):
    before = _snapshot(source)
    with pytest.raises(OutsideImageFolderError):
        curate_dataset(source, ITEMS, source / "export")
    assert not (source / "export").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        curate_dataset(source, ITEMS, tmp_path / "full")
    assert _snapshot(source) == before and _tree(tmp_path / "full") == {"keep.txt"}


def test_an_image_gone_since_labelling_is_skipped_and_reported(source, tmp_path):
    (source / "dog/c.jpg").unlink()
    result = curate_dataset(source, ITEMS, tmp_path / "out")
    assert [p for p, _ in result.skipped] == ["dog/c.jpg"] and result.written == 4
    assert "Wild/c.jpg" not in _tree(tmp_path / "out")


def test_predictions_csv_has_one_row_per_image(source, tmp_path):
    path = write_predictions(
        tmp_path / "p.csv", ["a.png", "b.png"], ["cat", "dog"], [1, 0], [0.91234, 0.5], ["dog", None], image_root=source
    )
    with open(path, newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            ["path", "predicted", "confidence", "user_label"],
            ["a.png", "dog", "0.9123", "dog"],
            ["b.png", "cat", "0.5000", ""],
        ]
    with pytest.raises(OutsideImageFolderError):
        write_predictions(source / "p.csv", [], [], [], [], image_root=source)
