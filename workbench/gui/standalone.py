"""Run one workspace alone in a plain window with the error banner (pyqtgraph-style runnable examples)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QMainWindow, QVBoxLayout, QWidget

from workbench.gui.gc_policy import install_gui_collector
from workbench.gui.widgets.banner import Banner


class StandaloneWindow(QMainWindow):
    """A banner above one workspace; the workspace's `failed` goes to the banner, `status` to the status bar."""

    def __init__(self, workspace: QWidget, title: str):
        super().__init__()
        self.setWindowTitle(f"SSL Workbench — {title}")
        self.workspace = workspace
        self.banner = Banner()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(workspace, 1)
        self.setCentralWidget(central)
        if hasattr(workspace, "failed"):
            workspace.failed.connect(self.banner.show_message)
        if hasattr(workspace, "status"):
            workspace.status.connect(self.statusBar().showMessage)
        self.resize(1200, 760)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.workspace.shutdown()  # no worker outlives the window
        super().closeEvent(event)


def run_standalone(build: Callable[[], QWidget], title: str) -> int:
    """Create the application, show build() in a StandaloneWindow and run the event loop."""
    app = QApplication.instance() or QApplication(sys.argv)
    install_gui_collector(app)  # garbage with Qt objects must never be collected on a worker thread
    window = StandaloneWindow(build(), title)
    window.show()
    return app.exec()
