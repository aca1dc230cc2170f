"""The Explore workspace's point, search, selection and duplicates actions (a part of ExploreView, kept apart for
size): the clicked image and its nearest neighbours, jumping to an image, finding a file by name, the selection
panel, and the duplicate search, each long step on one of the view's runners."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF

from workbench.gui import explore_tasks as tasks
from workbench.gui.explore_tasks import MapData
from workbench.gui.signals import emit
from workbench.gui.widgets.neighbours import subset_report
from workbench.results.embeddings import Embedding


class PointActions:
    """Mixed into ExploreView, whose `data`, `scatter`, `neighbours`, `selection`, `duplicates`, `tabs`, `controls`,
    `_rows_by_path`, `point_runner`, `dup_runner` and signals (`neighbours_shown`, `duplicates_ready`, `status`) it
    uses."""

    def show_point(self, row: int) -> None:
        """The image large with its path and label, and its k nearest neighbours in embedding space."""
        if self.data is None:
            return
        data, emb, k = self.data, self.data.emb, self.neighbours.k()
        self.scatter.set_current(row)
        self.neighbours.show_point(emb.path(row), emb.label(row))
        self.tabs.setCurrentWidget(self.neighbours)
        self.point_runner.start(lambda state: (data, *tasks.neighbours(data, row, k)), self._on_neighbours)

    def _on_neighbours(self, result: tuple[MapData, int, np.ndarray, np.ndarray]) -> None:
        data, row, rows, distances = result
        if data is not self.data:
            return  # the embeddings changed meanwhile
        emb = data.emb
        self.neighbours.set_neighbours(
            subset_report(emb.root, emb.paths, emb.labels, emb.class_names, rows), rows, distances
        )
        if self.scatter.current == row:
            self.scatter.set_neighbours(rows)
        emit(self.neighbours_shown, row)

    def _refresh_point(self) -> None:
        if self.scatter.current >= 0:
            self.show_point(self.scatter.current)

    def jump_to(self, row: int) -> None:
        """Show `row` in the Point panel; pan the map to it when it is out of view (a point in view stays put)."""
        self.show_point(row)
        if not self.scatter.vb.viewRect().contains(QPointF(*self.scatter.xy[row])):
            self.scatter.centre_on(row)

    def find_file(self, text: str) -> None:
        """Mark and show the image whose relative path is `text` (else the first one containing it, ignoring case)."""
        if self.data is None:
            return
        row = self._rows_by_path.get(text, -1)
        if row < 0:
            needle = text.casefold()
            row = next((i for i, p in enumerate(self.data.emb.paths) if needle in p.casefold()), -1)
        if row < 0:
            emit(self.status, f"No image's path contains '{text}'.")
            return
        self.jump_to(row)

    def _on_selection(self, count: int) -> None:
        self.controls.selection_label.setText(f"{count:,} selected")
        emb = self.data.emb
        self.selection.set_selection(emb.root, emb.paths, emb.labels, emb.class_names, self.scatter.selected_rows())
        if count:
            self.tabs.setCurrentWidget(self.selection)

    def find_duplicates(self, threshold: float) -> None:
        if self.data is None:
            return
        emb = self.data.emb
        self.dup_runner.start(
            lambda state: tasks.duplicates(emb, threshold, state),
            lambda result: self._on_duplicates(emb, *result, threshold),
        )

    def _on_duplicates(self, emb: Embedding, identical, pairs, threshold: float) -> None:
        if self.data is None or self.data.emb is not emb:
            return
        self.duplicates.set_pairs(emb.root, emb.paths, emb.labels, emb.class_names, pairs, threshold, identical)
        self.tabs.setCurrentWidget(self.duplicates)
        emit(self.duplicates_ready, len(pairs))
