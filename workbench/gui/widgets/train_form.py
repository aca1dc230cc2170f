"""The Train workspace's controls: every training setting of ExperimentConfig that a user picks by hand.

`config()` returns the base config (set with `set_config`) with the controls' values written over it, so fields
without a control (max_steps, checkpoint intervals, ...) pass through unchanged. Registry entries arrive with
`set_catalog` (read on a worker thread: the registries import torch).

The hyper-parameter rows keep the height of the method with the most of them (a filler row below takes up what a
method leaves unused), so switching methods never moves the controls below and the next click lands where it aimed.
"""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel, QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from workbench.catalogue import MethodInfo
from workbench.config import DEVICES, OPTIMIZERS, PRECISIONS, ExperimentConfig, HyperParameter, hyperparameters
from workbench.gui.signals import emit
from workbench.gui.train_tasks import Catalog

STOP_BY = ("epochs", "time budget")


class SciSpin(QDoubleSpinBox):
    """A spin box for values like 2e-3 or 1e-6: shown with %g, stepped by 10 % of the value."""

    def __init__(self, low: float, high: float, value: float, tip: str):
        super().__init__()
        self.setDecimals(12)
        self.setRange(low, high)
        self.setValue(value)
        self.setToolTip(tip)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt's name
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt's name
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # accept anything float() may parse once typing is finished
        try:
            float(text)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt's name
        value = self.value() * (1.1**steps) if self.value() > 0 else self.minimum()
        self.setValue(value)


def _spin(low: int, high: int, tip: str, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setToolTip(tip)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)
    return spin


def _combo(items: tuple[str, ...] | list[str], tip: str) -> QComboBox:
    combo = QComboBox()
    combo.addItems(list(items))
    combo.setToolTip(tip)
    return combo


def _hyperparameter_control(spec: HyperParameter) -> QSpinBox | SciSpin:
    """A spin box for one declared MethodConfig field: an int or a float spin by its kind, offering the bounds its
    declaration gives, with its help and range as tooltip."""
    low, high = spec.spin_minimum, spec.spin_maximum
    if spec.kind is int:
        return _spin(int(low), int(high), spec.description)
    return SciSpin(low, high, min(max(1.0, low), high), spec.description)


