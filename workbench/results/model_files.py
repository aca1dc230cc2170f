"""The bytes of an exported model, written safely: a traced TorchScript module, an ONNX graph (the dynamo exporter),
and the one atomic, never-inside-the-image-folder write every export file goes through. Shared by the encoder export
(export.py) and the fine-tuned classifier's (classifier_export.py).

torch and onnx are imported inside functions: the GUI imports this module at start-up.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.files import atomic_write_bytes, ensure_outside

ONNX_MISSING = (
    "ONNX export needs the 'onnx' package, which is not installed here; the TorchScript file serves the same purpose "
    "(or install onnx and onnxscript and export again)."
)


class ExportError(WorkbenchError):
    """An export cannot be written (a refused place, a format that is not available here)."""


def on_pixels(model: Any, forward: Any, mean: Any, std: Any) -> Any:
    """An eval-mode module that takes float RGB (B, 3, S, S) in [0, 1], normalises it as training does (mean, std)
    and returns forward(model, x): the one wrapper every exported model (encoder, classifier) is traced through."""
    import torch
    from torch import nn

    class OnPixels(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return forward(self.model, (x - self.mean) / self.std)

    return OnPixels().eval()


def example_images(size: int) -> Any:
    """The batch (2, 3, size, size) exports trace with: fixed, so that an export is reproducible."""
    import torch

    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def torchscript_bytes(module: Any, size: int, what: str) -> memoryview:
    """`module` (images (B, 3, size, size) in [0, 1] -> outputs) traced to TorchScript, checked on another batch
    size; ExportError naming `what` when the trace does not reproduce the module."""
    import torch

    example = example_images(size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; TorchScript still loads
        traced = torch.jit.trace(module, example, check_trace=False)
        check = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(1))  # another batch size
        if not torch.allclose(traced(check), module(check), atol=1e-4, rtol=1e-4):
            raise ExportError(f"{what} cannot be traced to TorchScript faithfully.")
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getbuffer()


def write_model_file(path: Path, data: bytes | memoryview, image_root: Path | None) -> Path:
    path = Path(path).expanduser()
    ensure_outside(path, image_root, "the export")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"'{path}' cannot be written ({exc.strerror or exc}).") from None
    return path


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(module: Any, example: Any, path: Path, image_root: Path | None, output_name: str = "features") -> Path:
    if not onnx_available():
        raise ExportError(ONNX_MISSING)
    import torch

    try:
        with tempfile.TemporaryDirectory() as tmp:  # the exporter writes files; ours are written atomically below
            target = Path(tmp) / "encoder.onnx"
            torch.onnx.export(
                module,
                (example,),
                target,
                input_names=["images"],
                output_names=[output_name],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            data = target.read_bytes()
    except Exception as exc:  # noqa: BLE001 - exporter failures vary by torch version; one sentence for the user
        raise ExportError(f"ONNX export failed ({type(exc).__name__}: {exc}); use the TorchScript file.") from None
    return write_model_file(path, data, image_root)
