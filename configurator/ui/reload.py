"""How the main window follows changes another program saved to its settings.

The watcher says that the files changed; this decides what that means for
the window: in Read-only mode (and in Write mode with nothing typed) it shows
the new settings at once, but edits are never replaced under the user's
hands -- the banner announces the change and Submit will ask what to keep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configurator.ui.modes import Mode
from configurator.ui.session import RELOADED

if TYPE_CHECKING:
    from configurator.ui.host import Host


class DiskChanges:
    """Reacts for ``window`` to its settings files changing on disk."""

    def __init__(self, window: Host) -> None:
        self.window = window
        self.session = window.session

    def changed(self) -> None:
        """The settings files changed on disk: follow in Read-only, announce in Edit."""
        window, session = self.window, self.session
        mode = session.mode
        if mode is Mode.REFUSED:
            return
        if mode is Mode.UNREADABLE:
            window.reload()
            if session.mode is not Mode.UNREADABLE:
                window.statusBar().showMessage(RELOADED, 8000)
            return
        if session.stored_unchanged():
            session.forget_changed_elsewhere()
            return
        quiet = mode is Mode.READ_ONLY or (
            mode is Mode.WRITE
            and not window.has_unsaved_changes()
            and window.conflict_dialog is None
        )
        window.trail_changed()
        if quiet:
            window.reload()
            if session.mode is not Mode.UNREADABLE:
                window.statusBar().showMessage(RELOADED, 8000)
            return
        # Edits are never replaced under the user's hands: Submit will ask.
        session.mark_changed_elsewhere()  # the window shows it in its banner
