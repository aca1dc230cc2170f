"""A small Vision Transformer encoder (ViT-Tiny: dim 192, depth 12, 3 heads; Dosovitskiy et al. 2021,
tiny size from Touvron et al. 2021), built on torchvision's `VisionTransformer` with its classifier removed.

The patch size follows the image size: 4 px patches at <= 64 px (a 32 px image gives 8x8 = 64 tokens, as in
small-image ViT work), 16 px above. A ViT has fixed position embeddings, so it only accepts the image size it
was built for.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import VisionTransformer

from workbench.errors import ConfigError
from workbench.models.encoders import Encoder, register_encoder


def choose_patch_size(image_size: int) -> int:
    """4 px at <= 64 px, else 16; when that does not divide `image_size`, the closest divisor within 2x of it."""
    target = 4 if image_size <= 64 else 16
    divisors = [p for p in range(max(2, target // 2), 2 * target + 1) if image_size % p == 0]
    if not divisors:
        raise ConfigError(
            f"vit-tiny cannot split {image_size} px images into patches of about {target} px; "
            f"use an image size divisible by {target}."
        )
    return min(divisors, key=lambda p: (abs(p - target), p))


class ViTEncoder(Encoder):
    """Images (B, 3, S, S) -> class token (B, dim) after the final LayerNorm.

    Representations: "final" (the class token) and "mean" (mean of the patch tokens, (B, dim)).
    """

    representations = ("final", "mean")

    def __init__(self, image_size: int, patch_size: int, dim: int = 192, depth: int = 12, heads: int = 3) -> None:
        super().__init__()
        self.image_size = image_size
        self.vit = VisionTransformer(
            image_size, patch_size, num_layers=depth, num_heads=heads, hidden_dim=dim, mlp_dim=4 * dim
        )
        self.vit.heads = nn.Identity()
        self.feature_dim = dim
        self._representation_dims = {"mean": dim}

    def tokens(self, x: Tensor) -> Tensor:
        """All output tokens (B, 1 + n_patches, dim); token 0 is the class token."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"vit-tiny was built for {self.image_size} px images but got {tuple(x.shape[-2:])}; "
                "rebuild it for this size."
            )
        patches = self.vit._process_input(x)  # (B, n_patches, dim)
        cls = self.vit.class_token.expand(x.shape[0], -1, -1)
        return self.vit.encoder(torch.cat([cls, patches], dim=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.tokens(x)[:, 0]

    def _represent(self, x: Tensor, name: str) -> Tensor:
        return self.tokens(x)[:, 1:].mean(dim=1)  # "mean"


@register_encoder("vit-tiny", "ViT-Tiny (dim 192, depth 12), 4 px patches at <= 64 px; 192-d class token.")
def vit_tiny(image_size: int, small_stem: bool | None = None) -> Encoder:
    return ViTEncoder(image_size, choose_patch_size(image_size))
