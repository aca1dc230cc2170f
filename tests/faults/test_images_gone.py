"""A resume after some of the run's images were deleted says so in one line among the run's messages (the CLI's
output, the app's log) and trains on what is left; runs from before the start record count from their scan report."""

from __future__ import annotations

import json

import pytest

from tests.engine.test_fit import tiny_config
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.engine.run_images import START_IMAGES_FILE, images_gone_message, paths_digest
from workbench.engine.runs import RunDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Messages(NullReporter):
    def __init__(self):
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def config(folder, steps):
    c = tiny_config(folder, max_steps=steps, monitor_every_epochs=0)
    c.data.image_size = 16
    return c


def gone_lines(lines):
    return [line for line in lines if "this run started with" in line]


def test_a_resume_after_deletions_says_how_many_are_gone_and_trains_on(image_folder, tmp_path):
    run = tmp_path / "run"
    fit(config(image_folder, 2), run)
    start = json.loads((run / START_IMAGES_FILE).read_text())
    assert start["count"] == 16
    for p in sorted(image_folder.rglob("*.png"))[:3]:
        p.unlink()
    said = Messages()
    result = fit(config(image_folder, 4), run, reporter=said, resume=True)
    assert gone_lines(said.lines) == ["3 of the 16 images this run started with are gone; training goes on with 13."]
    assert result.status == "finished" and result.step == 4
    # a second resume still counts against the start (the scan report now lists the 13); one more deleted
    sorted(image_folder.rglob("*.png"))[0].unlink()
    said = Messages()
    fit(config(image_folder, 6), run, reporter=said, resume=True)
    assert gone_lines(said.lines) == ["4 of the 16 images this run started with are gone; training goes on with 12."]
    assert json.loads((run / START_IMAGES_FILE).read_text()) == start  # a resume never rewrites the record


def test_a_resume_with_every_image_present_says_nothing(image_folder, tmp_path):
    fit(config(image_folder, 2), tmp_path / "run")
    said = Messages()
    fit(config(image_folder, 3), tmp_path / "run", reporter=said, resume=True)
    assert gone_lines(said.lines) == []


def test_a_run_without_the_start_record_counts_from_its_scan_report(image_folder, tmp_path):
    fit(config(image_folder, 2), tmp_path / "run")
    (tmp_path / "run" / START_IMAGES_FILE).unlink()  # as a run from before the record
    run = RunDir.open(tmp_path / "run")
    paths = json.loads(run.scan_report_path.read_text())["paths"]
    root = str(image_folder.resolve())
    assert images_gone_message(run, root, paths) is None
    assert images_gone_message(run, root, paths[1:]) == (
        "1 of the 16 images this run started with is gone; training goes on with 15."
    )
    assert images_gone_message(run, str(tmp_path), paths[1:]) is None  # another folder: nothing to compare with
    assert paths_digest(paths) == paths_digest(list(reversed(paths)))
