"""A small Vision Transformer encoder (ViT-Tiny: dim 192, depth 12, 3 heads; Dosovitskiy et al. 2021,
tiny size from Touvron et al. 2021), built on torchvision's `VisionTransformer` with its classifier removed.

The patch size follows the image size: 4 px patches at <= 64 px (a 32 px image gives 8x8 = 64 tokens, as in
small-image ViT work), 16 px above. A ViT has fixed position embeddings, so it only accepts the image size it
was built for.

For MAE (He et al. 2021) the encoder also patchifies images, draws random masks and encodes only the visible
patches (`encode_visible`); `MAEDecoder` is MAE's light decoder. `forward`/`tokens` are unchanged by these.
"""

from __future__ import annotations

import math

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
        self.patch_size = patch_size
        self.n_patches = (image_size // patch_size) ** 2
        self.vit = VisionTransformer(
            image_size, patch_size, num_layers=depth, num_heads=heads, hidden_dim=dim, mlp_dim=4 * dim
        )
        self.vit.heads = nn.Identity()
        self.feature_dim = dim
        self._representation_dims = {"mean": dim}

    def tokens(self, x: Tensor) -> Tensor:
        """All output tokens (B, 1 + n_patches, dim); token 0 is the class token."""
        self._check_size(x)
        patches = self.vit._process_input(x)  # (B, n_patches, dim)
        cls = self.vit.class_token.expand(x.shape[0], -1, -1)
        return self.vit.encoder(torch.cat([cls, patches], dim=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.tokens(x)[:, 0]

    def _represent(self, x: Tensor, name: str) -> Tensor:
        return self.tokens(x)[:, 1:].mean(dim=1)  # "mean"

    def encode_visible(self, x: Tensor, ids_keep: Tensor) -> Tensor:
        """MAE's encoder pass: only the patches `ids_keep` (B, n_keep) of x (B, 3, S, S), with their position
        embeddings, after the class token -> tokens (B, 1 + n_keep, dim) after the final LayerNorm."""
        self._check_size(x)
        enc = self.vit.encoder
        patches = self.vit._process_input(x) + enc.pos_embedding[:, 1:]  # (B, N, dim), positioned
        visible = patches.gather(1, ids_keep[..., None].expand(-1, -1, patches.shape[-1]))  # (B, n_keep, dim)
        cls = (self.vit.class_token + enc.pos_embedding[:, :1]).expand(x.shape[0], -1, -1)
        return enc.ln(enc.layers(enc.dropout(torch.cat([cls, visible], dim=1))))

    def _check_size(self, x: Tensor) -> None:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"vit-tiny was built for {self.image_size} px images but got {tuple(x.shape[-2:])}; "
                "rebuild it for this size."
            )


@register_encoder("vit-tiny", "ViT-Tiny (dim 192, depth 12), 4 px patches at <= 64 px; 192-d class token.")
def vit_tiny(image_size: int, small_stem: bool | None = None) -> Encoder:
    return ViTEncoder(image_size, choose_patch_size(image_size))


# --- MAE pieces (He, Chen, Xie, Li, Dollar, Girshick 2021, "Masked Autoencoders Are Scalable Vision Learners") ---


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """(B, C, S, S) -> (B, N, p * p * C) in row-major patch order, pixels of a patch in (row, column, channel)
    order (MAE's layout); N = (S / p)^2, the ViT's token order."""
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"patchify: {h}x{w} images do not split into {p} px patches.")
    x = images.reshape(b, c, h // p, p, w // p, p)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: Tensor, patch_size: int, channels: int = 3) -> Tensor:
    """The inverse of `patchify`: (B, N, p * p * C) with N a square -> (B, C, S, S)."""
    b, n, _ = patches.shape
    g, p = math.isqrt(n), patch_size
    if g * g != n:
        raise ValueError(f"unpatchify: {n} patches do not form a square grid.")
    x = patches.reshape(b, g, g, p, p, channels)
    return torch.einsum("bhwpqc->bchpwq", x).reshape(b, channels, g * p, g * p)


def kept_patches(n_patches: int, mask_ratio: float) -> int:
    """How many patches stay visible: round(N * (1 - mask_ratio)), at least 1."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}.")
    return max(1, round(n_patches * (1.0 - mask_ratio)))


def random_masking(
    batch: int,
    n_patches: int,
    mask_ratio: float,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """MAE's per-sample random masking by shuffling: uniform noise, argsort, keep the first n_keep.

    Returns ids_keep (B, n_keep) long, sorted ascending (the visible patches in grid order), and mask (B, N) bool,
    True where a patch is hidden. `generator` (a CPU generator) makes the draw reproducible (previews); `noise`
    (B, N) uniform, if given, is used instead of a draw (training: the step's own noise, see methods/base.py).
    """
    n_keep = kept_patches(n_patches, mask_ratio)
    if noise is None:
        noise = torch.rand(batch, n_patches, generator=generator) if generator is not None else None
        noise = noise.to(device) if noise is not None else torch.rand(batch, n_patches, device=device)
    elif noise.shape != (batch, n_patches):
        raise ValueError(f"random_masking noise must be ({batch}, {n_patches}), got {tuple(noise.shape)}.")
    ids_keep = noise.argsort(dim=1)[:, :n_keep].sort(dim=1).values  # (B, n_keep)
    mask = torch.ones(batch, n_patches, dtype=torch.bool, device=device)
    mask.scatter_(1, ids_keep, False)
    return ids_keep, mask


def sincos_pos_embed_2d(dim: int, grid: int) -> Tensor:
    """MAE's fixed 2-D sine-cosine position embedding: (grid * grid, dim), half the channels per axis."""
    if dim % 4:
        raise ValueError(f"sincos_pos_embed_2d needs dim divisible by 4, got {dim}.")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))  # (dim/4,)
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")

    def axis(pos: Tensor) -> Tensor:  # (grid*grid,) -> (grid*grid, dim/2)
        angles = pos.flatten().double()[:, None] * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([axis(ys), axis(xs)], dim=1).float()


class MAEDecoder(nn.Module):
    """MAE's light decoder: encoder tokens of the visible patches -> a prediction for every patch.

    (B, 1 + n_keep, enc_dim) and ids_keep (B, n_keep) -> (B, N, patch_dim). The visible tokens are projected to
    `dim`, put back at their grid positions, every hidden position gets the shared learned mask token, fixed
    sine-cosine position embeddings are added, then `depth` pre-norm transformer blocks, a LayerNorm and a
    linear prediction of the patch pixels. The paper's decoder is 8 blocks of 512-d for ViT-L at 224 px; for
    ViT-Tiny on 32 px images 2 blocks of 128-d (4 heads) keep it light, as the paper intends (under 10% of the
    encoder's compute per token).
    """

    def __init__(self, enc_dim: int, n_patches: int, patch_dim: int, dim: int = 128, depth: int = 2, heads: int = 4):
        super().__init__()
        grid = math.isqrt(n_patches)
        if grid * grid != n_patches:
            raise ValueError(f"MAEDecoder needs a square patch grid, got {n_patches} patches.")
        self.n_patches = n_patches
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        pos = torch.cat([torch.zeros(1, dim), sincos_pos_embed_2d(dim, grid)])  # (1 + N, dim); the class token: 0
        self.register_buffer("pos_embed", pos[None], persistent=False)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, patch_dim)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: Tensor, ids_keep: Tensor) -> Tensor:
        x = self.embed(tokens)  # (B, 1 + n_keep, dim)
        b, _, dim = x.shape
        full = self.mask_token.to(x.dtype).expand(b, self.n_patches, dim)  # x is bf16/fp16 under autocast
        full = full.scatter(1, ids_keep[..., None].expand(-1, -1, dim), x[:, 1:])  # (B, N, dim), grid order
        x = torch.cat([x[:, :1], full], dim=1) + self.pos_embed  # (B, 1 + N, dim)
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))[:, 1:]  # (B, N, patch_dim), the class token dropped
