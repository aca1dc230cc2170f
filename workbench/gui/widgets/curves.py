"""Live training curves (pyqtgraph): loss per step with its EMA, learning rate, images/s, per-epoch health.

Points are appended to growing numpy buffers and handed to setData a plot at a time: `redraw_staggered()`
(the Train view's ~20 Hz timer) pushes one changed plot per STAGGER_MS pass, round robin, so no single pass of
the event loop repaints them all while training competes for the CPU; `redraw()` pushes every changed plot now.
The plots themselves (curve_items) keep their view range and axes steady as points arrive. Every curve uses peak
downsampling and clip-to-view, so a 100,000-step curve stays smooth. The loss EMA is TensorBoard's debiased one
(train_tasks.DebiasedEMA), continued across chunks; its weight is set in the spin box above the plots (default
0.6, TensorBoard's) and changing it recomputes the whole curve and the overlays.
Steps and epochs are whole numbers, so the x axes tick at integers only. The run's untrained level (the monitor's
values for its initial weights) is drawn as a dashed line on the per-epoch plots for reference.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.gui.train_tasks import EMA_WEIGHT, STEP_FIELDS, DebiasedEMA, ema
from workbench.gui.widgets.curve_items import IntegerAxis, add_plot

__all__ = ["HEALTH_KEYS", "PLOTS", "STAGGER_MS", "IntegerAxis", "LiveCurves"]

_OVERLAY_COLOURS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
PLOTS = ("loss", "lr", "speed", "health", "std")  # what redraw pushes, one plot each, in round-robin order
STAGGER_MS = 25  # between two plots' pushes in redraw_staggered
STEP_SPAN = 10  # the step plots' x range at least: a run's first steps then do not each widen it
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
    item.opts["autoDownsampleFactor"] = 1.0  # a min and a max per pixel column (pyqtgraph's 5 draw 5x the points)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class LiveCurves(QWidget):
    """Loss (+ EMA and overlays of other runs), learning rate, images/s, and per-epoch health plots."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.loss_plot = add_plot(self.graphics, 0, 0, "loss per step", colspan=2, min_x_span=STEP_SPAN)
        self.loss_plot.addLegend(offset=(-10, 10))
        self.lr_plot = add_plot(self.graphics, 1, 0, "learning rate", min_x_span=STEP_SPAN)
        self.speed_plot = add_plot(self.graphics, 1, 1, "images / s", min_x_span=STEP_SPAN)
        self.health_plot = add_plot(self.graphics, 2, 0, "per epoch: alignment, kNN (train split)")
        self.health_plot.addLegend(offset=(-10, -10), brush=pg.mkBrush(255, 255, 255, 140))  # points show through
        self.std_plot = add_plot(self.graphics, 2, 1, "per epoch: std of embeddings (collapse → 0)")
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
        self._stale: set[str] = set()  # the PLOTS whose curves lag their buffers
        self._next = 0  # where tick's round robin resumes
        self._stagger = QTimer(self, interval=STAGGER_MS)
        self._stagger.timeout.connect(self.tick)
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
        self._stale |= {"loss", "lr", "speed"}

    def _resmooth(self, weight: float) -> None:
        """The spin box's new EMA weight (in [0, 1)): the EMA curve and the overlays are recomputed whole."""
        self._ema = DebiasedEMA(weight)
        ema_series = self.series["ema"]
        ema_series.clear()
        ema_series.extend(self._ema(self.series["loss"].view))
        self.set_overlays(self._overlay_rows)
        self._stale.add("loss")
        self.redraw()

    def append_epoch(self, epoch: int, values: dict[str, float]) -> None:
        """A new epoch's values; points already drawn for it or later (a resume redoes them) are replaced."""
        self.epochs = [(e, v) for e, v in self.epochs if e < epoch] + [(epoch, dict(values))]
        self._stale |= {"health", "std"}

    def set_untrained(self, values: dict[str, float] | None) -> None:
        """The monitor's values for the run's initial weights (untrained.json), drawn as the reference level."""
        self.untrained = dict(values or {})
        self._stale |= {"health", "std"}

    def set_epochs(self, epochs: list[tuple[int, dict[str, float]]]) -> None:
        """Replace the per-epoch points (a followed run's epochs.csv, read whole: it is small)."""
        self.epochs = [(epoch, dict(values)) for epoch, values in epochs]
        self._stale |= {"health", "std"}

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self._ema = DebiasedEMA(self._ema.weight)
        self.epochs = []
        self.untrained = {}
        self._stale = set(PLOTS)
        self.redraw()

    def point_count(self) -> int:
        return self.series["step"].n

    def steps(self) -> np.ndarray:
        return self.series["step"].view.copy()

    # ---- drawing
    def redraw(self) -> None:
        """Push every changed plot's buffers to its curves now."""
        self._stagger.stop()
        for name in PLOTS:
            if name in self._stale:
                self._push(name)

    def redraw_staggered(self) -> None:
        """Push the changed plots one per event-loop pass (STAGGER_MS apart), the first now."""
        if self._stale and not self._stagger.isActive():
            self.tick()
            if self._stale:
                self._stagger.start()

    def tick(self) -> bool:
        """Push the next changed plot (round robin: steady new steps still reach every plot); False when none."""
        pushed = False
        for offset in range(len(PLOTS)):
            index = (self._next + offset) % len(PLOTS)
            if PLOTS[index] in self._stale:
                self._next = (index + 1) % len(PLOTS)
                self._push(PLOTS[index])
                pushed = True
                break
        if not self._stale:
            self._stagger.stop()
        return pushed

    def pending(self) -> set[str]:
        """The PLOTS whose curves do not show their buffers yet."""
        return set(self._stale)

    def _push(self, name: str) -> None:
        self._stale.discard(name)
        x = self.series["step"].view
        if name == "loss":
            self.loss_curve.setData(x, self.series["loss"].view)
            self.ema_curve.setData(x, self.series["ema"].view)
        elif name == "lr":
            self.lr_curve.setData(x, self.series["lr"].view)
        elif name == "speed":
            self.speed_curve.setData(x, self.series["images_per_s"].view)
        else:  # per epoch: the health plot (alignment, kNN) or the std plot, each with its untrained level
            epochs = np.array([e for e, _ in self.epochs], dtype=np.float64)
            last = max(float(epochs.max()) if len(epochs) else 1.0, 1.0)
            for key in ("std",) if name == "std" else ("alignment", "knn_top1_train_split"):
                y = np.array([v.get(key, np.nan) for _, v in self.epochs], dtype=np.float64)
                keep = np.isfinite(y)
                self.health_curves[key].setData(epochs[keep], y[keep])
                if key in self.untrained_curves:
                    level = self.untrained.get(key)
                    known = level is not None and np.isfinite(level)
                    self.untrained_curves[key].setData([0.0, last] if known else [], [level, level] if known else [])
        # The view's new range and transform now, not as it paints: the paint then draws the new axes once, not twice.
        getattr(self, f"{name}_plot").getViewBox().prepareForPaint()

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
