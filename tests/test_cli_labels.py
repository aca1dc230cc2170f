"""`workbench propagate` and `workbench curate`: predictions for every image, a curated copy, one sentence for a bad
labels file, the image folder never written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_class_folder
from tests.results.test_embeddings import make_run
from tests.test_cli import assert_one_sentence_error, run_cli


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("labels")
    data = write_class_folder(root / "images", per_class=6)
    return make_run(data, root / "run"), data


def _images(data: Path) -> set[str]:
    return {p.relative_to(data).as_posix() for p in data.rglob("*.png")}


def _snapshot(data: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and every file's and folder's modification time (a folder's changes when anything is
    created or removed in it)."""
    return {
        p.relative_to(data).as_posix(): (p.read_bytes() if p.is_file() else b"<folder>", p.stat().st_mtime_ns)
        for p in data.rglob("*")
    }


def _labels(tmp_path: Path, rows: list[tuple[str, str]], name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows), encoding="utf-8")
    return path


GIVEN = [
    ("circle/000.png", "round"),
    ("circle/001.png", "round"),
    ("square/000.png", "boxy"),
    ("square/003.png", "boxy"),
]


@pytest.mark.parametrize("method", ["probe", "knn"])
def test_propagate_writes_a_prediction_for_every_image(run_and_data, tmp_path, capsys, method, one_torch_thread):
    run, data = run_and_data
    before = _snapshot(data)
    out = tmp_path / "predictions.csv"
    code, stdout, err = run_cli(
        capsys, "propagate", str(run), "--labels", str(_labels(tmp_path, GIVEN)), "--data", str(data),
        "--out", str(out), "--method", method, "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["path"] for r in rows} == _images(data) and len(rows) == 12
    assert {r["predicted"] for r in rows} <= {"round", "boxy"}
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)
    assert {r["path"]: r["user_label"] for r in rows if r["user_label"]} == dict(GIVEN)
    assert "12 predictions of 2 classes from 4 labelled images" in stdout
    assert _snapshot(data) == before


@pytest.mark.parametrize(
    "rows, fragment",
    [
        ([], "no labelled images"),
        ([("circle/000.png", "x"), ("nowhere/1.png", "y")], "not in the image folder"),
        ([("circle/000.png", "x"), ("square/000.png", "x")], "only one class ('x')"),
    ],
)
def test_a_bad_labels_file_is_one_sentence_and_nothing_is_written(run_and_data, tmp_path, capsys, rows, fragment):
    run, data = run_and_data
    labels, out = _labels(tmp_path, rows), tmp_path / "p.csv"
    code, _, err = run_cli(
        capsys, "propagate", str(run), "--labels", str(labels), "--data", str(data), "--out", str(out)
    )
    assert_one_sentence_error(code, err, fragment)
    assert not out.exists()


def test_without_labels_the_run_is_asked_for_its_own(run_and_data, tmp_path, capsys):
    run, data = run_and_data
    code, _, err = run_cli(capsys, "curate", str(run), "--data", str(data), "--out", str(tmp_path / "c"))
    assert_one_sentence_error(code, err, "has no labels yet")


@pytest.mark.parametrize("link", [False, True])
def test_curate_writes_the_labelled_images_and_a_manifest(run_and_data, tmp_path, capsys, link):
    run, data = run_and_data
    before = _snapshot(data)
    out = tmp_path / "curated"
    argv = ["curate", str(run), "--labels", str(_labels(tmp_path, GIVEN)), "--data", str(data), "--out", str(out)]
    code, stdout, err = run_cli(capsys, *argv, *(["--link"] if link else []))
    assert code == 0, err
    expected = {"round/000.png", "round/001.png", "boxy/000.png", "boxy/003.png", "manifest.csv"}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == expected
    assert (out / "boxy/003.png").read_bytes() == (data / "square/003.png").read_bytes()
    assert ("4 linked" if link else "4 copied") in stdout
    assert _snapshot(data) == before


def test_curate_refuses_a_folder_inside_the_images(run_and_data, tmp_path, capsys):
    run, data = run_and_data
    argv = ["curate", str(run), "--labels", str(_labels(tmp_path, GIVEN)), "--data", str(data)]
    code, _, err = run_cli(capsys, *argv, "--out", str(data / "curated"))
    assert_one_sentence_error(code, err, "inside the image folder")
    assert not (data / "curated").exists()


def test_help_says_what_a_hard_link_means(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "curate", "--help")
    assert "editing one edits the other" in " ".join(capsys.readouterr().out.split())


def _ranked(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_suggest_diverse_needs_no_labels_and_leaves_labelled_images_out(run_and_data, tmp_path, capsys):
    run, data = run_and_data
    code, stdout, err = run_cli(capsys, "suggest", str(run), "--data", str(data), "--count", "5", "--device", "cpu")
    assert code == 0, err
    rows = _ranked(stdout)
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "5"] and len({r["path"] for r in rows}) == 5
    labels = str(_labels(tmp_path, GIVEN))
    code, stdout, _ = run_cli(capsys, "suggest", str(run), "--data", str(data), "--labels", labels, "--count", "20")
    paths = [r["path"] for r in _ranked(stdout)]
    assert sorted(paths) == sorted(_images(data) - {p for p, _ in GIVEN})  # 8 left: all of them, none labelled


