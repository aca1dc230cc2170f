"""Model-free data checks: each check fires on a constructed image and not on normal ones; duplicates are found
(exact: as analysis.duplicates.identical_files; near: as a brute-force all-pairs comparison); exclusions reach training.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.conftest import write_class_folder
from workbench.analysis.duplicates import identical_files
from workbench.config import ExperimentConfig
from workbench.data.checks import ISSUES, DataChecks, check_folder, issue_groups, measure, near_duplicate_groups
from workbench.data.decode import decode_with_info
from workbench.data.demo import demo_dataset_path
from workbench.data.scan import scan_folder
from workbench.errors import ConfigError, DataError


def textured(seed: int, size: int = 96, colour: bool = True) -> Image.Image:
    """A photo-like image: smooth colour blobs plus edges and fine texture (sharp, mid-bright, in colour)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * xx + rng.uniform(0, 6)) * np.cos(5 * yy + rng.uniform(0, 6)) for _ in range(3)], -1)
    noise = rng.normal(0, 0.35, (size, size, 3))
    a = 128 + 60 * base + 40 * noise
    for _ in range(4):  # a few hard-edged rectangles
        y, x = rng.integers(0, size - 20, 2)
        a[y : y + 20, x : x + 20] = rng.uniform(30, 230, 3)
    a = np.clip(a, 0, 255).astype(np.uint8)
    if not colour:
        a = np.repeat(a.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    return Image.fromarray(a)


def flagged_names(checks: DataChecks, kind: str) -> set[str]:
    return {Path(p).stem for p in checks.flagged_paths(kind)}


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    root.mkdir()
    for i in range(12):
        textured(i).save(root / f"normal{i:02d}.png")
    textured(100).filter(ImageFilter.GaussianBlur(3)).save(root / "blurred.png")
    Image.new("RGB", (96, 96), (0, 0, 0)).save(root / "black.png")
    Image.new("RGB", (96, 96), (255, 255, 255)).save(root / "white.png")
    Image.new("RGB", (96, 96), (128, 128, 128)).save(root / "constant.png")
    thin = np.asarray([180, 90, 40], np.uint8) + np.random.default_rng(7).integers(0, 20, (20, 1, 3), dtype=np.uint8)
    Image.fromarray(thin).save(root / "thin.png")
    textured(101, colour=False).save(root / "grey.png")
    return root


def test_each_check_fires_on_its_constructed_image_and_on_no_normal_one(odd_folder):
    checks = check_folder(odd_folder, scan_folder(odd_folder).paths, workers=2)
    expected = {
        "blurry": {"blurred"},
        "dark": {"black"},
        "light": {"white"},
        "low_information": {"black", "white", "constant", "thin"},  # thin: its square centre crop is one pixel
        "grayscale": {"grey", "black", "white", "constant"},  # 13 of 18 images are in colour
        "odd_aspect_ratio": {"thin"},
        "odd_size": {"thin"},  # sqrt(20) px against a median of 96 px
        "exact_duplicates": set(),
        "near_duplicates": {"black", "white", "constant", "thin"},  # no horizontal edges: the all-zero dHash
    }
    for kind, names in expected.items():
        assert flagged_names(checks, kind) == names, kind
        assert checks.count(kind) == len(names)
    assert set(expected) | {"near_duplicates"} == set(ISSUES)


def test_no_check_fires_on_the_demo_images():
    root = demo_dataset_path()
    paths = scan_folder(root).paths[::10]
    checks = check_folder(root, paths, workers=2)
    for kind in ISSUES:  # near duplicates too: alike 28-px garments hash alike, but their pixels differ
        assert checks.count(kind) == 0, (kind, checks.flagged_paths(kind))
    assert checks.unchecked == 0 and len(checks.paths) == 100


def test_grayscale_is_not_flagged_in_a_mostly_grayscale_folder(tmp_path):
    for i in range(4):
        textured(i, colour=False).save(tmp_path / f"g{i}.png")
    textured(9).save(tmp_path / "colour.png")
    checks = check_folder(tmp_path, scan_folder(tmp_path).paths)
    assert checks.count("grayscale") == 0


def grey_rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=-1)


def test_the_statistics_follow_their_formulas():
    rng = np.random.default_rng(0)
    noise = rng.normal(128, 20, (64, 64)).clip(0, 255).astype(np.uint8)
    levels = np.repeat(np.arange(0, 256, 32, dtype=np.uint8), 8).reshape(8, 8)  # 8 levels, 8 pixels each
    ramp = np.tile(np.arange(0, 252, 28, dtype=np.uint8), (8, 1))  # (8, 9): every right neighbour 28 brighter
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200  # spread 200 everywhere
    st = measure(np.stack([grey_rgb(noise[:8, :8]), grey_rgb(levels), np.full((8, 8, 3), 7, np.uint8), colour]))
    big = measure(grey_rgb(noise)[None])
    # 4-neighbour Laplacian of i.i.d. noise: variance (16 + 4 * 1) sigma^2 = 20 sigma^2
    assert big["sharpness"][0] == pytest.approx(20, rel=0.1)
    assert math.isnan(st["sharpness"][2]) and math.isnan(measure(np.zeros((1, 2, 9, 3), np.uint8))["sharpness"][0])
    assert st["entropy"][1] == pytest.approx(3.0) and st["entropy"][2] == 0  # log2(8); one level
    assert (st["light"][1], st["dark"][1]) == (0, 224)  # the 5th and 99th percentiles of the levels 0, 32, ..., 224
    assert st["colour"][0] == 0 and st["colour"][3] == 200
    assert measure(grey_rgb(ramp)[None])["dhash"][0] == 2**64 - 1  # 8 x 8 increases: every bit set
    assert measure(grey_rgb(ramp[:, ::-1])[None])["dhash"][0] == 0


