"""The selection: its count, exports (a CSV table with label, map position, cluster and outlier score of each
selected image, or a TXT list of paths), copy of the paths to the clipboard, and a thumbnail grid (the tooltip of
each thumbnail names the file and its label)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.widgets.neighbours import HintedThumbnailView, subset_report
from workbench.gui.widgets.thumbnails import ThumbnailModel
from workbench.gui.worker import TaskRunner

EMPTY = "No selection. Choose Box or Lasso above the map and drag around points (Shift adds to the selection)."


class SelectionPanel(QWidget):
    """set_selection(embedding, rows); `failed(sentence)` and `status(text)` go to the window."""

    failed = Signal(str)
    status = Signal(str)
    exported = Signal(str)  # the file written
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.count_label = QLabel(EMPTY)
        self.count_label.setWordWrap(True)
        self.csv_button = QPushButton("Table (CSV)…")
        self.csv_button.setToolTip("Path, label, map position, cluster and outlier score of each selected image.")
        self.txt_button = QPushButton("Paths (TXT)…")
        self.txt_button.setToolTip("The selected paths, one per line.")
        self.copy_button = QPushButton("Copy paths")
        self.clear_button = QPushButton("Clear")
        self.csv_button.clicked.connect(lambda: self._choose("csv"))
        self.txt_button.clicked.connect(lambda: self._choose("txt"))
        self.copy_button.clicked.connect(self.copy_paths)
        self.clear_button.clicked.connect(lambda: emit(self.clear_requested))
        buttons = QHBoxLayout()
        for button in (self.csv_button, self.txt_button, self.copy_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.model = ThumbnailModel(self)
        self.grid = HintedThumbnailView("The selected images appear here.")
        self.grid.setModel(self.model)
        layout = QVBoxLayout(self)
        layout.addWidget(self.count_label)
        layout.addLayout(buttons)
        layout.addWidget(self.grid, 1)
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self.failed)
        self._paths: list[str] = []
        self._root: Path | None = None
        self._rows = np.zeros(0, dtype=np.int64)
        # () -> (embedding, map xy, clusters or None, outlier scores or None): the columns of the CSV table; without
        # it the CSV has the paths only.
        self.table_source: Callable[[], tuple] | None = None
        self._enable(False)

    def set_selection(self, root: Path, paths: list[str], labels: np.ndarray, class_names: list[str], rows) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        report = subset_report(root, paths, labels, class_names, rows)
        self._root = Path(root)
        self._rows = rows
        # str(root / p) without a Path per row (100,000 of them took seconds on the GUI thread): p is relative POSIX.
        prefix, sep = str(Path(root) / "_")[:-1], os.sep
        self._paths = [prefix + (p if sep == "/" else p.replace("/", sep)) for p in report.paths]
        self.model.set_report(report)
        n = len(rows)
        self.count_label.setText(f"{n:,} image{'s' if n != 1 else ''} selected" if n else EMPTY)
        self._enable(n > 0)

    def clear(self) -> None:
        self.model.set_report(ScanReport("", [], [], []))
        self._paths = []
        self._rows = np.zeros(0, dtype=np.int64)
        self.count_label.setText(EMPTY)
        self._enable(False)

    def paths(self) -> list[str]:
        return list(self._paths)

    def copy_paths(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(self._paths))
        emit(self.status, f"Copied {len(self._paths):,} paths to the clipboard.")

    def export(self, path: str | Path) -> None:
        """Write the selection to `path` in the background: .csv, a table (path, label, x, y, cluster, outlier_score
        of each selected image; just `path` without a table_source); otherwise the paths, one per line."""
        from workbench.results.export import save_embeddings_csv, save_paths

        paths, root, target, rows = list(self._paths), self._root, Path(path), self._rows.copy()
        if target.suffix.lower() == ".csv" and self.table_source is not None:
            emb, xy, clusters, outliers = self.table_source()
            self.runner.start(
                lambda state: save_embeddings_csv(target, emb, xy, clusters, outliers, rows=rows), self._on_exported
            )
        else:
            self.runner.start(lambda state: save_paths(target, paths, root), self._on_exported)

    def shutdown(self) -> None:
        self.runner.shutdown()
        self.model.shutdown()

    def _choose(self, kind: str) -> None:
        name = f"selection.{kind}"
        filters = "CSV files (*.csv)" if kind == "csv" else "Text files (*.txt)"
        what = "Export the selection as a table" if kind == "csv" else "Export the selected paths"
        path, _ = QFileDialog.getSaveFileName(self, what, str(Path.home() / name), filters)
        if path:
            self.export(path)

    def _on_exported(self, path: Path) -> None:
        emit(self.status, f"Wrote {len(self._paths):,} selected images to {path}.")
        emit(self.exported, str(path))

    def _enable(self, on: bool) -> None:
        for button in (self.csv_button, self.txt_button, self.copy_button, self.clear_button):
            button.setEnabled(on)
