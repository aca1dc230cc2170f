"""The main window: workspaces Data -> Augment -> Train -> Explore, menus, status bar, banner, settings.

Ctrl+1…4 switch workspaces; Help has the guide and the keyboard shortcuts. Status texts are elided labels: a long
message never widens the window. An error in the banner stays until dismissed or until a workspace reports that
something went through (its next status message).

`run_app(data)` is what `workbench` / `workbench gui [--data DIR]` call. Nothing imported here loads torch:
the window paints first; torch loads on a worker thread (About, the augmentation preview).
benchmarks/first_paint.py observes the first paint from outside (an application event filter).
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench import __version__
from workbench.augment.spec import AugmentSpec
from workbench.config import DataConfig
from workbench.data.demo import demo_dataset_path
from workbench.engine.run_table import APP_NAME, APP_ORGANIZATION
from workbench.engine.runs import RunDir
from workbench.errors import WorkbenchError
from workbench.gui.augment_view import AugmentView
from workbench.gui.data_view import DataView, folder_from_mime
from workbench.gui.explore_view import ExploreView
from workbench.gui.gc_policy import install_gui_collector
from workbench.gui.help import open_guide, show_shortcuts
from workbench.gui.train_view import TrainView
from workbench.gui.widgets.banner import Banner
from workbench.gui.widgets.elided_label import ElidedLabel
from workbench.gui.widgets.memory_status import MemoryStatus
from workbench.gui.worker import TaskRunner, TaskState, active_threads, closing

ORGANIZATION, APPLICATION = APP_ORGANIZATION, APP_NAME  # Qt's settings and data folders are named by them
log = logging.getLogger(__name__)
WORKSPACES = ("Data", "Augment", "Train", "Explore")
MAX_RECENT = 8
STATUS_MS = 10_000  # how long a workspace's status message stays in the status bar
CLOSE_WAIT_S = 1.5  # closing waits at most this long for the workers to stop (issue: exit within 2 s)


def settings() -> QSettings:
    """The app's settings (QSettings' default format and path, so tests can point them at a temp folder)."""
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _about_text(state: TaskState) -> str:
    import PySide6
    import torch  # on a worker thread: About never freezes the window

    from workbench.engine.devices import available_devices, describe_device, resolve_device

    devices = ", ".join(available_devices())
    return (
        f"<b>SSL Workbench {__version__}</b><br>Self-supervised representation learning on a folder of images."
        f"<br><br>torch {torch.__version__}<br>PySide6 {PySide6.__version__}<br>"
        f"Python {sys.version.split()[0]}<br><br>Devices: {devices}<br>Best: {describe_device(resolve_device('auto'))}"
    )


class MainWindow(QMainWindow):
    """The app window. `data`: a folder to open; None opens the last folder (the demo dataset on first launch)."""

    def __init__(self, data: str | Path | None = None, store: QSettings | None = None, warm_up: bool = True):
        super().__init__()
        self.store = store or settings()
        self.setWindowTitle("SSL Workbench")
        self.setAcceptDrops(True)
        self.banner = Banner()
        self.data_view = DataView()
        self.augment_view = AugmentView()
        self.train_view = TrainView(store=self.store)  # remembers the Train settings
        self.explore_view = ExploreView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for name, page in zip(
            WORKSPACES, (self.data_view, self.augment_view, self.train_view, self.explore_view), strict=True
        ):
            self.tabs.addTab(page, name)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        # Our own labels, not QStatusBar.showMessage: the message and the folder each get their part of the bar,
        # elided, so they neither overlap nor widen the window.
        self.status_text = ElidedLabel()
        self.folder_status = ElidedLabel(elide=Qt.TextElideMode.ElideMiddle)
        self.folder_status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addWidget(self.status_text, 3)
        self.statusBar().addPermanentWidget(self.folder_status, 1)
        self.memory_status = MemoryStatus()  # what the app holds: large folders make it matter
        self.statusBar().addPermanentWidget(self.memory_status)
        self._status_timer = QTimer(self, singleShot=True)
        self._status_timer.timeout.connect(self.status_text.clear)
        self.about_runner = TaskRunner(self)
        self._about: QMessageBox | None = None
        self._note = ""  # an info sentence for the banner once the first folder is open
        self._build_menus()
        self._connect()
        self._restore(data)
        if warm_up:  # load torch in the background once the window is up, so the first preview is quick
            QTimer.singleShot(1500, self._warm_up)

    # ---- public
    def augment_spec(self) -> AugmentSpec:
        """The augmentation spec chosen in the Augment workspace (what the Train workspace trains with)."""
        return self.augment_view.spec()

    def open_folder(self, folder: str | Path) -> None:
        self.data_view.open_folder(folder)

    def show_error(self, text: str) -> None:
        """The one place worker errors end up: the banner (and a short note in the status bar)."""
        self.banner.show_message(text)
        self.show_status("Error: see the message at the top of the window.", 8000)

    def show_status(self, text: str, timeout_ms: int = STATUS_MS) -> None:
        """A message in the status bar for `timeout_ms` (0: until the next one), elided to the bar's width."""
        self.status_text.setText(text)
        if timeout_ms:
            self._status_timer.start(timeout_ms)
        else:
            self._status_timer.stop()

    def _workspace_status(self, text: str) -> None:
        # A workspace's status message means its last action went through: an error shown before it is stale.
        if self.banner.kind() == "error":
            self.banner.clear()
        self.show_status(text)

    def recent_folders(self) -> list[str]:
        try:
            recent = json.loads(str(self.store.value("data/recent", "[]")))
        except json.JSONDecodeError:
            return []
        return [str(p) for p in recent if isinstance(p, str)][:MAX_RECENT]

    # ---- building
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = file_menu.addAction("&Open Folder…", self.data_view.choose_folder)
        open_action.setShortcut(QKeySequence("Ctrl+O"))
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction("Open &Demo Dataset", lambda: self.open_folder(demo_dataset_path()))
        file_menu.addAction("Open R&un…", self._open_run)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        view_menu = self.menuBar().addMenu("&View")
        for i, name in enumerate(WORKSPACES):
            action = view_menu.addAction(f"&{name}", lambda i=i: self.tabs.setCurrentIndex(i))
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
        help_menu = self.menuBar().addMenu("&Help")
        guide = help_menu.addAction("SSL Workbench &Guide", lambda: open_guide(self))
        guide.setShortcut(QKeySequence.StandardKey.HelpContents)
        help_menu.addAction("&Keyboard Shortcuts", lambda: show_shortcuts(self))
        help_menu.addSeparator()
        help_menu.addAction("&About SSL Workbench", self.show_about)
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for i, folder in enumerate(self.recent_folders()):
            action = QAction(f"&{i + 1} {folder}", self.recent_menu)
            action.triggered.connect(lambda _=False, folder=folder: self.open_folder(folder))
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(self.recent_folders()))
        if self.recent_folders():
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self._clear_recent)

    def _connect(self) -> None:
        for view in (self.data_view, self.augment_view, self.train_view, self.explore_view):
            view.failed.connect(self.show_error)
            view.status.connect(self._workspace_status)
        self.about_runner.failed.connect(self.show_error)
        self.data_view.folder_opened.connect(self._folder_opened)
        self.data_view.report_ready.connect(self.augment_view.set_report)
        self.data_view.picked.connect(self.augment_view.set_picked)
        # Train uses the folder, the augmentation spec and the training resolution chosen in Data and Augment.
        self.train_view.set_spec_source(self.augment_spec)
        self.train_view.set_data_choices(self._data_choices)
        self.augment_view.spec_changed.connect(self.train_view.refresh_spec)
        # with the scan's count of images, so Train's estimate does not scan the folder a second time
        self.data_view.report_ready.connect(lambda r: self.train_view.set_folder(r.root, images=len(r.paths)))
        self.train_view.open_augment.connect(lambda: self.tabs.setCurrentWidget(self.augment_view))
        size, train_size = self.augment_view.image_size, self.train_view.form.image_size
        train_size.setValue(size.value())
        size.valueChanged.connect(train_size.setValue)  # setValue of an equal value emits nothing: no loop
        train_size.valueChanged.connect(size.setValue)
        # Explore shows a run picked in Train, and by default the run just trained.
        self.train_view.explore_requested.connect(self.explore_run)
        # A run fine-tuned in Explore shows in Train's runs list (as it starts and when it ends).
        self.explore_view.finetune.runs_changed.connect(lambda _run: self.train_view.refresh_runs())
        self.tabs.currentChanged.connect(self._workspace_changed)

    def _restore(self, data: str | Path | None) -> None:
        self.data_view.keep_duplicate_links = self.store.value("data/keep_duplicate_links", "false") == "true"
        geometry = self.store.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        else:  # a window saved larger than this screen (another monitor, or grown by an old version) fits again
            screen = self.screen().availableGeometry()
            if self.width() > screen.width() or self.height() > screen.height():
                self.resize(min(self.width(), screen.width()), min(self.height(), screen.height()))
        self.tabs.setCurrentIndex(int(self.store.value("window/workspace", 0)))
        spec = self.store.value("augment/spec")
        if spec:
            try:
                self.augment_view.set_spec(AugmentSpec.from_dict(json.loads(str(spec))))
            except (WorkbenchError, ValueError, TypeError):  # a stale setting never blocks start-up
                pass
        if data is None:
            last = self.store.value("data/last")
            data = last if last and Path(str(last)).is_dir() else demo_dataset_path()
            if last and not Path(str(last)).is_dir():  # said once the demo is open (opening clears the banner)
                self._note = f"The last folder '{last}' is gone; opened the demo dataset."
        QTimer.singleShot(0, lambda: self.open_folder(data))  # after the first paint

    # ---- slots
    def _folder_opened(self, root: str) -> None:
        self.banner.clear()
        if self._note:
            self.banner.show_message(self._note, "info")
            self._note = ""
        self.setWindowTitle(f"SSL Workbench — {Path(root).name}")
        report = self.data_view.report()
        self.folder_status.setText(f"{Path(root).name}: {len(report.paths):,} images" if report else "")
        recent = [root] + [p for p in self.recent_folders() if p != root]
        self.store.setValue("data/recent", json.dumps(recent[:MAX_RECENT]))
        self.store.setValue("data/last", root)
        self._fill_recent()

    def _clear_recent(self) -> None:
        self.store.setValue("data/recent", "[]")
        self._fill_recent()

    def _open_run(self) -> None:
        """File → Open Run…: a run folder (default: the runs folder) opens in Explore."""
        start = self.train_view.runs_dir if self.train_view.runs_dir.is_dir() else Path.home()
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(start))
        if folder:
            self.explore_run(Path(folder))

    def explore_run(self, run_dir: Path) -> None:
        """Open `run_dir` in the Explore workspace (embeddings of the folder it trained on)."""
        self.tabs.setCurrentWidget(self.explore_view)
        self.explore_view.open_run(run_dir)

    def _workspace_changed(self, index: int) -> None:
        # Arriving in Explore with nothing open: show the run just trained (if it has weights).
        run = self.train_view.run_dir
        if (
            self.tabs.widget(index) is self.explore_view
            and self.explore_view.run_dir is None
            and run is not None
            and not self.train_view.is_training()
            and RunDir(run).has_checkpoint()
        ):
            self.explore_view.open_run(run)

    def show_about(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "About SSL Workbench",
            "Looking for devices…",
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setTextFormat(Qt.TextFormat.RichText)
        self._about = box
        box.open()
        self.about_runner.start(_about_text, box.setText)

    def _warm_up(self) -> None:
        if not self.about_runner.is_running():
            self.about_runner.start(lambda state: __import__("workbench.augment.views"))

    # ---- Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if folder_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        folder = folder_from_mime(event.mimeData())
        if folder is not None:
            event.acceptProposedAction()
            self.open_folder(folder)

    def _data_choices(self, data: DataConfig) -> None:
        data.keep_duplicate_links = self.data_view.keep_duplicate_links
        data.exclude = self.data_view.excluded_paths()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.train_view.is_training() and not self.train_view.ask_to_stop():
            event.ignore()
            return
        self.store.setValue("window/geometry", self.saveGeometry())
        self.store.setValue("window/workspace", self.tabs.currentIndex())
        self.store.setValue("data/keep_duplicate_links", "true" if self.data_view.keep_duplicate_links else "false")
        self.store.setValue("augment/spec", json.dumps(self.augment_view.spec().to_dict()))
        self.store.sync()
        # No worker outlives the window: cancel everything and wait for it, but not for longer than CLOSE_WAIT_S
        # in all (a long training step cannot be interrupted; run_app then ends the process without it).
        self.hide()  # gone at once, whatever the workers take to stop
        with closing(CLOSE_WAIT_S):
            self.data_view.shutdown()
            self.augment_view.shutdown()
            self.train_view.shutdown()  # a clean stop: the run keeps a checkpoint and stays resumable
            self.explore_view.shutdown()
            self.about_runner.shutdown()
            self.memory_status.shutdown()
        super().closeEvent(event)


def run_app(data: str | None = None) -> int:
    """Create the application, show the main window on `data` (or the last folder) and run the event loop."""
    # A crash in a native library (Qt, torch, numba) then leaves every thread's Python stack on stderr: a bug report
    # can say where it happened.
    faulthandler.enable()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    install_gui_collector(app)  # garbage with Qt objects must never be collected on a worker thread
    window = MainWindow(data)
    window.show()
    # Ctrl+C in the terminal closes the window cleanly; the timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer(interval=250)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()
    code = app.exec()
    if active_threads():  # a step or a library call still running past CLOSE_WAIT_S: end without waiting for it
        log.warning("%d background thread(s) busy at exit; a run resumes from its last checkpoint", active_threads())
        logging.shutdown()
        os._exit(code)  # as safe as a kill: every run file is written atomically (benchmarks/faults.py)
    return code


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1] if len(sys.argv) > 1 else None))
