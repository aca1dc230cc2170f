"""Fine-tuning in the Explore workspace: the Fine-tune tab (widgets/finetune_panel.py) trains the open run's encoder on
the labels given in the Labels tab, as a new run folder next to it, and applies the result to the folder on the map.

Start saves the labels first, then runs results/finetune.py's `finetune()` on the Train workspace's machinery: a
TrainingJob (gui/train_job.py) whose target is the fine-tune, so fit() runs on its own QThread with the job as its
reporter and no Qt in the loop; a timer here drains its step buffer and message queue a few times a second into the
live curves (loss per step, held-out accuracy per pass). Cancel is fit()'s clean stop (checkpoint written, the run
resumable, from the Train workspace too). When the run ends `runs_changed` tells the window to refresh the Train
workspace's runs list, and "Predict with it" runs results/predict.py's `predict()` on the folder in the background;
its classes fill the Predictions tab and colour the map through the Labels tab's own path (as a propagation does).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from workbench.gui.signals import emit
from workbench.gui.train_job import TrainingJob
from workbench.gui.train_tasks import progress_line
from workbench.gui.widgets.finetune_panel import FinetunePanel
from workbench.gui.worker import TaskRunner, close_wait_s

if TYPE_CHECKING:
    from workbench.gui.explore_view import ExploreView
    from workbench.results.embeddings import Embedding
    from workbench.results.predict import Predictions

REDRAW_MS = 250  # the curves and the progress bar: at most 4 redraws a second
SUFFIX = "-finetune-"
HOLDOUT_ACC = "holdout_acc"  # epochs.csv's column of the held-out accuracy (methods/classifier.py)


def next_run_dir(parent: Path) -> Path:
    """`<parent>-finetune-<n>` next to the parent run, n the first number whose folder does not exist."""
    n = 1
    while (path := parent.with_name(f"{parent.name}{SUFFIX}{n}")).exists():
        n += 1
    return path


class ExploreFinetune(QObject):
    """Attach to an ExploreView: adds the Fine-tune tab; `shutdown()` stops a fine-tune cleanly and waits."""

    started = Signal(object)  # Path of the new run
    ended = Signal(str)  # how it ended: "finished", "stopped", "failed"
    runs_changed = Signal(object)  # Path of a run folder made or changed here (the Train workspace's list)
    predicted = Signal(int)  # images predicted

    def __init__(self, view: ExploreView):
        super().__init__(view)
        self.view = view
        self.panel = FinetunePanel()
        view.tabs.addTab(self.panel, "Fine-tune")
        self.job: TrainingJob | None = None
        self.out: Path | None = None  # the run being (or last) fine-tuned here
        self._done, self._listed, self._budget, self._defaults = True, False, 1.0, False
        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self.flush)
        self.predict_runner = TaskRunner(self)
        self.predict_runner.failed.connect(self._say_failed)
        self.predict_runner.message.connect(self.panel.set_message)
        self.predict_runner.running_changed.connect(lambda _busy: self._update())
        self.panel.start_requested.connect(self.start)
        self.panel.cancel_requested.connect(self.cancel)
        self.panel.predict_requested.connect(self.predict)
        view.map_ready.connect(lambda _name: self._on_map())
        self._update()

    # ---- state
    def is_running(self) -> bool:
        return self.job is not None and not self._done

    def parent_run(self) -> Path | None:
        emb = self.view.embedding()
        return Path(emb.run_dir) if emb is not None and emb.run_dir is not None else None

    def _on_map(self) -> None:
        if not self._defaults:  # the embeddings are in, so torch is loaded: finetune.py's defaults cost nothing
            from workbench.results.finetune import DEFAULT_LR, DEFAULT_STEPS

            self.panel.set_defaults(DEFAULT_STEPS, DEFAULT_LR)
            self._defaults = True
        self._update()

    def _update(self) -> None:
        parent = self.parent_run()
        running = self.is_running()
        if not running:
            self.panel.set_output(next_run_dir(parent) if parent is not None else None)
        self.panel.set_running(running, can_start=parent is not None)
        tuned = self.out is not None and not running and self._has_weights(self.out)
        self.panel.set_can_predict(tuned and self.view.embedding() is not None and not self.predict_runner.is_running())

    @staticmethod
    def _has_weights(run: Path) -> bool:
        from workbench.engine.runs import RunDir

        return RunDir(run).has_checkpoint()

    def _refuse(self, sentence: str) -> bool:
        self.panel.set_message(sentence)
        emit(self.view.failed, sentence)
        return False

    def _say_failed(self, sentence: str) -> None:
        self.panel.set_message(sentence)
        emit(self.view.failed, sentence)

    # ---- fine-tuning
    def start(self) -> bool:
        """Save the labels, then fine-tune the open run on them as a new run; False (one sentence) when it cannot."""
        if self.is_running():
            return False
        labels, emb, parent = self.view.labels, self.view.embedding(), self.parent_run()
        path = labels.labels_file()
        if emb is None or parent is None or labels.labels is None or path is None:
            return self._refuse("Open a run in Explore first; its encoder is what a fine-tune starts from.")
        names = labels.labels.names()
        if not names:
            return self._refuse("Label some images first (Labels tab); a fine-tune learns from your labels.")
        if len(names) < 2:
            return self._refuse(f"Only the class '{names[0]}' is labelled; label images of at least 2 classes.")
        settings = self.panel.settings()
        from workbench.engine.runs import RunDir

        if not RunDir(parent).has_checkpoint(settings["start"]):
            what = "trained weights" if settings["start"] == "last" else "initial weights"
            return self._refuse(f"Run '{parent.name}' has no {what} to start from yet; train it first.")
        if not self._save_labels(path, emb):
            return False
        out, root, device = next_run_dir(parent), Path(emb.root), self.view.device

        def target(job: TrainingJob) -> Any:
            from workbench.results.finetune import finetune

            return finetune(parent, path, out, data=root, reporter=job, device=device, **settings)

        self.out, self._done, self._listed = out, False, False
        self._budget = settings["time_budget_s"] or 1.0
        self.job = TrainingJob(None, out, target=target)
        self.panel.clear_curves()
        self.panel.set_output(out)
        self.panel.set_progress(0, 0, "reading the labelled images…")
        self.panel.set_message(f"Fine-tuning {parent.name} on {len(labels.labels):,} labels of {len(names)} classes.")
        self.job.start()
        self.timer.start()
        self._update()
        emit(self.view.status, f"Fine-tuning {parent.name} as {out.name}…")
        emit(self.started, out)
        return True

    def _save_labels(self, path: Path, emb: Embedding) -> bool:
        """The labels as they are now, in their file: a save in flight is let finish, a pending one written now."""
        labels = self.view.labels
        labels.save_runner.pool.waitForDone(10_000)  # a small CSV being written in the background
        labels.flush()
        if path.is_file():
            return True
        try:  # never saved yet (e.g. labels loaded but unchanged): write them
            labels.labels.save(path, emb.root)
        except Exception as exc:  # noqa: BLE001 - one sentence in the window
            from workbench.gui.worker import failure_sentence

            return self._refuse(failure_sentence(exc, "saving the labels"))
        return True

    def cancel(self) -> None:
        """Ask the fine-tune to stop after its current step; it writes its checkpoint and stays resumable."""
        if self.is_running():
            self.job.cancel()
            self.panel.cancel.setEnabled(False)
            self.panel.set_message("Stopping after the current step…")

    def _show_start_accuracy(self) -> None:
        """The held-out accuracy of the starting weights (the probe start: fit() measures it before step 1, into
        untrained.json), drawn at epoch 0: the level the fine-tune has to beat. A small file, read once."""
        from workbench.engine.runs import RunDir, read_json_object

        start = read_json_object(RunDir(self.out).untrained_path).get(HOLDOUT_ACC)
        if isinstance(start, (int, float)) and np.isfinite(start):
            self.panel.add_passes(np.array([0.0]), np.array([float(start)]))

    def flush(self) -> None:
        """Drain the job (GUI thread, every REDRAW_MS): messages, steps, passes; notice the end once."""
        job = self.job
        if job is None:
            return
        finished = job.finished  # read first: every step and message of a finished job is then drained below
        for kind, value in job.take_events():
            if kind == "message":
                self.panel.set_message(value)
            elif kind == "progress" and job.buffer.last is None:  # reading the images, before the first step
                done, total = value
                self.panel.set_progress(total, done, f"reading images {done:,}/{total:,}")
        rows, _values, epochs = job.buffer.drain()
        if len(rows) and job.buffer.last is not None:
            self.panel.set_progress(*progress_line(job.buffer.last, self._budget, False))
            if not self._listed:  # the run folder exists and trains: the Train workspace can list it
                self._listed = True
                emit(self.runs_changed, self.out)
                self._show_start_accuracy()  # epoch 0 before any pass, even one drained with the first steps
        self.panel.add_steps(rows[:, 0], rows[:, 1])
        passes = [(e, v[HOLDOUT_ACC]) for e, v in epochs if np.isfinite(v.get(HOLDOUT_ACC, np.nan))]
        if passes:
            self.panel.add_passes(*np.asarray(passes, np.float64).T)
        self.panel.redraw()
        if finished and not self._done:
            job.wait(10.0)  # fit() has returned; the thread is ending
            self._finish(job)

    def _finish(self, job: TrainingJob) -> None:
        self._done = True
        self.timer.stop()
        result = job.result
        if job.error is not None:
            status = "failed"
            self._say_failed(job.error)
            self.panel.set_progress(1, 0, "failed: see the message above")
        elif result is None:
            status = "stopped"
            self.panel.set_progress(1, 0, "stopped before the first step")
            self.panel.set_message("Stopped while the images were read; nothing was trained.")
        else:
            status = result.status
            self.panel.progress.setFormat(f"{result.status}: {result.message}")
            resumable = " It can be resumed from the Train workspace." if status == "stopped" else ""
            self.panel.set_message(f"{self.out.name}: {result.message}.{resumable}")
        self._update()
        if self.out is not None and self.out.is_dir():
            emit(self.runs_changed, self.out)
        emit(self.view.status, f"Fine-tune {self.out.name} {status}.")
        emit(self.ended, status)

    # ---- predicting with the fine-tuned run
    def predict(self) -> None:
        """The fine-tuned run's class for every image of the folder on the map, in the background."""
        emb, run = self.view.embedding(), self.out
        if emb is None or run is None or self.is_running():
            return
        if not self._has_weights(run):
            self._refuse(f"Run '{run.name}' has no checkpoint to predict with.")
            return
        device = self.view.device

        def work(state):
            from workbench.results.predict import predict

            return predict(run, emb.root, device=device, reporter=state)

        self.panel.set_message(f"Predicting the {len(emb):,} images with {run.name}…")
        self.predict_runner.start(work, lambda result: self._on_predicted(emb, run, result))

    def _on_predicted(self, emb: Embedding, run: Path, result: Predictions) -> None:
        labels = self.view.labels
        if emb is not self.view.embedding() or emb is not labels.emb:
            return  # other embeddings meanwhile
        from workbench.analysis.fewshot import Propagation

        user_ids, user = labels.labels.row_ids()
        names = list(result.class_names) + sorted(set(user) - set(result.class_names))  # your other labels too
        index = {n: i for i, n in enumerate(names)}
        remap = np.array([index[n] for n in user] + [-1], np.int64)  # user id -> id in names; -1 stays -1
        ids = remap[user_ids]
        probabilities = np.zeros((len(emb), len(names)), np.float32)
        probabilities[:, : len(result.class_names)] = 1.0 / max(len(result.class_names), 1)  # unreadable: no guess
        rows = {p: i for i, p in enumerate(emb.paths)}
        found = np.array([rows.get(p, -1) for p in result.paths], np.int64)
        known = found >= 0
        probabilities[found[known], : len(result.class_names)] = result.probabilities[known]
        predicted = probabilities.argmax(axis=1).astype(np.int64)
        propagation = Propagation(predicted, probabilities[np.arange(len(emb)), predicted], probabilities, run.name)
        labels.show_predictions(emb, names, ids, propagation)  # the Labels tab's path: table, colours, exports
        self.view.tabs.setCurrentWidget(labels.table)
        missing = len(emb) - int(known.sum())
        note = f" {missing:,} images could not be read and have no prediction." if missing else ""
        self.panel.set_message(f"Predicted the {int(known.sum()):,} images with {run.name} (Predictions tab).{note}")
        emit(self.predicted, int(known.sum()))

    # ---- closing
    def shutdown(self) -> None:
        """A clean stop of a running fine-tune (its checkpoint written), waiting no longer than the window allows."""
        self.timer.stop()
        if self.job is not None and not self._done:
            self.job.cancel()
            if self.job.wait(close_wait_s(60.0)):
                self._done = True
        self.predict_runner.shutdown()
