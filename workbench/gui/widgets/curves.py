"""Live training curves (pyqtgraph): loss per step with its EMA, learning rate, images/s, per-epoch health.

Points are appended to growing numpy buffers; `redraw()` (called from a ~20 Hz timer) hands them to setData.
Every curve uses peak downsampling and clip-to-view, so a 100,000-step curve stays smooth. The loss EMA is
TensorBoard's debiased one (train_tasks.DebiasedEMA), continued across chunks; its weight is set in the spin box
above the plots (default 0.6, TensorBoard's) and changing it recomputes the whole curve and the overlays.
Steps and epochs are whole numbers, so the x axes tick at integers only. The run's untrained level (the monitor's
values for its initial weights) is drawn as a dashed line on the per-epoch plots for reference.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.gui.train_tasks import EMA_WEIGHT, STEP_FIELDS, DebiasedEMA, ema

_OVERLAY_COLOURS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
HEALTH_KEYS = ("alignment", "uniformity", "std", "effective_rank", "knn_top1_train_split", "mi_bound")


class _Series:
    """A growing float64 buffer (amortised doubling) that keeps its live view."""

    def __init__(self) -> None:
        self._data = np.empty(1024)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)))
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : need] = values
        self.n = need

    def clear(self) -> None:
        self.n = 0

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.n]


class IntegerAxis(pg.AxisItem):
    """An axis for steps or epochs: ticks at whole numbers only (never 0.5 steps), labelled without decimals."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph's names
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            if spacing < 1:
                continue  # a level between whole numbers: the next level (spacing 1 or more) has the integers
            whole = [v for v in values if abs(v - round(v)) < 1e-6]
            if whole:
                levels.append((spacing, whole))
        if not levels and np.floor(maxVal) >= np.ceil(minVal):  # zoomed in below one step: the integers inside
            levels.append((1.0, list(np.arange(np.ceil(minVal), np.floor(maxVal) + 1))))
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        return [f"{int(round(v * scale)):,}" for v in values]


def _plot(graphics: pg.GraphicsLayoutWidget, row: int, col: int, title: str, colspan: int = 1) -> pg.PlotItem:
    return graphics.addPlot(row=row, col=col, colspan=colspan, title=title, axisItems={"bottom": IntegerAxis("bottom")})


