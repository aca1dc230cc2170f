"""The Explore workspace's Labels tab: name the selection, the clicked point or its cluster; undo and redo; colour by
labels, predictions or confidence; propagate the labels; suggestions of what to label next (a click jumps there);
the predictions table and a curated dataset (optionally with the predicted labels at least as confident as asked).
Widgets and signals only: gui/explore_labels.py does the work."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.gui.signals import emit

SUGGESTIONS = {
    "uncertain": "Least certain predictions (lowest margin)",
    "outlier": "Odd ones out (highest outlier score)",
    "diverse": "Spread over the map (k-center greedy)",
}
NAME_HINT = "class name: type a new one or pick one"
DEFAULT_MIN_CONFIDENCE = 0.9  # the curated dataset's predicted labels: only the confident ones


class LabelsPanel(QWidget):
    """Signals say what the user asked for; set_* methods show the state."""

    assign_requested = Signal(str, str)  # label, target: "selection" | "point" | "cluster"
    remove_requested = Signal(str)  # target
    undo_requested = Signal()
    redo_requested = Signal()
    use_folder_changed = Signal(bool)
    colour_requested = Signal(str)  # "labels" | "prediction" | "confidence"
    propagate_requested = Signal(str)  # "probe" | "knn"
    suggest_requested = Signal(str)  # a key of SUGGESTIONS
    jump = Signal(int)  # a suggested row was clicked
    predictions_requested = Signal()
    curate_requested = Signal(bool, bool, object)  # hard links?, the selection only?, min. confidence or None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name.lineEdit().setPlaceholderText(NAME_HINT)
        self.label_selection = QPushButton("Label selection")
        self.label_point = QPushButton("Label point")
        self.label_cluster = QPushButton("Label its cluster")
        self.label_cluster.setToolTip("Every point of the clicked point's k-means cluster (colour by k-means first).")
        self.remove = QPushButton("Unlabel selection")
        self.undo = QPushButton("Undo")
        self.undo.setToolTip("Undo the last labelling (Ctrl+Z).")
        self.redo = QPushButton("Redo")
        self.redo.setToolTip("Redo (Ctrl+Shift+Z).")
        self.use_folder = QCheckBox("Use folder labels (subfolders) too")
        self.summary = QLabel("No labels yet.")
        self.summary.setWordWrap(True)
        self.colour_labels = QPushButton("Colour by labels")

        edit = QGroupBox("Label")
        grid = QGridLayout(edit)
        grid.addWidget(self.name, 0, 0, 1, 3)
        for col, button in enumerate((self.label_selection, self.label_point, self.label_cluster)):
            grid.addWidget(button, 1, col)
        for col, button in enumerate((self.remove, self.undo, self.redo)):
            grid.addWidget(button, 2, col)
        grid.addWidget(self.use_folder, 3, 0, 1, 2)
        grid.addWidget(self.colour_labels, 3, 2)
        grid.addWidget(self.summary, 4, 0, 1, 3)

        self.method = QComboBox()
        self.method.addItem("Linear probe", "probe")
        self.method.addItem("kNN vote", "knn")
        self.propagate = QPushButton("Propagate")
        self.propagate.setToolTip("Predict a label and a confidence for every image from the labelled ones.")
        self.colour_prediction = QPushButton("Colour by prediction")
        self.colour_confidence = QPushButton("Colour by confidence")
        learn = QGroupBox("Propagate")
        row = QHBoxLayout(learn)
        for widget in (self.method, self.propagate, self.colour_prediction, self.colour_confidence):
            row.addWidget(widget)

        self.suggest_kind = QComboBox()
        for key, text in SUGGESTIONS.items():
            self.suggest_kind.addItem(text, key)
        self.suggest = QPushButton("Suggest")
        self.suggestions = QListWidget()
        self.suggestions.setToolTip("Click a suggestion to show it on the map.")
        self.suggestions.itemClicked.connect(lambda item: emit(self.jump, int(item.data(Qt.ItemDataRole.UserRole))))
        nextbox = QGroupBox("What to label next")
        col = QVBoxLayout(nextbox)
        row2 = QHBoxLayout()
        row2.addWidget(self.suggest_kind, 1)
        row2.addWidget(self.suggest)
        col.addLayout(row2)
        col.addWidget(self.suggestions, 1)

        self.predictions = QPushButton("Predictions (CSV)…")
        self.curate = QPushButton("Curated dataset…")
        self.curate.setToolTip("The labelled images as label/file in a new folder, with a manifest.")
        self.selected_only = QCheckBox("Selection only")
        self.selected_only.setToolTip(
            "The selected images, not every labelled one: unlabelled ones under 'unlabelled', or, with predicted "
            "labels included, by their prediction when confident enough."
        )
        self.link = QCheckBox("Hard links")
        self.link.setToolTip("No extra space, but a link is the original file: editing one edits the other.")
        self.include_predicted = QCheckBox("Include predicted labels with confidence ≥")
        self.include_predicted.setToolTip(
            "The curated dataset also holds every unlabelled image whose predicted label (Propagate, or a fine-tuned "
            "model's) is at least this confident; the less confident ones are left out. Your labels always win."
        )
        self.min_confidence = QDoubleSpinBox()
        self.min_confidence.setRange(0.0, 1.0)
        self.min_confidence.setDecimals(2)
        self.min_confidence.setSingleStep(0.05)
        self.min_confidence.setValue(DEFAULT_MIN_CONFIDENCE)
        export = QGroupBox("Take away")
        grid3 = QGridLayout(export)
        for col, widget in enumerate((self.predictions, self.curate, self.selected_only, self.link)):
            grid3.addWidget(widget, 0, col)
        with_predicted = QHBoxLayout()
        with_predicted.addWidget(self.include_predicted)
        with_predicted.addWidget(self.min_confidence)
        with_predicted.addStretch(1)
        grid3.addLayout(with_predicted, 1, 0, 1, 4)

        layout = QVBoxLayout(self)
        for box in (edit, learn, nextbox, export):
            layout.addWidget(box)
        layout.setStretchFactor(nextbox, 1)
        self._connect()
        self.set_state(selected=0, point=False, cluster=False, can_undo=False, can_redo=False, predicted=False)

    def _connect(self) -> None:
        for button, target in ((self.label_selection, "selection"), (self.label_point, "point")):
            button.clicked.connect(lambda _c=False, t=target: emit(self.assign_requested, self.label_text(), t))
        self.label_cluster.clicked.connect(lambda: emit(self.assign_requested, self.label_text(), "cluster"))
        self.remove.clicked.connect(lambda: emit(self.remove_requested, "selection"))
        self.undo.clicked.connect(lambda: emit(self.undo_requested))
        self.redo.clicked.connect(lambda: emit(self.redo_requested))
        self.use_folder.toggled.connect(lambda on: emit(self.use_folder_changed, on))
        self.colour_labels.clicked.connect(lambda: emit(self.colour_requested, "labels"))
        self.colour_prediction.clicked.connect(lambda: emit(self.colour_requested, "prediction"))
        self.colour_confidence.clicked.connect(lambda: emit(self.colour_requested, "confidence"))
        self.propagate.clicked.connect(lambda: emit(self.propagate_requested, self.method.currentData()))
        self.suggest.clicked.connect(lambda: emit(self.suggest_requested, self.suggest_kind.currentData()))
        self.predictions.clicked.connect(lambda: emit(self.predictions_requested))
        self.curate.clicked.connect(
            lambda: emit(self.curate_requested, self.link.isChecked(), self.selected_only.isChecked(), self.threshold())
        )
        self.include_predicted.toggled.connect(lambda _on: self._enable_threshold())

    def label_text(self) -> str:
        return self.name.currentText()

    def threshold(self) -> float | None:
        """The curated dataset's minimum confidence for predicted labels; None: the user's labels only."""
        if not (self.include_predicted.isEnabled() and self.include_predicted.isChecked()):
            return None
        return float(self.min_confidence.value())

    def _enable_threshold(self) -> None:
        self.min_confidence.setEnabled(self.include_predicted.isEnabled() and self.include_predicted.isChecked())

    def set_names(self, names: list[str], counts: dict[str, int]) -> None:
        """The known class names (for the name box) and the summary line with their counts."""
        text = self.name.currentText()
        self.name.blockSignals(True)
        self.name.clear()
        self.name.addItems(names)
        self.name.setEditText(text)
        self.name.blockSignals(False)
        total = sum(counts.values())
        listed = ", ".join(f"{name} {count:,}" for name, count in counts.items())
        self.summary.setText(
            f"{total:,} labelled images in {len(counts)} classes: {listed}." if total else "No labels yet."
        )

    def set_folder_labels(self, available: bool, used: bool) -> None:
        self.use_folder.blockSignals(True)
        self.use_folder.setEnabled(available)
        self.use_folder.setChecked(used)
        self.use_folder.blockSignals(False)

    def set_state(self, *, selected: int, point: bool, cluster: bool, can_undo: bool, can_redo: bool, predicted: bool):
        self.label_selection.setEnabled(selected > 0)
        self.label_selection.setText(f"Label selection ({selected:,})" if selected else "Label selection")
        self.remove.setEnabled(selected > 0)
        self.label_point.setEnabled(point)
        self.label_cluster.setEnabled(cluster)
        self.undo.setEnabled(can_undo)
        self.redo.setEnabled(can_redo)
        for widget in (self.colour_prediction, self.colour_confidence, self.predictions, self.include_predicted):
            widget.setEnabled(predicted)
        self._enable_threshold()
        if not predicted and self.suggest_kind.currentData() == "uncertain":
            self.suggest_kind.setToolTip("Propagate first: the margin comes from the predictions.")

    def set_suggestions(self, rows: list[int], texts: list[str]) -> None:
        self.suggestions.clear()
        for row, text in zip(rows, texts, strict=True):
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, int(row))
            self.suggestions.addItem(item)
