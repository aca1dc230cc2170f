"""Data workspace: the demo opens, the report shows, thumbnails arrive (only for visible rows), bad folders say why."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.conftest import write_class_folder
from workbench.data.scan import ScanReport, scan_folder
from workbench.errors import Cancelled, DataError
from workbench.gui.data_view import DataView, check_images


def _wait_for_report(qtbot, window, root: Path | None = None):
    view = window.data_view
    qtbot.waitUntil(
        lambda: view.report() is not None and (root is None or view.report().root == str(root)), timeout=15000
    )
    return view.report()


def test_first_launch_opens_the_demo_with_report_and_thumbnails(qtbot, make_window):
    window = make_window()
    report = _wait_for_report(qtbot, window)
    view = window.data_view
    assert Path(report.root).name == "demo" and len(report.paths) == 1000
    assert window.windowTitle() == "SSL Workbench — demo"
    assert "1,000 images" in view.summary.headline.text()
    assert view.summary.labels_table.rowCount() == 10
    assert view.summary.labels_table.item(0, 0).text() == "bag" and view.summary.labels_table.item(0, 1).text() == "100"
    assert "28 × 28 px (1,000)" in view.summary.details.text() and "PNG 1,000" in view.summary.details.text()
    qtbot.waitUntil(lambda: {0, 1, 2, 3} <= set(view.model.cached_rows()), timeout=15000)  # the grid fills
    visible = sum(view.grid.row_visible(r) for r in range(200))
    assert 0 < view.model.requested <= visible + 4  # nothing off screen was decoded


def test_clicking_a_thumbnail_shows_it_large_with_path_size_and_label(qtbot, image_folder):
    view = DataView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    with qtbot.waitSignal(view.report_ready, timeout=10000):
        view.open_folder(image_folder)
    index = view.model.index(9)
    with qtbot.waitSignal(view.detail.shown, timeout=10000):
        view.grid.clicked.emit(index)
    caption = view.detail.caption.text()
    assert str(image_folder / "square" / "001.png") in caption and "32 × 32 px" in caption and "square" in caption
    assert not view.detail.image.pixmap().isNull()
    view.shutdown()


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere"


def _empty(tmp: Path) -> Path:
    (tmp / "empty" / "sub").mkdir(parents=True)
    (tmp / "empty" / "notes.txt").write_text("no images here")
    return tmp / "empty"


def _broken(tmp: Path) -> Path:
    root = tmp / "broken"
    root.mkdir()
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("this is not an image")
    good = write_class_folder(tmp / "donor", per_class=1)
    data = (good / "circle" / "000.png").read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    return root


@pytest.mark.parametrize("make_folder", [_missing, _empty, _broken], ids=["missing", "empty", "only-broken"])
def test_each_bad_folder_shows_its_sentence_in_the_banner(qtbot, make_window, tmp_path, image_folder, make_folder):
    window = make_window(image_folder)
    _wait_for_report(qtbot, window, image_folder)
    bad = make_folder(tmp_path)
    window.open_folder(bad)
    qtbot.waitUntil(lambda: window.banner.text() != "", timeout=10000)
    text = window.banner.text()
    if make_folder is not _broken:
        with pytest.raises(DataError) as expected:
            scan_folder(bad)
        assert text == str(expected.value)
    else:
        assert text.startswith(f"Folder '{bad.resolve()}' has no readable images: all 3 image files are broken")
    assert window.data_view.report().root == str(image_folder)  # the previous folder stays open
    assert window.isVisible()


def test_skipped_files_are_listed_with_their_reason(qtbot, tmp_path):
    root = write_class_folder(tmp_path / "mixed", per_class=3)
    (root / "circle" / "bad.png").write_text("not an image")
    view = DataView()
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.report_ready, timeout=10000):
        view.open_folder(root)
    summary = view.summary
    assert summary.skipped_count() == 1 and summary.skipped_button.isEnabled()
    assert summary.skipped_table.item(0, 0).text() == "circle/bad.png"
    assert "not an image" in summary.skipped_table.item(0, 1).text()
    assert summary.skipped_table.isHidden()
    summary.skipped_button.click()  # expand
    assert not summary.skipped_table.isHidden()
    view.shutdown()


def grid_of_100000(qtbot, tmp_path) -> tuple[DataView, int]:
    """The Data view showing 100,000 missing files (each decode fails fast), laid out; (view, last row)."""
    paths = [f"c{i % 10}/{i:06d}.png" for i in range(100_000)]
    report = ScanReport(str(tmp_path), paths, [i % 10 for i in range(100_000)], [f"c{i}" for i in range(10)])
    view = DataView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    view.model.set_report(report)
    last = len(paths) - 1
    qtbot.waitUntil(lambda: view.model.failure(0) is not None, timeout=10000)
    qtbot.waitUntil(lambda: view.grid.visualRect(view.model.index(last)).isValid(), timeout=20000)  # laid out
    return view, last


def scroll_pages(view: DataView, pages: int) -> None:
    bar = view.grid.verticalScrollBar()
    for _ in range(pages):  # each scroll step repainted at once
        bar.setValue(bar.value() + bar.pageStep())
        view.grid.viewport().repaint()


def test_grid_of_100000_images_decodes_only_visible_rows(qtbot, tmp_path):
    view, last = grid_of_100000(qtbot, tmp_path)
    scroll_pages(view, 20)
    view.grid.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.failure(last) is not None, timeout=10000)
    visible = [r for r in (*range(300), *range(last - 300, last + 1)) if view.grid.row_visible(r)]
    assert view.model.requested <= 2 * len(visible) + 8  # top screen + bottom screen, nothing in between
    assert view.model.failure(50_000) is None
    view.shutdown()


@pytest.mark.slow
def test_grid_of_100000_images_scrolls_smoothly(qtbot, tmp_path):
    """A wall-clock bound, generous (5x the 100 ms frame budget) so a loaded machine does not fail it."""
    view, _ = grid_of_100000(qtbot, tmp_path)
    start = time.perf_counter()
    scroll_pages(view, 20)
    per_frame = (time.perf_counter() - start) / 20
    assert per_frame < 0.5, f"{1000 * per_frame:.0f} ms per scroll frame"
    view.shutdown()


def test_dropping_a_folder_on_the_window_opens_it(qtbot, make_window, image_folder, tmp_path):
    window = make_window(image_folder)
    _wait_for_report(qtbot, window, image_folder)
    other = write_class_folder(tmp_path / "dropped", classes=("a", "b", "c"), per_class=2)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(
        QPointF(QPoint(200, 200)),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    report = _wait_for_report(qtbot, window, other.resolve())
    assert report.class_names == ["a", "b", "c"] and window.windowTitle() == "SSL Workbench — dropped"


def test_cancel_stops_the_scan_and_keeps_the_open_folder(qtbot, monkeypatch, make_window, image_folder, tmp_path):
    window = make_window(image_folder)
    _wait_for_report(qtbot, window, image_folder)
    view = window.data_view

    def endless_scan(
        root, progress, should_stop, keep_duplicate_links
    ):  # a huge folder: reports progress until told to stop
        found = 0
        while not should_stop():
            found += 1
            progress(found, 0)
            time.sleep(0.001)
        raise Cancelled("scan cancelled")

    monkeypatch.setattr("workbench.gui.data_view.scan_folder", endless_scan)
    with qtbot.waitSignal(view.runner.progress, timeout=5000):
        view.open_folder(tmp_path)
    assert view.cancel_button.isVisible() and view.progress.maximum() == 0  # busy: total not known yet
    qtbot.waitUntil(lambda: "images found" in view.progress_text.text(), timeout=5000)
    with qtbot.waitSignal(view.status, timeout=5000) as status:
        view.cancel_button.click()
    assert status.args == ["Scan cancelled."]
    assert not view.cancel_button.isVisible() and view.report().root == str(image_folder)
    assert window.banner.text() == ""


class _State:  # the two reporter calls check_images makes
    def check(self):
        pass

    def progress(self, done, total):
        pass


def test_check_images_decodes_its_sample_even_when_sizes_are_sampled_more_thinly(tmp_path):
    root = tmp_path / "all-bad"
    root.mkdir()
    for i in range(5):
        (root / f"{i}.png").write_text("not an image")
    with pytest.raises(DataError, match="all 5 image files are broken"):
        check_images(scan_folder(root), _State(), sizes_limit=2)
    good = write_class_folder(tmp_path / "good", per_class=3)
    check = check_images(scan_folder(good), _State(), sizes_limit=2)
    assert check.broken == [] and check.sizes == {"32x32": 6} and check.sampled == 6


def _open(qtbot, view: DataView, root: Path) -> ScanReport:
    with qtbot.waitSignal(view.report_ready, timeout=15000) as ready:
        view.open_folder(root)
    return ready.args[0]


def _click_label(qtbot, view: DataView, row: int) -> None:
    table = view.summary.labels_table
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_clicking_a_label_shows_only_its_images_and_a_new_folder_starts_at_the_top(qtbot, tmp_path):
    many = write_class_folder(tmp_path / "many", classes=("circle", "square", "zigzag"), per_class=60, size=8)
    (many / "loose.png").write_bytes((many / "circle" / "000.png").read_bytes())  # unlabelled, between classes
    view = DataView()
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    qtbot.waitExposed(view)
    _open(qtbot, view, many)
    assert view.model.rowCount() == 181 and view.filter_bar.isHidden()
    _click_label(qtbot, view, 1)  # "square"
    assert view.shown_label() == 1 and view.model.rowCount() == 60
    assert {view.model.label(r) for r in range(60)} == {"square"}
    assert view.model.path(0) == many / "square" / "000.png"
    assert view.filter_bar.isVisible() and "square: 60 of 181" in view.filter_text.text()
    _click_label(qtbot, view, 3)  # "(unlabelled)"
    assert view.model.rowCount() == 1 and view.model.path(0) == many / "loose.png"
    qtbot.mouseClick(view.show_all_button, Qt.MouseButton.LeftButton)
    assert view.shown_label() is None and view.model.rowCount() == 181 and view.filter_bar.isHidden()

    _click_label(qtbot, view, 2)
    bar = view.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=10000)
    bar.setValue(bar.maximum())
    other = write_class_folder(tmp_path / "other", classes=("a", "b"), per_class=60, size=8)
    _open(qtbot, view, other)
    assert view.shown_label() is None and view.model.rowCount() == 120 and view.filter_bar.isHidden()
    assert bar.value() == 0  # the new folder from its first image
    view.shutdown()


def test_the_skip_reason_is_visible_without_scrolling_at_1280_px(qtbot, make_window, tmp_path):
    root = write_class_folder(tmp_path / "mixed", per_class=3)
    deep = root / "circle" / "a rather long subfolder name" / "and another one inside it"
    deep.mkdir(parents=True)
    (deep / "a file with a long name.png").write_text("not an image")
    window = make_window(root)
    _wait_for_report(qtbot, window, root)
    window.resize(1280, 800)
    summary = window.data_view.summary
    qtbot.waitUntil(lambda: summary.skipped_count() == 1)
    assert window.status_text.text() == f"Opened {root} (1 file skipped)"  # found by the image check, counted too
    qtbot.mouseClick(summary.skipped_button, Qt.MouseButton.LeftButton)
    table = summary.skipped_table
    qtbot.waitUntil(table.isVisible)
    reason = table.visualItemRect(table.item(0, 1))
    assert table.horizontalScrollBar().maximum() == 0
    assert table.viewport().rect().contains(reason)  # the reason's cell lies wholly inside the visible table
    assert reason.width() >= table.fontMetrics().horizontalAdvance("not an image")
    assert "a file with a long name.png" in table.item(0, 0).toolTip()  # the full path on hover


def test_links_to_images_already_in_the_folder_are_left_out_and_can_be_kept(qtbot, tmp_path):
    root = write_class_folder(tmp_path / "linked", per_class=3)
    try:
        (root / "circle" / "again.png").symlink_to(root / "circle" / "000.png")
    except (OSError, NotImplementedError):
        pytest.skip("symlinks not available")
    view = DataView()
    qtbot.addWidget(view)
    view.show()
    statuses = []
    view.status.connect(statuses.append)
    report = _open(qtbot, view, root)
    summary = view.summary
    assert len(report.paths) == 6 and [d.path for d in report.duplicate_links] == ["circle/again.png"]
    assert summary.links_note.isVisible() and "1 symbolic link" in summary.links_note.text()
    assert "left out" in summary.links_note.text() and not summary.keep_links.isChecked()
    assert "1 duplicate links left out" in statuses[-1]
    with qtbot.waitSignal(view.report_ready, timeout=15000) as ready:
        qtbot.mouseClick(summary.keep_links, Qt.MouseButton.LeftButton)  # rescans, keeping the link
    kept = ready.args[0]
    assert len(kept.paths) == 7 and "circle/again.png" in kept.paths and view.keep_duplicate_links
    assert summary.keep_links.isChecked() and "kept as separate images" in summary.links_note.text()
    view.shutdown()


def test_the_data_checks_list_each_issue_filter_the_grid_and_exclude_a_selection(qtbot, tmp_path):
    from PIL import Image

    root = write_class_folder(tmp_path / "checked", per_class=4)
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "black.png")  # too dark, low information
    Image.new("RGB", (32, 32), (255, 255, 255)).save(root / "white.png")  # too light, low information
    view = DataView()
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    with qtbot.waitSignal(view.checks_ready, timeout=15000) as ready:
        report = _open(qtbot, view, root)
    checks = ready.args[0]
    panel = view.checks_panel
    assert checks.paths == report.paths and not panel.cancel_button.isVisible()
    assert panel.count_text("dark") == "1" and panel.count_text("light") == "1"
    assert panel.count_text("low_information") == "2" and panel.count_text("blurry") == "0"
    row = list(panel._kinds).index("low_information")
    panel.table.cellClicked.emit(row, 0)  # as a click on the row
    assert view.shown_issue() == "low_information" and view.model.rowCount() == 2
    assert {view.model.path(r).name for r in range(2)} == {"black.png", "white.png"}
    assert "Low information: 2 of 10 images" in view.filter_text.text() and view.filter_bar.isVisible()
    with qtbot.waitSignal(view.exclusions_changed, timeout=1000) as excluded:
        view.grid.selectAll()
        panel.exclude_button.click()
    assert excluded.args[0] == ["black.png", "white.png"] == view.excluded_paths()
    assert "2 images excluded" in panel.excluded_label.text()
    view.show_label(None)  # "Show all"
    assert view.shown_issue() is None and view.model.rowCount() == 10 and not view.filter_bar.isVisible()
    view.shutdown()


def test_the_data_checks_can_be_cancelled_and_stop_reading(qtbot, monkeypatch, tmp_path):
    import threading

    import workbench.data.decode as decode_module

    root = write_class_folder(tmp_path / "slow", per_class=50, size=8)  # 100 images: two chunks of the pass
    gate, calls = threading.Event(), []
    real = decode_module.decode_with_info

    def held(path, size, digest=False):  # every decode of the checks waits until the test has pressed Cancel
        if digest:
            calls.append(path)
            gate.wait(10)
        return real(path, size, digest=digest)

    monkeypatch.setattr(decode_module, "decode_with_info", held)
    view = DataView()
    qtbot.addWidget(view)
    view.show()
    _open(qtbot, view, root)
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=5000)
    assert view.checks_panel.cancel_button.isVisible()
    with qtbot.waitSignal(view.checks_runner.cancelled, timeout=10000):
        view.checks_panel.cancel_button.click()
    gate.set()
    assert view.checks_runner.shutdown()  # waits until the pass has ended
    assert len(calls) <= 64  # it stopped at the next cancellation point: the second chunk was never read
    assert view.checks_panel.table.rowCount() == 0 and "cancelled" in view.checks_panel.status.text()
    view.shutdown()


def test_explore_can_colour_by_the_first_data_check_issue(tmp_path):
    import numpy as np
    from PIL import Image

    from workbench.data.checks import check_folder
    from workbench.gui.explore_tasks import COLOUR_MODES, colouring
    from workbench.results.embeddings import Embedding

    root = write_class_folder(tmp_path / "coloured", per_class=3)
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "black.png")
    paths = scan_folder(root).paths
    emb = Embedding(root, paths, np.zeros(len(paths), np.int64), [], np.zeros((len(paths), 4), np.float32), "trained")

    class State:
        def message(self, text):
            pass

        def progress(self, done, total):
            pass

        def should_stop(self):
            return False

    col = colouring("data_check", emb, 0, State())
    checks = check_folder(root, paths)
    assert "data_check" in COLOUR_MODES and col.mode == "data_check"
    black = paths.index("black.png")
    assert col.names[col.groups[black]] == "Too dark"  # its first issue in the checks' order
    clean = [r for r in range(len(paths)) if not any(r in rows for rows in checks.flagged.values())]
    assert all(col.names[col.groups[r]] == "no issue" for r in clean) and clean
