"""Exports load back: embeddings (.npz, CSV), selected paths (TXT, CSV), the encoder (state_dict, TorchScript)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from tests.results.test_embeddings import make_run
from workbench.augment.views import prepare
from workbench.errors import OutsideImageFolderError
from workbench.results.embeddings import compute_embeddings
from workbench.results.evaluate import load_encoder
from workbench.results.export import (
    CSV_COLUMNS,
    ExportError,
    export_encoder,
    load_exported_encoder,
    onnx_available,
    read_paths,
    save_embeddings_csv,
    save_embeddings_npz,
    save_paths,
)


@pytest.fixture
def run(image_folder, tmp_path):
    return make_run(image_folder, tmp_path / "run")


@pytest.fixture
def emb(run, image_folder, one_torch_thread):
    return compute_embeddings(run, image_folder, "trained", device="cpu")


def test_npz_loads_back_with_every_column(emb, tmp_path):
    xy = np.arange(32, dtype=np.float32).reshape(16, 2)
    clusters, scores = np.arange(16) % 3, np.linspace(0, 1, 16, dtype=np.float32)
    path = save_embeddings_npz(tmp_path / "out" / "emb.npz", emb, xy, clusters, scores)
    with np.load(path) as f:  # no pickle needed
        assert f["paths"].tolist() == [str(emb.path(i)) for i in range(16)]
        np.testing.assert_array_equal(f["embeddings"], emb.features)
        assert f["labels"].tolist() == ["circle"] * 8 + ["square"] * 8
        np.testing.assert_array_equal(f["xy"], xy)
        np.testing.assert_array_equal(f["cluster"], clusters)
        np.testing.assert_array_equal(f["outlier_score"], scores)
        assert str(f["mode"]) == "trained"
    with np.load(save_embeddings_npz(tmp_path / "bare.npz", emb)) as f:
        assert "xy" not in f and "cluster" not in f
    with pytest.raises(ValueError, match="xy has 3 rows"):
        save_embeddings_npz(tmp_path / "bad.npz", emb, xy[:3])


def test_csv_has_one_row_per_image_and_blank_columns_not_computed(emb, tmp_path):
    xy = np.array([[i * 0.5, -i] for i in range(16)], dtype=np.float32)
    path = save_embeddings_csv(tmp_path / "emb.csv", emb, xy, outliers=np.full(16, 0.25))
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 16
    assert rows[3] == {
        "path": str(emb.path(3)),
        "label": "circle",
        "x": "1.5",
        "y": "-3",
        "cluster": "",
        "outlier_score": "0.25",
    }


def test_paths_as_txt_and_csv_and_never_inside_the_image_folder(emb, tmp_path, image_folder):
    paths = [str(emb.path(i)) for i in (1, 5, 9)] + [str(tmp_path / 'odd, name "quoted".png')]
    for name in ("sel.txt", "sel.csv"):
        assert read_paths(save_paths(tmp_path / name, paths, emb.root)) == paths
    with pytest.raises(OutsideImageFolderError, match="^The export '.*' is inside the image folder"):
        save_paths(image_folder / "circle" / "sel.txt", paths, emb.root)
    with pytest.raises(OutsideImageFolderError, match="^The export '.*' is inside the image folder"):
        save_embeddings_npz(image_folder / "emb.npz", emb)
    assert not (image_folder / "emb.npz").exists()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_encoder_state_dict_and_torchscript_reproduce_the_embeddings(run, emb, image_folder, tmp_path):
    files = export_encoder(run, tmp_path / "export")
    assert set(files) == {"state_dict", "torchscript"}
    config, _ = load_encoder(run, device="cpu")
    from workbench.data import load_images

    images = load_images(image_folder, config.data.image_size, workers=0).images  # uint8 (16, 3, 16, 16)
    meta, rebuilt = load_exported_encoder(files["state_dict"])
    assert meta["encoder"] == "small-cnn" and meta["image_size"] == 16 and meta["feature_dim"] == emb.features.shape[1]
    assert meta["config"]["model"]["encoder"] == "small-cnn" and len(meta["mean"]) == 3
    with torch.no_grad():
        from_state = rebuilt.represent(prepare(config.augment, images), meta["representation"])
        scripted = torch.jit.load(str(files["torchscript"]))
        from_script = scripted(images.float() / 255.0)  # takes [0, 1] RGB, normalises inside
    np.testing.assert_allclose(from_state.numpy(), emb.features, atol=1e-4)
    np.testing.assert_allclose(from_script.numpy(), emb.features, atol=1e-4)
    untrained = export_encoder(run, tmp_path / "u", stem="untrained", trained=False)
    assert torch.load(untrained["state_dict"], weights_only=True)["trained"] is False


def test_onnx_says_in_one_sentence_when_it_cannot(run, tmp_path):
    if onnx_available():
        pytest.skip("onnx is installed here")
    with pytest.raises(ExportError, match=r"needs the 'onnx' package, which is not installed"):
        export_encoder(run, tmp_path / "x", onnx=True)
