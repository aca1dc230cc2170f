"""Controls for every field of the engine's AugmentSpec, built from its dataclasses and one table of ranges.

Each transform of a ViewSpec is a checkable group (its `enabled` switch) holding one control per field, named
by the field's real name, with its range and unit. Views can differ (BYOL), so a tab bar picks the view the
controls edit. A new spec field without an entry in PARAMS fails loudly (the tests build every field).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, fields

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTabBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.augment.spec import AugmentSpec, ViewSpec
from workbench.gui.signals import emit


@dataclass(frozen=True)
class Param:
    minimum: float
    maximum: float
    step: float
    decimals: int
    unit: str  # spin box suffix
    help: str


TRANSFORMS = {  # ViewSpec field -> what it is called in the papers and in torchvision
    "crop": "Random resized crop",
    "hflip": "Horizontal flip",
    "vflip": "Vertical flip",
    "rotation": "Rotation",
    "color_jitter": "Colour jitter",
    "grayscale": "Random grayscale",
    "blur": "Gaussian blur",
    "solarize": "Solarize",
}

_JITTER = "Factor drawn from [1 - x, 1 + x]; 0 turns it off."
PARAMS = {  # "transform.field" (or a field shared by all transforms) -> range, unit, help
    "p": Param(0.0, 1.0, 0.05, 2, "", "Probability that an image gets this transform."),
    "crop.scale": Param(0.01, 1.0, 0.01, 2, "", "Crop area as a fraction of the image area (min, max)."),
    "crop.ratio": Param(0.1, 10.0, 0.05, 2, "", "Crop aspect ratio, width / height (min, max), log-uniform."),
    "rotation.degrees": Param(0.0, 180.0, 1.0, 0, " °", "Angle drawn uniformly from [-degrees, degrees]."),
    "color_jitter.brightness": Param(0.0, 1.0, 0.05, 2, "", _JITTER),
    "color_jitter.contrast": Param(0.0, 1.0, 0.05, 2, "", _JITTER),
    "color_jitter.saturation": Param(0.0, 1.0, 0.05, 2, "", _JITTER),
    "color_jitter.hue": Param(0.0, 0.5, 0.01, 2, " turn", "Hue shift drawn from [-hue, hue], in turns of the wheel."),
    "blur.sigma": Param(0.01, 20.0, 0.1, 2, " px", "Standard deviation of the Gaussian (min, max), in pixels."),
    "blur.kernel_fraction": Param(0.01, 1.0, 0.01, 2, "", "Kernel side as a fraction of the image side (SimCLR: 0.1)."),
    "solarize.threshold": Param(0.0, 1.0, 0.05, 2, "", "Pixels above this fraction of full scale are inverted."),
}


def param_for(transform: str, name: str) -> Param:
    try:
        return PARAMS.get(f"{transform}.{name}") or PARAMS[name]
    except KeyError:
        raise KeyError(f"no control range for augment field {transform}.{name}; add it to PARAMS") from None


def _spin(param: Param, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(param.minimum, param.maximum)
    spin.setSingleStep(param.step)
    spin.setDecimals(param.decimals)
    spin.setSuffix(param.unit)
    spin.setToolTip(tip)
    spin.setKeyboardTracking(False)  # typing "0.35" is one change, not three
    return spin


class _Control:
    """get()/set() of one spec field, wired to `changed`; `decimals` is what the control can show."""

    def __init__(self, widget: QWidget, get: Callable, put: Callable, decimals: int | None = None):
        self.widget, self.get, self.set, self.decimals = widget, get, put, decimals

    def shows(self, value: object) -> bool:
        """True when the control displays `value` as is (e.g. 4/3 shown as 1.33): editing another field
        must then keep the exact value instead of writing back the rounded one."""
        if self.decimals is None:
            return self.get() == value
        shown = self.get()
        pairs = zip(shown, value, strict=True) if isinstance(shown, tuple) else [(shown, value)]
        return all(abs(a - round(b, self.decimals)) < 10 ** -(self.decimals + 1) for a, b in pairs)


def _scalar(param: Param, tip: str, changed: Callable) -> _Control:
    spin = _spin(param, tip)
    spin.valueChanged.connect(changed)
    return _Control(spin, spin.value, spin.setValue, param.decimals)


def _pair(param: Param, tip: str, changed: Callable) -> _Control:
    """(min, max) as two linked spin boxes: min can never pass max."""
    lo, hi = _spin(param, tip), _spin(param, tip)
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for text, spin in (("min", lo), ("max", hi)):
        row.addWidget(QLabel(text))
        row.addWidget(spin, 1)
    lo.valueChanged.connect(lambda v: (hi.setMinimum(v), changed()))
    hi.valueChanged.connect(lambda v: (lo.setMaximum(v), changed()))

    def put(value: tuple[float, float]) -> None:
        for spin in (lo, hi):
            spin.setRange(param.minimum, param.maximum)
        lo.setValue(value[0])
        hi.setValue(value[1])
        lo.setMaximum(hi.value())
        hi.setMinimum(lo.value())

    return _Control(box, lambda: (lo.value(), hi.value()), put, param.decimals)


class SpecEditor(QWidget):
    """set_spec(spec) / spec(); `changed` fires on every user edit (not on set_spec)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._spec = AugmentSpec()
        self._view = 0
        self._loading = False
        self.controls: dict[tuple[str, str], _Control] = {}
        self.groups: dict[str, QGroupBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._view_bar())
        for transform in (f.name for f in fields(ViewSpec)):
            layout.addWidget(self._group(transform))
        layout.addWidget(self._shared_group())
        layout.addStretch(1)
        self.set_spec(self._spec)

    # ---- building
    def _view_bar(self) -> QHBoxLayout:
        self.tabs = QTabBar()
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setExpanding(False)
        self.tabs.setToolTip("Views can differ (e.g. BYOL blurs the first view more); pick the one to edit.")
        self.tabs.currentChanged.connect(self._select_view)
        self.add_view = QToolButton(text="+", toolTip="Add a view (a copy of the last one)")
        self.remove_view = QToolButton(text="−", toolTip="Remove the selected view")
        self.copy_view = QToolButton(text="Copy to all", toolTip="Give every view the recipe of the selected view")
        bar = QHBoxLayout()
        bar.addWidget(self.tabs)
        bar.addStretch(1)
        for button, action in (
            (self.add_view, self._add),
            (self.remove_view, self._remove),
            (self.copy_view, self._copy_to_all),
        ):
            button.clicked.connect(action)
            bar.addWidget(button)
        return bar

    def _group(self, transform: str) -> QGroupBox:
        group = QGroupBox(f"{TRANSFORMS[transform]}  ({transform})")
        group.setCheckable(True)
        group.toggled.connect(self._edited)
        self.groups[transform] = group
        self.controls[(transform, "enabled")] = _Control(group, group.isChecked, group.setChecked)
        form = QFormLayout(group)
        part = getattr(ViewSpec(), transform)
        for f in fields(part):
            if f.name == "enabled":
                continue
            param = param_for(transform, f.name)
            tip = f"{transform}.{f.name}: {param.help} Range {param.minimum:g} to {param.maximum:g}{param.unit}."
            make = _pair if isinstance(getattr(part, f.name), tuple) else _scalar
            control = make(param, tip, self._edited)
            self.controls[(transform, f.name)] = control
            label = QLabel(f.name)
            label.setToolTip(tip)
            form.addRow(label, control.widget)
        return group

    def _shared_group(self) -> QGroupBox:
        group = QGroupBox("All views")
        form = QFormLayout(group)
        self.follow_training = QCheckBox("the training resolution")
        self.output_size = QSpinBox()
        self.output_size.setRange(8, 1024)
        self.output_size.setSuffix(" px")
        self.output_size.setKeyboardTracking(False)
        self.follow_training.toggled.connect(lambda on: self.output_size.setEnabled(not on))
        for w in (self.follow_training, self.output_size):
            (w.toggled if isinstance(w, QCheckBox) else w.valueChanged).connect(self._edited)
        row = QHBoxLayout()
        row.addWidget(self.follow_training)
        row.addWidget(self.output_size, 1)
        form.addRow("output_size", row)
        self.mean = [_spin(Param(0, 1, 0.01, 4, "", ""), "Per-channel mean (R, G, B) subtracted") for _ in range(3)]
        self.std = [_spin(Param(0.0001, 10, 0.01, 4, "", ""), "Per-channel std (R, G, B) divided by") for _ in range(3)]
        for name, spins in (("mean", self.mean), ("std", self.std)):
            row = QHBoxLayout()
            for spin in spins:
                spin.valueChanged.connect(self._edited)
                row.addWidget(spin)
            form.addRow(name, row)
        return group

    # ---- spec <-> controls
    def spec(self) -> AugmentSpec:
        """A copy of the edited spec (the one the preview and training use)."""
        return copy.deepcopy(self._spec)

    def set_spec(self, spec: AugmentSpec) -> None:
        self._spec = copy.deepcopy(spec)
        self._loading = True
        try:
            while self.tabs.count() > len(spec.views):
                self.tabs.removeTab(self.tabs.count() - 1)
            while self.tabs.count() < len(spec.views):
                self.tabs.addTab(f"View {self.tabs.count() + 1}")
            self._view = min(self._view, len(spec.views) - 1)
            self.tabs.setCurrentIndex(self._view)
            self._show_view()
            self.follow_training.setChecked(spec.output_size is None)
            self.output_size.setValue(spec.output_size or 32)
            for spin, value in zip(self.mean + self.std, tuple(spec.mean) + tuple(spec.std), strict=True):
                spin.setValue(value)
        finally:
            self._loading = False
        self.remove_view.setEnabled(len(spec.views) > 1)

    def _show_view(self) -> None:
        view = self._spec.views[self._view]
        for (transform, name), control in self.controls.items():
            control.set(getattr(getattr(view, transform), name))

    def _edited(self, *_args) -> None:
        if self._loading:
            return
        view = self._spec.views[self._view]
        for (transform, name), control in self.controls.items():
            part = getattr(view, transform)
            if not control.shows(getattr(part, name)):  # only what the user changed
                setattr(part, name, control.get())
        self._spec.output_size = None if self.follow_training.isChecked() else self.output_size.value()
        for name, spins in (("mean", self.mean), ("std", self.std)):
            old = getattr(self._spec, name)
            setattr(
                self._spec,
                name,
                tuple(o if abs(round(o, 4) - s.value()) < 1e-6 else s.value() for o, s in zip(old, spins, strict=True)),
            )
        emit(self.changed)

    # ---- views
    def _select_view(self, index: int) -> None:
        if index < 0 or self._loading:
            return
        self._view = index
        self._loading = True
        try:
            self._show_view()
        finally:
            self._loading = False

    def _add(self) -> None:
        self._spec = self._spec.with_views(self._spec.n_views + 1)
        self._view = self._spec.n_views - 1
        self.set_spec(self._spec)
        emit(self.changed)

    def _remove(self) -> None:
        if self._spec.n_views > 1:
            del self._spec.views[self._view]
            self.set_spec(self._spec)
            emit(self.changed)

    def _copy_to_all(self) -> None:
        view = self._spec.views[self._view]
        self._spec.views = [copy.deepcopy(view) for _ in self._spec.views]
        emit(self.changed)
