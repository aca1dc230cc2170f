"""The Data workspace: open a folder, scan it in the background, show the report, browse thumbnails.

Clicking a label in the summary shows only its images; a newly opened folder shows all of them, from the top.
After each scan the model-free data checks (data/checks.py) run in the background (cancellable); clicking an issue
shows only its images, and a selection can be excluded from training (the run's data.exclude; files untouched).

Run alone on the demo dataset (or a folder): `python -m workbench.gui.data_view [DIR]`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.data.checks import ISSUES, DataChecks, check_folder
from workbench.data.scan import ScanReport, scan_folder
from workbench.gui.image_check import DECODE_SAMPLE, SIZE_SAMPLE, FolderCheck, check_images  # noqa: F401 - re-exported
from workbench.gui.signals import emit
from workbench.gui.widgets.data_checks import DataChecksPanel
from workbench.gui.widgets.elided_label import ElidedLabel
from workbench.gui.widgets.image_detail import ImageDetail
from workbench.gui.widgets.scan_summary import ScanSummary
from workbench.gui.widgets.thumbnails import ThumbnailModel, ThumbnailView
from workbench.gui.worker import TaskRunner, TaskState

MAX_PICKED = 64  # images handed to the Augment workspace from a selection
CHECK_WORKERS = max(1, (os.cpu_count() or 2) // 2)  # the data checks leave half the cores to the thumbnails


def folder_from_mime(mime: QMimeData) -> Path | None:
    """The folder a drag carries: the first local folder, or the folder of the first local file."""
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            return path if path.is_dir() else path.parent
    return None


def _scan(root: Path, keep_duplicate_links: bool, state: TaskState) -> tuple[ScanReport, FolderCheck]:
    state.message(f"Scanning {root.name}…")
    report = scan_folder(
        root, progress=state.progress, should_stop=state.should_stop, keep_duplicate_links=keep_duplicate_links
    )
    state.message("Checking images…")
    return report, check_images(report, state)


class DataView(QWidget):
    """Folder scan + summary + thumbnail grid + the clicked image, large."""

    folder_opened = Signal(str)  # absolute folder path, after a successful scan
    report_ready = Signal(object)  # ScanReport
    picked = Signal(list)  # absolute paths of the selected thumbnails (at most MAX_PICKED)
    checks_ready = Signal(object)  # DataChecks of the open folder
    exclusions_changed = Signal(list)  # relative paths to leave out of training (the run config's data.exclude)
    failed = Signal(str)  # one sentence for the window's banner
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.folder_label = ElidedLabel("No folder open", elide=Qt.TextElideMode.ElideMiddle)
        self.folder_label.setStyleSheet("font-weight: bold;")
        self.progress_text = ElidedLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.cancel_button = QPushButton("Cancel")
        self.open_button = QPushButton("Open Folder…")
        self.open_button.clicked.connect(self.choose_folder)
        bar = QHBoxLayout()
        bar.addWidget(self.folder_label, 1)
        for w in (self.progress_text, self.progress, self.cancel_button, self.open_button):
            bar.addWidget(w)

        self.summary = ScanSummary()
        self.model = ThumbnailModel(self)
        self.grid = ThumbnailView()
        self.grid.setModel(self.model)
        self.filter_text = ElidedLabel()
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.clicked.connect(lambda: self.show_label(None))
        filter_bar = QHBoxLayout()
        filter_bar.setContentsMargins(0, 0, 0, 0)
        filter_bar.addWidget(self.filter_text, 1)
        filter_bar.addWidget(self.show_all_button)
        self.filter_bar = QWidget()
        self.filter_bar.setLayout(filter_bar)
        self.filter_bar.hide()
        grid_area = QWidget()
        grid_layout = QVBoxLayout(grid_area)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        grid_layout.addWidget(self.filter_bar)
        grid_layout.addWidget(self.grid, 1)
        self.detail = ImageDetail()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.checks_panel = DataChecksPanel()
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.summary)
        side.addWidget(self.checks_panel)
        for widget, stretch in ((side, 0), (grid_area, 1), (self.detail, 0)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        splitter.setSizes([280, 640, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)

        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.message.connect(self.progress_text.setText)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(lambda: emit(self.status, "Scan cancelled."))
        self.runner.running_changed.connect(self._set_busy)
        self.cancel_button.clicked.connect(lambda: self.runner.cancel())  # not cancel(checked)
        self.grid.clicked.connect(self._show)
        self.grid.selectionModel().currentChanged.connect(lambda cur, _prev: self._show(cur))
        self.grid.selectionModel().selectionChanged.connect(self._emit_picked)
        self.model.decode_failed.connect(self.summary.add_skipped)
        self.summary.label_clicked.connect(self._label_clicked)
        self.summary.keep_links_changed.connect(self.set_keep_duplicate_links)
        self.checks_runner = TaskRunner(self)  # its own runner: a rescan cancels the checks, not the other way
        self.checks_runner.progress.connect(
            lambda done, total: self.checks_panel.set_running(True, f"Checking images… {done:,} of {total:,}")
        )
        self.checks_runner.failed.connect(self._on_checks_failed)
        self.checks_runner.cancelled.connect(lambda: self.checks_panel.set_running(False, "Checks cancelled."))
        self.checks_runner.running_changed.connect(lambda busy: self.checks_panel.set_running(busy))
        self.checks_panel.cancel_requested.connect(lambda: self.checks_runner.cancel())
        self.checks_panel.issue_clicked.connect(self._issue_clicked)
        self.checks_panel.exclude_requested.connect(self.exclude_selected)
        self._report: ScanReport | None = None
        self._checks: DataChecks | None = None
        self._excluded: set[str] = set()  # relative paths left out of training
        self._label: int | None = None  # the label whose images the grid shows; None: all
        self._issue: str | None = None  # the data-check issue whose images the grid shows; None: all
        self.keep_duplicate_links = False  # the scan option (scan_folder's keep_duplicate_links)
        self._set_busy(False)

    # ---- public
    def open_folder(self, folder: str | Path) -> None:
        """Scan `folder` in the background; the current content stays until the new scan succeeds."""
        root = Path(folder).expanduser()
        keep = self.keep_duplicate_links
        self.runner.start(lambda state: _scan(root, keep, state), self._on_scanned)

    def set_keep_duplicate_links(self, keep: bool) -> None:
        """Keep (True) or leave out links to images already in the folder; rescans the open folder when it changes."""
        changed = keep != self.keep_duplicate_links
        self.keep_duplicate_links = keep
        if changed and self._report is not None:
            self.open_folder(self._report.root)

    def show_label(self, label: int | None) -> None:
        """Show only the images of `label` (a class index, -1: the unlabelled ones); None shows them all."""
        report = self._report
        if report is None or (label == self._label and self._issue is None):
            return
        self._label, self._issue = label, None
        self.checks_panel.select_issue(None)
        if label is None:
            self.model.show_rows(None)
        else:
            self.model.show_rows(np.flatnonzero(np.asarray(report.labels) == label))
        self.grid.scrollToTop()
        self.summary.select_label(label)
        self.filter_bar.setVisible(label is not None)
        if label is not None:
            name = report.class_names[label] if label >= 0 else "(unlabelled)"
            self.filter_text.setText(f"Showing {name}: {self.model.rowCount():,} of {len(report.paths):,} images")

    def shown_label(self) -> int | None:
        return self._label

    def show_issue(self, kind: str | None) -> None:
        """Show only the images a data check flagged (`kind`: a key of checks.ISSUES); None shows them all."""
        report, checks = self._report, self._checks
        if report is None or checks is None or kind is None:
            self.show_label(None)  # clears an issue filter too
            return
        self._issue, self._label = kind, None
        self.model.show_rows(checks.flagged.get(kind, []))  # rows of the checks = rows of the report (same paths)
        self.grid.scrollToTop()
        self.summary.select_label(None)
        self.checks_panel.select_issue(kind)
        self.filter_bar.show()
        self.filter_text.setText(f"Showing {ISSUES[kind]}: {self.model.rowCount():,} of {len(report.paths):,} images")

    def shown_issue(self) -> str | None:
        return self._issue

    def excluded_paths(self) -> list[str]:
        """Relative paths to leave out of training, sorted (for the run config's data.exclude)."""
        return sorted(self._excluded)

    def set_excluded(self, paths: list[str]) -> None:
        self._excluded = set(paths)
        self.checks_panel.set_excluded(len(self._excluded))
        emit(self.exclusions_changed, self.excluded_paths())

    def exclude_selected(self) -> None:
        """Add every selected thumbnail to the exclusion list (no MAX_PICKED limit: a whole issue can go)."""
        report = self._report
        if report is None:
            return
        rows = {i.row() for i in self.grid.selectionModel().selectedIndexes()}
        added = {report.paths[self.model.image_index(r)] for r in rows} - self._excluded
        if added:
            self.set_excluded([*self._excluded, *added])
            emit(self.status, f"{len(added):,} images excluded from training ({len(self._excluded):,} in all).")

    def choose_folder(self) -> None:
        start = self._report.root if self._report else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open an image folder", start)
        if folder:
            self.open_folder(folder)

    def report(self) -> ScanReport | None:
        return self._report

    def selected_paths(self) -> list[Path]:
        rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())[:MAX_PICKED]
        return [self.model.path(r) for r in rows]

    def shutdown(self) -> None:
        """Cancel and wait for every background job of this workspace (window close)."""
        self.runner.shutdown()
        self.checks_runner.shutdown()
        self.detail.runner.shutdown()
        self.model.shutdown()

    # ---- slots
    def _on_scanned(self, result: tuple[ScanReport, FolderCheck]) -> None:
        report, check = result
        if self._report is None or self._report.root != report.root:
            self._excluded = set()  # an exclusion list belongs to its folder
            self.checks_panel.set_excluded(0)
        self._report = report
        self.folder_label.setText(report.root)
        self.summary.set_report(report, check.sizes, check.sampled)
        for skipped in check.broken:
            self.summary.add_skipped(skipped.path, skipped.reason)
        self.model.set_report(report)  # every image again, and the grid from the top
        self._label = self._issue = None
        self.filter_bar.hide()
        self.grid.scrollToTop()
        self.detail.clear()
        skipped = self.summary.skipped_count()  # the scan's and the image check's
        notes = [f"{skipped:,} file{'s' if skipped != 1 else ''} skipped"] if skipped else []
        if report.duplicate_links:
            kept = "kept" if report.duplicate_links_kept else "left out"
            notes.append(f"{len(report.duplicate_links):,} duplicate links {kept}")
        emit(self.status, f"Opened {report.root}" + (f" ({'; '.join(notes)})" if notes else ""))
        emit(self.folder_opened, report.root)  # the window's title and recent folders: cheap, at once
        # What the report starts runs in passes of its own, after the grid's layout (the next timer pass) and first
        # paint (the one after): the checks' threads, then the other workspaces (Augment's samples, Train's
        # estimate). All in one pass with the reset stalled the window for ~100 ms on a busy 2-core machine.
        steps = [None, None, lambda: self._start_checks(report), lambda: emit(self.report_ready, report)]
        self._after_scan(report, steps)

    def _after_scan(self, report: ScanReport, steps: list) -> None:
        """Run `steps` one per later event-loop pass (None: let a pass go by) while `report` is still the one shown."""

        def run_next() -> None:
            if self._report is report:
                step = steps.pop(0)
                if step is not None:
                    step()
                self._after_scan(report, steps)

        if steps:
            QTimer.singleShot(0, self, run_next)

    def _on_failed(self, text: str) -> None:
        emit(self.status, "The folder could not be opened.")
        emit(self.failed, text)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)  # total 0: busy indicator (the walk does not know the total yet)
        self.progress.setValue(done)
        if total == 0:
            self.progress_text.setText(f"Scanning… {done:,} images found")

    def _set_busy(self, busy: bool) -> None:
        for w in (self.progress, self.cancel_button, self.progress_text):
            w.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _start_checks(self, report: ScanReport) -> None:
        self._checks = None
        self.checks_panel.set_checks(None)
        root, paths = report.root, list(report.paths)

        def work(state: TaskState) -> DataChecks:
            stop = state.should_stop
            return check_folder(root, paths, workers=CHECK_WORKERS, progress=state.progress, should_stop=stop)

        self.checks_runner.start(work, self._on_checked)

    def _on_checked(self, checks: DataChecks) -> None:
        if self._report is None or checks.root != self._report.root or checks.paths != self._report.paths:
            return  # a result for a folder no longer shown
        self._checks = checks
        self.checks_panel.set_running(False)  # now, not when the runner's running_changed arrives
        self.checks_panel.set_checks(checks)
        emit(self.checks_ready, checks)

    def _on_checks_failed(self, text: str) -> None:
        self.checks_panel.set_running(False, "The checks could not finish.")
        emit(self.failed, text)

    def _issue_clicked(self, kind: str) -> None:
        self.show_issue(None if kind == self._issue else kind)  # a second click shows all again

    def _label_clicked(self, label: int) -> None:
        self.show_label(None if label == self._label else label)  # a second click shows all again

    def _show(self, index: QModelIndex) -> None:
        if index.isValid():
            self.detail.show_image(self.model.path(index.row()), self.model.label(index.row()))

    def _emit_picked(self, *_args) -> None:
        emit(self.picked, [str(p) for p in self.selected_paths()])


def main(argv: list[str] | None = None) -> int:
    from workbench.data.demo import demo_dataset_path
    from workbench.gui.standalone import run_standalone

    args = sys.argv[1:] if argv is None else argv
    folder = args[0] if args else str(demo_dataset_path())

    def build() -> DataView:
        view = DataView()
        view.open_folder(folder)
        return view

    return run_standalone(build, "Data")


if __name__ == "__main__":
    sys.exit(main())
