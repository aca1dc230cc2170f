"""The encoder under other libraries' names: state dicts whose keys torchvision (and timm) models load.

Our ResNet encoders are torchvision ResNets regrouped as `stem` (conv1, bn1, relu, maxpool) and `stages`
(layer1..layer4), without the classifier; our ViT wraps torchvision's `VisionTransformer` as `vit`, its classifier
replaced by an identity. The mappings below only rename keys, so the tensors are the trained ones, bit for bit:

- ResNets to torchvision (timm's ResNets use the same names): `stem.0.*` -> `conv1.*`, `stem.1.*` -> `bn1.*`,
  `stages.{i}.*` -> `layer{i+1}.*`; only `fc.*` is left for the user's classifier.
- ViT to torchvision: drop the `vit.` prefix; only `heads.head.*` is left.
- torchvision ViT to timm (`_TIMM_TOP`, and `_TIMM_BLOCK` inside `encoder.layers.encoder_layer_{i}` ->
  `blocks.{i}`): `class_token` -> `cls_token`, `conv_proj` -> `patch_embed.proj`, `encoder.pos_embedding` ->
  `pos_embed`, `encoder.ln` -> `norm`; per block `ln_1`/`ln_2` -> `norm1`/`norm2`, `self_attention.in_proj_*` ->
  `attn.qkv.*` (both pack q, k, v in that order), `self_attention.out_proj` -> `attn.proj`, `mlp.0`/`mlp.3` ->
  `mlp.fc1`/`mlp.fc2`. Both use LayerNorm eps 1e-6, exact GELU and the class token's position embedding.

The small-image stem (resnets at <= 64 px, see models/resnet.py) differs from torchvision's in two layers: conv1 is
3x3 stride 1 padding 1 (torchvision: 7x7 stride 2 padding 3) and there is no max-pool. Its `conv1.weight` is
(64, 3, 3, 3), which a stock `resnet50()` refuses (a shape mismatch is an error even with strict=False), so the
file keeps that shape and the user builds the same stem first: `model.conv1 = nn.Conv2d(3, 64, 3, 1, 1,
bias=False)` and `model.maxpool = nn.Identity()` (docs/encoders.md). `uses_small_stem` tells which stem a file has.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from workbench.results.export import ExportError

if TYPE_CHECKING:
    from torch import Tensor

    from workbench.models.encoders import Encoder

RESNETS = ("resnet18", "resnet34", "resnet50")
VITS = ("vit-tiny",)
VIT_TINY = {"num_layers": 12, "num_heads": 3, "hidden_dim": 192, "mlp_dim": 768}  # models/vit.py's ViT-Tiny

_TIMM_BLOCK = {
    "ln_1": "norm1",
    "self_attention.in_proj_weight": "attn.qkv.weight",
    "self_attention.in_proj_bias": "attn.qkv.bias",
    "self_attention.out_proj": "attn.proj",
    "ln_2": "norm2",
    "mlp.0": "mlp.fc1",
    "mlp.3": "mlp.fc2",
}
_TIMM_TOP = {
    "class_token": "cls_token",
    "conv_proj": "patch_embed.proj",
    "encoder.pos_embedding": "pos_embed",
    "encoder.ln": "norm",
}


def has_torchvision_counterpart(encoder_name: str) -> bool:
    return encoder_name in RESNETS or encoder_name in VITS


def check_torchvision_counterpart(encoder_name: str) -> None:
    """ExportError in one sentence for an encoder that torchvision has no model for (seed-cnn, small-cnn)."""
    if not has_torchvision_counterpart(encoder_name):
        raise ExportError(
            f"The '{encoder_name}' encoder has no torchvision counterpart; the torchvision export is for "
            f"{', '.join(RESNETS + VITS)} (the TorchScript and ONNX files work for every encoder)."
        )


def torchvision_state_dict(encoder_name: str, encoder: Encoder) -> dict[str, Tensor]:
    """The encoder's weights under torchvision's names (`torchvision.models.resnet50()`, or `VisionTransformer` for
    vit-tiny): loading it with strict=False leaves only the classifier (`fc.*`, `heads.head.*`) missing."""
    check_torchvision_counterpart(encoder_name)
    state = encoder.state_dict()
    if encoder_name in VITS:
        return {_strip(key, "vit."): value for key, value in state.items()}
    return {_resnet_key(key): value for key, value in state.items()}


def timm_vit_state_dict(torchvision_vit: dict[str, Tensor]) -> dict[str, Tensor]:
    """A torchvision `VisionTransformer` state dict (classifier excluded) under timm's `VisionTransformer` names."""
    out = {}
    for key, value in torchvision_vit.items():
        match = re.fullmatch(r"encoder\.layers\.encoder_layer_(\d+)\.(.+)", key)
        if match:
            block, rest = match.groups()
            out[f"blocks.{block}.{_rename(rest, _TIMM_BLOCK, key)}"] = value
        else:
            out[_rename(key, _TIMM_TOP, key)] = value
    return out


def interop_state_dicts(encoder_name: str, encoder: Encoder) -> dict[str, dict[str, Tensor]]:
    """{"torchvision": state dict[, "timm": state dict for the ViT]}: what `export_encoder(torchvision=True)` writes
    as `<stem>.torchvision.pt` and `<stem>.timm.pt`."""
    torchvision = torchvision_state_dict(encoder_name, encoder)
    if encoder_name in VITS:
        return {"torchvision": torchvision, "timm": timm_vit_state_dict(torchvision)}
    return {"torchvision": torchvision}


def uses_small_stem(torchvision_resnet: dict[str, Tensor]) -> bool:
    """True when the ResNet state dict has the 3x3 small-image conv1 (build the small stem before loading it)."""
    return tuple(torchvision_resnet["conv1.weight"].shape[-2:]) == (3, 3)


def vit_patch_size(torchvision_vit: dict[str, Tensor]) -> int:
    """The patch size a torchvision ViT state dict was trained with (its patch projection's kernel)."""
    return int(torchvision_vit["conv_proj.weight"].shape[-1])


def _resnet_key(key: str) -> str:
    if key.startswith("stem.0."):
        return "conv1." + key.removeprefix("stem.0.")
    if key.startswith("stem.1."):
        return "bn1." + key.removeprefix("stem.1.")
    match = re.fullmatch(r"stages\.(\d)\.(.+)", key)
    if not match:
        raise ExportError(f"The ResNet weight '{key}' has no torchvision name; this encoder was changed.")
    return f"layer{int(match.group(1)) + 1}.{match.group(2)}"


def _strip(key: str, prefix: str) -> str:
    if not key.startswith(prefix):
        raise ExportError(f"The ViT weight '{key}' has no torchvision name; this encoder was changed.")
    return key.removeprefix(prefix)


def _rename(key: str, table: dict[str, str], original: str) -> str:
    for ours, theirs in table.items():
        if key == ours or key.startswith(ours + "."):
            return theirs + key.removeprefix(ours)
    raise ExportError(f"The ViT weight '{original}' has no timm name; this encoder was changed.")
