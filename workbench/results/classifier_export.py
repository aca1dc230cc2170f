"""A fine-tuned run's classifier (encoder + head) as files other tools load: state_dict, TorchScript and ONNX.

Beside the encoder files that `export_encoder` writes for any run, a fine-tuned run (results/finetune.py) also gets
- `classifier.pt`: a plain dict (torch.load(weights_only=True)): `state_dict` (the encoder's under `encoder.`, the
  head's under `head.`), `classes` (the class names, in output order), `encoder`, `image_size`, `small_stem`,
  `mean`, `std`, `config` and `format`;
- `classifier.torchscript.pt` and, where onnx is installed, `classifier.onnx`: float RGB images in [0, 1],
  (B, 3, S, S) -> normalised as training did -> class scores `logits` (B, K); softmax gives the confidence that
  `workbench predict` reports. The ONNX graph's input is `images` with a free batch axis.
Tracing and the ONNX exporter are export.py's (one code path for every model file), written atomically and never
inside the image folder.
"""

from __future__ import annotations

import io
from pathlib import Path

from workbench.results.export import EXPORT_FORMAT
from workbench.results.model_files import (
    ONNX_MISSING,
    ExportError,
    example_images,
    export_onnx,
    on_pixels,
    onnx_available,
    torchscript_bytes,
    write_model_file,
)

CLASSIFIER_STEM = "classifier"


def export_classifier(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    onnx: bool = False,
    image_root: Path | None = None,
    checkpoint: str | None = None,
) -> dict[str, Path]:
    """Write the fine-tuned run's classifier; returns {"classifier": path, "classifier_torchscript": path
    [, "classifier_onnx": path]}. ConfigError when the run is not a fine-tune; ExportError (one sentence) when onnx
    is asked for and missing, or the model cannot be traced faithfully."""
    import torch

    from workbench.results.predict import load_classifier

    config, method = load_classifier(run_dir, checkpoint, device="cpu")  # None: its best checkpoint, if kept
    method = method.float().eval()
    if onnx and not onnx_available():
        raise ExportError(ONNX_MISSING)
    size = int(method.encoder.image_size or config.augment.output_size or config.data.image_size)
    out_dir = Path(out_dir).expanduser()
    written: dict[str, Path] = {}
    meta = {
        "format": EXPORT_FORMAT,
        "classes": list(method.classes),
        "encoder": config.model.encoder,
        "image_size": size,
        "small_stem": config.model.small_stem,
        "mean": list(config.augment.mean),
        "std": list(config.augment.std),
        "config": config.to_dict(),
    }
    state = {k: v for k, v in method.state_dict().items() if k.startswith(("encoder.", "head."))}
    buffer = io.BytesIO()
    torch.save({**meta, "state_dict": state}, buffer)
    written["classifier"] = write_model_file(out_dir / f"{CLASSIFIER_STEM}.pt", buffer.getbuffer(), image_root)

    module = on_pixels(method, lambda m, x: m.logits(x), config.augment.mean, config.augment.std)
    script = torchscript_bytes(module, size, f"The '{config.model.encoder}' classifier")
    written["classifier_torchscript"] = write_model_file(
        out_dir / f"{CLASSIFIER_STEM}.torchscript.pt", script, image_root
    )
    if onnx:
        target = out_dir / f"{CLASSIFIER_STEM}.onnx"
        written["classifier_onnx"] = export_onnx(module, example_images(size), target, image_root, output_name="logits")
    return written


__all__ = ["CLASSIFIER_STEM", "export_classifier"]
