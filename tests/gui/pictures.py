"""What a pyqtgraph item draws: the picture of a 300 x 300 plot holding it, its view fixed at [0, 100]^2."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication


def plot_picture(qtbot, item) -> QImage:
    widget = pg.PlotWidget(background="w")
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.addItem(item)
    widget.getViewBox().setRange(xRange=(0, 100), yRange=(0, 100), padding=0)
    QApplication.processEvents()
    return widget.grab().toImage()
