"""The embeddings file as a table: one call gives a DataFrame equal to the .npz's arrays; the Parquet file holds the
same (types readable without pandas, and pandas reads back the same DataFrame); missing libraries are one sentence;
nothing is written in the image folder."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.results.test_projector import make_embedding
from workbench.errors import OutsideImageFolderError
from workbench.results.export import ExportError, embeddings_file, load_embeddings_npz, save_embeddings_npz
from workbench.results.tables import COLUMNS, embeddings_dataframe, save_embeddings_parquet


@pytest.fixture
def npz(image_folder, tmp_path):
    """An embeddings file with every optional array, written by the one writer (save_embeddings_npz)."""
    emb = make_embedding(image_folder)
    n = len(emb)
    rng = np.random.default_rng(1)
    xy, clusters, outliers = rng.normal(size=(n, 2)), np.arange(n) % 4, rng.random(n)
    return save_embeddings_npz(tmp_path / "emb.npz", emb, xy, clusters, outliers)


def assert_frame_matches_npz(frame: pd.DataFrame, path) -> None:
    with np.load(path, allow_pickle=False) as f:
        a = {k: f[k] for k in f.files}
    n = len(a["paths"])
    assert list(frame.columns) == list(COLUMNS) and len(frame) == n
    assert frame["path"].tolist() == a["paths"].tolist() and frame["label"].tolist() == a["labels"].tolist()
    np.testing.assert_array_equal(frame[["x", "y"]].to_numpy(np.float32), a["xy"])
    assert frame["cluster"].tolist() == a["cluster"].tolist()
    np.testing.assert_array_equal(frame["outlier_score"].to_numpy(np.float32), a["outlier_score"])
    vectors = np.stack(frame["embedding"].to_numpy())
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, a["embeddings"])
    assert frame.attrs == {"format": 1, "mode": "trained", "class_names": a["class_names"].tolist()}


def test_the_dataframe_equals_the_npz(npz):
    frame = embeddings_dataframe(npz)  # the documented call
    assert_frame_matches_npz(frame, npz)
    assert str(frame["cluster"].dtype) == "Int64" and frame["x"].dtype == np.float32
    assert_frame_matches_npz(embeddings_dataframe(load_embeddings_npz(npz)), npz)  # a loaded file, the same


def test_not_computed_columns_are_missing_values(image_folder):
    frame = embeddings_dataframe(embeddings_file(make_embedding(image_folder)))
    assert list(frame.columns) == list(COLUMNS)
    assert frame[["x", "y", "outlier_score"]].isna().all().all() and frame["cluster"].isna().all()
    assert frame["path"].notna().all() and frame["embedding"].notna().all()


def test_parquet_round_trip_equals_the_npz(npz, tmp_path):
    ef = load_embeddings_npz(npz)
    path = save_embeddings_parquet(tmp_path / "emb.parquet", ef)
    table = pq.read_table(path)  # without pandas: the types a pyarrow / DuckDB / Polars user meets
    d = ef.embeddings.shape[1]
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), d)
    assert table.schema.field("cluster").type == pa.int64() and table.schema.field("x").type == pa.float32()
    flat = table.column("embedding").combine_chunks().flatten().to_numpy()
    np.testing.assert_array_equal(flat, ef.embeddings.ravel())
    assert table.column("path").to_pylist() == ef.paths
    back = pd.read_parquet(path)
    assert_frame_matches_npz(back, npz)
    expected = embeddings_dataframe(ef)
    pd.testing.assert_frame_equal(back.drop(columns="embedding"), expected.drop(columns="embedding"))


def test_parquet_keeps_missing_values_as_nulls(image_folder, tmp_path):
    path = save_embeddings_parquet(tmp_path / "e.parquet", embeddings_file(make_embedding(image_folder)))
    table = pq.read_table(path)
    assert all(table.column(c).null_count == len(table) for c in ("x", "y", "cluster", "outlier_score"))
    back = pd.read_parquet(path)
    assert str(back["cluster"].dtype) == "Int64" and back["x"].isna().all()


def test_parquet_refuses_the_image_folder(image_folder):
    ef = embeddings_file(make_embedding(image_folder))
    with pytest.raises(OutsideImageFolderError, match="inside the image folder"):
        save_embeddings_parquet(image_folder / "emb.parquet", ef, image_root=image_folder)
    assert not (image_folder / "emb.parquet").exists()


@pytest.mark.parametrize("module", ["pandas", "pyarrow"])
def test_a_missing_library_is_one_sentence_naming_the_extra(module, monkeypatch, npz, tmp_path):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    monkeypatch.delitem(sys.modules, "pyarrow.parquet", raising=False)
    with pytest.raises(ExportError, match=r"pip install 'ssl-workbench\[parquet\]'") as caught:
        save_embeddings_parquet(tmp_path / "e.parquet", load_embeddings_npz(npz))
    assert "Parquet export needs pandas and pyarrow" in str(caught.value)
    assert not (tmp_path / "e.parquet").exists()
    if module == "pandas":
        with pytest.raises(ExportError, match=r"needs pandas, which is not installed here: pip install"):
            embeddings_dataframe(npz)
