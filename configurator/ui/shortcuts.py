"""Window shortcuts that work wherever the keyboard focus is.

On X11 (and in Emacs-style key themes) Qt binds Ctrl+E in text fields to
"move to the end of the line".  A focused line edit or spin box then claims
the key through the ``ShortcutOverride`` event before any shortcut is
looked up -- even an application-wide one -- so Edit (Ctrl+E) did nothing
with the focus in a field, which is where it is after start, Submit and
Cancel.  ``ShortcutGuard`` answers that event for the window's actions
before the field sees it, but only while the action is enabled: in Edit
mode, where the Edit action means nothing, Ctrl+E still moves to the end of
the line.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

#: Widgets that take keys for their own editing commands.
_TEXT_WIDGETS = (QLineEdit, QAbstractSpinBox, QPlainTextEdit, QTextEdit)


def quit_keys() -> list[QKeySequence]:
    """The platform's Quit keys; Ctrl+Q where the platform defines none (Windows)."""
    keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    return keys or [QKeySequence("Ctrl+Q")]


class ShortcutGuard(QObject):
    """Keeps the keys of ``actions`` from the text fields it watches, while they are enabled."""

    def __init__(self, actions: Sequence[QAction], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutGuard")
        self._actions = tuple(actions)

    def watch(self, root: QWidget) -> None:
        """Watch every text field under ``root`` (they exist once the window is built)."""
        for kind in _TEXT_WIDGETS:
            for widget in root.findChildren(kind):
                widget.installEventFilter(self)

    def claims(self, pressed: QKeySequence) -> bool:
        """Whether ``pressed`` triggers one of the enabled actions."""
        return any(
            action.isEnabled()
            and any(
                key.matches(pressed) is QKeySequence.SequenceMatch.ExactMatch
                for key in action.shortcuts()
            )
            for action in self._actions
        )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(event, QKeyEvent):
            return False
        # Filtered and left unaccepted: the field never sees the key, the shortcut fires.
        return self.claims(QKeySequence(event.keyCombination()))
