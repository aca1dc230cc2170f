"""Main window: workspaces, menus, settings remembered, About, start-up without torch, clean close."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel

from tests.gui.conftest import assert_no_work_left
from workbench.gui.app import WORKSPACES, MainWindow

ROOT = Path(__file__).resolve().parents[2]


def _opened(qtbot, window, folder: Path | None = None):
    qtbot.waitUntil(
        lambda: (
            window.data_view.report() is not None and (folder is None or window.data_view.report().root == str(folder))
        ),
        timeout=15000,
    )


def test_workspaces_menus_and_shortcuts(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == list(WORKSPACES)
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["File", "Help"]
    file_actions = {a.text().replace("&", ""): a for a in menus["File"].actions() if a.text()}
    assert file_actions["Open Folder…"].shortcut().toString() == "Ctrl+O"
    assert file_actions["Quit"].shortcut().toString() == "Ctrl+Q"
    assert {"Open Recent", "Open Run…"} <= set(file_actions)
    assert [a.text() for a in menus["Help"].actions()] == ["&About SSL Workbench"]
    _opened(qtbot, window, image_folder)
    assert window.windowTitle() == "SSL Workbench — images"
    assert window.folder_status.text() == "images: 16 images"


def test_settings_remember_workspace_recent_folders_and_spec(qtbot, make_window, image_folder, tmp_path):
    first = make_window(image_folder)
    _opened(qtbot, first, image_folder)
    first.tabs.setCurrentIndex(1)
    first.augment_view.apply_preset("byol")
    first.close()
    second = make_window()  # no --data: the last folder, not the demo
    assert second.tabs.currentIndex() == 1
    assert second.augment_spec().to_dict() == first.augment_spec().to_dict()
    _opened(qtbot, second, image_folder)
    assert second.recent_folders() == [str(image_folder)]
    assert [a.text() for a in second.recent_menu.actions() if a.text()] == [f"&1 {image_folder}", "Clear List"]


def test_the_main_window_exposes_the_edited_spec(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    window.augment_view.editor.controls[("rotation", "enabled")].widget.setChecked(True)
    spec = window.augment_spec()
    assert spec.views[0].rotation.enabled and spec.name == "custom"


def test_thumbnails_picked_in_data_become_the_augment_samples(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    _opened(qtbot, window, image_folder)
    grid = window.data_view.grid
    for row in (1, 9):
        grid.selectionModel().select(window.data_view.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    window.tabs.setCurrentIndex(1)
    augment = window.augment_view
    assert augment.sample_paths() == [image_folder / "circle" / "001.png", image_folder / "square" / "001.png"]
    qtbot.waitUntil(lambda: augment.last_preview is not None and len(augment.last_preview.paths) == 2, timeout=30000)


def test_about_lists_versions_and_devices(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    window.show_about()
    qtbot.waitUntil(lambda: "Devices:" in window._about.text(), timeout=30000)
    text = window._about.text()
    assert "torch 2." in text and "PySide6 6." in text and "cpu" in text
    window._about.close()


def test_closing_during_work_leaves_no_thread_running(qtbot, image_folder):
    window = MainWindow(image_folder, warm_up=True)
    window.show()
    window.tabs.setCurrentIndex(1)  # asks for a preview
    window.open_folder(image_folder)  # and a scan
    window.close()
    assert_no_work_left()


def test_the_window_paints_before_torch_is_imported(tmp_path):
    marker = tmp_path / "painted"
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        HOME=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "first_paint.py"), str(marker)],
        cwd=ROOT,
        env=env,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    _, torch_loaded = marker.read_text().split()
    assert torch_loaded == "0"
