"""The shipped demo dataset: present, licensed, 10 balanced classes of small PNGs."""

from __future__ import annotations

from workbench.data import demo_dataset_path, scan_folder

CLASSES = ["bag", "boot", "coat", "dress", "pullover", "sandal", "shirt", "sneaker", "trouser", "tshirt"]


def test_demo_dataset_is_shipped_with_its_licence() -> None:
    root = demo_dataset_path()
    assert root.is_dir()
    assert "Zalando SE" in (root / "LICENSE").read_text()
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == CLASSES
    for name in CLASSES:
        pngs = list((root / name).glob("*.png"))
        assert len(pngs) == 100
    assert sum(p.stat().st_size for p in root.rglob("*.png")) < 2_000_000


def test_demo_dataset_scans_as_ten_labelled_classes() -> None:
    report = scan_folder(demo_dataset_path())
    assert report.class_names == CLASSES
    assert len(report.paths) == 1000 and report.skipped == []
    assert all(report.labels.count(i) == 100 for i in range(10))
