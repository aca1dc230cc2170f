"""Launch the app as `workbench gui` does and record its first paint from outside the product.

    python benchmarks/first_paint.py MARKER_FILE

Creates the QApplication that `run_app` then reuses, with an event filter that sees the first Paint event of the
main window: it writes "<wall-clock time> <1 if torch was imported by then, else 0>" to MARKER_FILE and quits.
Used by benchmarks/startup.py and by tests/gui/test_app.py; the app itself carries no hook for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow


class FirstPaint(QObject):
    def __init__(self, marker: Path):
        super().__init__()
        self.marker, self.seen = marker, False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self.seen and event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
            self.seen = True
            self.marker.write_text(f"{time.time():.6f} {int('torch' in sys.modules)}\n", encoding="utf-8")
            QTimer.singleShot(0, watched.close)
        return False


def main() -> int:
    marker = Path(sys.argv[1])
    app = QApplication(sys.argv[:1])
    watcher = FirstPaint(marker)
    app.installEventFilter(watcher)
    from workbench.cli import main as workbench_main

    return workbench_main(["gui"])


if __name__ == "__main__":
    sys.exit(main())
