"""The Train form's hyper-parameter controls come from the MethodConfig declarations, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QApplication, QSpinBox

from workbench.config import MethodConfig, hyperparameter, hyperparameters
from workbench.gui.widgets.train_form import SciSpin, TrainForm, _hyperparameter_control


def test_the_form_has_one_control_per_declaration_of_its_kind_range_and_label(qtbot) -> None:
    form = TrainForm()
    qtbot.addWidget(form)
    declared = hyperparameters()
    assert list(form.hyper) == list(declared)
    for name, spec in declared.items():
        control = form.hyper[name]
        assert isinstance(control, QSpinBox if spec.kind is int else SciSpin), name
        assert (control.minimum(), control.maximum()) == pytest.approx((spec.spin_minimum, spec.spin_maximum)), name
        assert spec.accepts(control.minimum()) and spec.accepts(control.maximum()), name  # only valid values
        assert form.form.labelForField(control).text() == spec.label, name
        assert control.toolTip() == spec.description, name


@dataclass
class WithNewFields(MethodConfig):
    """Two throwaway hyper-parameters, declared and nothing else."""

    alpha: float | None = hyperparameter("Alpha", "A made-up weight.", minimum=0, maximum=1, maximum_inclusive=False)
    rounds: int | None = hyperparameter("Rounds", "A made-up count.", minimum=3, maximum=9)


def test_a_new_declaration_gets_its_spin_box_from_the_declaration_alone(qtbot) -> None:
    declared = hyperparameters(WithNewFields)
    alpha, rounds = _hyperparameter_control(declared["alpha"]), _hyperparameter_control(declared["rounds"])
    for control in (alpha, rounds):
        qtbot.addWidget(control)
    assert isinstance(alpha, SciSpin) and alpha.minimum() == 0 and alpha.maximum() == pytest.approx(1 - 1e-6)
    assert alpha.toolTip() == "A made-up weight. Must be in [0, 1)."
    assert isinstance(rounds, QSpinBox) and (rounds.minimum(), rounds.maximum()) == (3, 9)
    assert rounds.toolTip() == "A made-up count. Must be an integer in [3, 9]."


def test_switching_methods_with_the_keyboard_never_moves_the_controls_below(qtbot) -> None:
    from PySide6.QtCore import Qt

    from workbench.gui.train_tasks import load_catalog
    from workbench.gui.widgets.train_settings import TrainSettings

    settings = TrainSettings()  # the form in its scroll area, as in the window
    qtbot.addWidget(settings)
    form = settings.form
    form.set_catalog(load_catalog())
    settings.resize(360, 700)
    settings.show()
    qtbot.waitExposed(settings)
    below = (form.image_size, form.batch_size, form.stop_by, form.optimizer, form.lr, form.device, form.workers)

    def places() -> list[tuple[int, int]]:
        return [(w.mapTo(form, w.rect().topLeft()).x(), w.mapTo(form, w.rect().topLeft()).y()) for w in below]

    form.method.setCurrentIndex(0)
    form.method.setFocus()
    qtbot.waitUntil(form.method.hasFocus)
    QApplication.processEvents()
    start, counts = places(), set()
    for _ in range(form.method.count() - 1):
        qtbot.keyClick(form.method, Qt.Key.Key_Down)  # the user steps through the methods
        QApplication.processEvents()  # the layout's update
        counts.add(len(form.shown_hyperparameters()))
        assert places() == start, form.method.currentText()
    assert form.method.currentIndex() == form.method.count() - 1 and len(counts) > 2  # they show different rows
    qtbot.keyClick(form.stop_by, Qt.Key.Key_Down)  # epochs -> time budget: one row for another
    assert form.stop_by.currentText() == "time budget" and places() == start
