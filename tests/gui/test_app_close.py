"""Closing the window during a long background job: the window goes within 2 s, the run stays resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.gui.test_train_view import last_step, runs_dir, tiny, train_window  # noqa: F401 (runs_dir: a fixture)
from workbench.engine.trainer import Trainer
from workbench.gui.app import CLOSE_WAIT_S

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.usefixtures("runs_dir")  # the app's runs folder in tmp_path
def test_closing_during_a_long_step_returns_within_two_seconds(qtbot, make_window, image_folder, monkeypatch):
    window, view = train_window(qtbot, make_window, image_folder)
    tiny(view, epochs=1000)
    in_long_step, release = threading.Event(), threading.Event()
    step = Trainer.step

    def slow_step(self, views, progress, index):  # the third step takes as long as a big model's would
        if index == 2:
            in_long_step.set()
            release.wait(60)
        return step(self, views, progress, index)

    monkeypatch.setattr(Trainer, "step", slow_step)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.start_button.click()
    qtbot.waitUntil(in_long_step.is_set, timeout=30_000)

    started = time.monotonic()
    assert window.close()
    took = time.monotonic() - started
    assert took < 2.0, f"closing took {took:.2f} s"
    assert CLOSE_WAIT_S <= took + 0.1  # it did wait for a clean stop first
    assert not window.isVisible()

    release.set()  # the step ends; the stop asked for at close is then honoured: a clean, resumable stop
    assert view.job.wait(30.0)
    status = json.loads((view.run_dir / "run.json").read_text())
    assert status["status"] == "stopped" and status["step"] == 3
    assert last_step(view) >= 2


def test_the_app_process_exits_without_waiting_for_a_busy_thread(tmp_path):
    """run_app: a worker still busy after the window closed does not keep the process alive."""
    script = textwrap.dedent(
        """
        import time
        from PySide6.QtCore import QThread, QTimer
        from PySide6.QtWidgets import QApplication
        from workbench.gui import app
        from workbench.gui.worker import register_thread

        class Busy(QThread):
            def run(self):
                time.sleep(60)  # a step that cannot be interrupted

        qapp = QApplication([])  # before the timer: it needs the application's event loop
        busy = Busy()
        register_thread(busy)
        busy.start()
        QTimer.singleShot(1500, QApplication.closeAllWindows)
        raise SystemExit(app.run_app(None))
        """
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=50)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert time.monotonic() - started < 45  # well before the busy thread's 60 s
    assert "busy at exit" in done.stderr.decode()
