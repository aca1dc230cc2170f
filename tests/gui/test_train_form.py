"""The Train form's hyper-parameter controls come from the MethodConfig declarations, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QSpinBox

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
