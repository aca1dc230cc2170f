"""A fine-tuned run's classifier (encoder + head) exports to TorchScript and ONNX, and onnxruntime and the TorchScript
module give the torch classifier's logits within 1e-4 at any batch size."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.results.test_finetune import setup  # noqa: F401 - the module's fine-tuned run
from workbench.augment.views import prepare
from workbench.results.classifier_export import export_classifier
from workbench.results.predict import load_classifier

SIZE = 16


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_onnxruntime_and_torchscript_give_the_classifiers_logits(setup, tmp_path):  # noqa: F811
    _, _, _, tuned = setup
    files = export_classifier(tuned, tmp_path / "out", onnx=True)
    assert set(files) == {"classifier", "classifier_torchscript", "classifier_onnx"}
    saved = torch.load(files["classifier"], weights_only=True)
    assert saved["classes"] == ["circle", "square"] and saved["image_size"] == SIZE
    session = ort.InferenceSession(str(files["classifier_onnx"]), providers=["CPUExecutionProvider"])
    (images,), (logits,) = session.get_inputs(), session.get_outputs()
    assert images.name == "images" and logits.name == "logits" and isinstance(images.shape[0], str)
    config, method = load_classifier(tuned)
    scripted = torch.jit.load(str(files["classifier_torchscript"]))
    for batch in (1, 3):  # the export traced a batch of 2
        pixels = torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator())
        with torch.no_grad():  # the reference: training's normalisation, then the head on the representation
            expected = method.head(method.encoder.represent(prepare(config.augment, pixels), method.representation))
            expected = expected.numpy()
            from_script = scripted(pixels.float() / 255.0).numpy()
        (from_onnx,) = session.run(None, {"images": (pixels.float() / 255.0).numpy()})
        assert from_onnx.shape == (batch, 2)
        np.testing.assert_allclose(from_onnx, expected, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(from_script, expected, atol=1e-4, rtol=1e-4)
