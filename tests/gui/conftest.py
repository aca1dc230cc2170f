"""GUI fixtures: settings in a temp folder, and a main-window factory that fails if work outlives the window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from workbench.gui.worker import active_threads


@pytest.fixture(autouse=True)
def settings_dir(tmp_path: Path) -> Path:
    """Each test starts as a first launch: QSettings point at a fresh temp folder (never the user's)."""
    folder = tmp_path / "settings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


def assert_no_work_left() -> None:
    QApplication.processEvents()
    assert active_threads() == 0, "a background task is still running after its window closed"


@pytest.fixture
def make_window(qtbot):
    """make_window(data=None) -> a shown MainWindow; closed at the end, then no worker may still run."""
    from workbench.gui.app import MainWindow

    windows = []

    def make(data: str | Path | None = None, warm_up: bool = False) -> MainWindow:
        window = MainWindow(data, warm_up=warm_up)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make
    for window in windows:
        window.close()
    assert_no_work_left()
    for window in windows:
        window.deleteLater()
