"""Robust, read-only image decoding: any file Pillow can read becomes an 8-bit RGB image, or a DecodeError.

Every failure becomes one short reason sentence (truncated, empty, not an image, too large, unreadable)
that the data report shows next to the file. Pillow's global settings are left alone: truncated images
are rejected (LOAD_TRUNCATED_IMAGES stays False) and Image.MAX_IMAGE_PIXELS keeps its default.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Transparent pixels are composited on white: that is how viewers and browsers show transparent icons and
# product photos, so the decoded image matches what the user sees in their file browser.
BACKGROUND = (255, 255, 255)

_ALPHA_MODES = {"RGBA", "LA", "La", "RGBa", "PA"}
# warnings.catch_warnings swaps process-wide filters; serialise the (cheap, header-only) Image.open calls.
_OPEN_LOCK = threading.Lock()


class DecodeError(Exception):
    """An image file cannot be decoded; str(e) is the reason sentence shown to the user."""


@dataclass
class Decoded:
    array: np.ndarray  # (size, size, 3) uint8
    width: int  # original size, after EXIF orientation
    height: int
    format: str  # Pillow's format name, e.g. "PNG"
    digest: str = ""  # SHA-1 of the file's bytes (hex) with decode_with_info(digest=True), for the data checks


def open_image(path: Path) -> Image.Image:
    """Full-size RGB image with EXIF orientation applied; raises DecodeError with a reason."""
    return _open_rgb(Path(path))[0]


def decode_image(path: Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8: shorter side resized to `size` (antialiased), then centre-cropped."""
    return decode_with_info(path, size).array


def decode_with_info(path: Path, size: int, *, digest: bool = False) -> Decoded:
    """decode_image plus the original width/height and format, which the data report counts.

    digest=True also hashes the file's bytes (read once, then decoded from memory) for the data checks' exact
    duplicates (checks.py measures the rest on the decoded array)."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    im, fmt, (orig_w, orig_h), sha1 = _open_rgb(Path(path), draft=size, digest=digest)
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    # Resizing a centred square box = resize shorter side to `size` + centre crop, in one resampling pass.
    # Pillow widens the filter support when downscaling, so this is antialiased.
    out = im.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0)
    arr = np.asarray(out, dtype=np.uint8)
    return Decoded(np.ascontiguousarray(arr), orig_w, orig_h, fmt, sha1)


def _open_rgb(
    path: Path, draft: int | None = None, digest: bool = False
) -> tuple[Image.Image, str, tuple[int, int], str]:
    """Open, load and convert to RGB; `draft` lets JPEG decode at a reduced scale (both sides >= draft px).

    Returns the image, Pillow's format name, the original (width, height) after EXIF orientation and, with
    digest=True, the SHA-1 of the file's bytes (read once, then decoded from memory; else "").
    """
    try:
        if path.stat().st_size == 0:
            raise DecodeError("empty file (0 bytes)")
        with open(path, "rb") as f:  # read-only; closed before returning
            sha1 = ""
            if digest:
                raw = f.read()
                sha1 = hashlib.sha1(raw).hexdigest()
                f = io.BytesIO(raw)  # noqa: PLW2901 - decode the bytes just hashed, not a second read
            im = _open_checked(f)
            fmt = im.format or path.suffix[1:].upper()
            size = im.size
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", (draft, draft))  # keeps both sides >= draft, so rotation cannot spoil it
            im.load()  # animated images: this is the first frame
            stored = im.size
            im = _orient(im)
            if im.size != stored:  # orientation swapped the axes
                size = size[::-1]
            return _to_rgb(im), fmt, size, sha1
    except DecodeError:
        raise
    except PermissionError as e:
        raise DecodeError("unreadable (permission denied)") from e
    except FileNotFoundError as e:
        raise DecodeError("file disappeared while reading") from e
    except Image.DecompressionBombError as e:
        raise DecodeError("image too large (exceeds Pillow's decompression-bomb limit)") from e
    except UnidentifiedImageError as e:
        raise DecodeError("not an image (cannot identify format)") from e
    except (OSError, SyntaxError, EOFError, ValueError, IndexError, TypeError) as e:
        # Pillow reports truncation as OSError("image file is truncated ...") and broken streams in many ways.
        if isinstance(e, EOFError) or "truncated" in str(e):
            raise DecodeError("truncated image file") from e
        if isinstance(e, OSError) and not isinstance(e, SyntaxError) and e.errno is not None:
            raise DecodeError(f"unreadable ({e.strerror or e})") from e
        raise DecodeError(f"corrupt image data ({_short(e)})") from e
    except MemoryError as e:
        raise DecodeError("image too large to decode (out of memory)") from e


def _open_checked(f) -> Image.Image:
    """Image.open that turns Pillow's decompression-bomb warning (1x-2x the limit) into an error too."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(f)
        except Image.DecompressionBombWarning as e:
            raise DecodeError("image too large (exceeds Pillow's decompression-bomb limit)") from e
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and im.width * im.height > limit:  # belt and braces, e.g. frames of other sizes
        raise DecodeError("image too large (exceeds Pillow's decompression-bomb limit)")
    return im


def _orient(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a malformed EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # EXIF parsing fails in many ways; orientation is best effort
        return im


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; high bit depths are rescaled, never clipped."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(im), mode)).convert("RGB")
    try:
        return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, ...
    except (ValueError, OSError) as e:
        raise DecodeError(f"unsupported colour mode {mode}") from e


def _to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16/32-bit integer or float image to 0..255 by its value range (H, W) -> (H, W) uint8.

    I;16*: the full 16-bit range 0..65535. I (32-bit): 0..65535 when the values fit (16-bit PNG/TIFF data
    stored as int32, the usual case), else the image's own min..max. F: 0..1 when the values fit (normalised
    float images), else min..max. NaN and inf become 0.
    """
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    a = np.where(finite, a, 0.0)
    lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 0.0)
    if mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    elif mode == "I" and lo >= 0 and hi <= 65535:
        lo, hi = 0.0, 65535.0
    elif mode == "F" and lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    if hi <= lo:  # a constant image
        return np.zeros(a.shape, np.uint8) if lo <= 0 else np.full(a.shape, 255, np.uint8)
    return np.round((a - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)


def _short(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) <= 80 else text[:77] + "..."
