"""How the main window follows changes another program saved to its settings.

The watcher says that the files changed; this decides what that means for
the window: in Read-only mode (and in Write mode with nothing typed) it shows
the new settings at once, but edits are never replaced under the user's
hands -- the banner announces the change and Submit will ask what to keep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configurator.errors import SettingsUnreadable
from configurator.ui.banner import Kind
from configurator.ui.modes import Mode
from configurator.ui.window import CHANGED_ELSEWHERE, RELOADED

if TYPE_CHECKING:
    from configurator.store import Stored
    from configurator.ui.window import MainWindow


class DiskChanges:
    """Reacts for ``window`` to its settings files changing on disk."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def changed(self) -> None:
        """The settings files changed on disk: follow in Read-only, announce in Edit."""
        window = self.window
        mode = window.mode
        if mode is Mode.REFUSED:
            return
        if mode is Mode.UNREADABLE:
            window.reload()
            if window.mode is not Mode.UNREADABLE:
                window.statusBar().showMessage(RELOADED, 8000)
            return
        try:
            current: Stored | None = window.store.load()
            same = current == window.stored
        except SettingsUnreadable:
            same = False
        if same:
            window.forget_changed_elsewhere()
            return
        quiet = mode is Mode.READ_ONLY or (
            mode is Mode.WRITE
            and not window.has_unsaved_changes()
            and window.conflict_dialog is None
        )
        window.trail_changed()
        if quiet:
            window.reload()
            if window.mode is not Mode.UNREADABLE:
                window.statusBar().showMessage(RELOADED, 8000)
            return
        # Edits are never replaced under the user's hands: Submit will ask.
        window.changed_elsewhere = True
        window.banner.show_message(Kind.INFO, CHANGED_ELSEWHERE, "")
