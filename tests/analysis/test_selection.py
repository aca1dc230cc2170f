"""Box and lasso selection on known coordinates."""

from __future__ import annotations

import numpy as np

from workbench.analysis.selection import points_in_box, points_in_polygon


def test_box_includes_its_edges_whatever_the_corner_order():
    xy = np.array([[0, 0], [1, 1], [2, 2], [1, 3]], dtype=float)
    assert points_in_box(xy, (2, 2), (0.5, 0.5)).tolist() == [False, True, True, False]


def test_lasso_polygon_even_odd_rule():
    grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2)  # (0..4) x (0..4)
    triangle = np.array([[-0.5, -0.5], [4.5, -0.5], [-0.5, 4.5]])
    inside = points_in_polygon(grid, triangle)
    assert {tuple(p) for p in grid[inside]} == {(x, y) for x in range(5) for y in range(5) if x + y <= 3}
    bow_tie = np.array([[0, 0], [4, 4], [4, 0], [0, 4]], dtype=float)  # crosses itself at (2, 2)
    points = np.array([[1, 2], [3, 2], [2, 1], [2, 3]], dtype=float)
    assert points_in_polygon(points, bow_tie).tolist() == [True, True, False, False]  # left and right lobes
    assert not points_in_polygon(grid, triangle[:2]).any()  # two vertices enclose nothing
