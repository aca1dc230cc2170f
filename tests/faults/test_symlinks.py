"""Exports and caches that would follow a symbolic link into the image folder are refused like direct paths: a
linked folder, a linked file (even one whose target does not exist yet), the run folder's embeddings cache, the
image cache and the run folder itself."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.engine.test_fit import tiny_config
from workbench.data import load_images
from workbench.engine.fit import fit
from workbench.errors import OutsideImageFolderError
from workbench.files import ensure_outside
from workbench.results.embeddings import EMBEDDINGS_DIR, Embedding, compute_embeddings
from workbench.results.export import save_embeddings_csv, save_embeddings_npz

pytestmark = pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")


def embedding(images) -> Embedding:
    paths = sorted(p.relative_to(images).as_posix() for p in images.rglob("*.png"))
    n = len(paths)
    return Embedding(images, paths, np.zeros(n, np.int64), ["circle"], np.zeros((n, 2), np.float32), "raw")


def test_exports_through_a_linked_folder_or_a_linked_file_are_refused(image_folder, tmp_path):
    emb = embedding(image_folder)
    (tmp_path / "out").mkdir()
    linked_folder = tmp_path / "out" / "into-images"
    linked_folder.symlink_to(image_folder / "circle", target_is_directory=True)
    linked_file = tmp_path / "out" / "emb.npz"
    linked_file.symlink_to(image_folder / "emb.npz")  # dangling: would be created inside the image folder
    for target, save in [
        (linked_folder / "emb.npz", save_embeddings_npz),
        (linked_folder / "deeper" / "emb.csv", save_embeddings_csv),
        (linked_file, save_embeddings_npz),
    ]:
        with pytest.raises(OutsideImageFolderError, match="is inside the image folder"):
            save(target, emb)
    assert sorted(p.name for p in image_folder.rglob("*") if p.is_file() and p.suffix != ".png") == []
    with pytest.raises(OutsideImageFolderError):
        ensure_outside(linked_folder / "new" / "file.csv", image_folder)  # links resolved, missing parts too


def test_caches_and_run_folders_through_links_are_refused_or_skipped(image_folder, tmp_path):
    link = tmp_path / "cache-link"
    link.symlink_to(image_folder, target_is_directory=True)
    with pytest.raises(OutsideImageFolderError, match="The cache folder"):
        load_images(image_folder, 16, cache_dir=link / "cache", workers=0)
    config = tiny_config(image_folder, max_steps=1, monitor_every_epochs=0)
    config.data.image_size = 16
    with pytest.raises(OutsideImageFolderError, match="The run folder"):
        fit(config, link / "run")
    fit(config, tmp_path / "run")
    (tmp_path / "run" / EMBEDDINGS_DIR).symlink_to(image_folder / "square", target_is_directory=True)
    before = sorted(image_folder.rglob("*"))
    emb = compute_embeddings(tmp_path / "run", image_folder, "raw")
    assert len(emb) == 16 and emb.key == ""  # computed, not cached
    assert sorted(image_folder.rglob("*")) == before  # nothing written through the link
