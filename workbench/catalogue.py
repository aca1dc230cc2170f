"""The registries as one Qt-free table: encoders, methods and augmentation presets, in registration order.

`workbench list` prints it and the Train workspace builds its controls from it, so both offer the same entries
with the same defaults. The records are cheap to import; `registry_catalogue()` fills the registries (and so
imports torch) when it is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class EncoderInfo(NamedTuple):
    """One registered encoder; a (name, description) pair."""

    name: str
    description: str


@dataclass(frozen=True)
class MethodInfo:
    """What the CLI and the GUI show about one registered method (read from its class)."""

    name: str
    description: str
    contrastive: bool  # the loss uses other images in the batch as negatives (batch size matters)
    generative: bool  # `preview` returns images to show while training
    hyperparameters: dict[str, Any]  # the MethodConfig fields it uses -> its defaults
    default_encoder: str  # what model.encoder "auto" means for it
    supported_encoders: tuple[str, ...] | None  # None: any encoder


@dataclass(frozen=True)
class RegistryCatalogue:
    encoders: tuple[EncoderInfo, ...]
    methods: tuple[MethodInfo, ...]
    presets: tuple[str, ...]  # augmentation preset names


def registry_catalogue() -> RegistryCatalogue:
    """Read the encoder, method and augmentation-preset registries (imports torch)."""
    from workbench.augment.spec import list_presets
    from workbench.methods import list_methods, method_class
    from workbench.models import encoder_description, list_encoders

    methods = []
    for name in list_methods():
        cls = method_class(name)
        methods.append(
            MethodInfo(
                name=name,
                description=cls.description,
                contrastive=bool(cls.contrastive),
                generative=bool(cls.generative),
                hyperparameters=dict(cls.hyperparameters),
                default_encoder=cls.default_encoder,
                supported_encoders=cls.supported_encoders,
            )
        )
    return RegistryCatalogue(
        encoders=tuple(EncoderInfo(n, encoder_description(n)) for n in list_encoders()),
        methods=tuple(methods),
        presets=tuple(list_presets()),
    )
