"""Which 2-D points a box or a lasso encloses (vectorised over points; the polygon's edges are looped over)."""

from __future__ import annotations

import numpy as np


def points_in_box(xy: np.ndarray, corner: tuple[float, float], opposite: tuple[float, float]) -> np.ndarray:
    """bool (N,): points inside the axis-aligned rectangle spanned by two opposite corners (edges included)."""
    xy = np.asarray(xy, dtype=np.float64)
    (x0, x1), (y0, y1) = sorted((corner[0], opposite[0])), sorted((corner[1], opposite[1]))
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """bool (N,): points inside the closed polygon (M, 2) by the even-odd rule (a lasso may cross itself).

    Fewer than 3 vertices enclose nothing. Only points inside the polygon's bounding box are tested.
    """
    xy = np.asarray(xy, dtype=np.float64)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(xy.shape[0], dtype=bool)
    if poly.shape[0] < 3 or xy.shape[0] == 0:
        return inside
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    candidates = np.flatnonzero(np.all((xy >= lo) & (xy <= hi), axis=1))
    px, py = xy[candidates, 0], xy[candidates, 1]
    hit = np.zeros(candidates.size, dtype=bool)
    for (ax, ay), (bx, by) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (ay > py) != (by > py)  # the edge spans the point's height
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = ax + (py - ay) * (bx - ax) / (by - ay)  # where the edge meets the horizontal ray
        hit ^= crosses & (px < x_at)
    inside[candidates] = hit
    return inside
