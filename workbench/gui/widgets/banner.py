"""A dismissible strip at the top of the window that shows one sentence: where every error ends up."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background: #fde2e1; color: #6b1111; border-bottom: 1px solid #e0a3a0;",
    "info": "background: #e3eefc; color: #0f2f5c; border-bottom: 1px solid #a9c3e8;",
}


class Banner(QFrame):
    """Hidden until show_message(); the text is selectable so it can be copied into a bug report."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self._kind = ""
        self._label = QLabel(self)
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.setStyleSheet(f"QFrame#banner {{ {_STYLES[kind]} }} QLabel {{ {_STYLES[kind]} border: none; }}")
        self._label.setText(text)
        self._kind = kind
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self._label.text()

    def kind(self) -> str:
        """The kind ("error" or "info") while a message shows, "" when hidden."""
        return "" if self.isHidden() else self._kind

    def clear(self) -> None:
        self._label.clear()
        self.hide()