def _curve(plot: pg.PlotItem, colour: str, width: float = 1.0, name: str | None = None) -> pg.PlotDataItem:
    item = plot.plot(pen=pg.mkPen(colour, width=width), name=name)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class LiveCurves(QWidget):
    """Loss (+ EMA and overlays of other runs), learning rate, images/s, and per-epoch health plots."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.loss_plot = _plot(self.graphics, 0, 0, "loss per step", colspan=2)
        self.loss_plot.addLegend(offset=(-10, 10))
        self.lr_plot = _plot(self.graphics, 1, 0, "learning rate")
        self.speed_plot = _plot(self.graphics, 1, 1, "images / s")
        self.health_plot = _plot(self.graphics, 2, 0, "per epoch: alignment, kNN (train split)")
        self.health_plot.addLegend(offset=(-10, -10), brush=pg.mkBrush(255, 255, 255, 140))  # points show through
        self.std_plot = _plot(self.graphics, 2, 1, "per epoch: std of embeddings (collapse → 0)")
        for plot in (self.loss_plot, self.lr_plot, self.speed_plot, self.health_plot, self.std_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_curve = _curve(self.loss_plot, "#9ec5ea", name="loss")
        self.ema_curve = _curve(self.loss_plot, "#1f4e9c", width=2, name="EMA")
        self.lr_curve = _curve(self.lr_plot, "#ff7f0e")
        self.speed_curve = _curve(self.speed_plot, "#2ca02c")
        self.health_curves = {
            "alignment": _curve(self.health_plot, "#1f77b4", width=2, name="alignment"),
            "knn_top1_train_split": _curve(self.health_plot, "#2ca02c", width=2, name="kNN (train split)"),
            "std": _curve(self.std_plot, "#d62728", width=2),
        }
        for curve in self.health_curves.values():
            curve.setSymbol("o")
            curve.setSymbolSize(5)
        # The initial weights' level, dashed, from epoch 0 to the last epoch drawn.
        dashed = {"style": Qt.PenStyle.DashLine, "width": 1.5}
        self.untrained_curves = {
            "knn_top1_train_split": self.health_plot.plot(pen=pg.mkPen("#2ca02c", **dashed), name="untrained kNN"),
            "std": self.std_plot.plot(pen=pg.mkPen("#d62728", **dashed)),
        }
        self.untrained: dict[str, float] = {}
        self.series = {name: _Series() for name in STEP_FIELDS + ("ema",)}
        self.epochs: list[tuple[int, dict[str, float]]] = []
        self.overlays: dict[str, pg.PlotDataItem] = {}
        self._overlay_rows: dict[str, np.ndarray] = {}
        self._ema = DebiasedEMA(EMA_WEIGHT)
        self.ema_weight = QDoubleSpinBox()
        self.ema_weight.setRange(0.0, 0.999)
        self.ema_weight.setDecimals(3)
        self.ema_weight.setSingleStep(0.05)
        self.ema_weight.setValue(EMA_WEIGHT)
        self.ema_weight.setToolTip(
            "Weight of the past in the loss EMA (TensorBoard's smoothing, debiased): 0 draws the raw loss, "
            "closer to 1 is smoother."
        )
        self.ema_weight.valueChanged.connect(self._resmooth)
        self._dirty = False
        controls = QHBoxLayout()
        controls.setContentsMargins(6, 2, 6, 0)
        controls.addWidget(QLabel("Loss EMA smoothing"))
        controls.addWidget(self.ema_weight)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.graphics)

    # ---- data
    def append_steps(self, rows: np.ndarray) -> None:
        """rows: (N, 4) in STEP_FIELDS order (step, loss, lr, images_per_s)."""
        if len(rows) == 0:
            return
        for i, name in enumerate(STEP_FIELDS):
            self.series[name].extend(rows[:, i])
        self.series["ema"].extend(self._ema(rows[:, 1]))  # continues the series across drains
        self._dirty = True

    def _resmooth(self, weight: float) -> None:
        """The spin box's new EMA weight (in [0, 1)): the EMA curve and the overlays are recomputed whole."""
        self._ema = DebiasedEMA(weight)
        ema_series = self.series["ema"]
        ema_series.clear()
        ema_series.extend(self._ema(self.series["loss"].view))
        self.set_overlays(self._overlay_rows)
        self._dirty = True
        self.redraw()

    def append_epoch(self, epoch: int, values: dict[str, float]) -> None:
        """A new epoch's values; points already drawn for it or later (a resume redoes them) are replaced."""
        self.epochs = [(e, v) for e, v in self.epochs if e < epoch] + [(epoch, dict(values))]
        self._dirty = True

    def set_untrained(self, values: dict[str, float] | None) -> None:
        """The monitor's values for the run's initial weights (untrained.json), drawn as the reference level."""
        self.untrained = dict(values or {})
        self._dirty = True

    def set_epochs(self, epochs: list[tuple[int, dict[str, float]]]) -> None:
        """Replace the per-epoch points (a followed run's epochs.csv, read whole: it is small)."""
        self.epochs = [(epoch, dict(values)) for epoch, values in epochs]
        self._dirty = True

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self._ema = DebiasedEMA(self._ema.weight)
        self.epochs = []
        self.untrained = {}
        self._dirty = True
        self.redraw()

    def point_count(self) -> int:
        return self.series["step"].n

    def steps(self) -> np.ndarray:
        return self.series["step"].view.copy()

    # ---- drawing
    def redraw(self) -> None:
        """Push the buffers to the curves (only when something changed)."""
        if not self._dirty:
            return
        self._dirty = False
        x = self.series["step"].view
        self.loss_curve.setData(x, self.series["loss"].view)
        self.ema_curve.setData(x, self.series["ema"].view)
        self.lr_curve.setData(x, self.series["lr"].view)
        self.speed_curve.setData(x, self.series["images_per_s"].view)
        epochs = np.array([e for e, _ in self.epochs], dtype=np.float64)
        for key, curve in self.health_curves.items():
            y = np.array([v.get(key, np.nan) for _, v in self.epochs], dtype=np.float64)
            keep = np.isfinite(y)
            curve.setData(epochs[keep], y[keep])
        last = max(float(epochs.max()) if len(epochs) else 1.0, 1.0)
        for key, curve in self.untrained_curves.items():
            level = self.untrained.get(key)
            if level is None or not np.isfinite(level):
                curve.setData([], [])
            else:
                curve.setData([0.0, last], [level, level])

    def set_overlays(self, curves: dict[str, np.ndarray]) -> None:
        """Overlay other runs' loss curves ({name: (N, 4) rows}) on the loss plot; {} removes them."""
        for item in self.overlays.values():
            self.loss_plot.removeItem(item)
        self.overlays = {}
        self._overlay_rows = dict(curves)
        for i, (name, rows) in enumerate(curves.items()):
            item = _curve(self.loss_plot, _OVERLAY_COLOURS[i % len(_OVERLAY_COLOURS)], width=1.5, name=name)
            if len(rows):
                item.setData(rows[:, 0], ema(rows[:, 1], self._ema.weight))
            self.overlays[name] = item
