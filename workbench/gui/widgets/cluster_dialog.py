"""Run on a cluster…: save the experiment set in the Train workspace as a config file and show, ready to copy, the
torchrun lines for one machine with several GPUs, for several machines, and a Slurm batch script (workbench.cluster
builds them; the text follows the spin boxes live). Nothing is written before Save config (or a Copy, which saves
first, so a copied line never names a missing file), and never inside the image folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.cluster import (
    DEFAULT_ENDPOINT,
    SHARED_FILESYSTEM_NOTE,
    ClusterCommands,
    batch_split,
    check_paths,
    image_root,
    local_gpu_count,
    save_config,
    torchrun_commands,
)
from workbench.config import ExperimentConfig
from workbench.errors import WorkbenchError
from workbench.gui.train_tasks import new_run_dir
from workbench.gui.worker import TaskRunner

_NOTE = "color: #555;"
_WARN = "color: #b00;"
_OK = "color: #1d6b2a;"


def _absolute(text: str) -> Path:
    """What the user typed, made absolute (links kept: a shared mount is named as every machine names it)."""
    return Path(os.path.abspath(os.path.expanduser(text.strip()))) if text.strip() else Path()


class CommandBlock(QWidget):
    """One launch form (a tab): a hint, the read-only shell text with a Copy button, and the resume line(s)."""

    def __init__(self, hint: str, resume_hint: str, resume_lines: int = 3, parent: QWidget | None = None):
        super().__init__(parent)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text, self.resume = QPlainTextEdit(), QPlainTextEdit()
        for edit in (self.text, self.resume):
            edit.setReadOnly(True)
            edit.setFont(mono)
            edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)  # wrapped on screen, copied as lines
        self.resume.setFixedHeight(int(self.resume.fontMetrics().lineSpacing() * resume_lines + 12))
        self.copy_button, self.copy_resume_button = QPushButton("Copy"), QPushButton("Copy")
        self.copy_button.setToolTip("Copy to the clipboard (saves the config file first)")
        self.copy_resume_button.setToolTip("Copy the line(s) that continue a stopped or killed run")
        layout = QVBoxLayout(self)
        for label, edit, button in ((hint, self.text, self.copy_button), (resume_hint, self.resume, None)):
            note = QLabel(label)
            note.setWordWrap(True)
            layout.addWidget(note)
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(button or self.copy_resume_button, 0, Qt.AlignmentFlag.AlignTop)
            layout.addLayout(row, 1 if button else 0)

    def set_text(self, text: str, resume: str) -> None:
        if text != self.text.toPlainText():
            self.text.setPlainText(text)
        if resume != self.resume.toPlainText():
            self.resume.setPlainText(resume)


def _by_machine(lines: str) -> str:
    """The several-machines lines as shown and copied: each under a comment naming its machine."""
    return "\n\n".join(
        f"# on machine {rank}{' (HOST)' if rank == 0 else ''}:\n{line}" for rank, line in enumerate(lines.split("\n"))
    )


class ClusterDialog(QDialog):
    """`config`: the experiment the Start button would train; `run_dir`, `config_path`: the suggested paths."""

    @classmethod
    def for_recipe(cls, config: ExperimentConfig, runs_dir: Path, parent: QWidget | None = None) -> ClusterDialog:
        """The dialog for a valid recipe, shown (window-modal, so the form stays as the dialog shows it), with a new
        run folder under `runs_dir` and its config file beside it."""
        if config.data.path:  # every machine reads the folder at this path (and the CLI would resolve it anyway)
            config.data.path = str(Path(config.data.path).expanduser().resolve())
        run_dir = new_run_dir(runs_dir, config)
        dialog = cls(config, run_dir, run_dir.with_name(f"{run_dir.name}.json"), parent)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.show()
        return dialog

    def __init__(self, config: ExperimentConfig, run_dir: Path, config_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Run on a cluster")
        self.config = config
        self.saved_path: Path | None = None  # the config file written by this dialog (its latest path)
        self._gpus_edited = False
        intro = QLabel(
            f"Train this experiment ({config.method.name}, {config.model.encoder}, {config.data.image_size} px) with "
            "torchrun on several GPUs or machines. Every machine needs SSL Workbench installed and torchrun on its "
            "PATH; save the config file, then paste a command where the GPUs are."
        )
        intro.setWordWrap(True)
        self.config_edit, self.run_edit = QLineEdit(str(config_path)), QLineEdit(str(run_dir))
        self.config_edit.setToolTip("The experiment as a JSON config file (what `workbench train --config` reads)")
        self.run_edit.setToolTip("The run folder training creates (it must be new or empty)")
        self.gpus, self.nodes = QSpinBox(), QSpinBox()
        self.gpus.setRange(1, 1024)
        self.gpus.setValue(2)
        self.gpus.setToolTip("Processes per machine (--nproc_per_node): one per GPU")
        self.nodes.setRange(1, 4096)
        self.nodes.setValue(2)
        self.nodes.setToolTip("Machines (--nnodes) for the several-machines and Slurm forms")
        self.gpu_info = QLabel("looking for GPUs…")
        self.gpu_info.setStyleSheet(_NOTE)
        self.endpoint = QLineEdit(DEFAULT_ENDPOINT)
        self.endpoint.setToolTip("--rdzv_endpoint: machine 0's host name or address, and a free port")
        shared = QLabel(SHARED_FILESYSTEM_NOTE)
        shared.setStyleSheet(_NOTE)
        shared.setWordWrap(True)
        self.batch_note, self.device_note, self.problem, self.saved_note = QLabel(), QLabel(), QLabel(), QLabel()
        for label in (self.batch_note, self.device_note, self.problem, self.saved_note):
            label.setWordWrap(True)
        self.problem.setStyleSheet(_WARN)
        self.device_note.setStyleSheet(_WARN)
        if config.train.device in ("cpu", "mps"):
            self.device_note.setText(
                f"Device is {config.train.device}: the processes would train on it, not on GPUs; choose auto or cuda."
            )
        self.device_note.setVisible(bool(self.device_note.text()))

        form = QFormLayout()
        form.addRow("Config file", self._with_browse(self.config_edit, self._browse_config))
        form.addRow("Run folder", self._with_browse(self.run_edit, self._browse_run))
        form.addRow(shared)
        processes = QHBoxLayout()
        for widget, stretch in (
            (self.gpus, 0),
            (self.gpu_info, 1),
            (QLabel("Machines"), 0),
            (self.nodes, 0),
            (QLabel("   Machine 0 address"), 0),
            (self.endpoint, 1),
        ):
            processes.addWidget(widget, stretch)
        form.addRow("GPUs per machine", processes)
        self.single = CommandBlock(
            "Run this on the machine with the GPUs (N processes, one per GPU):", "Resume a stopped or killed run:"
        )
        self.multi = CommandBlock(
            "Run each line on its machine, machine 0 first; replace HOST with machine 0's address (name or IP):",
            "Resume a stopped or killed run (again each line on its machine):",
            resume_lines=7,
        )
        self.slurm = CommandBlock(
            "Save as train.sbatch and submit it with: sbatch train.sbatch",
            "Resume a stopped or killed run: the same script, ending with this line:",
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(self.single, "One machine, several GPUs")
        self.tabs.addTab(self.multi, "Several machines")
        self.tabs.addTab(self.slurm, "Slurm batch script")
        self.save_button, close = QPushButton("Save config"), QPushButton("Close")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(lambda: self.save())
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.saved_note, 1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        for widget in (self.batch_note, self.device_note, self.problem):
            layout.addWidget(widget)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)

        self.single.copy_button.clicked.connect(lambda: self.copy(self.commands().single_machine))
        self.single.copy_resume_button.clicked.connect(
            lambda: self.copy(self.commands(resume=True).single_machine, save=False)
        )
        self.multi.copy_button.clicked.connect(lambda: self.copy(_by_machine(self.commands().multi_machine)))
        self.multi.copy_resume_button.clicked.connect(
            lambda: self.copy(_by_machine(self.commands(resume=True).multi_machine), save=False)
        )
        self.slurm.copy_button.clicked.connect(lambda: self.copy(self.commands().slurm_script))
        self.slurm.copy_resume_button.clicked.connect(
            lambda: self.copy(self.commands(resume=True).srun_line, save=False)
        )
        for edit in (self.config_edit, self.run_edit, self.endpoint):
            edit.textChanged.connect(self.refresh)
        self.gpus.valueChanged.connect(self._gpus_changed)
        self.nodes.valueChanged.connect(self.refresh)
        self.finished.connect(lambda _: self.shutdown())
        self.runner = TaskRunner(self)
        self.runner.failed.connect(lambda text: self.gpu_info.setText(f"GPUs unknown ({text})"))
        self.runner.start(local_gpu_count, self._gpus_found)
        self.resize(900, 720)
        self.refresh()

    # ---- what the dialog shows
    def config_path(self) -> Path:
        return _absolute(self.config_edit.text())

    def run_dir(self) -> Path:
        return _absolute(self.run_edit.text())

    def commands(self, resume: bool = False) -> ClusterCommands:
        n = self.gpus.value()
        return torchrun_commands(
            self.config_path(),
            self.run_dir(),
            nproc_per_node=n,
            nnodes=self.nodes.value(),
            rdzv_endpoint=self.endpoint.text().strip() or DEFAULT_ENDPOINT,
            cpus_per_task=n * (self.config.train.workers + 1),  # each process: its data workers + itself
            job_name=f"workbench-{self.config.method.name}",
            resume=resume,
        )

    def problem_text(self) -> str:
        """The sentence that refuses the paths, or ""."""
        config_text, run_text = self.config_edit.text().strip(), self.run_edit.text().strip()
        try:
            check_paths(config_text and self.config_path(), run_text and self.run_dir(), image_root(self.config))
        except WorkbenchError as exc:
            return str(exc)
        return ""

    def refresh(self) -> None:
        n, m = self.gpus.value(), self.nodes.value()
        commands, resume = self.commands(), self.commands(resume=True)
        self.single.set_text(commands.single_machine, resume.single_machine)
        self.multi.set_text(_by_machine(commands.multi_machine), _by_machine(resume.multi_machine))
        self.slurm.set_text(commands.slurm_script, resume.srun_line)
        text, even = batch_split(self.config.train.batch_size, n * m)
        self.batch_note.setText(text if even else f"⚠ {text}")
        self.batch_note.setStyleSheet(_NOTE if even else _WARN)
        problem = self.problem_text()
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        for button in (self.save_button, self.single.copy_button, self.multi.copy_button, self.slurm.copy_button):
            button.setEnabled(not problem)
        if self.saved_path is not None and self.saved_path != self.config_path():
            self._note("Not saved at this path yet: Save config (or Copy) writes it.", _NOTE)

    # ---- actions
    def save(self) -> bool:
        """Write the config file (atomically); False, with the sentence in the dialog, when it cannot be written."""
        try:
            path = save_config(self.config, self.config_path(), self.run_dir())
        except WorkbenchError as exc:
            self._note(str(exc), _WARN)
            return False
        except OSError as exc:
            self._note(f"The config file cannot be written ({exc}).", _WARN)
            return False
        self.saved_path = path
        run = self.run_dir()
        busy = " The run folder already holds files: use the resume lines, or choose a new run folder."
        self._note(f"Saved {path}.{busy if run.is_dir() and any(run.iterdir()) else ''}", _OK)
        return True

    def copy(self, text: str, save: bool = True) -> None:
        """Copy `text` to the clipboard; a launch command only once its config file is saved (saving it first)."""
        saved_now = save and self.saved_path != self.config_path()
        if saved_now and not self.save():
            return
        QGuiApplication.clipboard().setText(text)
        self._note(
            f"{self.saved_note.text()} Copied to the clipboard." if saved_now else "Copied to the clipboard.", _OK
        )

    def shutdown(self) -> None:
        self.runner.shutdown()

    # ---- slots
    def _with_browse(self, edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        layout.addWidget(button)
        return row

    def _browse_config(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the config file as", self.config_edit.text(), "JSON (*.json)")
        if path:
            self.config_edit.setText(path if path.lower().endswith(".json") else f"{path}.json")

    def _browse_run(self) -> None:
        start = str(self.run_dir().parent)
        folder = QFileDialog.getExistingDirectory(self, "Create the run folder in (a shared filesystem)", start)
        if folder:
            self.run_edit.setText(str(Path(folder) / self.run_dir().name))

    def _gpus_changed(self, _value: int) -> None:
        self._gpus_edited = True
        self.refresh()

    def _gpus_found(self, count: int) -> None:
        plural = "s" if count != 1 else ""
        self.gpu_info.setText(f"{count} CUDA GPU{plural} on this machine" if count else "no CUDA GPU on this machine")
        if count and not self._gpus_edited:
            self.gpus.blockSignals(True)
            self.gpus.setValue(count)
            self.gpus.blockSignals(False)
            self.refresh()

    def _note(self, text: str, style: str) -> None:
        self.saved_note.setText(text)
        self.saved_note.setStyleSheet(style)
