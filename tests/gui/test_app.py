"""Main window: workspaces, menus, settings remembered, About, start-up without torch, clean close."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.gui.conftest import assert_no_work_left
from workbench.gui import help as help_module
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
    assert list(menus) == ["File", "View", "Help"]
    file_actions = {a.text().replace("&", ""): a for a in menus["File"].actions() if a.text()}
    assert file_actions["Open Folder…"].shortcut().toString() == "Ctrl+O"
    assert file_actions["Quit"].shortcut().toString() == "Ctrl+Q"
    assert {"Open Recent", "Open Run…"} <= set(file_actions)
    help_actions = [a.text().replace("&", "") for a in menus["Help"].actions() if a.text()]
    assert help_actions == ["SSL Workbench Guide", "Keyboard Shortcuts", "About SSL Workbench"]
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


def test_training_follows_the_data_workspaces_choice_about_links(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    _opened(qtbot, window, image_folder)
    assert window.train_view.config().data.keep_duplicate_links is False  # the default: duplicate links left out
    window.data_view.set_keep_duplicate_links(True)
    assert window.train_view.config().data.keep_duplicate_links is True


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


def test_ctrl_number_switches_workspaces(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # window shortcuts need the active window
    for key, index in ((Qt.Key.Key_3, 2), (Qt.Key.Key_1, 0), (Qt.Key.Key_4, 3), (Qt.Key.Key_2, 1)):
        qtbot.keyClick(QApplication.focusWidget() or window, key, Qt.KeyboardModifier.ControlModifier)
        assert window.tabs.currentIndex() == index


def test_help_opens_the_guide_and_lists_the_shortcuts(qtbot, make_window, image_folder, monkeypatch, tmp_path):
    window = make_window(image_folder)
    opened: list[QUrl] = []

    class Viewer(QObject):
        @Slot(QUrl)
        def show(self, url: QUrl) -> None:
            opened.append(url)

    viewer = Viewer()
    QDesktopServices.setUrlHandler("file", viewer, "show")  # what openUrl would hand to the system's viewer
    try:
        help_menu = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}["Help"]
        actions = {a.text().replace("&", ""): a for a in help_menu.actions()}
        guide = actions["SSL Workbench Guide"]
        assert guide.shortcut() == QKeySequence(QKeySequence.StandardKey.HelpContents)
        guide.trigger()
        assert [Path(u.toLocalFile()) for u in opened] == [ROOT / "docs" / "app.md"]

        monkeypatch.setattr(help_module, "GUIDE_FILE", tmp_path / "absent.md")  # an installed package: no docs/
        box = help_module.open_guide(window)
        assert box is not None and "Data" in box.text() and "Explore" in box.text() and len(opened) == 1
        box.close()
    finally:
        QDesktopServices.unsetUrlHandler("file")

    rows = dict(help_module.shortcut_rows(window))
    native = QKeySequence.SequenceFormat.NativeText
    assert rows["Open Folder"] == QKeySequence("Ctrl+O").toString(native)
    assert [rows[name] for name in WORKSPACES] == [QKeySequence(f"Ctrl+{i}").toString(native) for i in range(1, 5)]
    actions["Keyboard Shortcuts"].trigger()
    box = next(w for w in window.findChildren(QMessageBox) if w.windowTitle() == "Keyboard Shortcuts")
    assert "Quit" in box.text() and "Explore" in box.text()
    box.close()


LONG = "Scoring outliers of 60,000 images " + "x" * 500


def test_long_status_texts_are_elided_and_never_widen_the_window(qtbot, make_window, image_folder):
    window = make_window(image_folder)
    _opened(qtbot, window, image_folder)
    width = window.width()
    window.data_view.status.emit(LONG)  # as a workspace reports it
    assert window.status_text.text() == LONG
    window.folder_status.setText("/a/very/long/folder/" * 30)
    window.data_view.progress_text.setText(LONG)
    window.data_view.progress_text.show()
    window.data_view.folder_label.setText("/another/long/folder/" * 30)
    qtbot.waitUntil(lambda: window.status_text.is_elided())
    QApplication.processEvents()
    assert window.width() == width
    assert window.status_text.toolTip() == LONG  # the whole text on hover
    # Message and folder each keep their own part of the bar: they do not overlap.
    status, folder = window.status_text.geometry(), window.folder_status.geometry()
    assert status.right() < folder.left() and status.width() > folder.width() > 0


def test_the_error_banner_goes_when_the_next_action_succeeds(qtbot, make_window, image_folder, tmp_path):
    window = make_window(image_folder)
    _opened(qtbot, window, image_folder)
    with qtbot.waitSignal(window.data_view.failed, timeout=10000):
        window.open_folder(tmp_path / "missing")
    assert "does not exist" in window.banner.text() and window.banner.kind() == "error"
    window.augment_view.status.emit("Saved the augmentation spec to /tmp/spec.json")  # another action went through
    assert window.banner.text() == "" and window.banner.isHidden()
    assert window.status_text.text().startswith("Saved the augmentation spec")


def test_a_window_saved_wider_than_the_screen_reopens_within_it(qtbot, make_window, image_folder):
    first = make_window(image_folder)
    screen = first.screen().availableGeometry()
    first.resize(screen.width() + 2000, min(600, screen.height()))
    qtbot.waitUntil(lambda: first.width() > screen.width() + 1000)
    first.close()
    second = make_window(image_folder)
    # Within the screen, or at the window's minimum where the (offscreen, 800 px) screen is narrower than that.
    assert second.width() <= max(screen.width(), second.minimumSizeHint().width()) < first.width()


def test_the_status_bar_states_the_memory_the_app_holds(qtbot, make_window, image_folder):
    import psutil

    window = make_window(image_folder)
    qtbot.waitUntil(lambda: window.memory_status.text() != "", timeout=10_000)
    shown = window.memory_status.text()
    assert shown.endswith(("MB", "GB"))
    value = float(shown.split()[0]) * (1024**2 if shown.endswith("MB") else 1024**3)
    rss = psutil.Process().memory_info().rss  # the window's own process at least
    assert 0.8 * rss <= value <= 3 * rss
    assert window.memory_status.toolTip().startswith("Memory: ")
    window.close()
    assert not window.memory_status.sampler.is_alive()  # its thread is gone with the window


def test_trains_estimate_counts_the_folder_from_the_datas_scan_not_a_second_one(
    qtbot, make_window, image_folder, monkeypatch
):
    from workbench.gui.widgets import train_hints

    scans = []
    monkeypatch.setattr(train_hints, "_count_images", lambda folder, state: scans.append(folder) or 0)
    window = make_window(image_folder)
    _opened(qtbot, window, image_folder)
    qtbot.waitUntil(lambda: window.train_view.estimate.images is not None, timeout=15000)
    assert window.train_view.estimate.images == 16 and scans == []  # the folder holds 16 images
