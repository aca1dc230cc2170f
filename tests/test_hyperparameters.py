"""One declaration per method hyper-parameter (on its MethodConfig field) drives validation, the CLI flags,
`workbench list` and resolve_config; the GUI side is in tests/gui/test_train_form.py."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields

import pytest

import workbench.config
from workbench.cli import _build_config, _parser, main
from workbench.config import ExperimentConfig, HyperParameter, MethodConfig, hyperparameter, hyperparameters
from workbench.errors import ConfigError

DECLARED = hyperparameters()


def boundary_cases(spec: HyperParameter) -> list[tuple[object, bool]]:
    """(value, accepted) pairs derived from the declared bounds: each bound and its nearest value on the other side,
    far values where a side is unbounded, and values of the wrong kind."""
    cases: list[tuple[object, bool]] = []
    for bound, inclusive, outward in (
        (spec.minimum, spec.minimum_inclusive, -math.inf),
        (spec.maximum, spec.maximum_inclusive, math.inf),
    ):
        if bound is None:
            cases.append((int(math.copysign(10**9, outward)), True))
            if spec.kind is float:
                cases.append((outward, False))  # floats must be finite
        elif spec.kind is int:  # integer bounds are inclusive
            cases += [(int(bound), True), (int(bound) + int(math.copysign(1, outward)), False)]
        elif inclusive:
            cases += [(float(bound), True), (math.nextafter(float(bound), outward), False)]
        else:
            cases += [(float(bound), False), (math.nextafter(float(bound), -outward), True)]
    inside = next(value for value, ok in cases if ok)
    cases += [(True, False), (str(inside), False)]
    if spec.kind is int:
        cases.append((inside + 0.5, False))
    else:
        cases.append((math.nan, False))
    return cases


CASES = [(name, value, ok) for name, spec in DECLARED.items() for value, ok in boundary_cases(spec)]


def inside(spec: HyperParameter):
    return next(value for value, ok in boundary_cases(spec) if ok)


def test_every_method_config_field_but_the_name_is_a_declared_hyperparameter() -> None:
    method_fields = [f for f in fields(MethodConfig) if f.name != "name"]
    assert [f.name for f in method_fields] == list(DECLARED)
    for f in method_fields:
        spec = DECLARED[f.name]
        assert f.default is None and f.type == f"{spec.kind.__name__} | None", f.name  # kind = the annotation
        assert spec.kind in (int, float) and spec.label and spec.help.endswith("."), f.name
        assert spec.accepts(spec.spin_minimum) and spec.accepts(spec.spin_maximum), f.name  # the GUI offers valid ones


@pytest.mark.parametrize(("name", "value", "ok"), CASES, ids=[f"{n}={v!r}" for n, v, _ in CASES])
def test_validation_follows_the_declared_range(name: str, value, ok: bool) -> None:
    config = ExperimentConfig()
    setattr(config.method, name, value)
    if ok:
        config.validate()
        return
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert str(info.value) == f"method.{name} must be {DECLARED[name].requirement}, got {value!r}."


def test_validation_messages_keep_their_wording() -> None:
    for name, value, message in (
        ("temperature", 0, "method.temperature must be a positive number, got 0."),
        ("views", 1, "method.views must be an integer at least 2, got 1."),
        ("momentum", 1.0, "method.momentum must be in [0, 1), got 1.0."),
        ("mask_ratio", 0.0, "method.mask_ratio must be in (0, 1), got 0.0."),
        ("noise_std", -1, "method.noise_std must be a number >= 0, got -1."),
    ):
        with pytest.raises(ConfigError) as info:
            ExperimentConfig(method=MethodConfig(**{name: value})).validate()
        assert str(info.value) == message


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_the_cli_has_one_flag_per_declared_hyperparameter_of_its_kind() -> None:
    train = _train_parser()
    (group,) = [g for g in train._action_groups if g.title == "method hyper-parameters"]
    flags = {a.option_strings[0]: (a.dest, a.type, a.help) for a in group._group_actions}
    expected = {f"--{n.replace('_', '-')}": (n, s.kind, s.description) for n, s in DECLARED.items()}
    assert flags == expected
    all_flags = [flag for action in train._actions for flag in action.option_strings]
    assert all(all_flags.count(flag) == 1 for flag in expected)


@pytest.mark.parametrize("name", list(DECLARED))
def test_each_flag_reaches_the_config_and_is_validated(name: str) -> None:
    spec, flag = DECLARED[name], f"--{name.replace('_', '-')}"
    value = inside(spec)
    config = _build_config(_parser().parse_args(["train", f"{flag}={value}"]))  # "=": "-5e-324" is no option
    assert getattr(config.method, name) == value and type(getattr(config.method, name)) is spec.kind
    outside = next(v for v, ok in boundary_cases(spec) if not ok and type(v) in (int, float) and math.isfinite(v))
    with pytest.raises(ConfigError, match=f"method.{name} must be"):
        _build_config(_parser().parse_args(["train", f"{flag}={outside}"]))
    if spec.kind is int:
        with pytest.raises(SystemExit):  # argparse refuses a float for an int flag
            _parser().parse_args(["train", flag, "2.5"])


def test_workbench_list_describes_every_declared_hyperparameter(capsys) -> None:
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("hyper-parameters"))
    section = [line for line in lines[start + 1 :] if line.startswith("  ")][: len(DECLARED)]
    assert [line.split()[0] for line in section] == list(DECLARED)
    for line, spec in zip(section, DECLARED.values(), strict=True):
        assert line.split()[1] == spec.kind.__name__ and line.endswith(spec.description)


# ---- a new hyper-parameter needs only its declaration -----------------------------------------------------------


@dataclass
class WithAlpha(MethodConfig):
    """MethodConfig plus one throwaway hyper-parameter, declared and nothing else."""

    alpha: float | None = hyperparameter("Alpha", "A made-up weight.", minimum=0, maximum=1)


@pytest.fixture
def with_alpha(monkeypatch) -> HyperParameter:
    monkeypatch.setattr(workbench.config, "MethodConfig", WithAlpha)
    return hyperparameters()["alpha"]


def test_a_declared_field_is_validated_and_gets_a_cli_flag(with_alpha: HyperParameter) -> None:
    assert with_alpha.kind is float and with_alpha.label == "Alpha"
    assert with_alpha.description == "A made-up weight. Must be in [0, 1]."
    ExperimentConfig(method=WithAlpha(alpha=1.0)).validate()  # the inclusive bound
    with pytest.raises(ConfigError, match=r"^method.alpha must be in \[0, 1\], got 1.5.$"):
        ExperimentConfig(method=WithAlpha(alpha=1.5)).validate()

    args = _parser().parse_args(["train", "--method", "moco-v2", "--alpha", "0.25"])
    assert args.alpha == 0.25
    config = _build_config(args)
    assert isinstance(config.method, WithAlpha) and config.method.alpha == 0.25
    with pytest.raises(ConfigError, match=r"method.alpha must be in \[0, 1\], got 2.0"):
        _build_config(_parser().parse_args(["train", "--method", "moco-v2", "--alpha", "2"]))


def test_resolve_config_rejects_a_declared_field_the_method_does_not_use(with_alpha: HyperParameter) -> None:
    from workbench.methods import resolve_config

    config = ExperimentConfig(method=WithAlpha(name="moco-v2", alpha=0.5))
    with pytest.raises(ConfigError, match="'moco-v2' does not use method.alpha"):
        resolve_config(config)
    config.method.alpha = None
    assert resolve_config(config).method.temperature == 0.2


def test_a_declaration_that_cannot_be_checked_is_refused() -> None:
    @dataclass
    class Bad:
        ratio: str | None = hyperparameter("Ratio", "Not a number.")

    @dataclass
    class Open:
        count: int | None = hyperparameter("Count", "Open integer bound.", minimum=0, minimum_inclusive=False)

    @dataclass
    class Empty:
        weight: float | None = hyperparameter("Weight", "Nothing allowed.", minimum=1, maximum=0)

    with pytest.raises(TypeError, match="'ratio' must be annotated"):
        hyperparameters(Bad)
    with pytest.raises(ValueError, match="'count' must declare inclusive bounds"):
        hyperparameters(Open)
    with pytest.raises(ValueError, match="'weight' declares an empty range"):
        hyperparameters(Empty)
