"""The thumbnail grid: a list model that decodes only what is on screen, off the GUI thread, with an LRU cache.

data(DecorationRole) returns the cached pixmap, or a placeholder and a load request. Requests wait in a
queue; at most a few are decoding at once, and a request is dropped (not decoded) when its
item has scrolled out of view by the time a thread is free — it is asked again if it comes back. So a fast
scroll through 100,000 images decodes only what the user stops on, and the GUI thread never decodes.
`show_rows(rows)` narrows the grid to some of the report's images (one label) without losing decoded thumbnails:
the cache is keyed by the image's index in the report, the Qt rows are positions among the images shown.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QRunnable, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from workbench.data.decode import DecodeError, decode_image, decode_with_info
from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.worker import make_pool

THUMB_SIZE = 72  # pixels; decoded square (shorter side resized, centre crop)
CACHE_ITEMS = 3000  # ~3000 * 72*72*4 bytes = 62 MB at most
IN_FLIGHT = 4  # decodes queued or running at once
LAYOUT_BATCH = 500  # grid items laid out per slice of the GUI thread
EMPTY_HINT = "Drop a folder of images here, or use File → Open Folder… (Ctrl+O)."


def array_to_qimage(array: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> a QImage that owns its pixels (safe to use after `array` is gone)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = array.shape[:2]
    return QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _placeholder(size: int, broken: bool = False) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(QColor("#e4e4e4") if not broken else QColor("#f3d6d6"))
    if broken:  # a cross: this file could not be decoded
        p = QPainter(pix)
        p.setPen(QPen(QColor("#b03030"), 3))
        p.drawLine(12, 12, size - 12, size - 12)
        p.drawLine(size - 12, 12, 12, size - 12)
        p.end()
    return pix


def _thumbnail(path: Path, size: int) -> QImage:
    """A size x size square (shorter side, centre crop); small images are enlarged nearest-neighbour, not blurred."""
    decoded = decode_with_info(path, size)
    side = min(decoded.width, decoded.height)
    if side >= size:
        return array_to_qimage(decoded.array)
    small = array_to_qimage(decode_image(path, side))  # the image at its own resolution (a cheap second decode)
    return small.scaled(size, size, mode=Qt.TransformationMode.FastTransformation)


class _Carrier(QObject):
    loaded = Signal(int, int, object, str)  # generation, image (index in the report), QImage or None, failure reason


class _Decode(QRunnable):
    def __init__(self, carrier: _Carrier, generation: int, row: int, path: Path, size: int):
        super().__init__()
        self._args = carrier, generation, row, path, size

    def run(self) -> None:
        carrier, generation, row, path, size = self._args
        try:
            image, reason = _thumbnail(path, size), ""
        except DecodeError as exc:
            image, reason = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a thumbnail never takes the app down; the cell shows why
            image, reason = None, f"could not be shown ({exc})"
        emit(carrier.loaded, generation, row, image, reason)


class ThumbnailModel(QAbstractListModel):
    """Rows are the scan report's images (or those of show_rows()); DecorationRole is the thumbnail, ToolTipRole the
    path and label."""

    PathRole = Qt.ItemDataRole.UserRole + 1
    decode_failed = Signal(str, str)  # relative path, reason

    def __init__(self, parent: QObject | None = None, thumb_size: int = THUMB_SIZE, cache_items: int = CACHE_ITEMS):
        super().__init__(parent)
        self.thumb_size = thumb_size
        self._cache_items = cache_items
        self._report: ScanReport | None = None
        self._generation = 0
        self._shown: np.ndarray | None = None  # report indices of the rows, ascending; None: every image
        # Keyed by the image's index in the report (not the row, which changes with show_rows):
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()  # pixmaps, least recently used first
        self._failed: dict[int, str] = {}
        self._pending: OrderedDict[int, None] = OrderedDict()  # requested images, in request order
        self._in_flight: set[int] = set()
        self.requested: int = 0  # decodes started (tests check that only visible rows are decoded)
        self.is_visible: Callable[[int], bool] = lambda row: True  # set by the view
        self._closed = False
        self._pool = make_pool(self, threads=2)
        self._carrier = _Carrier(self)
        self._carrier.loaded.connect(self._on_loaded)
        self._placeholder = _placeholder(thumb_size)
        self._broken = _placeholder(thumb_size, broken=True)
        self._dispatch_timer = QTimer(self, singleShot=True, interval=0)
        self._dispatch_timer.timeout.connect(self._dispatch)

    # ---- content
    def set_report(self, report: ScanReport | None) -> None:
        self.beginResetModel()
        self._report = report
        self._shown = None
        self._generation += 1  # results of the previous folder are ignored when they arrive
        self._cache.clear()
        self._failed.clear()
        self._pending.clear()
        self._in_flight.clear()
        self.endResetModel()

    def show_rows(self, rows: np.ndarray | list[int] | None) -> None:
        """Show only these images (indices into the report's paths, ascending); None shows them all."""
        self.beginResetModel()
        self._shown = None if rows is None else np.asarray(rows, dtype=np.int64)
        self._pending.clear()
        self.endResetModel()

    def is_filtered(self) -> bool:
        return self._shown is not None

    def report(self) -> ScanReport | None:
        return self._report

    def image_index(self, row: int) -> int:
        """The report index of the image in `row`."""
        return row if self._shown is None else int(self._shown[row])

    def row_of(self, image: int) -> int:
        """The row that shows report image `image`, or -1 when it is not shown."""
        if self._shown is None:
            return image
        at = int(np.searchsorted(self._shown, image))
        return at if at < len(self._shown) and self._shown[at] == image else -1

    def path(self, row: int) -> Path:
        return Path(self._report.root) / self._report.paths[self.image_index(row)]

    def label(self, row: int) -> str:
        label = self._report.labels[self.image_index(row)]
        return self._report.class_names[label] if label >= 0 else "(unlabelled)"

    def cached_rows(self) -> list[int]:
        return [r for r in map(self.row_of, self._cache) if r >= 0]

    def busy(self) -> bool:
        """True while thumbnails are queued or decoding."""
        return bool(self._pending or self._in_flight)

    def failure(self, row: int) -> str | None:
        return self._failed.get(self.image_index(row))

    def shutdown(self) -> None:
        """Drop queued decodes and wait for running ones (called when the window closes)."""
        self._closed = True
        self._pending.clear()
        self._generation += 1
        self._pool.clear()
        self._pool.waitForDone()

    # ---- Qt model interface
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        if parent.isValid() or self._report is None:
            return 0
        return len(self._report.paths) if self._shown is None else len(self._shown)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self._report is None:
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(self.image_index(row))
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = self._failed.get(self.image_index(row))
            tip = f"{self._report.paths[self.image_index(row)]}\nlabel: {self.label(row)}"
            return tip + (f"\ncannot be decoded: {reason}" if reason else "")
        if role == self.PathRole:
            return str(self.path(row))
        return None

    # ---- loading
    def _thumbnail(self, image: int) -> QPixmap:
        pix = self._cache.get(image)
        if pix is not None:
            self._cache.move_to_end(image)
            return pix
        if image in self._failed:
            return self._broken
        if image not in self._in_flight:
            self._pending[image] = None
            self._pending.move_to_end(image)
            self._dispatch_timer.start()  # batch the requests of one paint
        return self._placeholder

    def _dispatch(self) -> None:
        while not self._closed and self._pending and len(self._in_flight) < IN_FLIGHT:
            item, _ = self._pending.popitem(last=False)  # in paint order: the screen fills top to bottom
            row = self.row_of(item)
            if row < 0 or not self.is_visible(row):
                continue  # scrolled away: data() asks again if it comes back
            self._in_flight.add(item)
            self.requested += 1
            path = Path(self._report.root) / self._report.paths[item]
            self._pool.start(_Decode(self._carrier, self._generation, item, path, self.thumb_size))

    def _on_loaded(self, generation: int, item: int, image: QImage | None, reason: str) -> None:
        if generation != self._generation:
            return
        self._in_flight.discard(item)
        if image is None:
            self._failed[item] = reason
            emit(self.decode_failed, self._report.paths[item], reason)
        else:
            self._cache[item] = QPixmap.fromImage(image)  # QPixmap only on the GUI thread
            while len(self._cache) > self._cache_items:
                self._cache.popitem(last=False)
        row = self.row_of(item)
        if row >= 0:
            index = self.index(row)
            emit(self.dataChanged, index, index, [Qt.ItemDataRole.DecorationRole])
        self._dispatch()


class ThumbnailView(QListView):
    """IconMode grid with uniform cells; tells its model which rows are on screen."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        # Lays out 100,000 items without freezing. IconMode asks the (Python) model for each item's index: a batch
        # of LAYOUT_BATCH keeps each slice of that short even while a scan or the checks compete for the GIL.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSpacing(4)

    def setModel(self, model: ThumbnailModel) -> None:  # noqa: N802 - Qt's name
        super().setModel(model)
        size = model.thumb_size
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 8, size + 8))
        model.is_visible = self.row_visible
        self.verticalScrollBar().setSingleStep(size // 2)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:  # an empty state that says what to do
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, EMPTY_HINT
            )

    def row_visible(self, row: int) -> bool:
        rect = self.visualRect(self.model().index(row, 0))
        return rect.isValid() and rect.intersects(self.viewport().rect())
