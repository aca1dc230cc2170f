"""The MAE pieces of the ViT: patchify, random masking, encoding only the visible patches, the light decoder."""

from __future__ import annotations

import pytest
import torch

from workbench.models import create_encoder
from workbench.models.vit import (
    MAEDecoder,
    kept_patches,
    patchify,
    random_masking,
    sincos_pos_embed_2d,
    unpatchify,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("size", "p"), [(16, 4), (32, 4), (12, 3)])
def test_patchify_matches_direct_slicing_and_inverts(size: int, p: int) -> None:
    x = torch.randn(2, 3, size, size)
    patches = patchify(x, p)
    g = size // p
    assert patches.shape == (2, g * g, p * p * 3)
    for i in range(g):
        for j in range(g):
            block = x[:, :, i * p : (i + 1) * p, j * p : (j + 1) * p]  # (2, 3, p, p)
            assert torch.equal(patches[:, i * g + j], block.permute(0, 2, 3, 1).reshape(2, -1))  # (row, col, channel)
    assert torch.equal(unpatchify(patches, p), x)


def test_patchify_rejects_sizes_that_do_not_split() -> None:
    with pytest.raises(ValueError, match="4 px patches"):
        patchify(torch.randn(1, 3, 10, 10), 4)


@pytest.mark.parametrize(
    ("n", "ratio", "keep"), [(64, 0.75, 16), (64, 0.6, 26), (16, 0.75, 4), (64, 0.9, 6), (4, 0.99, 1)]
)
def test_masking_keeps_exactly_round_n_times_one_minus_ratio(n: int, ratio: float, keep: int) -> None:
    assert kept_patches(n, ratio) == keep == max(1, round(n * (1 - ratio)))
    ids_keep, mask = random_masking(5, n, ratio)
    assert ids_keep.shape == (5, keep) and mask.shape == (5, n) and mask.dtype == torch.bool
    assert (mask.sum(dim=1) == n - keep).all()
    for row_ids, row_mask in zip(ids_keep, mask, strict=True):
        assert torch.equal(row_ids, row_ids.sort().values) and len(set(row_ids.tolist())) == keep
        assert not row_mask[row_ids].any()  # the kept patches are exactly the unmasked ones


def test_masking_is_random_per_image_and_reproducible_with_a_generator() -> None:
    ids_a, _ = random_masking(8, 64, 0.75, generator=torch.Generator().manual_seed(3))
    ids_b, _ = random_masking(8, 64, 0.75, generator=torch.Generator().manual_seed(3))
    assert torch.equal(ids_a, ids_b)
    assert len({tuple(r.tolist()) for r in ids_a}) == 8
    with pytest.raises(ValueError, match="mask_ratio"):
        random_masking(2, 64, 1.0)


def test_encode_visible_with_every_patch_equals_the_full_forward() -> None:
    """Same position embeddings, same class token, same blocks: keeping all patches reproduces tokens()."""
    torch.manual_seed(0)
    encoder = create_encoder("vit-tiny", image_size=16).eval()
    x = torch.randn(2, 3, 16, 16)
    n = encoder.n_patches
    assert n == 16 and encoder.patch_size == 4
    with torch.no_grad():
        full = encoder.tokens(x)
        visible = encoder.encode_visible(x, torch.arange(n).expand(2, n))
        assert torch.allclose(visible, full, atol=1e-5)
        # A subset: 1 + n_keep tokens, and they differ from the full pass (attention sees fewer patches).
        ids_keep, _ = random_masking(2, n, 0.75)
        part = encoder.encode_visible(x, ids_keep)
        assert part.shape == (2, 1 + 4, encoder.feature_dim)
        assert not torch.allclose(part[:, 0], full[:, 0], atol=1e-3)
    with pytest.raises(ValueError, match="built for 16 px"):
        encoder.encode_visible(torch.randn(1, 3, 32, 32), ids_keep[:1])


def test_sincos_position_embedding() -> None:
    pos = sincos_pos_embed_2d(16, 4)  # (16 positions, 16 channels)
    assert pos.shape == (16, 16)
    assert torch.equal(pos[0], torch.tensor([0.0, 0, 0, 0, 1, 1, 1, 1] * 2))  # sin 0, cos 0 on both axes
    assert len({tuple(r.tolist()) for r in pos}) == 16  # every position distinct
    # The first half of the channels codes the row: positions in the same row share it.
    assert torch.equal(pos[1, :8], pos[0, :8]) and not torch.equal(pos[4, :8], pos[0, :8])
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_pos_embed_2d(10, 4)


def test_mae_decoder_predicts_every_patch_from_the_visible_tokens() -> None:
    torch.manual_seed(0)
    decoder = MAEDecoder(enc_dim=24, n_patches=16, patch_dim=48, dim=32, depth=1, heads=4)
    ids_keep, _ = random_masking(3, 16, 0.75)
    tokens = torch.randn(3, 5, 24, requires_grad=True)
    pred = decoder(tokens, ids_keep)
    assert pred.shape == (3, 16, 48)
    pred.sum().backward()
    assert tokens.grad.abs().sum(dim=-1).gt(0).all()  # the class token and every visible token are used
    with pytest.raises(ValueError, match="square"):
        MAEDecoder(24, 15, 48)
