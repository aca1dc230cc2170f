"""The Help menu's content: the user guide (docs/app.md where it exists, a short built-in guide otherwise) and the
keyboard shortcuts, read from the window's own actions so the list never disagrees with what the keys do."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

GUIDE_FILE = Path(__file__).resolve().parents[2] / "docs" / "app.md"  # in a source checkout, not in a wheel

GUIDE_HTML = """<h3>SSL Workbench in four steps</h3>
<ol>
<li><b>Data</b> — open a folder of images (File → Open Folder…, or drop it on the window). Subfolders are labels;
click a label to see only its images. Skipped files and links to images already in the folder are listed.</li>
<li><b>Augment</b> — pick a preset or edit the transforms; the preview shows the views training will see.</li>
<li><b>Train</b> — choose a method and a time budget, then Start. The curves show what is being learned;
Stop keeps a checkpoint you can resume.</li>
<li><b>Explore</b> — the map of the trained embeddings: hover and click points, colour by label, cluster or
outlier score, select and export.</li>
</ol>
<p>The command line does the same: <code>workbench train --data DIR</code>, <code>workbench embed</code>,
<code>workbench eval</code> (in the project's virtual environment: <code>.venv/bin/workbench</code>).
The full guide is <code>docs/app.md</code> in the project's source.</p>"""


def open_guide(parent: QWidget) -> QMessageBox | None:
    """Open docs/app.md with the system's viewer; where there is no such file (an installed package) or nothing
    opens it, show the built-in guide instead (returned, for tests)."""
    if GUIDE_FILE.is_file() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(GUIDE_FILE))):
        return None
    return _show(parent, "SSL Workbench Guide", GUIDE_HTML)


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(what, keys) for every action of `window` that has a shortcut, in menu order, without duplicates."""
    rows: list[tuple[str, str]] = []
    for action in window.findChildren(QAction):
        keys = action.shortcut()
        if keys.isEmpty() or not action.text():
            continue
        row = (action.text().replace("&", "").rstrip("…."), keys.toString(QKeySequence.SequenceFormat.NativeText))
        if row not in rows:
            rows.append(row)
    return rows


def show_shortcuts(window: QWidget) -> QMessageBox:
    rows = "".join(
        f"<tr><td>{what}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>" for what, keys in shortcut_rows(window)
    )
    return _show(window, "Keyboard Shortcuts", f"<table>{rows}</table>")


def _show(parent: QWidget, title: str, html: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, title, html, QMessageBox.StandardButton.Close, parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.open()
    return box
