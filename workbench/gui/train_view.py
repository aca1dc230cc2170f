"""The Train workspace: pick a recipe, press Start, watch it learn; Pause / Resume / Stop; past runs.

Training runs on its own QThread (TrainingJob) that calls the engine's fit() unchanged, the job being the reporter;
a QTimer drains its buffer and redraws at most REDRAW_HZ times a second, so the window never freezes.
Stop finishes the current step and leaves a resumable run. Run alone: `python -m workbench.gui.train_view [DIR]`.

Run on a cluster… saves the recipe as a config file and shows the torchrun / Slurm lines (widgets/cluster_dialog.py).
Follow run… shows a run that another process writes (the CLI, torchrun with the folder mounted) with the same curves,
polled read-only once a second off the GUI thread (widgets/run_follow.py), until it ends. Both: train_elsewhere.py.
Before Start a line says what to expect (widgets/train_hints.py); the settings are remembered (QSettings).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from workbench.augment.spec import AugmentSpec, preset
from workbench.config import DataConfig, ExperimentConfig
from workbench.engine.run_table import default_runs_dir  # one runs folder for the app and `workbench runs`
from workbench.engine.runs import RunDir
from workbench.errors import WorkbenchError
from workbench.gui.run_listing import Overlays, RunListing
from workbench.gui.signals import emit
from workbench.gui.train_elsewhere import ElsewhereActions
from workbench.gui.train_job import TrainingJob
from workbench.gui.train_tasks import Catalog, load_catalog, new_run_dir, progress_line
from workbench.gui.widgets.cluster_dialog import ClusterDialog
from workbench.gui.widgets.curves import LiveCurves
from workbench.gui.widgets.run_display import RunDisplay
from workbench.gui.widgets.run_follow import RunFollowing
from workbench.gui.widgets.runs_list import RunsPanel
from workbench.gui.widgets.sample_preview import SamplePreview
from workbench.gui.widgets.train_settings import (
    TrainControls,
    TrainSettings,
    augment_summary,
    confirm_stop,
    recall_recipe,
    remember_recipe,
    workspace_layout,
)
from workbench.gui.worker import TaskRunner, close_wait_s

log = logging.getLogger(__name__)
REDRAW_HZ = 20


class TrainView(ElsewhereActions, QWidget):
    """`set_folder`, `set_spec_source` and `form.image_size` connect it to the other workspaces; `store`: where the
    settings are remembered (None: not remembered)."""

    failed = Signal(str)
    status = Signal(str)
    open_augment = Signal()
    training_changed = Signal(bool)
    explore_requested = Signal(object)  # Path of a run to open in Explore

    def __init__(
        self, runs_dir: str | Path | None = None, parent: QWidget | None = None, store: QSettings | None = None
    ):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.store, self.folder = store, ""
        self._spec_source: Callable[[], AugmentSpec] = lambda: preset("light")
        self._data_choices: Callable[[DataConfig], None] = lambda data: None
        left = TrainSettings()
        self.form, self.recommended, self.cluster_button = left.form, left.recommended, left.cluster_button
        self.augment_summary = left.augment_summary
        self.recommended.clicked.connect(self.use_recommended)
        self.cluster_button.clicked.connect(self.open_cluster_dialog)
        self.augment_summary.linkActivated.connect(lambda _: emit(self.open_augment))
        controls = TrainControls()
        self.start_button, self.pause_button, self.stop_button = controls.start, controls.pause, controls.stop
        self.progress, self.health, self.estimate = controls.progress, controls.health, controls.estimate
        self.form.changed.connect(self.refresh_estimate)
        self.estimate.counted.connect(self.refresh_estimate)
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.curves = LiveCurves()
        self.samples = SamplePreview()  # generative methods: reconstructions / samples, live
        self.display = RunDisplay(self.curves, self.samples, self.progress, self.health)
        self.runs_panel = RunsPanel(self.runs_dir)
        self.listing, self.overlays = RunListing(), Overlays(self.curves)  # refreshed at every epoch: changes read
        self.runs = self.runs_panel.list
        self.runs.selection_changed.connect(self._runs_selected)
        self.runs_panel.refresh_button.clicked.connect(self.refresh_runs)
        self.runs_panel.resume_requested.connect(lambda path: self.start(path))
        self.runs_panel.explore_requested.connect(lambda path: emit(self.explore_requested, path))
        self.runs_panel.follow_requested.connect(self.follow)
        self.follow_button = self.runs_panel.follow_button
        self.follow_button.clicked.connect(self._follow_clicked)
        QVBoxLayout(self).addWidget(workspace_layout(left, controls, (self.curves, self.samples, self.runs_panel)))

        self.catalog: Catalog | None = None
        self.catalog_runner = TaskRunner(self)
        self.catalog_runner.failed.connect(self.failed)
        self.job: TrainingJob | None = None  # the running (or last) training
        self._job_done, self._paused, self._budget, self._listed = True, False, 1.0, False
        self.run_dir: Path | None = None
        self.last_result = None
        self.timer = QTimer(self, interval=1000 // REDRAW_HZ)
        self.timer.timeout.connect(self.flush)
        self.following = RunFollowing(self.curves, self.samples, self.progress, self)
        self.following.failed.connect(self.failed)
        self.following.status.connect(self.status)
        self.following.epochs.connect(self.display.show_epochs)
        self.following.changed.connect(self._update_buttons)
        self.following.ended.connect(self._follow_ended)
        self.cluster_dialog: ClusterDialog | None = None
        self._update_buttons()
        self.refresh_runs()
        self.refresh_spec()

    # ---- wiring from the window
    def set_folder(self, folder: str | Path, images: int | None = None) -> None:
        """Train on `folder` (of `images` images, when known) from now on; the curves of a run on the previous folder
        are cleared (unless it trains)."""
        changed = bool(self.folder) and str(folder) != self.folder
        self.folder = str(folder)
        if changed and not self.is_training():
            self.following.forget()
            self.display.show_run(None)
            self.display.set_progress(1, 0, "idle")
            self.run_dir = None
        self.estimate.set_folder(self.folder, images)
        self.refresh_estimate()
        self._update_buttons()

    def set_spec_source(self, source: Callable[[], AugmentSpec]) -> None:
        self._spec_source = source
        self.refresh_spec()

    def set_data_choices(self, fill: Callable[[DataConfig], None]) -> None:
        """What the Data workspace decided about the folder (keep links to images already listed, images excluded
        from training), written into the run's data config at Start."""
        self._data_choices = fill

    def refresh_spec(self) -> None:
        self.augment_summary.setText(augment_summary(self._spec_source()))

    def load_catalog(self) -> None:
        """Fill the encoder/method/device controls from the registries (on a worker: they import torch)."""
        if self.catalog is None and not self.catalog_runner.is_running():
            self.catalog_runner.start(load_catalog, self._catalog_loaded)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.load_catalog()
        self.refresh_spec()

    # ---- recipe
    def config(self) -> ExperimentConfig:
        config = self.form.config()
        config.data.path = self.folder
        self._data_choices(config.data)
        config.augment = self._spec_source()
        return config

    def use_recommended(self) -> None:
        """The engine's default recipe, keeping the folder, the augmentation spec and the image size."""
        config = ExperimentConfig()
        config.data.image_size = self.form.image_size.value()
        self.form.set_config(config)

    # ---- running
    def is_training(self) -> bool:
        return self.job is not None and not self._job_done

    def start(self, resume_dir: Path | None = None) -> bool:
        """Start a new run (or resume `resume_dir`); False, with a sentence in the banner, when it cannot start."""
        if self.is_training() or self.catalog is None:
            return False
        try:
            if resume_dir is not None:
                if self.is_following() and Path(resume_dir) == self.followed:
                    raise WorkbenchError(f"Run '{Path(resume_dir).name}' is followed here: stop following it first.")
                config = RunDir.open(resume_dir).load_config()
                if config.method.name != "classifier":  # a fine-tune resumes as one (TrainingJob), the form kept
                    self.form.set_config(config)
                run_dir, resume = Path(resume_dir), True
            else:
                config = self.config()
                config.validate()
                self.runs_dir.mkdir(parents=True, exist_ok=True)
                run_dir, resume = new_run_dir(self.runs_dir, config), False
        except (WorkbenchError, OSError) as exc:
            emit(self.failed, str(exc))
            return False
        self.following.forget()
        self.display.show_run(run_dir if resume else None)
        self.display.set_progress(1, 0, "resuming…" if resume else "starting…")
        self.estimate.update_estimate(config, self.runs.runs, self.catalog.devices)  # what this run should take
        if self.store is not None:
            remember_recipe(self.store, self.form, self.catalog_runner)  # the file written on a worker
        self.run_dir, self.last_result = run_dir, None
        self._paused, self._listed = False, False
        self._budget = config.train.time_budget_s or 1.0
        self.job, self._job_done = TrainingJob(config, run_dir, resume), False
        self.job.start()
        self.timer.start()
        self._running_changed(True)
        emit(self.status, f"{'Resuming' if resume else 'Training'} {run_dir.name}…")
        return True

    def toggle_pause(self) -> None:
        if not self.is_training():
            return
        self._paused = not self._paused
        self.job.set_paused(self._paused)
        self.display.add_note(" — paused", self._paused)  # no steps arrive while paused to redraw the bar
        self._update_buttons()
        emit(self.status, "Paused (the paused time is not counted)." if self._paused else "Resumed.")

    def stop(self) -> None:
        """Ask fit() to stop after the current step; it writes last.pt and leaves a resumable run."""
        if self.is_training():
            self.job.cancel()  # the timer keeps draining until the thread has really finished
            self.stop_button.setEnabled(False)
            self.pause_button.setEnabled(False)
            self.display.add_note(" — stopping…")

    def ask_to_stop(self) -> bool:
        """Closing the window while training: ask first (True: stop and close)."""
        return confirm_stop(self)

    def shutdown(self) -> None:
        """Stop training (a clean stop: checkpoint written) and wait; no thread outlives the window."""
        if self.job is not None:
            self.job.cancel()
            if self.job.wait(close_wait_s(120.0)):
                self.flush()  # record how it ended (status, run list) while the widgets still exist
            else:  # a long step: the process ends without it, and the run resumes from its last checkpoint
                log.warning("the training thread was still in a step when the window closed")
        self.following.shutdown()
        self.estimate.shutdown()
        if self.store is not None and self.catalog is not None:
            remember_recipe(self.store, self.form)
        if self.cluster_dialog is not None:
            self.cluster_dialog.shutdown()
        self.catalog_runner.shutdown()
        self.timer.stop()

    # ---- draining the buffer (GUI thread, REDRAW_HZ)
    def flush(self) -> None:
        if self.job is None:
            return
        for kind, value in self.job.take_events():
            if kind == "message":
                emit(self.status, value)
            elif kind == "progress" and not self._listed:  # reading images, before the first step
                self.display.set_progress(value[1], value[0], f"reading images {value[0]:,}/{value[1]:,}")
        buffer = self.job.buffer
        steps, epochs = self.display.draw(buffer, self.run_dir)
        if epochs:  # the running run's row: step, loss and kNN so far
            self.refresh_runs()
        if steps and not self._listed:  # the run folder exists once steps arrive: list it as running
            self._listed = True
            self.refresh_runs()
            self.runs.select(self.run_dir)
        if buffer.last is not None and steps:
            self.display.set_progress(*progress_line(buffer.last, self._budget, self._paused))
        if self.job.finished:  # the run is over: its last points on every plot now
            self.curves.redraw()
        else:  # one plot per pass of the event loop while training competes for the CPU
            self.curves.redraw_staggered()
        if self.job.finished and not self._job_done:  # the thread's result is in: report it once
            self.job.wait(10.0)  # fit() has returned; the thread is ending (never drop a running QThread)
            self._job_done = True
            self.last_result = self.job.result
            if self.job.error is not None:
                self._failed(self.job.error)
            self._running_changed(False)
            if self.last_result is not None:
                self.estimate.show_finished(self.last_result.step, self.last_result.status)

    def refresh_estimate(self) -> None:
        """What Start would give: the time and steps of the form's recipe on this folder at the measured speed."""
        if self.catalog is not None and not self.is_training():
            self.estimate.update_estimate(self.config(), self.runs.runs, self.catalog.devices)

    # ---- slots
    def _catalog_loaded(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.form.set_catalog(catalog)
        if self.store is not None:
            recall_recipe(self.store, self.form)
        self._update_buttons()
        self.refresh_estimate()

    def _failed(self, text: str) -> None:
        emit(self.failed, text)
        self.progress.setFormat("failed: see the message at the top")

    def _running_changed(self, running: bool) -> None:
        if not running:
            self.timer.stop()
            if self.last_result is not None:
                self.progress.setFormat(f"{self.last_result.status}: {self.last_result.message}")
            elif self.job is not None and self.job.error is None:
                self.progress.setFormat("stopped before the first step")
            self._paused = False
            self.refresh_runs()
            if self.run_dir is not None:
                self.runs.select(self.run_dir)
        self._update_buttons()
        emit(self.training_changed, running)

    def _update_buttons(self) -> None:
        running = self.is_training()
        self.start_button.setEnabled(not running and self.catalog is not None)
        self.start_button.setToolTip("Train a new run with these settings" if self.catalog else "Loading…")
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if self._paused else "Pause")
        self.stop_button.setEnabled(running)
        self.recommended.setEnabled(not running)
        self.form.setEnabled(not running)
        self.follow_button.setEnabled(not running)
        self.follow_button.setText("Stop following" if self.is_following() else "Follow run…")
        self.runs_panel.update_buttons(
            running, self.run_dir if running else None, self.followed if self.is_following() else None
        )

    def refresh_runs(self) -> None:
        self.runs.set_runs(self.listing.list(self.runs_dir))
        if not self.is_training():
            self.refresh_estimate()

    def _runs_selected(self, paths: list[Path]) -> None:
        # The live (or last) run is drawn in full; the other selected runs are overlaid as EMA lines.
        shown = (self.followed,) if self.followed is not None else (self.run_dir,)
        self.overlays.show([p for p in paths if p not in shown])
        if not self.is_training() and self.followed is None:
            self.samples.load_run(paths[0] if len(paths) == 1 else self.run_dir)
        self._update_buttons()


def main(argv: list[str] | None = None) -> int:
    from workbench.data.demo import demo_dataset_path
    from workbench.gui.standalone import run_standalone

    args = sys.argv[1:] if argv is None else argv

    def build() -> TrainView:
        view = TrainView()
        view.set_folder(args[0] if args else demo_dataset_path())
        return view

    return run_standalone(build, "Train")


if __name__ == "__main__":
    sys.exit(main())
