"""The first map's worker work grows with the number of images only in numpy and in the one path -> row index (issue
13: at 1,000,000 images every extra per-row Python structure costs the first map about a second)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

import workbench.results.finetune  # noqa: F401 - prepare_map imports it: its import is not what is measured
from workbench.gui import explore_tasks as tasks
from workbench.results.embeddings import Embedding

N = 200_000


class State:
    def message(self, _text):
        pass

    def check(self):
        pass


def _embedding(root: Path) -> Embedding:
    labels = np.arange(N, dtype=np.int64) % 10
    paths = [f"class{c}/{i:07d}.png" for i, c in enumerate(labels.tolist())]
    features = np.zeros((N, 2), dtype=np.float32)  # the PCA is not measured here (quick_map is replaced)
    return Embedding(root, paths, labels, [f"class{c}" for c in range(10)], features, "trained")


def _traced(build):
    """(result, peak bytes traced while building it, Python blocks it left alive)."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        result = build()
        _, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    return result, peak, sum(s.count_diff for s in after.compare_to(before, "filename") if s.count_diff > 0)


def test_prepare_map_builds_one_index_of_the_paths_and_no_more(tmp_path: Path, monkeypatch):
    emb = _embedding(tmp_path)
    monkeypatch.setattr(tasks, "quick_map", lambda f: np.zeros((len(f), 2), dtype=np.float32))
    # The reference: Find's path -> row dict, the one per-row structure the map needs (a dict and an int per row)
    _, index_peak, index_blocks = _traced(lambda: {p: i for i, p in enumerate(emb.paths)})
    assert index_blocks > N // 2  # the measure sees per-row objects
    data, peak, blocks = _traced(lambda: tasks.prepare_map(emb, State()))
    # Allowed beside the index: the label set's copy of the path list and a few arrays of N entries. A second index
    # (the label set's own, or folder labels by path) doubles both figures; the old code had 2.6 x the peak.
    assert peak < 1.5 * index_peak, (peak, index_peak)
    assert blocks < 1.3 * index_blocks, (blocks, index_blocks)
    # ... and the label set still answers as the folder says
    labels = data.label_set
    assert labels.has_folder_labels and len(labels) == 0
    labels.set_use_folder(True)
    assert labels.label_of(12_345) == "class5" and labels.label_of("class7/0000017.png") == "class7"
    assert len(labels) == N and labels.counts() == {f"class{c}": N // 10 for c in range(10)}
    assert data.rows_by_path["class3/0199993.png"] == 199_993
