"""What a scan's result starts is spread over event-loop passes, and the status texts are cheap to update.

On a 2-core machine the pass that delivered a 100,000-file scan also laid out and painted the grid, started the
data checks' threads and told the other workspaces (Train's estimate): one stall of ~100 ms. Here the order of
those steps is recorded per pass (no timing): the grid is painted before the checks start, the checks start before
the other workspaces get the report, and none of it happens in the pass that delivers the result.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from workbench.data.scan import scan_folder
from workbench.gui.data_view import DataView, FolderCheck
from workbench.gui.widgets.elided_label import ElidedLabel


class PaintRecorder(QObject):
    def __init__(self, events: list[str]):
        super().__init__()
        self.events = events

    def eventFilter(self, _obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            self.events.append("paint")
        return False


def _view(qtbot, events: list[str]) -> DataView:
    view = DataView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    real_start = view._start_checks
    view._start_checks = lambda report: (events.append(f"checks {report.root}"), real_start(report))
    view.report_ready.connect(lambda report: events.append(f"report {report.root}"))
    return view


def test_the_grid_paints_before_the_checks_start_and_before_the_other_workspaces_get_the_report(qtbot, image_folder):
    events: list[str] = []
    view = _view(qtbot, events)
    recorder = PaintRecorder(events)
    view.grid.viewport().installEventFilter(recorder)
    report = scan_folder(image_folder)
    QApplication.processEvents()
    events.clear()
    view._on_scanned((report, FolderCheck({}, 0, [])))  # as the runner delivers it, in one pass
    assert events == [] and view.model.rowCount() == len(report.paths)  # the grid has its rows already
    qtbot.waitUntil(lambda: f"report {report.root}" in events, timeout=5000)
    steps = [e for e in events if e != "paint"] if "paint" in events else []
    assert steps == [f"checks {report.root}", f"report {report.root}"], events
    assert events.index("paint") < events.index(f"checks {report.root}"), events
    qtbot.waitUntil(lambda: view.report() is not None and not view.checks_runner.is_running(), timeout=10000)
    view.shutdown()


def test_a_newer_scan_result_drops_what_the_older_one_had_still_to_start(qtbot, image_folder, tmp_path):
    events: list[str] = []
    view = _view(qtbot, events)
    first = scan_folder(image_folder)
    other = image_folder.parent / "other"
    other.mkdir()
    (image_folder / "square").rename(other / "square")
    second = scan_folder(other)
    view._on_scanned((first, FolderCheck({}, 0, [])))
    view._on_scanned((second, FolderCheck({}, 0, [])))  # before the first's steps ran
    qtbot.waitUntil(lambda: f"report {second.root}" in events, timeout=5000)
    QApplication.processEvents()
    assert events == [f"checks {second.root}", f"report {second.root}"]  # the first folder's are gone
    qtbot.waitUntil(lambda: not view.checks_runner.is_running(), timeout=10000)
    view.shutdown()


def test_a_status_text_is_elided_once_per_change_not_per_update_or_paint(qtbot, monkeypatch):
    elisions: list[str] = []
    real = ElidedLabel._elided

    def counting(self, text: str, width: int) -> str:
        elisions.append(text)
        return real(self, text, width)

    monkeypatch.setattr(ElidedLabel, "_elided", counting)
    label = ElidedLabel()
    qtbot.addWidget(label)
    label.resize(120, 30)
    label.show()
    qtbot.waitExposed(label)
    long = "Scanning… 12,345 images found in a folder with a long name"
    elisions.clear()  # the empty label's first paint
    label.setText(long)
    for _ in range(5):
        label.setText(long)  # the same progress text again, as a worker's report repeats it
        label.repaint()
    # Elided as Qt elides it (the reference), the whole text on hover, and one elision for all those updates.
    expected = label.fontMetrics().elidedText(long, label._elide, label.contentsRect().width())
    assert label.displayed_text() == expected != long and label.toolTip() == long
    assert elisions == [long], elisions
    label.resize(400, 30)  # a new width: elided again, once
    label.repaint()
    label.repaint()
    assert elisions == [long, long] and label.displayed_text() == long and label.toolTip() == ""
