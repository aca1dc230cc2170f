"""The Labels tab's take-aways (a part of ExploreLabels, kept apart for size): the predictions table as CSV and the
curated dataset (results/curate.py), each written by its export runner in the background, with the file dialogs
that ask where. The curated dataset holds the user's labels and, when asked (the tab's "Include predicted labels
with confidence ≥" box), every other image whose prediction (a propagation's or a fine-tuned run's) is at least that
confident; the image folder is only read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog

from workbench.gui.signals import emit


class LabelExports:
    """Mixed into ExploreLabels, whose `emb`, `labels`, `prediction`, `prediction_names`, `panel`, `view`,
    `export_runner` and `exported` it uses."""

    def _choose_predictions(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.panel, "Save the predictions", "predictions.csv", "CSV (*.csv)")
        if path:
            self.export_predictions(Path(path))

    def _choose_curated(self, link: bool, selected_only: bool, min_confidence: float | None = None) -> None:
        folder = QFileDialog.getExistingDirectory(self.panel, "A new or empty folder for the curated dataset")
        if folder:
            rows = self.view.scatter.selected_rows() if selected_only else None
            self.export_curated(Path(folder), link, rows, min_confidence)

    def export_predictions(self, path: Path) -> None:
        if self.prediction is None or self.labels is None:
            return
        emb, p, names = self.emb, self.prediction, self.prediction_names
        user = [self.labels.label_of(i) for i in range(len(emb))]

        def work(state):
            from workbench.results.curate import write_predictions

            return write_predictions(path, emb.paths, names, p.predicted, p.confidence, user, image_root=emb.root)

        self.export_runner.start(work, lambda out: self._on_exported(f"Wrote the predictions to {out}.", out))

    def export_curated(
        self, folder: Path, link: bool = False, rows: np.ndarray | None = None, min_confidence: float | None = None
    ) -> None:
        """The labelled images (or the selected `rows`, unlabelled ones under 'unlabelled') as folder/label/file;
        with `min_confidence` and predictions shown, unlabelled ones by their prediction when at least that sure
        (the unsure ones are then left out)."""
        if self.labels is None:
            return
        p, predictions = self.prediction, None
        if min_confidence is not None and p is not None:
            from workbench.results.curate import Prediction

            names, paths = self.prediction_names, self.emb.paths
            picked = range(len(p.predicted)) if rows is None else np.asarray(rows).tolist()
            predictions = [Prediction(paths[r], names[p.predicted[r]], float(p.confidence[r])) for r in picked]
        fill = "unlabelled" if predictions is None else None
        if rows is None:
            items = [(e.path, e.label) for e in self.labels.entries()]
        else:
            chosen = [(r, self.labels.label_of(r) or fill) for r in np.asarray(rows).tolist()]
            items = [(self.emb.paths[r], label) for r, label in chosen if label]
        if not items and not predictions:
            what = "Label" if rows is None else "Select"
            emit(self.view.failed, f"{what} some images first; the curated dataset holds them.")
            return
        emb = self.emb

        def work(state):
            from workbench.results.curate import curate_dataset

            extra = f" and the predictions at least {min_confidence:.0%} sure" if predictions else ""
            state.message(f"Writing {len(items):,} labelled images{extra} …")
            threshold = {"predictions": predictions, "min_confidence": min_confidence or 0.0}
            return curate_dataset(
                emb.root, items, folder, link=link, progress=state.progress, should_stop=state.should_stop, **threshold
            )

        def done(result) -> None:
            skipped = f"; {len(result.skipped)} missing images skipped" if result.skipped else ""
            guessed = f" ({n:,} by their prediction)" if (n := result.by_source.get("predicted")) else ""
            self._on_exported(f"Wrote {result.written:,} images{guessed} to {result.out}{skipped}.", result.out)

        self.export_runner.start(work, done)

    def _on_exported(self, sentence: str, out: Path) -> None:
        emit(self.view.status, sentence)
        emit(self.exported, str(out))
