"""What a newcomer's first wrong commands get: the exact sentence, at once (before any image is read)."""

from __future__ import annotations

import pytest

from tests.conftest import write_class_folder
from workbench.cli import main
from workbench.config import ExperimentConfig
from workbench.engine.runs import RunDir


def _error(capsys, *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_eval_with_a_file_as_run_dir_says_it_is_a_file(capsys, tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("not a run")
    images = write_class_folder(tmp_path / "images", per_class=2, size=8)
    line = _error(capsys, "eval", str(file), "--train", str(images), "--test", str(images))
    assert line == f"error: '{file}' is a file, not a run folder."
    missing = _error(capsys, "eval", str(tmp_path / "nope"), "--train", str(images), "--test", str(images))
    assert missing == f"error: Run folder '{tmp_path / 'nope'}' does not exist."


@pytest.fixture
def no_image_reading(monkeypatch):
    """Training that reaches the images fails the test: the refusals below must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the images were read before --out was checked")

    monkeypatch.setattr("workbench.engine.fit.load_data", refuse)
    monkeypatch.setattr("workbench.data.cache.scan_folder", refuse)


def test_train_out_on_an_existing_run_is_refused_before_reading_images(capsys, tmp_path, no_image_reading):
    images = write_class_folder(tmp_path / "images", per_class=2, size=8)
    run = RunDir.create(tmp_path / "run", ExperimentConfig())
    line = _error(capsys, "train", "--data", str(images), "--out", str(run.path), "--max-steps", "1")
    assert line == (f"error: '{run.path}' already holds a run; pass --resume to continue it, or choose another --out.")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    line = _error(capsys, "train", "--data", str(images), "--out", str(busy), "--max-steps", "1")
    assert "is a folder that is not empty" in line
    file = tmp_path / "file.txt"
    file.write_text("x")
    line = _error(capsys, "train", "--data", str(images), "--out", str(file), "--max-steps", "1")
    assert line == f"error: '{file}' is a file, not a folder; choose another --out."
    assert (busy / "keep.txt").read_text() == "mine" and file.read_text() == "x"  # nothing was touched
