"""Every registered encoder exports to ONNX and TorchScript, and onnxruntime gives the torch encoder's representation
at any batch size; without the onnx package the export says so in one sentence and writes nothing."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.conftest import write_class_folder
from tests.results.test_interop import SIZE, encoder_run
from workbench.augment.views import prepare
from workbench.models import list_encoders
from workbench.results import export
from workbench.results.evaluate import load_encoder
from workbench.results.export import ONNX_MISSING, ExportError, export_encoder

FAST = {"small-cnn"}  # the others take 5-30 s each to export on one CPU core
SAME_BLOCKS = {"resnet34": "resnet18"}  # built from the same blocks as the one named: its export proves nothing new


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_class_folder(tmp_path_factory.mktemp("onnx") / "images", per_class=4, size=SIZE)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize(
    "name",
    [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in list_encoders() if n not in SAME_BLOCKS],
)
def test_onnxruntime_and_torchscript_give_the_encoders_representation(name, folder, tmp_path, one_torch_thread):
    run = encoder_run(folder, tmp_path / "run", name)
    files = export_encoder(run, tmp_path / "out", onnx=True)
    assert set(files) == {"state_dict", "torchscript", "onnx"} and files["onnx"].name == "encoder.onnx"
    session = ort.InferenceSession(str(files["onnx"]), providers=["CPUExecutionProvider"])
    (images,), (features,) = session.get_inputs(), session.get_outputs()
    assert images.name == "images" and images.type == "tensor(float)" and images.shape[1:] == [3, SIZE, SIZE]
    assert isinstance(images.shape[0], str) and features.name == "features"  # the batch axis is free
    config, encoder = load_encoder(run)
    representation = encoder.resolve_representation(config.model.representation)
    scripted = torch.jit.load(str(files["torchscript"]))
    for batch in (1, 3):  # the export traced a batch of 2
        pixels = torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator())
        with torch.no_grad():  # the reference: training's normalisation, then the encoder's own representation
            expected = encoder.represent(prepare(config.augment, pixels), representation).numpy()
            from_script = scripted(pixels.float() / 255.0).numpy()
        (from_onnx,) = session.run(None, {"images": (pixels.float() / 255.0).numpy()})
        assert from_onnx.shape == (batch, encoder.representation_dim(representation))
        np.testing.assert_allclose(from_onnx, expected, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(from_script, expected, atol=1e-4, rtol=1e-4)


def test_without_the_onnx_package_the_export_is_one_sentence_and_writes_nothing(folder, tmp_path, monkeypatch):
    run = encoder_run(folder, tmp_path / "run", "small-cnn")
    monkeypatch.setattr(export, "onnx_available", lambda: False)
    with pytest.raises(ExportError, match=r"^ONNX export needs the 'onnx' package, which is not installed here; "):
        export_encoder(run, tmp_path / "out", onnx=True)
    assert str(ExportError(ONNX_MISSING)).count(". ") == 0  # one sentence
    assert not (tmp_path / "out").exists()


def test_an_exporter_failure_is_one_sentence_pointing_to_torchscript(folder, tmp_path, monkeypatch):
    run = encoder_run(folder, tmp_path / "run", "small-cnn")

    def fails(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::odd")

    monkeypatch.setattr(torch.onnx, "export", fails)
    with pytest.raises(ExportError, match=r"^ONNX export failed \(RuntimeError: unsupported operator aten::odd\); use"):
        export_encoder(run, tmp_path / "out", onnx=True)
    assert not (tmp_path / "out" / "encoder.onnx").exists() and (tmp_path / "out" / "encoder.torchscript.pt").exists()
