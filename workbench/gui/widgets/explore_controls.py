"""The Explore workspace's two rows of controls: what to embed and export (top), how to draw it (bottom).
Plain widgets only; ExploreView connects them."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.explore_tasks import COLOUR_MODES
from workbench.results.embeddings import MODE_NAMES
from workbench.results.maps import UMAP_METRICS

MAPS = {"umap": "UMAP (PCA until ready)", "pca": "PCA only"}


def _combo(items: dict[str, str], tip: str) -> QComboBox:
    combo = QComboBox()
    for key, text in items.items():
        combo.addItem(text, key)
    combo.setToolTip(tip)
    return combo


class ExploreControls(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_label = QLabel("No run open")
        self.run_label.setStyleSheet("font-weight: bold;")
        self.open_run_button = QPushButton("Open Run…")
        self.folder_label = QLabel("")
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Embed another folder with this run's encoder (default: its training folder).")
        self.compare = _combo(
            MODE_NAMES,
            "Compare what training changed: the trained encoder, the same encoder "
            "with its initial weights, or raw pixels.",
        )
        self.progress_text = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        self.export_npz = menu.addAction("Embeddings as .npz…")
        self.export_csv = menu.addAction("Embeddings as CSV…")
        self.export_encoder = menu.addAction("Encoder (state_dict + TorchScript)…")
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

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
