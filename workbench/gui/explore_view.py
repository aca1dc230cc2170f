"""The Explore workspace: what a run learned about a folder. The embedding map (PCA at once, UMAP when ready),
hover thumbnails, the clicked image with its nearest neighbours (both ringed on the map), a file-name search, fit
view (F, Ctrl+0), colours (label, k-means, outlier score), box and lasso selection, duplicates (identical files and
near-identical embeddings), and exports.

Run alone: `python -m workbench.gui.explore_view RUN_DIR [FOLDER]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QSplitter, QTabWidget, QVBoxLayout, QWidget

from workbench.data.scan import ScanReport
from workbench.gui import explore_tasks as tasks
from workbench.gui.explore_exports import ExportActions
from workbench.gui.explore_finetune import ExploreFinetune
from workbench.gui.explore_labels import ExploreLabels
from workbench.gui.explore_point import PointActions
from workbench.gui.explore_tasks import Colouring, MapData
from workbench.gui.signals import emit
from workbench.gui.widgets.duplicates import DuplicatesPanel
from workbench.gui.widgets.explore_controls import ExploreControls
from workbench.gui.widgets.hover_card import HoverThumbnails
from workbench.gui.widgets.legend import UNLABELLED, Legend, categorical_colours, sequential_colours
from workbench.gui.widgets.neighbours import NeighboursPanel
from workbench.gui.widgets.scatter import ScatterMap
from workbench.gui.widgets.selection_panel import SelectionPanel
from workbench.gui.worker import TaskRunner
from workbench.results.embeddings import MODE_NAMES, Embedding
from workbench.results.maps import UmapParams, umap_note
from workbench.results.umap_process import UmapProcess

EMPTY_HINT = "Open a run (Open Run…) or train one in the Train workspace to see what its encoder learned."
LOADING = "Loading run '{name}': embedding its images …"
FIT_KEYS = ("F", "Ctrl+0")


class ExploreView(PointActions, ExportActions, QWidget):
    """open_run(run_dir, folder=None) embeds in the background and draws the map; shutdown() before closing."""

    failed = Signal(str)  # one sentence for the window's banner
    status = Signal(str)
    map_ready = Signal(str)  # "PCA" or "UMAP": a map of the current embeddings is drawn
    colours_ready = Signal(str)  # the colour mode now drawn
    neighbours_shown = Signal(int)  # the row whose neighbours fill the gallery
    duplicates_ready = Signal(int)  # pairs found

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        umap: UmapProcess | None = None,
        device: str = "auto",
        auto_umap: bool = True,
    ):
        super().__init__(parent)
        self.device, self.auto_umap = device, auto_umap
        self.umap = umap if umap is not None else UmapProcess()
        self.controls = c = ExploreControls()
        self.scatter = ScatterMap()
        self.scatter.empty_text = EMPTY_HINT
        self.legend = Legend()
        self.neighbours = NeighboursPanel()
        self.selection = SelectionPanel()
        self.duplicates = DuplicatesPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.neighbours, "Point")
        self.tabs.addTab(self.selection, "Selection")
        self.tabs.addTab(self.duplicates, "Duplicates")
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.legend)
        side.addWidget(self.tabs)
        side.setSizes([230, 560])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.scatter)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([760, 420])
        layout = QVBoxLayout(self)
        layout.addWidget(c)
        layout.addWidget(splitter, 1)
        self.hover = HoverThumbnails(self, self.scatter)

        self.runner = TaskRunner(self)  # embeddings + PCA
        self.umap_runner = TaskRunner(self)
        self.colour_runner = TaskRunner(self)
        self.point_runner = TaskRunner(self)
        self.dup_runner = TaskRunner(self)
        self.export_runner = TaskRunner(self)
        self._long = (self.runner, self.umap_runner, self.colour_runner, self.dup_runner, self.export_runner)
        for runner in (*self._long, self.point_runner):
            runner.failed.connect(self.failed)
        for runner in self._long:
            runner.progress.connect(c.set_progress)
            runner.message.connect(c.set_progress_text)
            runner.running_changed.connect(lambda _busy: c.set_busy(any(r.is_running() for r in self._long)))
        self.runner.running_changed.connect(self._loading_changed)
        self.selection.failed.connect(self.failed)
        self.selection.status.connect(self.status)

        self.run_dir: Path | None = None
        self.folder: Path | None = None
        self.data: MapData | None = None
        self.xy = np.zeros((0, 2), np.float32)
        self.map_name = ""
        self.colour: Colouring | None = None
        self._colour_cache: dict[tuple[str, int], Colouring] = {}
        self._rows_by_path: dict[str, int] = {}
        self._umap_timer = QTimer(self, singleShot=True, interval=400)  # parameter edits settle first
        self._umap_timer.timeout.connect(self.start_umap)
        self._connect()
        self.labels = ExploreLabels(self)  # the Labels tab: label, undo, propagate, suggest, export
        self.finetune = ExploreFinetune(self)  # the Fine-tune tab: a new run from the labels, predict with it
        c.set_busy(False)

    def _connect(self) -> None:
        c = self.controls
        c.cancel_button.clicked.connect(self.cancel)
        c.open_run_button.clicked.connect(self.choose_run)
        c.folder_button.clicked.connect(self._choose_folder)
        c.compare.currentIndexChanged.connect(lambda _i: self._reload())
        c.map_kind.currentIndexChanged.connect(lambda _i: self._map_kind_changed())
        for spin in (c.n_neighbors, c.min_dist):
            spin.valueChanged.connect(lambda _v: self._umap_timer.start())
        c.metric.currentIndexChanged.connect(lambda _i: self._umap_timer.start())
        c.colour.currentIndexChanged.connect(lambda _i: self.apply_colour_mode())
        c.k.valueChanged.connect(lambda _v: self.apply_colour_mode() if self.colour_mode() != "label" else None)
        for tool, button in c.tool_buttons.items():
            button.toggled.connect(lambda on, tool=tool: on and self.scatter.set_tool(tool))
        c.export_npz.triggered.connect(lambda: self._choose_export("npz"))
        c.export_csv.triggered.connect(lambda: self._choose_export("csv"))
        c.export_encoder.triggered.connect(self._choose_encoder_export)
        c.export_parquet.triggered.connect(lambda: self._choose_export("parquet"))
        c.export_projector.triggered.connect(self._choose_projector_export)
        c.fit_button.clicked.connect(self.scatter.fit_view)
        for keys in FIT_KEYS:  # anywhere in the workspace, except while typing in a box that takes the key
            QShortcut(
                QKeySequence(keys), self, self.scatter.fit_view, context=Qt.ShortcutContext.WidgetWithChildrenShortcut
            )
        c.search.found.connect(self.find_file)
        self.selection.table_source = self._table_columns
        self.scatter.clicked.connect(self.show_point)
        self.scatter.selection_changed.connect(self._on_selection)
        self.legend.toggled.connect(lambda _g, _v: self.scatter.set_hidden_groups(self.legend.hidden_groups()))
        self.neighbours.jump.connect(self.jump_to)
        self.neighbours.k_changed.connect(lambda _k: self._refresh_point())
        self.selection.clear_requested.connect(lambda: self.scatter.select(np.zeros(len(self.xy), bool)))
        self.duplicates.find_requested.connect(self.find_duplicates)
        self.duplicates.jump.connect(self.jump_to)

    # ---- public
    def open_run(self, run_dir: str | Path, folder: str | Path | None = None) -> None:
        """Show `run_dir`'s embeddings of `folder` (default: the folder it trained on); UMAP warms up meanwhile."""
        self.run_dir = Path(run_dir).expanduser()
        self.folder = Path(folder).expanduser() if folder else None
        self.controls.run_label.setText(self.run_dir.name)
        self.controls.run_label.setToolTip(str(self.run_dir))
        self.controls.folder_label.setText(str(self.folder) if self.folder else "(its training folder)")
        self.warm_up()
        self._reload()

    def warm_up(self) -> None:
        """Start the UMAP process (numba compiles there) while the images are embedded; open_run calls it. The first
        map needs no import worth doing ahead (its PCA is numpy's; analysis.project.principal_axes says why)."""
        if self.auto_umap:
            self.umap.start()

    def mode(self) -> str:
        return self.controls.compare.currentData()

    def colour_mode(self) -> str:
        return self.controls.colour.currentData()

    def embedding(self) -> Embedding | None:
        return self.data.emb if self.data else None

    def show_embedding(self, emb: Embedding) -> None:
        """Draw embeddings already in memory (the benchmark and tests start here); PCA is computed in the background."""
        self.runner.start(lambda state: tasks.prepare_map(emb, state), self._on_map)

    def cancel(self) -> None:
        for runner in self._long:
            runner.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for every background job of this workspace, and end the UMAP process (window close)."""
        self._umap_timer.stop()
        runners = (*self._long, self.point_runner)
        for runner in runners:
            runner.cancel(notify=False)
        self.umap.stop()  # a running fit is abandoned at once, so the cancelled UMAP task returns promptly
        for runner in runners:
            runner.shutdown()
        for part in (self.finetune, self.neighbours, self.selection, self.duplicates, self.labels):
            part.shutdown()
        self.hover.shutdown()

    # ---- embeddings and the map
    def _reload(self) -> None:
        if self.run_dir is None:
            return
        run_dir, folder, mode, device = self.run_dir, self.folder, self.mode(), self.device
        self.umap_runner.cancel(notify=False)
        self.point_runner.cancel(notify=False)
        self.scatter.set_current(-1)  # the Point panel empties with the new embeddings: so does the ring
        self.neighbours.clear()
        self.scatter.empty_text = LOADING.format(name=run_dir.name)
        self.scatter.viewport().update()
        self.runner.start(lambda state: tasks.load_map(run_dir, folder, mode, device, state), self._on_map)

    def _on_map(self, data: MapData) -> None:
        emb = data.emb
        self.data, self.xy, self.map_name = data, data.xy, "PCA"
        self._colour_cache.clear()
        self.hover.set_report(ScanReport(str(emb.root), emb.paths, emb.labels.tolist(), emb.class_names))
        self.controls.folder_label.setText(str(emb.root))
        self.scatter.set_points(data.xy)
        self.scatter.set_current(-1)
        self.scatter.select(np.zeros(len(emb), dtype=bool))
        self.neighbours.clear()
        self.controls.search.set_names(emb.paths)
        self._rows_by_path = data.rows_by_path
        if data.encoder:
            self.controls.set_encoder(data.encoder)
        self.duplicates.clear()
        self.apply_colour_mode()
        source = "cached" if emb.cached else "computed"
        note = f" {emb.skipped_note()}" if emb.skipped else ""  # deleted or unreadable files: said, not crashed on
        emit(self.status, f"{len(emb):,} images, {MODE_NAMES[emb.mode].lower()} ({source}); PCA map.{note}")
        emit(self.map_ready, "PCA")
        if self.auto_umap and self.controls.map_kind.currentData() == "umap":
            self.start_umap()

    def _loading_changed(self, busy: bool) -> None:
        if not busy:  # loaded, failed or cancelled: with no map, say how to get one again
            self.scatter.empty_text = EMPTY_HINT
            self.scatter.viewport().update()

    def umap_params(self) -> UmapParams:
        c = self.controls
        return UmapParams(int(c.n_neighbors.value()), round(float(c.min_dist.value()), 3), c.metric.currentData())

    def start_umap(self) -> None:
        if self.data is None or self.controls.map_kind.currentData() != "umap":
            return
        emb, params, service = self.data.emb, self.umap_params(), self.umap
        self.umap_runner.start(
            lambda state: tasks.umap_layout(service, emb, params, state), lambda xy: self._on_umap(emb, xy)
        )

    def _on_umap(self, emb: Embedding, xy: np.ndarray) -> None:
        if self.data is None or self.data.emb is not emb:
            return  # the embeddings changed meanwhile
        self.xy, self.map_name = xy, "UMAP"
        self.scatter.set_points(xy)
        emit(self.status, umap_note(emb, self.umap_params()) or f"UMAP map of {len(emb):,} images.")  # how it was made
        emit(self.map_ready, "UMAP")

    def _map_kind_changed(self) -> None:
        if self.controls.map_kind.currentData() == "umap":
            self.start_umap()
        elif self.data is not None:
            self.umap_runner.cancel()
            self.umap.stop()  # an abandoned fit would keep a core busy
            self.xy, self.map_name = self.data.xy, "PCA"
            self.scatter.set_points(self.data.xy)
            emit(self.map_ready, "PCA")

    # ---- colours
    def set_colour_mode(self, mode: str, k: int | None = None) -> None:
        """Colour by `mode` (a key of COLOUR_MODES), with k clusters or outlier neighbours when given."""
        c = self.controls
        for widget in (c.k, c.colour):  # one recolouring, not one per changed control
            widget.blockSignals(True)
        if k is not None:
            c.k.setValue(k)
        c.colour.setCurrentIndex(c.colour.findData(mode))
        for widget in (c.k, c.colour):
            widget.blockSignals(False)
        self.apply_colour_mode()

    def apply_colour_mode(self) -> None:
        if self.data is None:
            return
        emb, mode, k = self.data.emb, self.colour_mode(), int(self.controls.k.value())
        key = (mode, k if mode in ("cluster", "outlier") else 0)
        if key in self._colour_cache:
            self._show_colouring(self._colour_cache[key])
        elif mode in ("label", "none"):  # instant
            self._show_colouring(tasks.colouring(mode, emb, k, None))
        else:
            self.colour_runner.start(lambda state: (emb, tasks.colouring(mode, emb, k, state)), self._on_colouring)

    def _on_colouring(self, result: tuple[Embedding, Colouring]) -> None:
        emb, col = result
        if self.data is not None and self.data.emb is emb:  # not embeddings replaced meanwhile
            self._show_colouring(col)

    def _show_colouring(self, col: Colouring) -> None:
        self._colour_cache[(col.mode, col.k)] = col
        self.colour = col
        n = len(col.names)
        colours = sequential_colours(n) if col.mode == "outlier" else categorical_colours(n)
        if col.mode == "label" and col.names[-1] == "(unlabelled)":
            colours[-1] = UNLABELLED
        self.scatter.set_groups(col.groups, colours)
        self.legend.set_groups(col.names, col.counts(), colours)
        emit(self.colours_ready, col.mode)

    # ---- click, neighbours
    def choose_run(self) -> None:
        """Ask for a run folder (File → Open Run… can call this) and open it."""
        start = str(self.run_dir.parent if self.run_dir else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", start)
        if folder:
            self.open_run(folder)

    def _choose_folder(self) -> None:
        if self.run_dir is None:
            emit(self.failed, "Open a run first; its encoder embeds the folder.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Embed an image folder", str(self.folder or Path.home()))
        if folder:
            self.open_run(self.run_dir, folder)


def main(argv: list[str] | None = None) -> int:
    from workbench.gui.standalone import run_standalone

    args = sys.argv[1:] if argv is None else argv

    def build() -> ExploreView:
        view = ExploreView()
        if args:
            view.open_run(args[0], args[1] if len(args) > 1 else None)
        return view

    return run_standalone(build, "Explore")


if __name__ == "__main__":
    sys.exit(main())
