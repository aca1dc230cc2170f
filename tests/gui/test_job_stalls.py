"""What the long jobs' stall fixes (issue 16) must keep: the window is never frozen by a full garbage collection of
the imported libraries, by a settings file flushed to disk at Start, or by the TensorBoard writer's imports at a
run's first step; the recipe is still remembered, later garbage still freed."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

import workbench.methods  # noqa: F401  (registries: the catalog worker then imports nothing)
from tests.gui.test_explore_view import _open, make_view, small_run  # noqa: F401  (fixtures)
from tests.gui.test_train_view import runs_dir, tiny, train_window, wait_idle  # noqa: F401  (runs_dir is a fixture)
from workbench.gui.gc_policy import FREEZE_AFTER_MODULES, GuiThreadCollector
from workbench.gui.widgets import train_settings

ROOT = Path(__file__).resolve().parents[2]


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _full_collection_due(collector: GuiThreadCollector) -> list:
    """Counts as after many allocations: every generation past its threshold (gc.collect(n) counts one collection
    of the next generation)."""
    for _ in range(collector.thresholds[2] + 1):
        gc.collect(1)
    for _ in range(collector.thresholds[1] + 1):
        gc.collect(0)
    keep = [[] for _ in range(2 * collector.thresholds[0])]
    assert all(c > t for c, t in zip(gc.get_count(), collector.thresholds, strict=True)), gc.get_count()
    return keep


def test_after_imports_the_collector_freezes_what_they_made_and_collects_what_comes_later(qapp):
    gc.collect()
    collector = GuiThreadCollector(qapp, interval_ms=60_000)  # the test calls collect_due itself
    try:
        old = len(gc.get_objects())  # what the imports made (torch, Qt, ...): ~10^5 objects
        collector.frozen_at_modules = len(sys.modules) - FREEZE_AFTER_MODULES  # as after importing that many modules
        collector.collect_due()  # the next tick
        assert gc.get_freeze_count() >= old  # never walked by a collection again
        assert len(gc.get_objects()) < 0.1 * old  # what a full collection walks now
        assert collector.frozen_at_modules == len(sys.modules) and gc.get_count()[0] < collector.thresholds[0]

        # No imports since: a due collection is a real one, and frees a cycle made after the freeze.
        frozen = gc.get_freeze_count()
        cycle = _Node()
        alive = weakref.ref(cycle)
        del cycle
        keep = _full_collection_due(collector)
        collector.collect_due()
        del keep
        assert alive() is None and gc.get_freeze_count() <= frozen  # no new freeze (refcounting frees frozen lists)
    finally:
        collector.uninstall()
    assert gc.get_freeze_count() == 0 and gc.isenabled()  # uninstalled: back to the interpreter's own collector


@pytest.mark.usefixtures("runs_dir")
def test_start_writes_the_recipe_on_a_worker_and_it_is_recalled(qtbot, make_window, image_folder, monkeypatch):
    writes: list[tuple[str, str]] = []
    write = train_settings._write_setting

    def recording(path, fmt, key, value):
        writes.append((threading.current_thread().name, key))
        write(path, fmt, key, value)

    monkeypatch.setattr(train_settings, "_write_setting", recording)
    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1, max_steps=2)
    view.form.batch_size.setValue(4)
    assert view.start()
    qtbot.waitUntil(lambda: bool(writes), timeout=10_000)
    wait_idle(qtbot, view)
    assert writes[0][1] == train_settings.RECIPE_KEY
    assert writes[0][0] != threading.main_thread().name  # the file flushed to disk on a worker, not at Start
    fresh = QSettings(view.store.fileName(), view.store.format())  # what the next launch reads
    assert json.loads(str(fresh.value(train_settings.RECIPE_KEY)))["train"]["batch_size"] == 4


def test_after_the_catalog_the_first_step_imports_nothing():
    """The catalog worker (run as the Train workspace opens) imports what a run's start-up and first step need:
    the engine and the TensorBoard writer (~180 modules), so no import runs while the window starts training."""
    code = """
import sys, tempfile
from pathlib import Path
from workbench.gui.train_tasks import load_catalog
load_catalog()
before = set(sys.modules)
from workbench.engine.fit import fit
from workbench.engine.tensorboard import CurveLog
from workbench.results.embeddings import embed_after_training
log = CurveLog.open(Path(tempfile.mkdtemp()))  # what the first logged step opens
log.scalars(1, {"loss": 1.0})
log.close()
print(sorted(set(sys.modules) - before))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_map_brings_its_labels_so_the_gui_thread_reads_no_run_config(qtbot, make_view, small_run, monkeypatch):  # noqa: F811
    from workbench.engine.runs import RunDir
    from workbench.results import embeddings

    threads: list[str] = []
    default_folder = embeddings.default_folder
    monkeypatch.setattr(
        embeddings,
        "default_folder",
        lambda run: (threads.append(threading.current_thread().name), default_folder(run))[1],
    )
    view = make_view()
    _open(qtbot, view, small_run)
    labels = view.labels
    assert threads and threading.main_thread().name not in threads  # the run's config read with the map, on a worker
    assert labels.labels_file() == RunDir(small_run).labels_path  # the folder it trained on: the run's own file
    assert labels.labels.paths == view.embedding().paths and labels.labels.has_folder_labels  # the subfolders
