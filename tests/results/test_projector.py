"""The Embedding Projector folder: its files parse as TensorBoard's projector plugin parses them (TSV rows, header,
values to the printed precision, sprite layout and size against the config), a thumbnail in the sprite is its image,
unreadable images leave grey tiles, nothing lands in the image folder, and TensorBoard itself serves the folder."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

from tests.conftest import write_class_folder
from workbench.errors import Cancelled, OutsideImageFolderError
from workbench.results.embeddings import Embedding
from workbench.results.export import ExportError, embeddings_file
from workbench.results.projector import (
    CONFIG_NAME,
    MISSING_GREY,
    ProjectorFiles,
    save_projector,
    sprite_grid,
)


def make_embedding(root: Path, dim: int = 6, seed: int = 0) -> Embedding:
    """An Embedding of every PNG under `root` (two classes, one unlabelled image), with random features."""
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    names = ["circle", "square"]
    labels = np.array([names.index(p.split("/")[0]) if "/" in p else -1 for p in paths], np.int64)
    rng = np.random.default_rng(seed)
    features = (rng.normal(size=(len(paths), dim)) * 10.0 ** rng.integers(-3, 3, size=(len(paths), dim))).astype(
        np.float32
    )
    return Embedding(root=root, paths=paths, labels=labels, class_names=names, features=features, mode="trained")


@pytest.fixture
def folder(tmp_path) -> Path:
    """7 images (a sprite of 3 x 3 tiles, two left empty): 3 circles, 3 squares, one unlabelled; 32 px squares."""
    root = write_class_folder(tmp_path / "images", per_class=3)
    Image.fromarray(np.full((20, 40, 3), (10, 200, 30), np.uint8)).save(root / "loose.png")  # not square
    return root


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").rstrip("\n").split("\n")]


def read_config(folder: Path) -> ProjectorConfig:
    config = ProjectorConfig()
    text_format.Parse((folder / CONFIG_NAME).read_text(encoding="utf-8"), config)
    return config


def test_files_parse_and_match_the_embeddings(folder, tmp_path):
    emb = make_embedding(folder)
    n, d = emb.features.shape
    clusters, outliers = np.arange(n) % 3, np.linspace(0.0, 1.0, n).astype(np.float32)
    files = save_projector(tmp_path / "proj", embeddings_file(emb, None, clusters, outliers), image_root=folder)
    assert isinstance(files, ProjectorFiles) and files.folder == (tmp_path / "proj").resolve()

    config = read_config(files.folder)
    (info,) = config.embeddings
    paths = {
        key: files.folder / value
        for key, value in (
            ("tensor", info.tensor_path),
            ("metadata", info.metadata_path),
            ("sprite", info.sprite.image_path),
        )
    }
    assert all(not Path(v).is_absolute() for v in (info.tensor_path, info.metadata_path, info.sprite.image_path))
    assert all(p.is_file() for p in paths.values()), paths
    assert info.tensor_name == "trained embeddings"

    vectors = read_tsv(paths["tensor"])
    assert len(vectors) == n and {len(row) for row in vectors} == {d}
    np.testing.assert_allclose(np.array(vectors, dtype=np.float64), emb.features, rtol=1e-6, atol=0)

    metadata = read_tsv(paths["metadata"])
    assert metadata[0] == ["path", "label", "cluster", "outlier_score"]
    assert len(metadata) == n + 1
    assert [row[0] for row in metadata[1:]] == [str(folder / p) for p in emb.paths]
    assert [row[1] for row in metadata[1:]] == emb.label_names() and "" in emb.label_names()
    assert [int(row[2]) for row in metadata[1:]] == clusters.tolist()
    np.testing.assert_allclose([float(row[3]) for row in metadata[1:]], outliers, rtol=1e-5)

    side = math.ceil(math.sqrt(n))
    tile_w, tile_h = info.sprite.single_image_dim
    assert tile_w == tile_h == files.thumbnail_px == 64  # 7 images: the largest tile
    with Image.open(paths["sprite"]) as im:
        assert im.size == (side * tile_w, side * tile_h) and im.mode == "RGB"
        sprite = np.asarray(im)
    for i, rel in enumerate(emb.paths):
        row, col = divmod(i, side)
        tile = sprite[row * tile_h : (row + 1) * tile_h, col * tile_w : (col + 1) * tile_w].astype(int)
        with Image.open(folder / rel) as src:
            w, h = src.size
            s = min(w, h)
            box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)  # the centre square
            expected = np.asarray(src.convert("RGB").resize((tile_w, tile_h), Image.Resampling.BICUBIC, box=box))
        assert np.abs(tile - expected.astype(int)).mean() < 3.0, rel
    assert not sprite[2 * tile_h :, 1 * tile_w :].any()  # the tiles after the last image stay black


def test_metadata_has_only_what_was_computed_and_no_tabs_inside_values(tmp_path):
    root = tmp_path / "images"
    (root / "circle").mkdir(parents=True)
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "circle" / "a\tb.png")  # a tab in a file name
    emb = make_embedding(root)
    save_projector(tmp_path / "proj", embeddings_file(emb), image_root=root)
    rows = read_tsv(tmp_path / "proj" / "metadata.tsv")
    assert rows == [["path", "label"], [str(root / "circle" / "a b.png"), "circle"]]


def test_missing_and_unreadable_images_leave_grey_tiles(folder, tmp_path):
    emb = make_embedding(folder)
    (folder / emb.paths[0]).unlink()
    (folder / emb.paths[1]).write_bytes(b"not an image")
    files = save_projector(tmp_path / "proj", embeddings_file(emb), image_root=folder)
    sprite = np.asarray(Image.open(files.sprite))
    t = files.thumbnail_px
    assert (sprite[:t, : 2 * t] == MISSING_GREY).all()
    assert not (sprite[:t, 2 * t : 3 * t] == MISSING_GREY).all()  # the third image is drawn


@pytest.mark.parametrize("n", [1, 2, 4, 5, 1024, 1025, 16_384, 100_000, 8192**2])
def test_sprite_fits_the_projector_limit(n):
    side, tile = sprite_grid(n)
    assert side == math.ceil(math.sqrt(n)) and (side - 1) ** 2 < n <= side**2
    assert tile == min(64, 8192 // side) and 1 <= side * tile <= 8192


def test_too_many_images_for_a_sprite_is_one_sentence():
    with pytest.raises(ExportError, match="do not fit"):
        sprite_grid(8192**2 + 1)


def test_refuses_a_folder_inside_the_image_folder(folder):
    emb = make_embedding(folder)
    with pytest.raises(OutsideImageFolderError, match="inside the image folder"):
        save_projector(folder / "circle" / "proj", embeddings_file(emb), image_root=folder)
    assert not (folder / "circle" / "proj").exists()


def test_stops_when_asked(folder, tmp_path):
    from workbench.engine.report import NullReporter

    class Stop(NullReporter):
        def should_stop(self) -> bool:
            return True

    with pytest.raises(Cancelled):
        save_projector(tmp_path / "proj", embeddings_file(make_embedding(folder)), reporter=Stop())
    assert not (tmp_path / "proj" / CONFIG_NAME).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@pytest.mark.slow
def test_tensorboard_serves_the_folder(folder, tmp_path):
    """What a user does: `tensorboard --logdir FOLDER`; the projector plugin lists the tensor and serves its rows,
    metadata and sprite."""
    emb = make_embedding(folder)
    files = save_projector(tmp_path / "proj", embeddings_file(emb, clusters=np.zeros(len(emb))), image_root=folder)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(files.folder), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://localhost:{port}/data/plugin/projector"
    try:
        deadline = time.monotonic() + 120
        while True:  # a server starting up: poll until it answers (or give up)
            try:
                runs = json.loads(_get(f"{base}/runs"))
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "TensorBoard did not answer"
                time.sleep(0.5)
        assert runs == ["."]
        info = json.loads(_get(f"{base}/info?run=."))
        (embedding,) = info["embeddings"]
        assert embedding["tensorName"] == "trained embeddings"
        assert [int(v) for v in embedding["tensorShape"]] == list(emb.features.shape)
        query = urllib.parse.urlencode({"run": ".", "name": embedding["tensorName"]})
        tensor = np.frombuffer(_get(f"{base}/tensor?{query}"), np.float32).reshape(emb.features.shape)
        np.testing.assert_allclose(tensor, emb.features, rtol=1e-6)
        metadata = _get(f"{base}/metadata?{query}").decode().splitlines()
        assert metadata[0] == "path\tlabel\tcluster" and len(metadata) == len(emb) + 1
        assert _get(f"{base}/sprite_image?{query}") == files.sprite.read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
