"""The live curves while a run trains: every point reaches its plot, new points never relayout the window (fixed
axis widths, labels that still fit), the view range stays put while points land inside it and grows to take
those outside, the "A" button fits afresh, and the plots are pushed one per pass of the event loop without any
of them starving while steps keep coming."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from workbench.gui.widgets.curves import PLOTS, LiveCurves


def rows(steps: range, loss: float, lr: float, speed: float) -> np.ndarray:
    n = len(steps)
    wiggle = np.linspace(0.9, 1.1, n)
    return np.stack([np.array(steps, dtype=float), loss * wiggle, lr * wiggle, speed * wiggle], axis=1)


def shown_curves(qtbot) -> LiveCurves:
    curves = LiveCurves()
    qtbot.addWidget(curves)
    curves.resize(1000, 700)
    curves.show()
    qtbot.waitExposed(curves)
    return curves


def settle(curves: LiveCurves) -> None:
    """Let the scene lay out and paint (auto-range is applied when a view paints)."""
    for _ in range(4):
        curves.graphics.viewport().repaint()
        QApplication.processEvents()


def plots(curves: LiveCurves):
    return (curves.loss_plot, curves.lr_plot, curves.speed_plot, curves.health_plot, curves.std_plot)


def contains(view_range, values: np.ndarray) -> bool:
    return view_range[0] <= values.min() and values.max() <= view_range[1]


def test_points_growing_a_thousandfold_reach_the_curves_without_relayout(qtbot) -> None:
    curves = shown_curves(qtbot)
    curves.append_steps(rows(range(1, 41), loss=2.0, lr=3e-3, speed=300.0))
    curves.append_epoch(1, {"alignment": 0.5, "knn_top1_train_split": 0.2, "std": 0.05})
    curves.redraw()
    settle(curves)
    widths = [plot.getAxis("left").width() for plot in plots(curves)]
    views = [plot.getViewBox().sceneBoundingRect() for plot in plots(curves)]

    grown = rows(range(41, 81), loss=2000.0, lr=3e-6, speed=300_000.0)  # labels get longer: 2,000 / 3e-06
    curves.append_steps(grown)
    curves.append_epoch(2, {"alignment": 500.0, "knn_top1_train_split": 0.9, "std": 50.0})
    curves.redraw()
    settle(curves)
    assert [plot.getAxis("left").width() for plot in plots(curves)] == widths
    assert [plot.getViewBox().sceneBoundingRect() for plot in plots(curves)] == views  # nothing moved

    everything = np.concatenate([rows(range(1, 41), 2.0, 3e-3, 300.0), grown])
    for curve, column in ((curves.loss_curve, 1), (curves.lr_curve, 2), (curves.speed_curve, 3)):
        x, y = curve.getData()
        assert np.array_equal(x, everything[:, 0]) and np.allclose(y, everything[:, column])
    x, y = curves.health_curves["std"].getData()
    assert list(x) == [1.0, 2.0] and list(y) == [0.05, 50.0]
    for plot, column in ((curves.loss_plot, 1), (curves.lr_plot, 2), (curves.speed_plot, 3)):
        (x_range, y_range) = plot.getViewBox().viewRange()
        assert contains(x_range, everything[:, 0]) and contains(y_range, everything[:, column])
    for plot in plots(curves):  # the labels the axis now draws fit the fixed width and read as the tick values
        axis, view = plot.getAxis("left"), plot.getViewBox()
        font = QFontMetrics(axis.style["tickFont"] or curves.graphics.font())
        low, high = view.viewRange()[1]
        levels = axis.tickValues(low, high, view.height())
        assert levels
        for spacing, values in levels:
            labels = axis.tickStrings(values, 1.0, spacing)
            assert all(font.horizontalAdvance(text) < axis.width() for text in labels), labels
            assert all(
                abs(float(text.replace(",", "")) - v) <= 0.05 * spacing for text, v in zip(labels, values, strict=True)
            )


def test_the_view_range_holds_while_points_land_inside_and_the_a_button_fits_afresh(qtbot) -> None:
    curves = shown_curves(qtbot)
    view = curves.loss_plot.getViewBox()
    first = []
    for step in range(1, 9):  # a run's first steps: one x range for all of them, not a new one per step
        curves.append_steps(rows(range(step, step + 1), loss=2.0, lr=3e-3, speed=300.0))
        curves.redraw()
        settle(curves)
        first.append(view.viewRange())
    assert all(x_range == first[0][0] for x_range, _ in first) and first[0][0][1] >= 8
    low, high = first[-1][1]  # a constant loss: in the middle of a readable range, not a degenerate one
    assert low < 1.8 < high and high - low > 0.1
    curves.clear()
    curves.append_steps(rows(range(1, 101), loss=2.0, lr=3e-3, speed=300.0))
    curves.redraw()
    settle(curves)
    before = view.viewRange()
    assert before[0][1] > 101  # room to grow on the right
    curves.append_steps(rows(range(101, 103), loss=2.0, lr=3e-3, speed=300.0))  # inside the current view
    curves.redraw()
    settle(curves)
    assert view.viewRange() == before  # the axes keep their ticks: nothing to regenerate

    far = rows(range(103, 400), loss=9.0, lr=3e-3, speed=300.0)
    curves.append_steps(far)
    curves.redraw()
    settle(curves)
    (x_range, y_range) = view.viewRange()
    assert x_range[1] >= 399 and y_range[1] >= far[:, 1].max()  # grown to take them

    view.scaleBy((5, 5))  # the user zooms out (auto-range turns off), then clicks "A"
    settle(curves)
    assert view.viewRange()[0][1] - view.viewRange()[0][0] > 5 * 399
    curves.loss_plot.autoBtnClicked()
    settle(curves)
    (x_range, y_range) = view.viewRange()
    assert contains(x_range, np.array([1.0, 399.0])) and x_range[1] - x_range[0] < 1.5 * 399
    assert y_range[1] - y_range[0] < 1.5 * (far[:, 1].max() - 0.9 * 2.0)


def test_plots_are_pushed_one_per_pass_and_none_starves(qtbot) -> None:
    curves = shown_curves(qtbot)
    curves.append_steps(rows(range(1, 4), loss=2.0, lr=3e-3, speed=300.0))
    curves.append_epoch(1, {"alignment": 0.5, "knn_top1_train_split": 0.2, "std": 0.05})
    curves.redraw_staggered()
    assert len(curves.pending()) == len(PLOTS) - 1  # one plot now, the others on the following passes
    qtbot.waitUntil(lambda: not curves.pending(), timeout=5_000)
    assert len(curves.loss_curve.getData()[0]) == 3 and len(curves.health_curves["std"].getData()[0]) == 1

    pushed = []
    for step in range(4, 16):  # a step before every pass (a fast GPU): each plot still gets its turn
        curves.append_steps(rows(range(step, step + 1), loss=2.0, lr=3e-3, speed=300.0))
        before = curves.pending()
        assert curves.tick()
        pushed.append((before - curves.pending()).pop())
    for start in range(len(pushed) - 2):
        assert set(pushed[start : start + 3]) == {"loss", "lr", "speed"}
    curves.redraw()  # an explicit redraw pushes everything now
    assert not curves.pending() and len(curves.speed_curve.getData()[0]) == 15
