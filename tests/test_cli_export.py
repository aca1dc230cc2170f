"""`workbench export RUN_DIR --out DIR [--onnx] [--torchvision] [--untrained]`: writes the encoder's files and prints
their paths; bad input is one sentence on stderr and exit status 2."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from tests.conftest import write_class_folder
from tests.results.test_interop import SIZE, encoder_run
from workbench.cli import EXIT_USER_ERROR, main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_class_folder(tmp_path_factory.mktemp("cli-export") / "images", per_class=4, size=SIZE)


def _printed(out: str) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in out.splitlines())


@pytest.mark.slow
def test_export_writes_every_format_and_prints_their_paths(folder, tmp_path, capsys):
    run = encoder_run(folder, tmp_path / "run", "resnet18")
    out = tmp_path / "export"
    assert main(["export", str(run), "--out", str(out), "--onnx", "--torchvision"]) == 0
    printed = _printed(capsys.readouterr().out)
    assert printed == {
        "state_dict": str(out / "encoder.pt"),
        "torchscript": str(out / "encoder.torchscript.pt"),
        "onnx": str(out / "encoder.onnx"),
        "torchvision": str(out / "encoder.torchvision.pt"),
    }
    assert all((out / name).stat().st_size > 0 for name in ("encoder.pt", "encoder.onnx"))
    model = torchvision.models.resnet18(weights=None)
    model.conv1, model.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()  # the documented stem
    result = model.load_state_dict(torch.load(printed["torchvision"], weights_only=True), strict=False)
    assert result.missing_keys == ["fc.weight", "fc.bias"] and not result.unexpected_keys
    assert torch.load(printed["state_dict"], weights_only=True)["trained"] is True


def test_untrained_and_the_default_formats(folder, tmp_path, capsys):
    run = encoder_run(folder, tmp_path / "run", "small-cnn")
    assert main(["export", str(run), "--out", str(tmp_path / "u"), "--untrained"]) == 0
    printed = _printed(capsys.readouterr().out)
    assert set(printed) == {"state_dict", "torchscript"}
    assert torch.load(printed["state_dict"], weights_only=True)["trained"] is False


def test_bad_input_is_one_sentence_and_status_2(folder, tmp_path, capsys):
    run = encoder_run(folder, tmp_path / "run", "small-cnn")
    cases = {
        "has no torchvision counterpart": ["export", str(run), "--out", str(tmp_path / "a"), "--torchvision"],
        "is inside the image folder": ["export", str(run), "--out", str(folder / "exported")],
        "does not exist": ["export", str(tmp_path / "no-such-run"), "--out", str(tmp_path / "b")],
    }
    for message, argv in cases.items():
        assert main(argv) == EXIT_USER_ERROR
        captured = capsys.readouterr()
        assert captured.out == "" and message in captured.err
        assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (folder / "exported").exists()