class _TallestLabel(QLabel):
    """A wrapped label kept as tall, at its width, as the tallest of the texts it may show (`set_candidates`), so a
    new text never moves the controls below it."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.candidates: list[str] = []

    def set_candidates(self, texts: list[str]) -> None:
        self.candidates = list(texts)
        self._hold_height()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self._hold_height()

    def _hold_height(self) -> None:
        if not self.candidates:
            return
        margins = self.contentsMargins()
        inner = max(self.width() - margins.left() - margins.right() - 2 * self.margin() - 4, 40)  # 4: rounding slack
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
        metrics = self.fontMetrics()
        tallest = max(metrics.boundingRect(0, 0, inner, 1 << 20, flags, text).height() for text in self.candidates)
        self.setFixedHeight(tallest + margins.top() + margins.bottom() + 2 * self.margin())


def _set_combo(combo: QComboBox, text: str) -> None:
    if combo.findText(text) < 0:
        combo.addItem(text)
    combo.setCurrentIndex(combo.findText(text))


def method_description(info: MethodInfo) -> str:
    encoder = f"default encoder {info.default_encoder}"
    if info.supported_encoders is not None:
        encoder = f"encoders: {', '.join(info.supported_encoders)}"
    kind = "contrastive: large batches help" if info.contrastive else "no negatives: batch size matters less"
    extra = "; shows reconstructions / samples while training" if info.generative else ""
    return f"{info.description} ({encoder}; {kind}{extra})"


class TrainForm(QWidget):
    """Controls for encoder, method, optimisation and device; `image_size_changed(int)` for the Augment link."""

    image_size_changed = Signal(int)
    changed = Signal()  # any setting changed (the estimate of what to expect follows it)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._base = ExperimentConfig()
        self._methods: dict[str, MethodInfo] = {}
        self._descriptions: dict[str, str] = {}
        self.encoder = _combo([self._base.model.encoder], "Backbone network (the encoder registry)")
        self.encoder_info = _TallestLabel()
        self.method = _combo([self._base.method.name], "Self-supervised method and its loss (the method registry)")
        self.method_info = _TallestLabel()
        for label in (self.encoder_info, self.method_info):
            label.setStyleSheet("color: #555;")
        # One control per declared method hyper-parameter; a method shows only the ones it uses (its
        # `hyperparameters`).
        specs = hyperparameters()
        self.hyper = {name: _hyperparameter_control(spec) for name, spec in specs.items()}
        self.image_size = _spin(8, 512, "Images are decoded at this size (data.image_size), shared with Augment", " px")
        self.batch_size = _spin(2, 65536, "Images per step (contrastive methods like large batches)")
        self.stop_by = _combo(STOP_BY, "Stop after a number of epochs, or after a time budget")
        self.epochs = _spin(1, 100_000, "Passes over the whole folder")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.1, 100_000)
        self.budget.setSuffix(" min")
        self.budget.setToolTip("Train for this long (the learning-rate schedule ends with the budget)")
        self.optimizer = _combo(OPTIMIZERS, "Optimizer (optim.name)")
        self.lr = SciSpin(1e-7, 100.0, 2e-3, "Peak learning rate (optim.lr)")
        self.weight_decay = SciSpin(0.0, 10.0, 1e-6, "Weight decay (optim.weight_decay)")
        self.warmup = QDoubleSpinBox()
        self.warmup.setRange(0.0, 0.95)
        self.warmup.setSingleStep(0.01)
        self.warmup.setToolTip("Linear warm-up over this fraction of the run")
        self.monitor_share = QDoubleSpinBox()
        self.monitor_share.setRange(0.0, 100.0)
        self.monitor_share.setDecimals(0)
        self.monitor_share.setSuffix(" % of the time")
        self.monitor_share.setToolTip(
            "How much of the training time may go to the per-epoch health (kNN, std) and previews "
            "(train.monitor_share); 0 turns them off"
        )
        self.device = _combo(DEVICES, "Where to train; only the devices found here can be chosen")
        self.device_info = QLabel("detecting…")
        self.precision = _combo(
            PRECISIONS,
            "auto: bf16 on CUDA when supported, and on a CPU with native bf16 where a check on the first batch "
            "measures it faster; fp32 elsewhere (the run's log says which and why)",
        )
        self.compile = QCheckBox("torch.compile")
        self.compile.setToolTip("Compile the model (train.compile): the first step is slow while it compiles")
        self.seed = _spin(0, 2**31 - 1, "Seed of weights, shuffling and augmentation")
        self.workers = _spin(0, 64, "Threads that decode images")
        self.hyper_filler = QWidget()  # the height the current method's hyper-parameters leave unused
        self.hyper_filler.setFixedHeight(0)
        self._hyper_heights: dict[str, int] = {}  # method -> the form's height hint with its rows shown
        self.form = QFormLayout(self)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, widget in (
            ("Encoder", self.encoder),
            ("", self.encoder_info),
            ("Method", self.method),
            ("", self.method_info),
            *((specs[name].label, control) for name, control in self.hyper.items()),
            ("", self.hyper_filler),
            ("Image size", self.image_size),
            ("Batch size", self.batch_size),
            ("Stop after", self.stop_by),
            ("Epochs", self.epochs),
            ("Time budget", self.budget),
            ("Optimizer", self.optimizer),
            ("Learning rate", self.lr),
            ("Weight decay", self.weight_decay),
            ("Warm-up fraction", self.warmup),
            ("Monitor", self.monitor_share),
            ("Device", self.device),
            ("", self.device_info),
            ("Precision", self.precision),
            ("", self.compile),
            ("Seed", self.seed),
            ("Data workers", self.workers),
        ):
            self.form.addRow(label, widget)
        labels = [self.form.labelForField(w) for w in (*self.hyper.values(), self.image_size)]
        widest = max(label.sizeHint().width() for label in labels if label is not None)
        for row in range(self.form.rowCount()):  # a longer label of another method never widens the column
            item = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                item.widget().setMinimumWidth(widest)
        self.method.currentTextChanged.connect(self._method_changed)
        self.method.activated.connect(lambda _: self._method_picked())
        self.encoder.currentTextChanged.connect(self._encoder_changed)
        self.stop_by.currentTextChanged.connect(self._stop_by_changed)
        self.image_size.valueChanged.connect(lambda v: emit(self.image_size_changed, int(v)))
        for control in (*self.hyper.values(), self.image_size, self.batch_size, self.epochs, self.budget, self.lr,
                        self.weight_decay, self.warmup, self.monitor_share, self.seed, self.workers):  # fmt: skip
            control.valueChanged.connect(lambda *_: emit(self.changed))
        for combo in (self.encoder, self.method, self.stop_by, self.optimizer, self.device, self.precision):
            combo.currentTextChanged.connect(lambda *_: emit(self.changed))
        self.set_config(self._base)

    # ---- public
    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the dropdowns from the registries; disable devices this machine does not have."""
        config = self.config()
        self._methods = {m.name: m for m in catalog.methods}
        self._descriptions = {f"e:{n}": d for n, d in catalog.encoders}
        for combo, names in ((self.encoder, [n for n, _ in catalog.encoders]), (self.method, list(self._methods))):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.blockSignals(False)
        model = self.device.model()
        assert isinstance(model, QStandardItemModel)
        for i in range(self.device.count()):
            name = self.device.itemText(i)
            model.item(i).setEnabled(name == "auto" or name in catalog.devices)
        self.device_info.setText(f"detected: {catalog.detected}")
        self.encoder_info.set_candidates([d for _, d in catalog.encoders])
        self.method_info.set_candidates([method_description(m) for m in catalog.methods])
        self._measure_hyper_heights()
        self.set_config(config)

    def set_config(self, config: ExperimentConfig) -> None:
        """Show `config`; fields without a control are kept and passed through by config()."""
        self._base = copy.deepcopy(config)
        c = self._base
        info = self._methods.get(c.method.name)
        encoder = c.model.encoder
        if encoder == "auto" and info is not None:
            encoder = info.default_encoder
        _set_combo(self.encoder, encoder)
        _set_combo(self.method, c.method.name)
        defaults = info.hyperparameters if info is not None else {}
        for name, control in self.hyper.items():
            value = getattr(c.method, name)
            value = defaults.get(name) if value is None else value
            if value is not None:
                control.setValue(value)
        self.image_size.setValue(c.data.image_size)
        self.batch_size.setValue(c.train.batch_size)
        self.stop_by.setCurrentText(STOP_BY[1] if c.train.time_budget_s else STOP_BY[0])
        self.epochs.setValue(c.train.epochs)
        self.budget.setValue((c.train.time_budget_s or 600.0) / 60.0)
        _set_combo(self.optimizer, c.optim.name)
        self.lr.setValue(c.optim.lr)
        self.weight_decay.setValue(c.optim.weight_decay)
        self.warmup.setValue(c.optim.warmup_fraction)
        self.monitor_share.setValue(100.0 * c.train.monitor_share)
        self.device.setCurrentText(c.train.device)
        self.precision.setCurrentText(c.train.precision)
        self.compile.setChecked(c.train.compile)
        self.seed.setValue(c.train.seed)
        self.workers.setValue(c.train.workers)
        self._method_changed(self.method.currentText())
        self._encoder_changed(self.encoder.currentText())
        self._stop_by_changed(self.stop_by.currentText())

    def config(self) -> ExperimentConfig:
        c = copy.deepcopy(self._base)
        c.model.encoder = self.encoder.currentText()
        c.method.name = self.method.currentText()
        info = self._methods.get(c.method.name)
        if info is not None:  # the fields the method uses; the rest stay None (a method rejects foreign fields)
            for name, control in self.hyper.items():
                setattr(c.method, name, control.value() if name in info.hyperparameters else None)
        c.data.image_size = self.image_size.value()
        c.train.batch_size = self.batch_size.value()
        by_time = self.stop_by.currentText() == STOP_BY[1]
        c.train.time_budget_s = self.budget.value() * 60.0 if by_time else None
        c.train.epochs = 1_000_000 if by_time else self.epochs.value()  # the budget alone ends a timed run
        c.optim.name = self.optimizer.currentText()
        c.optim.lr = self.lr.value()
        c.optim.weight_decay = self.weight_decay.value()
        c.optim.warmup_fraction = self.warmup.value()
        c.train.monitor_share = self.monitor_share.value() / 100.0
        c.train.device = self.device.currentText()
        c.train.precision = self.precision.currentText()
        c.train.compile = self.compile.isChecked()
        c.train.seed = self.seed.value()
        c.train.workers = self.workers.value()
        return c

    def shown_hyperparameters(self) -> list[str]:
        return [name for name, control in self.hyper.items() if self.form.isRowVisible(control)]

    def _show_hyperparameters(self, used: dict | set) -> None:
        for field_name, control in self.hyper.items():
            self.form.setRowVisible(control, field_name in used)

    def _measure_hyper_heights(self) -> None:
        """The form's height hint with each method's rows shown (the filler at 0), to pad the shorter ones."""
        self.hyper_filler.setFixedHeight(0)
        self._hyper_heights = {}
        for name, info in self._methods.items():
            self._show_hyperparameters(info.hyperparameters)
            self.form.invalidate()
            self._hyper_heights[name] = self.form.sizeHint().height()

    # ---- slots
    def _method_changed(self, name: str) -> None:
        info = self._methods.get(name)
        used = info.hyperparameters if info is not None else {}
        self._show_hyperparameters(used)
        tallest = max(self._hyper_heights.values(), default=0)
        self.hyper_filler.setFixedHeight(max(tallest - self._hyper_heights.get(name, tallest), 0))
        self.method_info.setText(method_description(info) if info is not None else "")

    def _method_picked(self) -> None:
        """The user chose a method: show its own defaults, and its default encoder if the current one won't do."""
        info = self._methods.get(self.method.currentText())
        if info is None:
            return
        for name, value in info.hyperparameters.items():
            self.hyper[name].setValue(value)
        if info.supported_encoders is not None and self.encoder.currentText() not in info.supported_encoders:
            _set_combo(self.encoder, info.default_encoder)

    def _encoder_changed(self, name: str) -> None:
        self.encoder_info.setText(self._descriptions.get(f"e:{name}", ""))

    def _stop_by_changed(self, text: str) -> None:
        self.form.setRowVisible(self.epochs, text == STOP_BY[0])
        self.form.setRowVisible(self.budget, text == STOP_BY[1])


__all__ = ["SciSpin", "TrainForm"]
