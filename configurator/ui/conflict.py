"""What the main window does when Submit finds the settings changed elsewhere.

The conflict dialog shows the form's values beside what is stored now; this
handler opens it and carries out the answer: save over the other change
(Keep Mine), show what is stored now (Take Theirs), or keep editing from the
stored settings on (Back to Editing).  It is created on the first conflict,
so that neither it nor the dialog loads with the window.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt

from configurator import model
from configurator.errors import SettingsUnreadable

if TYPE_CHECKING:
    from configurator.store import Stored
    from configurator.ui.conflict_dialog import ConflictDialog
    from configurator.ui.host import Host


class ConflictHandler:
    """Asks what to keep when ``window``'s Submit met a change saved elsewhere."""

    def __init__(self, window: Host) -> None:
        self.window = window
        self.session = window.session
        self.dialog: ConflictDialog | None = None

    def open(self, mine: model.Settings) -> None:
        """Show what changed elsewhere beside the form's values, and ask what to keep."""
        from configurator import audit
        from configurator.ui import dialogs
        from configurator.ui.conflict_dialog import ConflictDialog

        window, session = self.window, self.session
        try:
            theirs = session.store.load()
        except SettingsUnreadable as exc:
            dialogs.error(
                window.widget(),
                "saveFailed",
                "Not Saved",
                "The settings were changed elsewhere, and what is stored now cannot be read. "
                + exc.detail,
                exc.advice,
            )
            return
        values = window.form.values()
        dialog = ConflictDialog(
            window.widget(),
            base=session.base,
            mine=mine,
            password_typed=bool(values.get("password")),
            theirs=theirs,
            last=audit.last_change(session.store.data_dir, session.store.key_backend),
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(partial(self._answer, dialog))
        self.dialog = dialog
        dialog.open()

    def _answer(self, dialog: ConflictDialog, _result: int) -> None:
        from configurator.ui.conflict_dialog import Choice

        self.dialog = None
        window = self.window
        if not self.session.editing:
            return
        theirs = dialog.theirs
        if dialog.choice is Choice.KEEP_MINE:
            self._keep_mine(theirs)
        elif dialog.choice is Choice.TAKE_THEIRS:
            window.reload()
            window.statusBar().showMessage(
                "Your changes were discarded; the settings stored now are shown.", 8000
            )
        else:
            self._rebase(theirs)
            now = f"revision {theirs.revision}" if theirs is not None else "nothing is stored"
            window.statusBar().showMessage(
                f"Your edits are kept; Submit now saves them over the stored settings ({now}).",
                8000,
            )

    def _keep_mine(self, theirs: Stored | None) -> None:
        """Save the form over ``theirs``; an empty password keeps *their* password."""
        window = self.window
        try:
            settings = model.build(window.form.values(), theirs.settings if theirs else None)
        except model.ValidationError as exc:
            # Only the password can fail here (nothing stored now to keep it from).
            self._rebase(theirs)
            window.form.set_errors(exc)
            window.statusBar().showMessage("Not saved: enter the password.", 8000)
            return
        window.save(settings, theirs, over=True)

    def _rebase(self, theirs: Stored | None) -> None:
        """Keep the form's values but edit from ``theirs`` on (Back to Editing).

        Submit then expects ``theirs``'s revision, Cancel returns to it, and an
        empty password keeps the password stored now.
        """
        window = self.window
        values = window.form.values()
        if self.session.rebase(theirs):
            window.form.restore(values)
            window.form_edited()
        elif theirs is not None and not values.get("password"):
            window.form.start_password_entry(keeps_stored=theirs.settings.password_set)
        self.session.forget_changed_elsewhere()
