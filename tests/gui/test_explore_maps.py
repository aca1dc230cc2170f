"""Explore's Export menu → "For the Embedding Projector…" and "Embeddings and map (Parquet)…": chosen through the
menu, written in the background, holding the map as shown (clusters included); a folder inside the images is one
sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.gui.test_explore_view import TIMEOUT, _open, make_view, small_run  # noqa: F401 (fixtures)
from workbench.results.projector import CONFIG_NAME


def _action(view, text: str):
    (action,) = [a for a in view.controls.export_button.menu().actions() if a.text() == text]
    return action


@pytest.mark.slow
def test_projector_and_parquet_from_the_export_menu(qtbot, make_view, small_run, tmp_path, monkeypatch):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    emb = view.embedding()
    with qtbot.waitSignal(view.colours_ready, timeout=TIMEOUT):
        view.set_colour_mode("cluster", k=2)

    folder = tmp_path / "projector"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(view.status, timeout=TIMEOUT, check_params_cb=lambda t: "Embedding Projector" in t):
        _action(view, "For the Embedding Projector…").trigger()
    assert (folder / CONFIG_NAME).is_file()
    rows = (folder / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "path\tlabel\tcluster" and len(rows) == len(emb) + 1
    assert [int(r.split("\t")[2]) for r in rows[1:]] == view.colour.clusters.tolist()
    vectors = np.loadtxt(folder / "vectors.tsv", delimiter="\t", ndmin=2)
    np.testing.assert_allclose(vectors, emb.features, rtol=1e-6, atol=1e-12)

    table = tmp_path / "emb.parquet"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(table), "*.parquet"))
    with qtbot.waitSignal(view.status, timeout=TIMEOUT, check_params_cb=lambda t: "emb.parquet" in t):
        _action(view, "Embeddings and map (Parquet)…").trigger()
    frame = pd.read_parquet(table)
    assert frame["path"].tolist() == [str(emb.path(i)) for i in range(len(emb))]
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy(), view.xy)
    assert frame["cluster"].tolist() == view.colour.clusters.tolist()
    np.testing.assert_array_equal(np.stack(frame["embedding"].to_numpy()), emb.features)


def test_a_projector_folder_inside_the_images_is_one_sentence(qtbot, make_view, small_run, image_folder):  # noqa: F811
    view = make_view()
    _open(qtbot, view, small_run)
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as failed:
        view.export_projector(image_folder / "projector")
    assert "inside the image folder" in failed.args[0]
    assert not (image_folder / "projector").exists()
