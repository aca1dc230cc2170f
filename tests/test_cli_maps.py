"""`workbench embed --projector DIR --parquet FILE`: the folder and the table hold what the .npz holds; a place inside
the image folder or a missing library is one sentence before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.results.test_embeddings import make_run
from tests.test_cli import assert_one_sentence_error, run_cli
from workbench.results.export import load_embeddings_npz
from workbench.results.projector import CONFIG_NAME


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory) -> tuple[Path, Path]:
    from tests.conftest import write_class_folder

    root = tmp_path_factory.mktemp("maps")
    data = write_class_folder(root / "images", per_class=5)
    return make_run(data, root / "run"), data


def test_embed_writes_the_projector_folder_and_the_parquet_table(run_and_data, capsys, tmp_path):
    run, data = run_and_data
    out, projector, parquet = tmp_path / "emb.npz", tmp_path / "proj", tmp_path / "emb.parquet"
    code, stdout, _ = run_cli(
        capsys, "embed", str(run), "--data", str(data), "--out", str(out), "--device", "cpu",
        "--projector", str(projector), "--parquet", str(parquet),
    )  # fmt: skip
    assert code == 0
    assert f"tensorboard --logdir {projector.resolve()}" in stdout and str(parquet.resolve()) in stdout
    saved = load_embeddings_npz(out)
    n, d = saved.embeddings.shape
    assert n == 10

    assert (projector / CONFIG_NAME).is_file()
    vectors = np.loadtxt(projector / "vectors.tsv", delimiter="\t", ndmin=2)
    assert vectors.shape == (n, d)
    np.testing.assert_allclose(vectors, saved.embeddings, rtol=1e-6, atol=1e-12)
    metadata = (projector / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert metadata[0] == "path\tlabel" and [line.split("\t")[0] for line in metadata[1:]] == saved.paths

    frame = pd.read_parquet(parquet)
    assert frame["path"].tolist() == saved.paths and frame["label"].tolist() == saved.labels
    np.testing.assert_array_equal(np.stack(frame["embedding"].to_numpy()), saved.embeddings)
    assert frame["x"].isna().all()  # no --umap: no map


def test_a_projector_folder_inside_the_images_is_refused_before_any_work(run_and_data, capsys, tmp_path):
    run, data = run_and_data
    out = tmp_path / "emb.npz"
    code, _, err = run_cli(
        capsys, "embed", str(run), "--data", str(data), "--out", str(out), "--projector", str(data / "proj")
    )
    assert_one_sentence_error(code, err, "--projector", "inside the image folder")
    assert not out.exists() and not (data / "proj").exists()


def test_parquet_without_pandas_is_one_sentence_before_any_work(run_and_data, capsys, tmp_path, monkeypatch):
    run, data = run_and_data
    monkeypatch.setitem(sys.modules, "pandas", None)
    out = tmp_path / "emb.npz"
    code, _, err = run_cli(
        capsys, "embed", str(run), "--data", str(data), "--out", str(out), "--parquet", str(tmp_path / "e.parquet")
    )
    assert_one_sentence_error(code, err, "pip install 'ssl-workbench[parquet]'")
    assert not out.exists()
