"""GUI fixtures: settings in a temp folder, and a main-window factory that fails if work outlives the window."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from workbench.gui.gc_policy import install_gui_collector, uninstall_gui_collector
from workbench.gui.worker import active_threads


@pytest.fixture(autouse=True)
def settings_dir(tmp_path: Path) -> Path:
    """Each test starts as a first launch: QSettings point at a fresh temp folder (never the user's)."""
    folder = tmp_path / "settings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True, scope="module")
def gui_thread_garbage_collection(qapp):
    """As in the app (workbench/gui/gc_policy.py): garbage is collected only on the GUI thread while GUI tests run,
    never on a training or pool thread (that deadlocked: ~QObject on a worker vs widget deletion on the GUI thread)."""
    install_gui_collector(qapp)
    yield
    uninstall_gui_collector()


@pytest.fixture(autouse=True)
def single_threaded_torch():
    """Torch ops on worker threads run on one OpenMP thread in GUI tests. A oneDNN convolution on a training
    thread was seen spinning forever in an OpenMP barrier (1 run in ~20 on this 2-core machine, others busy);
    without an OpenMP team there is no barrier to wait in. What the tests check does not depend on threads."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_no_work_left(within_s: float = 10.0) -> None:
    """Every worker ends once its window closed. The window itself is gone within CLOSE_WAIT_S; a task inside a
    call it cannot interrupt (a PCA, an import) may end a little later, which on a loaded machine can take seconds."""
    deadline = time.monotonic() + within_s
    QApplication.processEvents()
    while active_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
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
