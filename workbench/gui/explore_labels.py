"""Labels in the Explore workspace: the Labels and Predictions tabs (widgets/labels_panel.py, predictions_table.py)
wired to a LabelSet (results/labels.py) for the embeddings on the map. Labels are saved with the run (RUN/labels.csv
for its training folder, a file per other folder) a moment after each change, off the GUI thread; propagation
(analysis/fewshot.py), suggestions and the exports (gui/explore_label_exports.py) run on background tasks,
cancellable with the workspace's Cancel button. `show_predictions` shows any predictions for every image (a
propagation's, or a fine-tuned run's: gui/explore_finetune.py) in the table, on the map and for the exports.

The map is coloured here, directly on the scatter and the legend, by labels, predictions or confidence; choosing a
colour mode in the workspace's own box takes over again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QShortcut

from workbench.errors import WorkbenchError
from workbench.gui.explore_label_exports import LabelExports
from workbench.gui.signals import emit
from workbench.gui.widgets.labels_panel import LabelsPanel
from workbench.gui.widgets.legend import UNLABELLED, categorical_colours, sequential_colours
from workbench.gui.widgets.predictions_table import PredictionsTable
from workbench.gui.worker import TaskRunner, failure_sentence
from workbench.results.label_set import LabelSet
from workbench.results.labels import read_entries

if TYPE_CHECKING:
    from workbench.analysis.fewshot import Propagation
    from workbench.gui.explore_view import ExploreView
    from workbench.results.embeddings import Embedding

CONFIDENCE_EDGES = (0.5, 0.8, 0.95)
CONFIDENCE_NAMES = ["confidence ≥ 95 %", "80–95 %", "50–80 %", "below 50 %"]
SUGGESTION_COUNT = 50
SAVE_DELAY_MS = 300


class ExploreLabels(LabelExports, QObject):
    """Attach to an ExploreView: adds the Labels tab; `shutdown()` saves what is pending and waits for its tasks."""

    changed = Signal(str)  # one sentence on what changed
    propagated = Signal(int)  # rows predicted (shown by show_predictions)
    suggested = Signal(int)  # suggestions shown
    saved = Signal(str)  # the labels file written
    exported = Signal(str)  # the predictions file or the curated folder written

    def __init__(self, view: ExploreView):
        super().__init__(view)
        self.view = view
        self.panel = LabelsPanel()
        view.tabs.addTab(self.panel, "Labels")
        self.table = PredictionsTable()
        view.tabs.addTab(self.table, "Predictions")
        self.runner = TaskRunner(self)  # propagate, suggest
        self.save_runner = TaskRunner(self)
        self.export_runner = TaskRunner(self)
        self._runners = (self.runner, self.save_runner, self.export_runner)
        c = view.controls
        for runner in self._runners:
            runner.failed.connect(view.failed)
        for runner in (self.runner, self.export_runner):
            runner.progress.connect(c.set_progress)
            runner.message.connect(c.set_progress_text)
            runner.running_changed.connect(lambda busy: c.set_busy(busy or self.view_busy()))
        c.cancel_button.clicked.connect(self.runner.cancel)
        c.cancel_button.clicked.connect(self.export_runner.cancel)
        self.emb: Embedding | None = None
        self.labels: LabelSet | None = None
        self.prediction: Propagation | None = None
        self.prediction_names: list[str] = []
        self.shown = ""  # the colouring this module drew last ("" when the workspace's own is shown)
        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)
        self._connect()

    def _connect(self) -> None:
        p, v = self.panel, self.view
        p.assign_requested.connect(self.assign)
        p.remove_requested.connect(self.remove)
        p.undo_requested.connect(self.undo)
        p.redo_requested.connect(self.redo)
        p.use_folder_changed.connect(self.set_use_folder)
        p.colour_requested.connect(self.show_colouring)
        p.propagate_requested.connect(self.propagate)
        p.suggest_requested.connect(self.suggest)
        p.jump.connect(v.jump_to)
        self.table.jump.connect(v.jump_to)
        p.predictions_requested.connect(self._choose_predictions)
        p.curate_requested.connect(self._choose_curated)
        v.map_ready.connect(lambda _name: self._on_map())
        v.colours_ready.connect(lambda _mode: setattr(self, "shown", ""))
        v.scatter.selection_changed.connect(lambda _n: self._refresh_state())
        v.neighbours_shown.connect(lambda _row: self._refresh_state())
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        QShortcut(QKeySequence.StandardKey.Undo, v, self.undo, context=context)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), v, self.redo, context=context)

    def view_busy(self) -> bool:
        return any(r.is_running() for r in (*self.view._long, self.runner, self.export_runner))

    # ---- the embeddings on the map ------------------------------------------------------------------------
    def _on_map(self) -> None:
        emb = self.view.embedding()
        if emb is None or emb is self.emb:
            return  # a UMAP map of the same embeddings: the labels stay
        self.flush()
        self.emb, self.prediction, self.shown = emb, None, ""
        data = self.view.data  # its LabelSet and labels file were made with the map, on the worker
        self.labels = data.label_set if data.label_set is not None else LabelSet.from_embedding(emb)
        data.label_set = None  # used once: the next map of these embeddings starts from what is saved
        path = self.labels_file()
        note = ""
        if path is not None and path.is_file():
            try:
                outside = self.labels.load(read_entries(path, allow_empty=True))
            except WorkbenchError as exc:
                emit(self.view.failed, f"The saved labels were not loaded: {exc}")
            else:
                if outside:
                    note = f" {outside:,} saved labels name images this folder no longer has; they are left out."
        self.panel.set_folder_labels(self.labels.has_folder_labels, self.labels.use_folder)
        self.panel.set_suggestions([], [])
        self.table.set_predictions([], [], [], [], [])
        self._refresh(f"{len(self.labels):,} labelled images.{note}" if len(self.labels) else "")

    def labels_file(self) -> Path | None:
        """Where the labels of the embedded folder are saved: in its run (None when the embeddings have none)."""
        from workbench.gui.explore_tasks import labels_path

        data = self.view.data
        if self.emb is None or data is None or data.emb is not self.emb:
            return labels_path(self.emb) if self.emb is not None else None
        return data.labels_path  # found with the map, on the worker

    # ---- editing --------------------------------------------------------------------------------------------
    def rows(self, target: str) -> np.ndarray:
        """The rows a target names: the selection, the clicked point, or the clicked point's k-means cluster."""
        scatter, colour = self.view.scatter, self.view.colour
        if target == "selection":
            return np.asarray(scatter.selected_rows(), dtype=np.int64)
        current = int(scatter.current)
        if current < 0:
            return np.zeros(0, np.int64)
        if target == "cluster":
            if colour is None or colour.mode != "cluster":
                return np.zeros(0, np.int64)
            return np.flatnonzero(colour.groups == colour.groups[current])
        return np.array([current], dtype=np.int64)

    def assign(self, label: str, target: str = "selection") -> int:
        if self.labels is None:
            return 0
        rows = self.rows(target)
        if rows.size == 0:
            what = "its cluster (colour by k-means first)" if target == "cluster" else "one"
            emit(self.view.status, f"Nothing to label: select points or click {what} first.")
            return 0
        try:
            n = self.labels.assign(rows, label)
        except WorkbenchError as exc:
            emit(self.view.failed, str(exc))
            return 0
        self._refresh(f"Labelled {n:,} images '{label.strip()}'." if n else "Those images already have that label.")
        return n

    def remove(self, target: str = "selection") -> int:
        if self.labels is None:
            return 0
        n = self.labels.remove(self.rows(target))
        self._refresh(f"Took the label off {n:,} images.")
        return n

    def undo(self) -> None:
        if self.labels is not None and self.labels.undo():
            self._refresh("Undone.")

    def redo(self) -> None:
        if self.labels is not None and self.labels.redo():
            self._refresh("Redone.")

    def set_use_folder(self, use: bool) -> None:
        if self.labels is not None:
            self.labels.set_use_folder(use)
            self._refresh("Folder labels are used." if self.labels.use_folder else "Folder labels are ignored.")

    def _refresh(self, sentence: str) -> None:
        labels = self.labels
        self.panel.set_names(labels.names(), labels.counts())
        self._refresh_state()
        if self.shown == "labels":
            self.show_colouring("labels")
        if sentence:
            self._save_timer.start()
            emit(self.view.status, sentence)
            emit(self.changed, sentence)

    def _refresh_state(self) -> None:
        labels, scatter, colour = self.labels, self.view.scatter, self.view.colour
        self.panel.set_state(
            selected=len(scatter.selected_rows()) if labels is not None else 0,
            point=labels is not None and scatter.current >= 0,
            cluster=labels is not None and scatter.current >= 0 and colour is not None and colour.mode == "cluster",
            can_undo=labels is not None and labels.can_undo,
            can_redo=labels is not None and labels.can_redo,
            predicted=self.prediction is not None,
        )

    # ---- saving ---------------------------------------------------------------------------------------------
    def save(self) -> None:
        """Write the labels file in the background (a copy of the labels: editing goes on meanwhile)."""
        path = self.labels_file()
        if self.labels is None or path is None:
            return
        snapshot, root = self.labels.snapshot(), self.emb.root
        self.save_runner.start(lambda state: snapshot.save(path, root), lambda p: emit(self.saved, str(p)))

    def flush(self) -> None:
        """Save now what a pending timer would have saved (the embeddings change, the window closes)."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            path = self.labels_file()
            if self.labels is not None and path is not None:
                try:
                    self.labels.save(path, self.emb.root)
                except Exception as exc:  # noqa: BLE001 - closing: the sentence still reaches the banner
                    emit(self.view.failed, failure_sentence(exc, "saving the labels"))

    def shutdown(self) -> None:
        for runner in self._runners:
            runner.cancel(notify=False)
        self.save_runner.shutdown()  # a save in flight completes; then what is pending is written
        self.flush()
        for runner in (self.runner, self.export_runner):
            runner.shutdown()

    # ---- colours --------------------------------------------------------------------------------------------
    def show_colouring(self, kind: str) -> None:
        """Colour the map by the labels, the predicted labels or the confidence of the predictions."""
        if self.labels is None:
            return
        if kind == "labels":
            ids, names = self.labels.row_ids()
            colours = [*categorical_colours(len(names)), UNLABELLED]
            groups, names = np.where(ids >= 0, ids, len(names)), [*names, "(unlabelled)"]
        elif self.prediction is None:
            emit(self.view.failed, "Propagate the labels first; then the map can show the predictions.")
            return
        elif kind == "prediction":
            groups, names = self.prediction.predicted, [f"predicted: {n}" for n in self.prediction_names]
            colours = categorical_colours(len(names))
        else:
            bands = np.searchsorted(np.asarray(CONFIDENCE_EDGES), self.prediction.confidence, side="right")
            groups, names = (len(CONFIDENCE_EDGES) - bands).astype(np.int64), list(CONFIDENCE_NAMES)
            colours = sequential_colours(len(names))
        self._draw(np.asarray(groups, np.int64), names, colours)
        self.shown = kind

    def _draw(self, groups: np.ndarray, names: list[str], colours: list[QColor]) -> None:
        counts = np.bincount(groups, minlength=len(names)).tolist()
        self.view.scatter.set_groups(groups, colours)
        self.view.legend.set_groups(names, counts, colours)
        self.view.scatter.set_hidden_groups(set())

    # ---- propagation and suggestions ---------------------------------------------------------------------------
    def propagate(self, method: str = "probe") -> None:
        if self.labels is None or self.emb is None:
            return
        ids, names = self.labels.row_ids()
        if len(names) < 2:
            emit(self.view.failed, "Label images of at least 2 classes to propagate the labels.")
            return
        emb = self.emb

        def work(state):
            from workbench.analysis.fewshot import propagate

            state.message(f"Propagating {int((ids >= 0).sum()):,} labels to {len(emb):,} images ({method}) …")
            return propagate(
                emb.features,
                ids,
                method,
                num_classes=len(names),
                progress=state.progress,
                should_stop=state.should_stop,
            )

        self.runner.start(work, lambda result: self.show_predictions(emb, names, ids, result))

    def show_predictions(self, emb: Embedding, names: list[str], ids: np.ndarray, result: Propagation) -> bool:
        """Show `result`, a prediction for every image of `emb` (class ids into `names`; `ids` the user's labels as
        ids into `names`, -1 none): the Predictions tab, the map coloured by it, and what the exports and the
        "least certain" suggestions use. False (nothing shown) when other embeddings are on the map meanwhile."""
        if emb is not self.emb:
            return False
        self.prediction, self.prediction_names = result, names
        self.show_colouring("prediction")
        self.table.set_predictions(emb.paths, names, result.predicted, result.confidence, ids)
        self._refresh_state()
        emit(
            self.view.status,
            f"Predicted a label for all {len(emb):,} images; mean confidence {result.confidence.mean():.2f}.",
        )
        emit(self.propagated, len(result.predicted))
        return True

    def suggest(self, kind: str = "diverse") -> None:
        if self.labels is None or self.emb is None:
            return
        if kind == "uncertain" and self.prediction is None:
            emit(self.view.failed, "Propagate the labels first; the least certain predictions come from them.")
            return
        emb, ids, prediction = self.emb, self.labels.row_ids()[0], self.prediction

        def work(state):
            from workbench.analysis import fewshot

            if kind == "uncertain":
                return fewshot.rank_uncertain(prediction.probabilities, ids, SUGGESTION_COUNT)
            if kind == "outlier":
                from workbench.gui.explore_tasks import colouring

                scores = colouring("outlier", emb, 10, state).outliers  # the one neighbour graph, reused
                return fewshot.rank_outliers(scores, ids, SUGGESTION_COUNT)
            state.message(f"Choosing {SUGGESTION_COUNT} images spread over the embedding …")
            return fewshot.k_center_greedy(emb.features, SUGGESTION_COUNT, ids, should_stop=state.should_stop)

        self.runner.start(work, lambda rows: self._on_suggested(emb, rows))

    def _on_suggested(self, emb: Embedding, rows: np.ndarray) -> None:
        if emb is not self.emb:
            return
        texts = []
        for row in rows.tolist():
            guess = ""
            if self.prediction is not None:
                p = self.prediction
                guess = f" — {self.prediction_names[p.predicted[row]]}? ({p.confidence[row]:.0%})"
            texts.append(f"{emb.paths[row]}{guess}")
        self.panel.set_suggestions(rows.tolist(), texts)
        emit(self.suggested, len(rows))
