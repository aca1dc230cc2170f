"""One registry catalogue: `workbench list` and the Train workspace offer the same entries with the same defaults."""

from __future__ import annotations

import pytest

from workbench.augment.spec import list_presets
from workbench.catalogue import registry_catalogue
from workbench.cli import main
from workbench.config import hyperparameters
from workbench.methods import list_methods, method_class
from workbench.models import encoder_description, list_encoders


def test_the_catalogue_reads_every_registry_in_registration_order() -> None:
    catalogue = registry_catalogue()
    assert list(catalogue.encoders) == [(n, encoder_description(n)) for n in list_encoders()]
    assert list(catalogue.presets) == list_presets()
    assert [m.name for m in catalogue.methods] == list_methods()
    for info in catalogue.methods:
        cls = method_class(info.name)
        assert (info.description, info.default_encoder, info.supported_encoders) == (
            cls.description,
            cls.default_encoder,
            cls.supported_encoders,
        )
        assert (info.contrastive, info.generative, info.hyperparameters) == (
            cls.contrastive,
            cls.generative,
            cls.hyperparameters,
        )


def listed(capsys) -> dict[str, list[str]]:
    """`workbench list` output by section ("encoders", "methods", ...): the section's indented lines."""
    assert main(["list"]) == 0
    sections: dict[str, list[str]] = {}
    current = ""
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  "):
            sections[current].append(line.strip())
        else:
            header, _, rest = line.partition(":")
            current = header.split(" (")[0]
            sections[current] = [rest.strip()] if rest.strip() else []
    return sections


def test_workbench_list_and_the_train_workspace_offer_the_same_methods_and_defaults(capsys) -> None:
    from workbench.gui.train_tasks import load_catalog

    sections, catalog, declared = listed(capsys), load_catalog(), hyperparameters()
    assert [line.split(maxsplit=1) for line in sections["encoders"]] == [list(e) for e in catalog.encoders]
    lines = sections["methods"]
    assert len(lines) == 2 * len(catalog.methods)  # a description line and an encoder / defaults line each
    assert [line.split()[0] for line in lines[::2]] == [m.name for m in catalog.methods]
    for first, second, info in zip(lines[::2], lines[1::2], catalog.methods, strict=True):
        assert first.split(maxsplit=1)[1] == info.description
        encoder, _, defaults = second.partition("; ")
        assert encoder == f"encoder: {info.default_encoder}"
        shown = {} if defaults == "no hyper-parameters" else dict(p.split("=") for p in defaults.split(", "))
        assert list(shown) == list(info.hyperparameters), info.name  # same fields, same order
        for field, text in shown.items():  # printed as its declared kind (4096, not 4096.0), at %g precision
            default = info.hyperparameters[field]
            assert declared[field].kind(text) == pytest.approx(default, rel=1e-5), (info.name, field)
    assert sections["augmentation presets"] == [", ".join(registry_catalogue().presets)]
