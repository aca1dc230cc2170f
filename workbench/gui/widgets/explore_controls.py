"""The Explore workspace's two rows of controls: what to embed and export (top), how to draw it, find a file and fit
the view (bottom). Plain widgets only; ExploreView connects them."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.explore_tasks import COLOUR_MODES
from workbench.results.embeddings import MODE_NAMES
from workbench.results.maps import UMAP_METRICS

MAPS = {"umap": "UMAP (PCA until ready)", "pca": "PCA only"}
ENCODER_EXPORT = "Encoder (state_dict + TorchScript)…"


def _combo(items: dict[str, str], tip: str) -> QComboBox:
    combo = QComboBox()
    for key, text in items.items():
        combo.addItem(text, key)
    combo.setToolTip(tip)
    return combo


class ElidedLabel(QLabel):
    """A label that takes the room the row gives it, never more: a long path is elided in the middle (the full text
    is its tooltip), so the widgets after it stay where they are."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.full_text = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideMiddle, self.width()))


class FileSearch(QLineEdit):
    """A file-name search: completes any part of the relative paths (case-insensitive); `found(text)` when a
    completion is chosen or Return is pressed."""

    found = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setPlaceholderText("Find a file…")
        self.setToolTip("Type part of a file name and pick it: the point is marked and shown in the Point panel.")
        self.setClearButtonEnabled(True)
        self.names = QStringListModel(self)
        completer = QCompleter(self.names, self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setMaxVisibleItems(12)
        completer.activated.connect(lambda text: self.found.emit(text))
        self.setCompleter(completer)
        self.returnPressed.connect(lambda: self.text().strip() and self.found.emit(self.text().strip()))

    def set_names(self, names: list[str]) -> None:
        self.names.setStringList(names)


class ExploreControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_label = QLabel("No run open")
        self.run_label.setStyleSheet("font-weight: bold;")
        self.open_run_button = QPushButton("Open Run…")
        self.folder_label = ElidedLabel("")
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Embed another folder with this run's encoder (default: its training folder).")
        self.compare = _combo(
            MODE_NAMES,
            "Compare what training changed: the trained encoder, the same encoder "
            "with its initial weights, or raw pixels.",
        )
        self.progress_text = QLabel()
        self.progress_text.setFixedWidth(260)  # a fixed slot: longer messages elide, the row never shifts
        self.progress = QProgressBar()
        self.progress.setFixedWidth(160)
        self.cancel_button = QPushButton("Cancel")
        for w in (self.progress_text, self.progress, self.cancel_button):  # hidden when idle, their room kept
            policy = w.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            w.setSizePolicy(policy)
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.setToolTipsVisible(True)
        self.export_npz = menu.addAction("Embeddings and map (.npz)…")
        self.export_npz.setToolTip("The embedding vectors with paths, labels, the map and any clusters / outliers.")
        self.export_csv = menu.addAction("Map table (CSV)…")
        self.export_csv.setToolTip("One row per image: path, label, x, y, cluster, outlier score (no vectors).")
        self.export_encoder = menu.addAction(ENCODER_EXPORT)
        menu.addSeparator()
        self.export_parquet = menu.addAction("Embeddings and map (Parquet)…")
        self.export_projector = menu.addAction("For the Embedding Projector…")
        self.export_button.setMenu(menu)
        top = QHBoxLayout()
        top.addWidget(self.run_label)
        top.addWidget(self.open_run_button)
        top.addSpacing(12)
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.folder_button)
        top.addWidget(QLabel("Compare:"))
        top.addWidget(self.compare)
        for w in (self.progress_text, self.progress, self.cancel_button, self.export_button):
            top.addWidget(w)

        self.map_kind = _combo(
            MAPS,
            "PCA appears at once; UMAP replaces it when it is ready (computed in the "
            "background, cached in the run folder).",
        )
        self.n_neighbors = QSpinBox()
        self.n_neighbors.setRange(2, 200)
        self.n_neighbors.setValue(15)
        self.n_neighbors.setToolTip("UMAP n_neighbors: larger values keep more of the global structure.")
        self.min_dist = QDoubleSpinBox()
        self.min_dist.setRange(0.0, 1.0)
        self.min_dist.setSingleStep(0.05)
        self.min_dist.setValue(0.1)
        self.min_dist.setToolTip("UMAP min_dist: how tightly points may pack together.")
        self.metric = _combo({m: m for m in UMAP_METRICS}, "UMAP metric in embedding space.")
        self.colour = _combo(
            COLOUR_MODES,
            "Colour the points by their label, a k-means cluster, their outlier "
            "score (mean distance to the k nearest neighbours), or not at all.",
        )
        self.k = QSpinBox()
        self.k.setRange(2, 100)
        self.k.setValue(8)
        self.k.setToolTip("k: clusters for k-means; neighbours for the outlier score.")
        self.tools = QButtonGroup(self)
        self.tool_buttons = {}
        for tool, text, tip in (
            ("pan", "Pan", "Drag to pan, wheel to zoom."),
            ("box", "Box", "Drag a rectangle to select (Shift adds)."),
            ("lasso", "Lasso", "Draw around points to select them (Shift adds)."),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            self.tools.addButton(button)
            self.tool_buttons[tool] = button
        self.tool_buttons["pan"].setChecked(True)
        self.selection_label = QLabel("0 selected")
        self.search = FileSearch()
        self.search.setMinimumWidth(150)
        self.search.setMaximumWidth(240)
        self.search.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show all points (F or Ctrl+0).")
        bottom = QHBoxLayout()
        for w in (
            QLabel("Map:"),
            self.map_kind,
            QLabel("n_neighbors"),
            self.n_neighbors,
            QLabel("min_dist"),
            self.min_dist,
            self.metric,
            QLabel("  Colour by:"),
            self.colour,
            QLabel("k"),
            self.k,
        ):
            bottom.addWidget(w)
        bottom.addStretch(1)
        bottom.addWidget(self.search, 1)
        bottom.addWidget(self.fit_button)
        for button in self.tool_buttons.values():
            bottom.addWidget(button)
        bottom.addWidget(self.selection_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(bottom)

    def set_busy(self, busy: bool) -> None:
        for w in (self.progress, self.progress_text, self.cancel_button):
            w.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def set_progress_text(self, text: str) -> None:
        metrics = self.progress_text.fontMetrics()
        self.progress_text.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, self.progress_text.width()))
        self.progress_text.setToolTip(text)

    def set_encoder(self, text: str) -> None:
        """Name the run's encoder and the representation (with its dimension) that the exports hold."""
        self.export_encoder.setText(f"Encoder ({text}: state_dict + TorchScript)…" if text else ENCODER_EXPORT)
        self.run_label.setToolTip(self.run_label.toolTip().split("\n")[0] + (f"\n{text}" if text else ""))

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
