"""The Augment workspace: edit the augmentation spec and watch K sample images x V views change live.

The preview regenerates DEBOUNCE_MS after the last edit, on a worker thread, latest request wins; it calls the
engine's make_views (the training path). Run alone on the demo dataset: `python -m workbench.gui.augment_view`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.augment.spec import AugmentSpec, list_presets, preset
from workbench.config import DataConfig, ExperimentConfig
from workbench.data.scan import ScanReport
from workbench.errors import WorkbenchError
from workbench.files import atomic_write_text
from workbench.gui.augment_tasks import DecodedCache, Preview, check_export_folder, compute_preview, export_views
from workbench.gui.signals import emit
from workbench.gui.widgets.preview_grid import PreviewGrid
from workbench.gui.widgets.spec_editor import SpecEditor
from workbench.gui.worker import TaskRunner

DEBOUNCE_MS = 120  # + a few ms of work: the preview follows an edit within ~200 ms
DEFAULT_IMAGE_SIZE = DataConfig().image_size  # the training resolution of the default recipe
DEFAULT_PRESET = ExperimentConfig().augment.name  # the default recipe's augmentations (README, benchmarks)


def _spin(low: int, high: int, value: int, tip: str, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(tip)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)
    return spin


class AugmentView(QWidget):
    """spec() is the spec the Train workspace uses; set_report()/set_picked() choose the sample images."""

    failed = Signal(str)
    status = Signal(str)
    preview_ready = Signal(object)  # Preview
    spec_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = SpecEditor()
        self.editor.changed.connect(self._edited)
        self.preset_name = DEFAULT_PRESET
        self.preset_label = QLabel()
        presets = QToolButton()
        presets.setText("Presets")
        presets.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(presets)
        for name in list_presets():
            menu.addAction(name, lambda name=name: self.apply_preset(name))
        presets.setMenu(menu)
        self.presets_button = presets
        load, save = QPushButton("Load…"), QPushButton("Save…")
        load.clicked.connect(self.load_dialog)
        save.clicked.connect(self.save_dialog)
        top = QHBoxLayout()
        for w in (presets, self.preset_label):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(load)
        top.addWidget(save)
        scroll = QScrollArea()
        scroll.setWidget(self.editor)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top)
        left_layout.addWidget(scroll, 1)
        left.setMinimumWidth(360)

        self.samples = _spin(1, 16, 6, "Number of sample images (rows)")
        self.source = QComboBox()
        self.source.addItems(["random images", "picked in Data"])
        self.source.setToolTip("Random images of the folder, or the thumbnails selected in the Data workspace")
        self.shuffle = QPushButton("New samples")
        self.seed = _spin(0, 2**31 - 1, 0, "Seed of the augmentation draws: the same seed gives the same views")
        self.reroll = QPushButton("Re-roll")
        self.reroll.setToolTip("Draw new views (seed + 1)")
        self.image_size = _spin(
            8,
            512,
            DEFAULT_IMAGE_SIZE,
            "Images are decoded at this size for training (data.image_size); views are drawn from it",
            " px",
        )
        controls = QHBoxLayout()
        for text, w in (
            ("Samples", self.samples),
            ("from", self.source),
            (None, self.shuffle),
            ("Seed", self.seed),
            (None, self.reroll),
            ("Training resolution", self.image_size),
        ):
            if text:
                controls.addWidget(QLabel(text))
            controls.addWidget(w)
        controls.addStretch(1)
        self.copies = _spin(1, 1000, 8, "Augmented views written per image")
        self.export_button = QPushButton("Export samples…")
        self.export_button.setToolTip("Write augmented views of the sample images to a folder you choose")
        self.export_button.clicked.connect(self.export_dialog)
        self.info = QLabel()
        self.info.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.info, 1)
        bottom.addWidget(QLabel("Views per image"))
        bottom.addWidget(self.copies)
        bottom.addWidget(self.export_button)
        self.grid = PreviewGrid()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(controls)
        right_layout.addWidget(self.grid, 1)
        right_layout.addLayout(bottom)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 780])
        QVBoxLayout(self).addWidget(splitter)

        self.runner = TaskRunner(self)  # previews: latest request wins
        self.runner.failed.connect(self._preview_failed)
        self.export_runner = TaskRunner(self)
        self.export_runner.failed.connect(self.failed)
        self.export_runner.progress.connect(lambda d, t: emit(self.status, f"Exporting… {d}/{t}"))
        self.export_runner.running_changed.connect(lambda busy: self.export_button.setEnabled(not busy))
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._compute)
        for spin in (self.samples, self.seed, self.image_size):
            spin.valueChanged.connect(self.request_preview)
        self.source.currentIndexChanged.connect(self.request_preview)
        self.shuffle.clicked.connect(self._new_samples)
        self.reroll.clicked.connect(lambda: self.seed.setValue(self.seed.value() + 1))
        self._cache = DecodedCache()
        self._report: ScanReport | None = None
        self._picked: list[Path] = []
        self._sample_seed = 0
        self._pending = False
        self._requested_at = 0.0
        self.last_preview: Preview | None = None
        self.apply_preset(DEFAULT_PRESET)

    # ---- the spec
    def spec(self) -> AugmentSpec:
        """The edited spec, named after its preset while unchanged, "custom" once edited."""
        spec = self.editor.spec()
        base = preset(self.preset_name) if self.preset_name in list_presets() else None
        spec.name = self.preset_name if base is not None and base.to_dict() == spec.to_dict() else "custom"
        return spec

    def set_spec(self, spec: AugmentSpec) -> None:
        spec.validate()
        self.preset_name = spec.name
        self.editor.set_spec(spec)
        self._edited()

    def apply_preset(self, name: str) -> None:
        self.set_spec(preset(name))

    def save_spec(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.spec().to_dict(), indent=2) + "\n")

    def load_spec(self, path: str | Path) -> None:
        """Load a JSON spec; a bad file raises WorkbenchError with the reason (the dialog shows it in the banner)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WorkbenchError(f"'{Path(path).name}' is not a readable augmentation spec ({exc}).") from None
        self.set_spec(AugmentSpec.from_dict(data))

    def save_dialog(self) -> None:
        name = f"{self.spec().name}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save augmentation spec", name, "JSON (*.json)")
        if path:
            self.save_spec(path)
            emit(self.status, f"Saved the augmentation spec to {path}")

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load augmentation spec", "", "JSON (*.json)")
        if path:
            try:
                self.load_spec(path)
            except WorkbenchError as exc:
                emit(self.failed, str(exc))

    # ---- samples
    def set_report(self, report: ScanReport | None) -> None:
        self._report = report
        self._sample_seed = 0
        self.last_preview = None  # its images belong to the previous folder
        self.request_preview()

    def set_picked(self, paths: list[str]) -> None:
        self._picked = [Path(p) for p in paths]
        if len(paths) >= 2:  # the user chose several images: show them (one click only inspects an image)
            self.source.setCurrentIndex(1)
        if self.source.currentIndex() == 1:
            self.request_preview()

    def sample_paths(self) -> list[Path]:
        k = self.samples.value()
        if self.source.currentIndex() == 1 and self._picked:
            return self._picked[:k]
        if self._report is None or not self._report.paths:
            return []
        rng = np.random.default_rng(self._sample_seed)
        n = len(self._report.paths)
        rows = sorted(rng.choice(n, size=min(k, n), replace=False))
        return [Path(self._report.root) / self._report.paths[r] for r in rows]

    def _new_samples(self) -> None:
        self._sample_seed += 1
        self.source.setCurrentIndex(0)
        self.request_preview()

    # ---- preview
    def request_preview(self, *_args) -> None:
        """Regenerate after DEBOUNCE_MS of quiet; only while visible (hidden: on the next show)."""
        self._pending = True
        if self.isVisible():
            self._debounce.start()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._pending:
            self._debounce.start()

    def _edited(self) -> None:
        name = self.spec().name
        modified = "" if name == self.preset_name else " (modified)"
        self.preset_label.setText(f"preset: <b>{self.preset_name}</b>{modified}")
        emit(self.spec_changed)
        self.request_preview()

    def _compute(self) -> None:
        self._pending = False
        paths = self.sample_paths()
        if not paths:
            self.grid.set_message("Open a folder in the Data workspace to preview augmentations.")
            return
        spec, size, seed, cache = self.spec(), self.image_size.value(), self.seed.value(), self._cache
        try:
            spec.validate()
        except WorkbenchError as exc:
            self.info.setText(f"<span style='color:#a01010'>{exc}</span>")
            return
        if "workbench.augment.views" not in sys.modules:
            self.grid.set_message("Loading the augmentation engine (first preview only)…")
        self._requested_at = time.perf_counter()
        self.runner.start(lambda state: compute_preview(spec, paths, size, seed, cache, state), self._show_preview)

    def _show_preview(self, preview: Preview) -> None:
        self.last_preview = preview
        self.grid.set_images(preview.originals, preview.views)
        v, k, s = preview.views.shape[0], preview.views.shape[1], preview.views.shape[2]
        ms = 1000 * (time.perf_counter() - self._requested_at)
        skipped = f" Left out (cannot be decoded): {'; '.join(preview.skipped)}." if preview.skipped else ""
        self.info.setText(
            f"{k} image{'s' if k != 1 else ''} × {v} views at {s} px, seed {preview.seed} ({ms:.0f} ms).{skipped}"
        )
        emit(self.preview_ready, preview)

    def _preview_failed(self, text: str) -> None:
        self.grid.set_message(text)
        emit(self.failed, text)

    # ---- export
    def export_to(self, folder: str | Path) -> bool:
        """Export views of the sample images to `folder`; False (and a banner) for a folder inside the source."""
        paths = [Path(p) for p in (self.last_preview.paths if self.last_preview else self.sample_paths())]
        if self._report is None or not paths:
            emit(self.failed, "Open a folder in the Data workspace before exporting augmented samples.")
            return False
        root = Path(self._report.root)
        try:
            out = check_export_folder(Path(folder), root)
        except WorkbenchError as exc:
            emit(self.failed, str(exc))
            return False
        spec, size, copies, seed = self.spec(), self.image_size.value(), self.copies.value(), self.seed.value()
        self.export_runner.start(
            lambda state: export_views(spec, paths, root, size, copies, seed, out, state),
            lambda n: emit(self.status, f"Exported {n} augmented images to {out}"),
        )
        return True

    def export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export augmented samples to (outside the image folder)")
        if folder:
            self.export_to(folder)

    def shutdown(self) -> None:
        self._debounce.stop()
        self.runner.shutdown()
        self.export_runner.shutdown()


def main(argv: list[str] | None = None) -> int:
    from workbench.data.demo import demo_dataset_path
    from workbench.data.scan import scan_folder
    from workbench.gui.standalone import run_standalone

    args = sys.argv[1:] if argv is None else argv

    def build() -> AugmentView:
        view = AugmentView()
        view.set_report(scan_folder(args[0] if args else demo_dataset_path()))  # a small folder: scan inline
        return view

    return run_standalone(build, "Augment")


if __name__ == "__main__":
    sys.exit(main())