def test_decode_with_the_digest_hashes_the_bytes_and_keeps_the_array(odd_folder):
    import hashlib

    path = odd_folder / "normal03.png"
    plain, hashed = decode_with_info(path, 32), decode_with_info(path, 32, digest=True)
    assert plain.digest == "" and np.array_equal(plain.array, hashed.array)
    assert hashed.digest == hashlib.sha1(path.read_bytes()).hexdigest()


def test_exact_duplicates_are_the_groups_identical_files_finds(tmp_path):
    root = write_class_folder(tmp_path / "dup", per_class=5)
    shutil.copy(root / "circle" / "000.png", root / "square" / "copy_a.png")
    shutil.copy(root / "circle" / "000.png", root / "copy_b.png")
    shutil.copy(root / "square" / "003.png", root / "circle" / "copy_c.png")
    paths = scan_folder(root).paths
    checks = check_folder(root, paths)
    assert checks.groups["exact_duplicates"] == identical_files(root, paths)
    assert len(checks.groups["exact_duplicates"]) == 2 and checks.count("exact_duplicates") == 5


def test_a_planted_reencode_and_resize_are_near_duplicates_not_exact(tmp_path):
    for i in range(10):
        textured(i, size=128).save(tmp_path / f"img{i}.png")
    source = Image.open(tmp_path / "img4.png").convert("RGB")
    buffer = io.BytesIO()
    source.save(buffer, "JPEG", quality=75)
    (tmp_path / "img4_q75.jpg").write_bytes(buffer.getvalue())
    source.resize((64, 64), Image.Resampling.LANCZOS).save(tmp_path / "img4_half.png")
    paths = scan_folder(tmp_path).paths
    checks = check_folder(tmp_path, paths)
    assert checks.groups["near_duplicates"] == [[paths.index(p) for p in ("img4.png", "img4_half.png", "img4_q75.jpg")]]
    assert checks.count("exact_duplicates") == 0


def brute_force_groups(hashes: np.ndarray, max_bits: int) -> list[list[int]]:
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in combinations(range(len(hashes)), 2):
        if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= max_bits:
            parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(hashes)):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


@pytest.mark.parametrize("max_bits", [0, 2, 3, 4, 7])
def test_near_duplicate_groups_equal_the_all_pairs_comparison(max_bits):
    rng = np.random.default_rng(max_bits)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64)
    planted = []
    for h in base[:60]:  # copies with 0..8 bits flipped, chains included
        flips = rng.choice(64, rng.integers(0, 9), replace=False)
        planted.append(int(h) ^ sum(1 << int(b) for b in flips))
    sparse = [(1 << int(b)) | (1 << int(c)) for b, c in rng.integers(0, 64, (40, 2))]  # few bits: crowded bands
    hashes = np.asarray([*base.tolist(), *planted, *sparse, 0, 0], dtype=np.uint64)
    assert near_duplicate_groups(hashes, max_bits) == brute_force_groups(hashes, max_bits)


def test_the_report_round_trips_through_json(odd_folder):
    checks = check_folder(odd_folder, scan_folder(odd_folder).paths)
    again = DataChecks.from_dict(json.loads(json.dumps(checks.to_dict())))
    assert again == checks
    assert "Too dark" in checks.summary() and "black.png" in checks.summary()


def test_load_images_measures_the_rows_it_decoded_as_check_folder_does_at_that_size(odd_folder):
    data = pytest.importorskip("workbench.data.cache").load_images(odd_folder, 32, workers=0, checks=True)
    alone = check_folder(odd_folder, data.paths, size=32)
    assert data.checks is not None and data.checks == alone
    assert data.checks.count("dark") == 1


def test_scan_leaves_out_the_exclusion_list_and_says_so(image_folder):
    everything = scan_folder(image_folder).paths
    drop = [everything[1], everything[5], "not/there.png"]
    report = scan_folder(image_folder, exclude=drop)
    assert report.paths == [p for p in everything if p not in drop] and report.excluded == sorted(drop[:2])
    assert "Excluded 2 images" in report.summary()
    with pytest.raises(DataError, match="exclusion list"):
        scan_folder(image_folder, exclude=everything)


def test_config_refuses_an_exclusion_outside_the_folder():
    config = ExperimentConfig()
    config.data.exclude = ["../elsewhere.png"]
    with pytest.raises(ConfigError, match="data.exclude"):
        config.validate()


def test_a_run_with_exclusions_trains_on_the_others(image_folder, tmp_path, one_torch_thread):
    from tests.engine.test_fit import tiny_config
    from workbench.engine.fit import fit
    from workbench.engine.runs import SCAN_REPORT_FILE

    everything = scan_folder(image_folder).paths
    config = tiny_config(image_folder, max_steps=1, epochs=1, monitor_every_epochs=0)
    config.data.exclude = everything[:3]
    fit(config, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / SCAN_REPORT_FILE).read_text())
    assert len(saved["paths"]) == len(everything) - 3 and not set(saved["paths"]) & set(everything[:3])
    assert all((image_folder / p).is_file() for p in everything[:3])  # the files are untouched


def test_issue_groups_give_each_image_its_first_issue(odd_folder):
    checks = check_folder(odd_folder, scan_folder(odd_folder).paths)
    groups, names = issue_groups(checks)
    for row, path in enumerate(checks.paths):
        first = next((label for kind, label in ISSUES.items() if row in checks.flagged[kind]), "no issue")
        assert names[groups[row]] == first, path
    assert names[-1] == "no issue" and len(set(names)) == len(names) == len(set(groups.tolist()))
