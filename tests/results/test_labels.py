"""results/labels.py: the labels file (round trip, one sentence per bad file) and the LabelSet with undo/redo."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from workbench.engine.runs import RunDir
from workbench.errors import ConfigError, DataError, OutsideImageFolderError
from workbench.results.label_set import LabelSet
from workbench.results.labels import LabelEntry, read_entries, read_labels, write_entries


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for rel in ("cat/a.png", "cat/b.png", "dog/c.png", "dog/d.png", "e.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    return root


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_labels_gives_sorted_names_and_ids_and_the_last_row_wins(folder, tmp_path):
    f = _write(tmp_path / "l.csv", f"path,label\ncat/a.png,zebra\ndog/c.png,ant\n{folder}/e.png,zebra\ncat/a.png,ant\n")
    labels = read_labels(f, folder)
    assert labels.names == ["ant", "zebra"]
    assert dict(zip(labels.paths, labels.ids.tolist(), strict=True)) == {"dog/c.png": 0, "e.png": 1, "cat/a.png": 0}
    assert labels.sources == ["user"] * 3
    assert labels.ids_for(["e.png", "cat/b.png", "cat/a.png"]).tolist() == [1, -1, 0]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "is empty"),
        ("path,label\n", "no labelled images"),
        ("file,class\na.png,x\n", "needs path and label"),
        ("path,label\ncat/a.png,x\ncat/zzz.png,y\n", "not in the image folder"),
        ("path,label\n../images/cat/a.png,x\ncat/b.png,y\n", "not in the image folder"),
        ("path,label\ncat/a.png,x\ncat/b.png,x\n", "only one class ('x')"),
        ("path,label\ncat/a.png,x,extra\n", "more cells than columns on line 2"),
        ("path,label\ncat/a.png,\n", "no label on line 2"),
        ("path,label,source\ncat/a.png,x,robot\n", "source 'robot'"),
    ],
)
def test_a_bad_labels_file_is_one_sentence(folder, tmp_path, text, fragment):
    f = _write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError) as info:
        read_labels(f, folder)
    message = str(info.value)
    assert fragment in message and "\n" not in message and message.endswith(".")


def test_a_missing_or_binary_labels_file_is_one_sentence(folder, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_labels(tmp_path / "none.csv", folder)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not UTF-8"):
        read_labels(tmp_path / "bin.csv", folder)


def test_known_paths_replace_the_file_check(folder, tmp_path):
    f = _write(tmp_path / "l.csv", "path,label\ncat/a.png,x\ndog/c.png,y\n")
    with pytest.raises(DataError, match="1 image"):
        read_labels(f, folder, known_paths=["cat/a.png"])


def test_write_then_read_round_trips_commas_quotes_and_unicode(folder, tmp_path):
    entries = [LabelEntry("cat/a.png", 'a, "b"', "user", "2026-01-01T00:00:00+00:00"), LabelEntry("dog/c.png", "ß")]
    path = write_entries(tmp_path / "labels.csv", entries, folder)
    assert read_entries(path) == entries
    with open(path, newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["path", "label", "source", "time"]


def test_the_labels_file_is_never_written_inside_the_image_folder(folder):
    with pytest.raises(OutsideImageFolderError):
        write_entries(folder / "labels.csv", [LabelEntry("cat/a.png", "x")], folder)
    assert not (folder / "labels.csv").exists()


def test_the_run_folder_names_the_labels_file(tmp_path):
    assert RunDir(tmp_path).labels_path == tmp_path / "labels.csv"


PATHS = ["cat/a.png", "cat/b.png", "dog/c.png", "dog/d.png", "e.png"]


def _label_set(use_folder: bool = False) -> LabelSet:
    return LabelSet(PATHS, ["cat", "dog"], [0, 0, 1, 1, -1], use_folder=use_folder)


def _state(s: LabelSet) -> list[str | None]:
    return [s.label_of(i) for i in range(len(PATHS))]


def test_assign_undo_redo_follow_a_reference_history():
    s = _label_set()
    history = [_state(s)]
    assert s.assign([0, 2], "spot") == 2
    history.append(_state(s))
    assert s.assign(np.array([2, 3]), "stripe") == 2
    history.append(_state(s))
    assert s.remove(["cat/a.png", "e.png"]) == 1  # e.png had no label
    history.append(_state(s))
    assert history == [
        [None] * 5,
        ["spot", None, "spot", None, None],
        ["spot", None, "stripe", "stripe", None],
        [None, None, "stripe", "stripe", None],
    ]
    for expected in reversed(history[:-1]):
        assert s.undo()
        assert _state(s) == expected
    assert not s.undo() and not s.can_undo
    for expected in history[1:]:
        assert s.redo()
        assert _state(s) == expected
    assert not s.redo()
    s.undo()
    s.assign([4], "new")  # a new edit drops what could be redone
    assert not s.can_redo
    assert s.assign([4], " new ") == 0  # the same label again changes nothing and adds no step


def test_folder_labels_can_be_used_or_ignored_and_user_labels_win():
    s = _label_set(use_folder=True)
    s.assign([0], "lion")
    assert _state(s) == ["lion", "cat", "dog", "dog", None]
    ids, names = s.row_ids()
    assert names == ["cat", "dog", "lion"] and ids.tolist() == [2, 0, 1, 1, -1]
    assert s.counts() == {"cat": 1, "dog": 2, "lion": 1}
    assert [(e.path, e.source) for e in s.entries()] == [
        ("cat/a.png", "user"), ("cat/b.png", "folder"), ("dog/c.png", "folder"), ("dog/d.png", "folder"),
    ]  # fmt: skip
    s.set_use_folder(False)
    assert _state(s) == ["lion", None, None, None, None]
    assert s.row_ids()[0].tolist() == [0, -1, -1, -1, -1]


def test_a_saved_label_set_loads_back_with_its_times(folder, tmp_path):
    s = _label_set(use_folder=True)
    s.assign([1, 4], "odd")
    path = s.save(tmp_path / "run" / "labels.csv", folder)
    entries = read_entries(path)
    assert {e.path: e.source for e in entries}["e.png"] == "user"
    datetime.fromisoformat(entries[1].time)  # ISO-8601
    t = _label_set()
    assert t.load([*entries, LabelEntry("elsewhere.png", "x")]) == 1
    assert _state(t) == _state(s) and t.use_folder and not t.can_undo
    assert read_labels(path, folder).names == ["cat", "dog", "odd"]


def test_bad_labels_and_rows_are_refused():
    s = _label_set()
    with pytest.raises(ConfigError):
        s.assign([0], "  ")
    with pytest.raises(ValueError):
        s.assign(["not/here.png"], "x")
    with pytest.raises(ValueError, match="out of range"):
        s.assign([-1], "x")
    assert _state(s) == [None] * 5 and not s.can_undo


def test_a_file_the_app_saved_after_undoing_everything_loads_as_no_labels(folder, tmp_path):
    path = _label_set().save(tmp_path / "labels.csv", folder)
    assert read_entries(path, allow_empty=True) == []
    with pytest.raises(DataError, match="no labelled images"):
        read_entries(path)  # a hand-written file without rows is still refused


def test_a_snapshot_does_not_follow_later_edits():
    s = _label_set()
    s.assign([0], "a")
    copy = s.snapshot()
    s.assign([1], "b")
    s.undo()
    s.undo()
    assert [e.path for e in copy.entries()] == ["cat/a.png"] and not copy.can_undo
