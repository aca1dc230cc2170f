"""Each workspace runs alone (`python -m workbench.gui.data_view` / `augment_view`) on a folder."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import assert_no_work_left
from workbench.gui import augment_view, data_view
from workbench.gui.standalone import StandaloneWindow


def _run_until(qapp, ready, main, folder) -> StandaloneWindow:
    """Run main([folder]) (its own event loop) and close its window once ready(workspace) or after 30 s."""
    seen = {}
    deadline = time.monotonic() + 30

    def poll():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, StandaloneWindow) and w.isVisible()]
        if windows and (ready(windows[0].workspace) or time.monotonic() > deadline):
            seen["window"] = windows[0]
            seen["ready"] = ready(windows[0].workspace)
            windows[0].close()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    assert main([str(folder)]) == 0
    assert seen["ready"], "the workspace did not get ready on its own"
    assert_no_work_left()
    return seen["window"]


def test_data_view_runs_alone(qapp, image_folder):
    window = _run_until(qapp, lambda w: w.report() is not None and w.model.cached_rows(), data_view.main, image_folder)
    assert window.windowTitle() == "SSL Workbench — Data"


def test_augment_view_runs_alone(qapp, image_folder):
    window = _run_until(qapp, lambda w: w.last_preview is not None, augment_view.main, image_folder)
    assert window.workspace.last_preview.views.shape[:2] == (2, 6)
