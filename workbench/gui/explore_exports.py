"""The Explore workspace's exports (a part of ExploreView, kept apart for size): the map as .npz / CSV / Parquet,
the selection's table, the encoder, and a folder for the TensorBoard Embedding Projector, each written by the view's
export runner in the background, with the file dialogs that ask where."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from workbench.gui import explore_tasks as tasks
from workbench.gui.signals import emit


class ExportActions:
    """Mixed into ExploreView, whose `data`, `xy`, `run_dir`, `_colour_cache`, `export_runner`, `failed` and
    `status` it uses."""

    def _table_columns(self) -> tuple:
        """The selection's CSV columns: (embedding, map as shown, latest clusters, latest outlier scores)."""
        return (self.data.emb, self.xy, *tasks.latest_columns(list(self._colour_cache.values())))

    def export_embeddings(self, path: str | Path) -> None:
        """`.csv`: path, label, x, y, cluster, outlier score per image; `.parquet`: the same and the vector; otherwise
        `.npz`. Written in the background."""
        if self.data is None:
            emit(self.failed, "There are no embeddings to export yet; open a run first.")
            return
        emb, xy, target = self.data.emb, self.xy, Path(path)
        clusters, outliers = tasks.latest_columns(list(self._colour_cache.values()))
        self.export_runner.start(
            lambda state: tasks.export_embeddings(target, emb, xy, clusters, outliers),
            lambda p: emit(self.status, f"Wrote {p}."),
        )

    def export_encoder(self, out_dir: str | Path) -> None:
        if self.run_dir is None:
            emit(self.failed, "Open a run before exporting its encoder.")
            return
        run_dir, target, root = self.run_dir, Path(out_dir), self.data.emb.root if self.data else None
        self.export_runner.start(
            lambda state: tasks.export_encoder(run_dir, target, root, state),
            lambda files: emit(self.status, "Wrote " + ", ".join(str(p) for p in files.values())),
        )

    def export_projector(self, out_dir: str | Path) -> None:
        """The map as a folder for the TensorBoard Embedding Projector (results/projector.py), in the background."""
        if self.data is None:
            emit(self.failed, "There are no embeddings to export yet; open a run first.")
            return
        emb, xy, target = self.data.emb, self.xy, Path(out_dir)
        clusters, outliers = tasks.latest_columns(list(self._colour_cache.values()))
        self.export_runner.start(
            lambda state: tasks.export_projector(target, emb, xy, clusters, outliers, state),
            lambda files: emit(self.status, f"Wrote {files.folder} for the Embedding Projector."),
        )

    def _choose_export(self, kind: str) -> None:
        start = str((self.run_dir or Path.home()) / f"embeddings.{kind}")
        path, _ = QFileDialog.getSaveFileName(self, "Export the embeddings", start, f"*.{kind}")
        if path:
            self.export_embeddings(path)

    def _choose_projector_export(self) -> None:
        start = str(self.run_dir or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Export for the Embedding Projector to a folder", start)
        if folder:
            self.export_projector(folder)

    def _choose_encoder_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the encoder to a folder", str(self.run_dir or ""))
        if folder:
            self.export_encoder(folder)
