"""The map's zoomed-out level of detail: the points in view as a density image instead of a million symbols.

`density_image` bins the visible points that fall in the view rectangle into a 2-D histogram (one bin per
DENSITY_BIN_PX screen pixels) and turns it into an RGBA image: each bin the mean colour of its points (their groups'
colours blended, so a mixed bin reads as a mix) and an alpha that grows with the log of its count
(`density_alpha`). `DensityLayer` shows that image in a pg.ImageItem placed on the view rectangle in map
coordinates, so a pan or a zoom moves and scales the last image at once and the next one replaces it when the
throttled refresh comes (scatter.py).

Why numpy and not datashader or vispy: the histogram is one (or, with many groups, four) np.bincount passes, ~50-90
ms for 1,000,000 points on the busy 2-core development machine (measured), exact bin by bin against np.histogram2d;
a new dependency would buy nothing at this size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

DENSITY_BIN_PX = 2  # screen pixels per histogram bin along each axis (a point is drawn 5 px wide)
PER_GROUP_MAX = 8_000_000  # bins x groups up to which one (bin, group) count replaces three weighted ones
ALPHA_MIN = 110  # the alpha of a bin holding one point: a lone outlier stays visible


def density_alpha(counts: np.ndarray) -> np.ndarray:
    """uint8 alpha per bin: 0 where empty, ALPHA_MIN for one point, 255 for the fullest bin, log-spaced between."""
    counts = np.asarray(counts)
    top = counts.max(initial=0)
    alpha = np.zeros(counts.shape, dtype=np.uint8)
    full = counts > 0
    if top <= 1:
        alpha[full] = ALPHA_MIN
        return alpha
    scale = (255 - ALPHA_MIN) / np.log(top)
    alpha[full] = np.round(ALPHA_MIN + scale * np.log(counts[full])).astype(np.uint8)
    return alpha


@dataclass
class Density:
    """One histogram of the view: `counts` (nx, ny) (x index first, as np.histogram2d), `rgba` (nx, ny, 4) uint8,
    over `rect` = (x0, y0, x1, y1) in map coordinates (bin edges evenly spaced; as in np.histogram2d, the last bin
    includes its right edge)."""

    counts: np.ndarray
    rgba: np.ndarray
    rect: tuple[float, float, float, float]


def density_image(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    colours: np.ndarray,
    shown: np.ndarray,
    rect: tuple[float, float, float, float],
    shape: tuple[int, int],
    keep: np.ndarray | None = None,
) -> Density:
    """The points (x[i], y[i]) of groups[i] with shown[groups[i]] that lie in rect, binned into shape (nx, ny) bins.

    colours: (G, 3) uint8 RGB per group; shown: (G,) bool (hidden groups are left out entirely); keep: the caller's
    own (N,) mask of the points in rect and shown, when it has one already (the scatter counts them first).
    Cost: O(N) numpy passes, no Python loop over points.
    """
    x0, y0, x1, y1 = (np.float64(v) for v in rect)  # numpy float64: the comparisons are made in float64
    nx, ny = int(shape[0]), int(shape[1])
    # Edges as np.histogram2d places them (the last bin includes its right edge); indices in float64 for the points
    # in view only.
    if keep is None:
        keep = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        if not np.asarray(shown, dtype=bool).all():
            keep &= np.asarray(shown, dtype=bool)[groups]
    ix = x[keep].astype(np.float64)
    ix -= x0
    ix *= nx / (x1 - x0)
    np.floor(ix, out=ix)
    np.clip(ix, 0, nx - 1, out=ix)
    iy = y[keep].astype(np.float64)
    iy -= y0
    iy *= ny / (y1 - y0)
    np.floor(iy, out=iy)
    np.clip(iy, 0, ny - 1, out=iy)
    ix *= ny  # flat index ix * ny + iy: (nx, ny) in C order, x first
    ix += iy
    flat = ix.astype(np.intp)
    del ix, iy
    g, bins, palette = groups[keep], nx * ny, np.asarray(colours, dtype=np.float64).reshape(-1, 3)
    if bins * len(palette) <= PER_GROUP_MAX:  # one count per (bin, group), then the colours: ~25 % faster
        per_group = np.bincount(flat * len(palette) + g, minlength=bins * len(palette)).reshape(bins, len(palette))
        counts = per_group.sum(axis=1)
        totals = per_group @ palette  # (bins, 3) colour sums, exact in float64
    else:  # many groups: three weighted counts, memory O(bins)
        counts = np.bincount(flat, minlength=bins)
        totals = np.stack([np.bincount(flat, weights=palette[g, c], minlength=bins) for c in range(3)], axis=1)
    full = counts > 0
    mean = np.zeros((bins, 3))
    np.divide(totals, counts[:, None], out=mean, where=full[:, None])
    rgba = np.empty((bins, 4), dtype=np.uint8)
    rgba[:, :3] = np.round(mean)
    rgba[:, 3] = density_alpha(counts)
    return Density(counts.reshape(nx, ny), rgba.reshape(nx, ny, 4), (x0, y0, x1, y1))


class DensityLayer:
    """A pg.ImageItem that shows a Density on its rectangle of the map (added to the plot by the caller)."""

    def __init__(self):
        self.item = pg.ImageItem(axisOrder="col-major")  # image[ix, iy], as the histogram
        self.density: Density | None = None

    def show(self, density: Density) -> None:
        self.density = density
        x0, y0, x1, y1 = density.rect
        self.item.setImage(density.rgba, autoLevels=False, levels=(0, 255))
        self.item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.item.show()

    def clear(self) -> None:
        self.density = None
        self.item.hide()
        self.item.clear()


def bins_for_view(width_px: float, height_px: float) -> tuple[int, int]:
    """Histogram bins for a view of this many screen pixels: one per DENSITY_BIN_PX, at least one."""
    return max(1, int(np.ceil(width_px / DENSITY_BIN_PX))), max(1, int(np.ceil(height_px / DENSITY_BIN_PX)))
