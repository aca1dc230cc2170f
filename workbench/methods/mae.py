"""MAE (He, Chen, Xie, Li, Dollar, Girshick 2021, "Masked Autoencoders Are Scalable Vision Learners"): hide most
patches of the image, encode only the visible ones with the ViT, and let a light decoder predict the hidden pixels.

Per step: a random `mask_ratio` of the N patches is hidden per image (75% by default, the paper's choice);
the encoder (vit-tiny, its default and only encoder) sees the visible patches with their position embeddings; the
decoder puts the mask token at every hidden position and predicts every patch; the loss is the MSE on the hidden
patches only. At 32 px vit-tiny uses 4 px patches, so an image is 64 patches and 16 stay visible.

Reconstruction target: the paper's per-patch normalised pixels (`norm_pix_loss`) help at 16 px patches on
ImageNet. Here patches are 4 px, and many on small images are flat (Fashion-MNIST backgrounds), where the
per-patch normalisation turns near-constant patches into amplified noise; in a 5-minute CPU run on Fashion-MNIST it
gave no better kNN (0.445 after 35 steps vs 0.451 after 27 with plain pixels), so `NORM_PIX_LOSS` is False and the
target is the normalised image itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from workbench.config import MethodConfig
from workbench.losses.masked_reconstruction import MaskedReconstructionLoss
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder
from workbench.models.vit import MAEDecoder, ViTEncoder, patchify, random_masking, unpatchify

NORM_PIX_LOSS = False  # see the module docstring
PREVIEW_IMAGES = 8
PREVIEW_SEED = 0  # the same masks in every preview, so successive previews compare


@register_method
class MAE(Method):
    name = "mae"
    description = "MAE: hide 75% of the image patches; the ViT encodes the rest and a decoder fills the gaps."
    n_views = 1
    generative = True
    supported_encoders = ("vit-tiny",)
    default_encoder = "vit-tiny"
    hyperparameters: ClassVar[dict[str, Any]] = {"mask_ratio": 0.75}  # MAE's default (their figure 5)

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        if not isinstance(encoder, ViTEncoder):
            raise ValueError(f"mae needs a ViT encoder (vit-tiny), got {type(encoder).__name__}.")
        mask_ratio = float(config.mask_ratio)
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mae mask_ratio must be in (0, 1), got {mask_ratio}.")
        self.mask_ratio = mask_ratio
        self.patch_size = encoder.patch_size
        self.decoder = MAEDecoder(encoder.feature_dim, encoder.n_patches, 3 * encoder.patch_size**2)
        self.loss_fn = MaskedReconstructionLoss(norm_pix=NORM_PIX_LOSS)

    def forward_masked(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Images (B, 3, S, S) -> predicted patches (B, N, 3 p^2) and the mask (B, N) bool, True = hidden. The masks
        come from `generator` (previews) or else the step's own noise (training)."""
        n = self.encoder.n_patches
        noise = None if generator is not None else self.step_noise.rand(x.shape[0], n, device=x.device)  # (B, N)
        ids_keep, mask = random_masking(x.shape[0], n, self.mask_ratio, x.device, generator, noise=noise)
        pred = self.decoder(self.encoder.encode_visible(x, ids_keep), ids_keep)
        return pred, mask

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        x = views[0]
        pred, mask = self.forward_masked(x)
        loss = self.loss_fn(pred, patchify(x, self.patch_size), mask)
        return StepOutput(loss, {})

    def preview(self, images: Tensor) -> list[Tensor]:
        """Rows: inputs, masked inputs (hidden patches at the mean, 0), reconstructions with the visible patches
        pasted back (as in the paper's figures); each (K, 3, S, S), K <= 8."""
        x = images[:PREVIEW_IMAGES]
        pred, mask = self.forward_masked(x, torch.Generator().manual_seed(PREVIEW_SEED))
        patches = patchify(x, self.patch_size)  # (K, N, 3 p^2)
        if NORM_PIX_LOSS:  # predictions are per-patch normalised: bring back each patch's own mean and std
            mean, var = patches.mean(dim=-1, keepdim=True), patches.var(dim=-1, keepdim=True)
            pred = pred * (var + self.loss_fn.eps).sqrt() + mean
        hidden = mask[..., None]  # (K, N, 1)
        masked = unpatchify(patches.masked_fill(hidden, 0.0), self.patch_size)
        recon = unpatchify(torch.where(hidden, pred.to(patches.dtype), patches), self.patch_size)
        return [x, masked, recon]
