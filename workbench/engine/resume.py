"""What a resume may change: the run continues with the config it was trained with; only when to stop, where
(device, workers) and the monitor's share of the time may differ. fit(..., resume=True) and `workbench train
--resume` both refuse anything else, naming each field that differs with both values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.config import ExperimentConfig
from workbench.errors import ConfigError

# The fields a resumed run may change: its stop criteria, its device, its decoding threads and how much of its time
# the monitor takes (none of them changes the weights).
RESUMABLE_CHANGES = (
    "train.epochs",
    "train.max_steps",
    "train.time_budget_s",
    "train.device",
    "train.workers",
    "train.monitor_share",
)


def config_changes(saved: ExperimentConfig, config: ExperimentConfig) -> list[tuple[str, Any, Any]]:
    """(field, saved value, new value) for every field of the two (resolved) configs that differs, except those a
    resume may change; fields are dotted ("train.seed"), in the config's order, and data paths compare resolved."""
    old, new = _flat(saved), _flat(config)
    return [
        (key, old.get(key), new.get(key))
        for key in dict.fromkeys([*old, *new])
        if key not in RESUMABLE_CHANGES and old.get(key) != new.get(key)
    ]


def check_resume_config(
    saved: ExperimentConfig, config: ExperimentConfig, run: str | Path, labels: Mapping[str, str] | None = None
) -> None:
    """Raise a ConfigError (one sentence) naming each field of `config` that differs from the run's `saved` config
    with both values; `labels` renames fields in the message (the CLI's flags)."""
    changes = config_changes(saved, config)
    if not changes:
        return
    labels = labels or {}
    listed = "; ".join(f"{labels.get(k, k)}: {_show(a)} in the run, {_show(b)} now" for k, a, b in changes)
    *others, last = [labels.get(k, k) for k in RESUMABLE_CHANGES]
    raise ConfigError(
        f"The run in {run} cannot resume with a different config ({listed}); only {', '.join(others)} and {last} "
        "(when to stop, where to train, and how much time the monitor takes) may change when resuming."
    )


def _flat(config: ExperimentConfig) -> dict[str, Any]:
    data = json.loads(json.dumps(config.to_dict()))  # tuples and lists compare alike, as in config.json
    flat = {f"{section}.{k}": v for section, values in data.items() for k, v in values.items()}
    if flat.get("data.path"):
        flat["data.path"] = str(Path(flat["data.path"]).expanduser().resolve())
    return flat


def _show(value: Any) -> str:
    text = "none" if value is None else str(value) if not isinstance(value, str) else (value or "''")
    return text if len(text) <= 80 else text[:77] + "..."  # e.g. a list of augmentation views


__all__ = ["RESUMABLE_CHANGES", "check_resume_config", "config_changes"]
