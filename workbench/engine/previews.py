"""Live previews of generative methods: reconstructions or samples as one image, saved and reported.

fit() calls `Previewer.maybe(...)` after a step when one is `due` (at most every PREVIEW_EVERY_S seconds of training)
and the evaluation share of the time allows it (engine/timing.py), and with `force=True` once at the end of the
run. When the method is `generative`, it runs `method.preview(fixed_images)` under torch.no_grad() in eval mode (then
restores the mode), denormalises the rows with the augment spec, tiles them into one uint8 image (rows top to bottom,
images left to right), writes it atomically as RUN/preview.png (and, once per step, into the run's TensorBoard
events) and hands it to `reporter.preview(epoch, image)`.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from workbench.augment.spec import AugmentSpec
from workbench.augment.views import denormalize, prepare
from workbench.data import ImageSet
from workbench.engine.monitor import monitor_indices
from workbench.engine.report import Reporter
from workbench.engine.runs import PREVIEW_FILE, RunDir
from workbench.methods import Method

PREVIEW_IMAGES = 8  # images per row
PREVIEW_EVERY_S = 10.0  # at most one preview per this many seconds of training (plus the final one)
GAP_PX = 2  # background pixels between tiles


def tile_rows(rows: list[torch.Tensor], gap: int = GAP_PX) -> np.ndarray:
    """uint8 rows, each (K, 3, S, S), -> one uint8 (H, W, 3) image; shorter rows are padded on the right."""
    if not rows:
        raise ValueError("tile_rows needs at least one row of images.")
    h, w = max(r.shape[-2] for r in rows), max(r.shape[-1] for r in rows)
    count = max(r.shape[0] for r in rows)
    out = np.full((len(rows) * (h + gap) - gap, count * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row.permute(0, 2, 3, 1).cpu().numpy()):
            top, left = i * (h + gap), j * (w + gap)
            out[top : top + image.shape[0], left : left + image.shape[1]] = image
    return out


@torch.no_grad()
def render_preview(method: Method, images: torch.Tensor, spec: AugmentSpec) -> np.ndarray | None:
    """The method's preview rows for normalised `images` (B, 3, S, S), as one uint8 (H, W, 3) image (None when the
    method shows nothing). Runs in eval mode and restores the method's mode afterwards."""
    was_training = method.training
    method.eval()
    try:
        rows = method.preview(images)
    finally:
        method.train(was_training)
    if not rows:
        return None
    return tile_rows([denormalize(spec, row.detach().float()) for row in rows])


def encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


class Previewer:
    """Previews for one run, on a fixed set of un-augmented training images (the monitor subset's first ones)."""

    def __init__(
        self,
        method: Method,
        data: ImageSet,
        spec: AugmentSpec,
        seed: int,
        device: torch.device,
        run: RunDir,
        reporter: Reporter,
        main: bool,
        every_s: float = PREVIEW_EVERY_S,
    ) -> None:
        self.method, self.spec, self.run, self.reporter, self.main = method, spec, run, reporter, main
        self.every_s = every_s
        self.enabled = bool(method.generative) and main  # one process draws it (the same on every one)
        self.last_s: float | None = None
        self.images: torch.Tensor | None = None
        if self.enabled:
            idx = monitor_indices(len(data), seed)[:PREVIEW_IMAGES]
            self.images = prepare(spec, data.images[idx]).to(device)

    def due(self, elapsed_s: float) -> bool:
        """Whether a preview is due: never made, or `every_s` seconds of training since the last one."""
        return self.enabled and (self.last_s is None or elapsed_s - self.last_s >= self.every_s)

    def maybe(self, epoch: int, elapsed_s: float, force: bool = False) -> bool:
        """Preview now if it is due or forced; True if a preview was made."""
        if not self.enabled or not (force or self.due(elapsed_s)):
            return False
        self.last_s = elapsed_s
        image = render_preview(self.method, self.images, self.spec)
        if image is None:
            return False
        if self.main:
            self.run.save_preview(encode_png(image), image)  # preview.png and the TensorBoard image
        self.reporter.preview(epoch, image)
        return True


__all__ = ["PREVIEW_FILE", "Previewer", "encode_png", "render_preview", "tile_rows"]
