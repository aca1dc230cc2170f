"""The thumbnail grid: a list model that decodes only what is on screen, off the GUI thread, with an LRU cache.

data(DecorationRole) returns the cached pixmap, or a placeholder and a load request. Requests wait in a
queue; at most a few are decoding at once, and a request is dropped (not decoded) when its
item has scrolled out of view by the time a thread is free — it is asked again if it comes back. So a fast
scroll through 100,000 images decodes only what the user stops on, and the GUI thread never decodes.
`show_rows(rows)` narrows the grid to some of the report's images (one label) without losing decoded thumbnails:
the cache is keyed by the image's index in the report, the Qt rows are positions among the images shown.

The rows themselves live in C++: the model is a QStringListModel of empty strings, and only data() is Python. Qt's
layout asks rowCount() and index() for every one of 100,000 items (QListView's batched layout, isHidden(), ...); a
Python rowCount() re-takes the GIL each time, and while a scan or the data checks run Python on other threads each
of those hand-overs waits, so one slice of the layout stalled the window for hundreds of ms. data() is asked only for
the cells Qt paints (the view's uniform item size comes from one sample), and it only looks up a cache: no decoding,
no file access on the GUI thread.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QModelIndex, QObject, QRunnable, QSize, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from workbench.data.decode import DecodeError, decode_image, decode_with_info
from workbench.data.scan import ScanReport
from workbench.gui.signals import emit
from workbench.gui.worker import make_pool

THUMB_SIZE = 72  # pixels; decoded square (shorter side resized, centre crop)
CACHE_ITEMS = 3000  # ~3000 * 72*72*4 bytes = 62 MB at most
IN_FLIGHT = 4  # decodes queued or running at once
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


class ThumbnailModel(QStringListModel):
    """Rows are the scan report's images (or those of show_rows()); DecorationRole is the thumbnail, ToolTipRole the
    path and label. rowCount()/index() are Qt's own (C++, no GIL): never override them here or in a subclass."""

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
        self._end_reset()

    def show_rows(self, rows: np.ndarray | list[int] | None) -> None:
        """Show only these images (indices into the report's paths, ascending); None shows them all."""
        self.beginResetModel()
        self._shown = None if rows is None else np.asarray(rows, dtype=np.int64)
        self._pending.clear()
        self._end_reset()

    def _end_reset(self) -> None:
        """Resize Qt's (C++) list of rows to the images shown, then end the reset the caller began."""
        wanted = 0 if self._report is None else len(self._report.paths) if self._shown is None else len(self._shown)
        have = super().rowCount()
        self.blockSignals(True)  # inside a reset: the views re-read everything at endResetModel, not row by row
        try:
            if wanted < have:
                self.removeRows(wanted, have - wanted)
            elif wanted > have:  # into an empty list: Qt inserts one string at a time, O(n²) into a filled one
                self.removeRows(0, have)
                self.insertRows(0, wanted)  # empty strings, in C++ (100,000 in ~15 ms)
        finally:
            self.blockSignals(False)
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

    # ---- Qt model interface (rowCount and index are QStringListModel's)
    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        """O(1) and never decodes: the cached thumbnail, or a placeholder and a request to a worker."""
        if self._report is None or not index.isValid():
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


class _CellDelegate(QStyledItemDelegate):
    """Fills a cell's style option with one call from Qt into Python per painted cell: QStyledItemDelegate's own asks
    the model's data() once per role (seven per cell), each a GIL hand-over from C++. Qt's style still draws the cell
    (selection, thumbnail, text under it, focus)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex) -> None:  # noqa: N802 - Qt's name
        model = index.model()  # a ThumbnailModel: its data() is called here, in Python, not through Qt
        option.decorationPosition = QStyleOptionViewItem.Position.Top  # the thumbnail on top, as IconMode draws it
        option.decorationAlignment = Qt.AlignmentFlag.AlignCenter
        option.displayAlignment = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop  # text centred under it
        pixmap = model.data(index, Qt.ItemDataRole.DecorationRole)
        if pixmap is not None:
            option.features |= QStyleOptionViewItem.ViewItemFeature.HasDecoration
            option.icon = QIcon(pixmap)
        text = model.data(index, Qt.ItemDataRole.DisplayRole)
        if text:
            option.features |= QStyleOptionViewItem.ViewItemFeature.HasDisplay
            option.text = str(text)


class ThumbnailView(QListView):
    """A grid of uniform cells (icon above its text); tells its model which rows are on screen.

    ListMode flowing left to right with wrapping, not IconMode: with uniform item sizes ListMode places the cells
    arithmetically (100,000 in ~15 ms of C++), while IconMode keeps an item per cell and rebuilds a BSP tree of all of
    them in the last layout slice (~40 ms for 100,000, more on a busy machine). The layout never calls Python per item.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)  # one size for every cell, from one sample: no sizeHint per item
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        # One pass, not Batched: the whole layout is C++ arithmetic (~15 ms for 100,000 cells), and batches would
        # leave the scroll range growing (scrollToBottom() in the middle of a layout lands in the middle).
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # the string list's cells are not text
        self.setSpacing(4)
        self._delegate = _CellDelegate(self)
        self.setItemDelegate(self._delegate)

    def setModel(self, model: ThumbnailModel) -> None:  # noqa: N802 - Qt's name
        super().setModel(model)
        size = model.thumb_size
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 8, size + 8))
        model.is_visible = self.row_visible
        self.verticalScrollBar().setSingleStep(size // 2)

    def dataChanged(self, top_left: QModelIndex, bottom_right: QModelIndex, roles=()) -> None:  # noqa: N802
        """A thumbnail arrived: repaint its cell. Not QListView's: in ListMode it lays out every cell again (~20 ms for
        100,000) for each thumbnail, and with uniform cells a cell's new data never moves another."""
        QAbstractItemView.dataChanged(self, top_left, bottom_right, list(roles))

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
