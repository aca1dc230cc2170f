"""Live training curves (pyqtgraph): loss per step with its EMA, learning rate, images/s, per-epoch health.

Points are appended to growing numpy buffers; `redraw()` (called from a ~20 Hz timer) hands them to setData.
Every curve uses peak downsampling and clip-to-view, so a 100,000-step curve stays smooth. The loss EMA is
TensorBoard's debiased one (train_tasks.DebiasedEMA), continued across chunks; its weight is set in the spin box
above the plots (default 0.6, TensorBoard's) and changing it recomputes the whole curve and the overlays.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
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
        self.loss_plot = self.graphics.addPlot(row=0, col=0, colspan=2, title="loss per step")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.lr_plot = self.graphics.addPlot(row=1, col=0, title="learning rate")
        self.speed_plot = self.graphics.addPlot(row=1, col=1, title="images / s")
        self.health_plot = self.graphics.addPlot(row=2, col=0, title="per epoch: alignment, kNN (train split)")
        self.health_plot.addLegend(offset=(-10, -10))
        self.std_plot = self.graphics.addPlot(row=2, col=1, title="per epoch: std of embeddings (collapse → 0)")
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
        self.epochs.append((epoch, dict(values)))
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
