"""Exports load back: the embeddings file (.npz, one schema, read by load_embeddings_npz), CSV, selected paths (TXT,
CSV), the encoder (state_dict, TorchScript)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from tests.conftest import write_class_folder
from tests.results.test_embeddings import make_run
from workbench.augment.views import prepare
from workbench.errors import OutsideImageFolderError
from workbench.results.embeddings import compute_embeddings
from workbench.results.evaluate import load_encoder
from workbench.results.export import (
    CSV_COLUMNS,
    EMBEDDINGS_FORMAT,
    ExportError,
    export_encoder,
    load_embeddings_npz,
    load_exported_encoder,
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


REQUIRED = {"format", "mode", "paths", "embeddings", "labels", "class_names"}


def test_npz_round_trips_every_field_and_opens_without_pickle(emb, tmp_path):
    xy = np.arange(32, dtype=np.float64).reshape(16, 2)  # stored as float32, as the schema says
    clusters, scores = np.arange(16, dtype=np.int32) % 3, np.linspace(0, 1, 16)
    path = save_embeddings_npz(tmp_path / "out" / "emb.npz", emb, xy, clusters, scores)
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == REQUIRED | {"xy", "cluster", "outlier_score"}
        assert f["embeddings"].dtype == np.float32 and f["xy"].dtype == np.float32
        assert f["cluster"].dtype == np.int64 and f["outlier_score"].dtype == np.float32
        assert int(f["format"]) == EMBEDDINGS_FORMAT and str(f["mode"]) == "trained"
    back = load_embeddings_npz(path)
    assert back.format == EMBEDDINGS_FORMAT and back.mode == "trained" and len(back) == 16
    assert back.paths == [str(emb.path(i)) for i in range(16)] and all(p.startswith("/") for p in back.paths)
    np.testing.assert_array_equal(back.embeddings, emb.features)
    assert back.labels == ["circle"] * 8 + ["square"] * 8 and back.class_names == ["circle", "square"]
    np.testing.assert_array_equal(back.xy, xy.astype(np.float32))
    np.testing.assert_array_equal(back.cluster, clusters)
    np.testing.assert_array_equal(back.outlier_score, scores.astype(np.float32))
    bare = load_embeddings_npz(save_embeddings_npz(tmp_path / "bare.npz", emb))
    assert bare.xy is None and bare.cluster is None and bare.outlier_score is None
    with np.load(tmp_path / "bare.npz", allow_pickle=False) as f:
        assert set(f.files) == REQUIRED
    with pytest.raises(ValueError, match="xy has 3 rows"):
        save_embeddings_npz(tmp_path / "bad.npz", emb, xy[:3])
    with pytest.raises(ValueError, match=r"xy must have shape \(16, 2\)"):
        save_embeddings_npz(tmp_path / "bad.npz", emb, np.zeros((16, 3)))


def test_an_unlabelled_folder_writes_empty_labels_and_no_class_names(run, tmp_path):
    src, loose = write_class_folder(tmp_path / "src", per_class=2), tmp_path / "loose"
    loose.mkdir()
    for image in sorted(src.glob("*/*.png")):  # the images straight in the folder: no class subfolder
        image.rename(loose / f"{image.parent.name}-{image.name}")
    emb = compute_embeddings(run, loose, "raw")
    path = save_embeddings_npz(tmp_path / "loose.npz", emb)
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == REQUIRED
        assert f["labels"].tolist() == [""] * 4 and f["class_names"].shape == (0,)
    back = load_embeddings_npz(path)
    assert back.labels == [""] * 4 and back.class_names == [] and back.mode == "raw"


def test_a_file_of_another_schema_is_one_sentence(tmp_path):
    old = tmp_path / "old.npz"
    np.savez(old, paths=np.array(["a.png"]), embeddings=np.zeros((1, 2), np.float32), umap=np.zeros((1, 2)))
    with pytest.raises(ExportError, match=r"lacks format, mode, labels, class_names\); read it with numpy.load"):
        load_embeddings_npz(old)
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{name: np.array(EMBEDDINGS_FORMAT + 1) for name in REQUIRED})
    with pytest.raises(ExportError, match=f"format {EMBEDDINGS_FORMAT + 1}; this version reads up to"):
        load_embeddings_npz(newer)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="cannot be read as an .npz file"):
        load_embeddings_npz(tmp_path / "junk.npz")


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
