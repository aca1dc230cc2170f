"""The runs list: one row per run folder (name, date, status, method, encoder, images, final loss, kNN), and the
panel around it with Refresh, Resume, Explore and Follow. Double-clicking a run that another process is writing (status
"running", not the one this window trains) asks to follow it; double-clicking any other run asks to explore it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.run_summary import RunSummary
from workbench.engine.run_table import RUN_COLUMNS, run_cells
from workbench.gui.signals import emit

COLUMNS = tuple(column.title for column in RUN_COLUMNS)  # the same columns as `workbench runs`
NUMERIC = [i for i, column in enumerate(RUN_COLUMNS) if column.numeric]


class RunsList(QTreeWidget):
    """Select several rows to overlay their loss curves; `selection_changed(list[Path])` says which."""

    selection_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.runs: list[RunSummary] = []
        self.itemSelectionChanged.connect(lambda: emit(self.selection_changed, self.selected_paths()))

    def set_runs(self, runs: list[RunSummary]) -> None:
        """Show `runs`, keeping the selection of the runs still listed."""
        selected = set(self.selected_paths())
        self.blockSignals(True)
        self.clear()
        self.runs = list(runs)
        for run in runs:
            item = QTreeWidgetItem(run_cells(run))
            item.setData(0, Qt.ItemDataRole.UserRole, str(run.path))
            item.setToolTip(0, str(run.path))
            for col in NUMERIC:
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.addTopLevelItem(item)
            item.setSelected(run.path in selected)
        for col in range(len(COLUMNS)):
            self.resizeColumnToContents(col)
        self.blockSignals(False)
        emit(self.selection_changed, self.selected_paths())

    def selected_paths(self) -> list[Path]:
        return [Path(item.data(0, Qt.ItemDataRole.UserRole)) for item in self.selectedItems()]

    def selected_runs(self) -> list[RunSummary]:
        chosen = set(self.selected_paths())
        return [run for run in self.runs if run.path in chosen]

    def select(self, path: Path) -> None:
        """Select exactly the run at `path` (if listed)."""
        self.clearSelection()
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if Path(item.data(0, Qt.ItemDataRole.UserRole)) == Path(path):
                item.setSelected(True)


class RunsPanel(QWidget):
    """The list plus its buttons: Resume continues a stopped run, Explore opens a run's embeddings map."""

    resume_requested = Signal(object)  # Path
    explore_requested = Signal(object)  # Path
    follow_requested = Signal(object)  # Path of a running run that another process writes

    def __init__(self, runs_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = RunsList()
        self.refresh_button = QPushButton("Refresh")
        self.resume_button = QPushButton("Resume run")
        self.resume_button.setToolTip("Continue the selected stopped run from its last checkpoint")
        self.explore_button = QPushButton("Explore run")
        self.explore_button.setToolTip("See what the selected run learned: its embeddings map in Explore")
        self.follow_button = QPushButton("Follow run…")  # the Train workspace picks the folder and follows it
        self.follow_button.setToolTip("Watch a run that another process writes (the CLI, torchrun on a cluster)")
        self.resume_button.clicked.connect(lambda: self._request(self.resume_requested, "resumable"))
        self.explore_button.clicked.connect(lambda: self._request(self.explore_requested, "explorable"))
        self.list.itemDoubleClicked.connect(lambda *_: self._double_clicked())
        self.list.setToolTip("Double-click a running run to follow it live, any other run to explore it")
        self.live: Path | None = None  # the run this window trains (never followed)
        self.followed: Path | None = None  # the run followed now (never resumed meanwhile)
        bar = QHBoxLayout()
        bar.addWidget(QLabel(f"<b>Runs</b> in {runs_dir} — select several to overlay their loss"))
        bar.addStretch(1)
        for button in (self.refresh_button, self.resume_button, self.explore_button, self.follow_button):
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.list, 1)

    def update_buttons(self, training: bool, live: Path | None = None, followed: Path | None = None) -> None:
        """`live`: the run this window trains; `followed`: the run another process writes that is followed now."""
        self.live, self.followed = live, followed
        runs = self.list.selected_runs()
        self.resume_button.setEnabled(not training and any(r.resumable and r.path != followed for r in runs))
        self.explore_button.setEnabled(len(runs) == 1 and runs[0].explorable)

    def _double_clicked(self) -> None:
        runs = self.list.selected_runs()
        if len(runs) == 1 and runs[0].status == "running" and runs[0].path != self.live:
            emit(self.follow_requested, runs[0].path)
        else:
            self._request(self.explore_requested, "explorable")

    def _request(self, signal: Signal, ability: str) -> None:
        runs = [r for r in self.list.selected_runs() if getattr(r, ability)]
        if ability == "resumable":
            runs = [r for r in runs if r.path != self.followed]
        if runs and (ability != "resumable" or self.resume_button.isEnabled()):
            emit(signal, runs[0].path)
