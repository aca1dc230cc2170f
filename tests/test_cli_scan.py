"""`workbench scan DIR [--json]`: the scan report and the data checks; a bad folder gets one sentence, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import write_class_folder
from workbench.cli import EXIT_USER_ERROR, main


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = write_class_folder(tmp_path / "images", per_class=4)
    shutil.copy(root / "circle" / "000.png", root / "square" / "copy.png")  # an exact duplicate
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "black.png")  # too dark, low information
    return root


def test_scan_prints_the_report_and_each_issue_with_examples(folder, capsys):
    assert main(["scan", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"Found 10 images in '{folder}'." in out and "2 labels" in out
    lines = out.splitlines()
    dup = next(i for i, line in enumerate(lines) if line.strip().startswith("Exact duplicates"))
    assert lines[dup].split()[-4:] == ["2", "in", "1", "group"]
    assert {lines[dup + 1].strip(), lines[dup + 2].strip()} == {"circle/000.png", "square/copy.png"}
    dark = next(line for line in lines if line.strip().startswith("Too dark"))
    assert dark.split()[-1] == "1" and "black.png" in out


def test_scan_json_is_one_object_with_the_scan_and_the_checks(folder, capsys):
    assert main(["scan", str(folder), "--json"]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out
    data = json.loads(out)
    paths = data["checks"]["paths"]
    assert data["scan"]["paths"] == paths and len(paths) == 10
    assert data["checks"]["groups"]["exact_duplicates"] == [
        [paths.index("circle/000.png"), paths.index("square/copy.png")]
    ]
    assert [paths[r] for r in data["checks"]["flagged"]["dark"]] == ["black.png"]


@pytest.mark.parametrize("make", [lambda t: t / "missing", lambda t: (t / "f.txt").write_text("x") and t / "f.txt"])
def test_a_bad_folder_gets_one_sentence_and_a_non_zero_exit(tmp_path, capsys, make):
    code = main(["scan", str(make(tmp_path))])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_USER_ERROR
    assert err.startswith("error: ") and err.count("\n") == 0 and "Traceback" not in err