def test_suggest_outliers_scores_equal_a_brute_force_computation(run_and_data, tmp_path, capsys):
    from workbench.results.embeddings import compute_embeddings

    run, data = run_and_data
    out = tmp_path / "next.csv"
    code, _, err = run_cli(capsys, "suggest", str(run), "--data", str(data), "--by", "outlier", "--out", str(out))
    assert code == 0, err
    rows = _ranked(out.read_text(encoding="utf-8"))
    emb = compute_embeddings(run, data, "trained", device="cpu")
    unit = emb.features / np.linalg.norm(emb.features, axis=1, keepdims=True)
    distance = 1.0 - unit @ unit.T
    np.fill_diagonal(distance, np.inf)
    brute = np.sort(distance, axis=1)[:, :10].mean(axis=1)
    expected = [emb.paths[i] for i in np.argsort(-brute, kind="stable")]
    assert [r["path"] for r in rows] == expected
    np.testing.assert_allclose([float(r["score"]) for r in rows], np.sort(brute)[::-1], atol=2e-4)


def test_suggest_uncertain_ranks_by_margin_and_needs_labels(run_and_data, tmp_path, capsys):
    run, data = run_and_data
    code, _, err = run_cli(capsys, "suggest", str(run), "--data", str(data), "--by", "uncertain")
    assert_one_sentence_error(code, err, "has no labels yet")
    labels = str(_labels(tmp_path, GIVEN))
    code, stdout, err = run_cli(
        capsys, "suggest", str(run), "--data", str(data), "--labels", labels, "--by", "uncertain"
    )
    assert code == 0, err
    rows = _ranked(stdout)
    margins = [float(r["score"]) for r in rows]
    assert margins == sorted(margins) and len(rows) == 8 and not {r["path"] for r in rows} & {p for p, _ in GIVEN}


def test_curate_from_predictions_keeps_user_labels_and_the_threshold(run_and_data, tmp_path, capsys, one_torch_thread):
    run, data = run_and_data
    predictions = tmp_path / "predictions.csv"
    argv = ["propagate", str(run), "--labels", str(_labels(tmp_path, GIVEN)), "--data", str(data)]
    assert run_cli(capsys, *argv, "--out", str(predictions), "--device", "cpu")[0] == 0
    with open(predictions, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    user = {**dict(GIVEN), "circle/002.png": "odd"}  # one more user label, newer than the predictions file
    unlabelled = [r for r in rows if r["path"] not in user]
    threshold = float(np.median([float(r["confidence"]) for r in unlabelled]))
    predicted = {r["path"]: r["predicted"] for r in unlabelled if float(r["confidence"]) >= threshold}
    assert 0 < len(predicted) < len(unlabelled) or threshold == 1.0
    before = _snapshot(data)
    out = tmp_path / "curated"
    argv = ["curate", str(run), "--labels", str(_labels(tmp_path, list(user.items()))), "--data", str(data)]
    argv += ["--out", str(out), "--predictions", str(predictions), "--min-confidence", repr(threshold)]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert _snapshot(data) == before
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        manifest = list(csv.DictReader(f))
    root = data.resolve()
    got = {
        Path(r["source"]).relative_to(root).as_posix(): (r["label"], r["label_source"], r["confidence"])
        for r in manifest
    }
    confidence = {r["path"]: r["confidence"] for r in rows}
    assert got == {
        **{p: (label, "user", "") for p, label in user.items()},
        **{p: (label, "predicted", confidence[p]) for p, label in predicted.items()},
    }
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        "manifest.csv",
        *(r["written"] for r in manifest),
    }
    for r in manifest:
        assert (out / r["written"]).read_bytes() == Path(r["source"]).read_bytes()
    assert f"{len(user)} user-labelled, {len(predicted)} predicted" in stdout


def test_curate_with_a_bad_predictions_file_or_threshold_is_one_sentence(run_and_data, tmp_path, capsys):
    run, data = run_and_data
    bad = tmp_path / "bad.csv"
    bad.write_text("path,predicted,confidence\ncircle/000.png,round,sure\n", encoding="utf-8")
    base = ["curate", str(run), "--data", str(data), "--out", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *base, "--predictions", str(bad))
    assert_one_sentence_error(code, err, "the confidence 'sure' on line 2")
    code, _, err = run_cli(capsys, *base, "--labels", str(_labels(tmp_path, GIVEN)), "--min-confidence", "0.9")
    assert_one_sentence_error(code, err, "give them with --predictions")
    code, _, err = run_cli(capsys, *base, "--predictions", str(bad), "--min-confidence", "2")
    assert_one_sentence_error(code, err, "--min-confidence must be from 0 to 1")
    assert not (tmp_path / "out").exists()
