"""A curated dataset from predicted labels: the user's labels win, predictions below the threshold are left out, the
manifest says where each label came from, the source folder is only read, and a bad predictions file is one
sentence that leaves nothing behind."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.results.test_curate import _snapshot, _tree, source  # noqa: F401 (the fixture)
from workbench.errors import ConfigError, DataError
from workbench.results.curate import curate_dataset, read_predictions, write_predictions

USER_ITEMS = [("cat/a.png", "cat")]
# path, predicted, confidence, user_label (of the file)
PREDICTED = [
    ("cat/a.png", "dog", 0.95, None),  # the user's 'cat' wins
    ("dog/a.png", "dog", 0.95, None),
    ("dog/c.jpg", "dog", 0.90, None),  # exactly at the threshold: kept
    ("a.png", "cat", 0.8999, None),  # below it: left out
    ("deep/x/y/a.png", "dog", 0.2, "cat"),  # labelled in the file by the user: kept, as the user's
    ("cat/b.png", "cat", 0.99, None),
]


def write_file(tmp_path: Path, root: Path, rows=PREDICTED) -> Path:
    names = sorted({r[1] for r in rows})
    return write_predictions(
        tmp_path / "predictions.csv",
        [r[0] for r in rows],
        names,
        [names.index(r[1]) for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        image_root=root,
    )


def manifest(out: Path) -> dict[str, tuple[str, str, str, str]]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return {r["written"]: (r["source"], r["label"], r["label_source"], r["confidence"]) for r in csv.DictReader(f)}


@pytest.mark.parametrize("as_rows", [False, True], ids=["file", "rows"])
def test_user_labels_win_and_the_threshold_is_respected(source, tmp_path, as_rows):  # noqa: F811
    predictions = write_file(tmp_path, source)
    before = _snapshot(source)
    out = tmp_path / "curated"
    given = read_predictions(predictions, source) if as_rows else predictions
    result = curate_dataset(source, USER_ITEMS, out, predictions=given, min_confidence=0.9)
    assert _snapshot(source) == before
    root = source.resolve()
    expected = {
        "cat/a.png": ("cat/a.png", "cat", "user", ""),
        "cat/a (2).png": ("deep/x/y/a.png", "cat", "user", ""),
        "cat/b.png": ("cat/b.png", "cat", "predicted", "0.9900"),
        "dog/a.png": ("dog/a.png", "dog", "predicted", "0.9500"),
        "dog/c.jpg": ("dog/c.jpg", "dog", "predicted", "0.9000"),
    }
    assert _tree(out) == {*expected, "manifest.csv"}
    for written, (rel, *_) in expected.items():
        assert (out / written).read_bytes() == (source / rel).read_bytes()
    assert manifest(out) == {w: (str(root / rel), *rest) for w, (rel, *rest) in expected.items()}
    assert result.by_source == {"user": 2, "predicted": 3}


@pytest.mark.parametrize(
    ("threshold", "predicted"),
    [(0.0, {"dog/a.png", "dog/c.jpg", "a.png", "cat/b.png"}), (0.95, {"dog/a.png", "cat/b.png"}), (1.0, set())],
)
def test_only_predictions_at_least_as_confident_as_asked_are_written(source, tmp_path, threshold, predicted):  # noqa: F811
    out = tmp_path / "curated"
    curate_dataset(source, USER_ITEMS, out, predictions=write_file(tmp_path, source), min_confidence=threshold)
    rows = [(Path(s).relative_to(source.resolve()).as_posix(), how) for s, _, how, _ in manifest(out).values()]
    assert {rel for rel, how in rows if how == "predicted"} == predicted
    assert {rel for rel, how in rows if how == "user"} == {"cat/a.png", "deep/x/y/a.png"}


def test_a_threshold_outside_zero_to_one_is_refused(source, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match="from 0 to 1"):
        curate_dataset(source, [], tmp_path / "out", predictions=write_file(tmp_path, source), min_confidence=1.5)
    assert not (tmp_path / "out").exists()


HEADER = "path,predicted,confidence,user_label\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("path,label\ncat/a.png,cat\n", "has no column predicted, confidence"),
        (HEADER, "has a header but no predictions"),
        (HEADER + "cat/a.png,cat,high,\n", "the confidence 'high' on line 2"),
        (HEADER + "cat/a.png,cat,1.5,\n", "the confidence '1.5' on line 2"),
        (HEADER + "cat/a.png,cat,0.5,\ncat/a.png,dog,0.5,\n", "names 'cat/a.png' twice"),
        (HEADER + "cat/a.png,,0.5,\n", "without a path or a predicted label (line 2)"),
        (HEADER + "../a.png,cat,0.5,\n", "is not a path inside the image folder"),
        (HEADER + "elsewhere/z.png,cat,0.5,\n", "names no image of"),
    ],
    ids=[
        "missing",
        "empty",
        "columns",
        "no-rows",
        "not-a-number",
        "above-one",
        "twice",
        "no-label",
        "outside",
        "other",
    ],
)
def test_a_bad_predictions_file_is_one_sentence_and_writes_nothing(source, tmp_path, text, fragment):  # noqa: F811
    path = tmp_path / "predictions.csv"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    before = _snapshot(source)
    with pytest.raises(DataError) as caught:
        curate_dataset(source, USER_ITEMS, tmp_path / "out", predictions=path)
    message = str(caught.value)
    assert fragment in message and message.endswith(".") and message.count(". ") == 0 and "\n" not in message
    assert not (tmp_path / "out").exists() and _snapshot(source) == before
