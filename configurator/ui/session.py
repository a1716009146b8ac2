"""The window's state as one object without widgets: what is stored, edited, allowed.

The edit session owns what the main window's helpers used to read and write
on the window itself: the stored settings (with their revision and lineage),
the snapshot Cancel returns to, the mode (the table and machine of
``modes``), a generation that counts mode entries, whether the stored
settings changed under an edit, and what this account may do with the store.
The window, the check controller, the conflict handler and the reaction to
changes on disk all talk to it; the window alone turns what it announces into
widgets.  It imports no Qt, so the rules of a session are tested without a
window (``tests/test_session.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from configurator.errors import SettingsUnreadable
from configurator.store import Access
from configurator.ui.modes import Mode, ModeMachine, ModeView, Source

if TYPE_CHECKING:
    from configurator import model
    from configurator.store import Store, Stored

NO_TEST = "Nothing to test: no settings are stored."
CHANGED_ELSEWHERE = "The stored settings were changed elsewhere; Submit will ask what to keep."
RELOADED = "Settings were changed elsewhere and reloaded."

#: Called on every mode entry with the mode entered and the one left.
ModeListener = Callable[[Mode, "Mode | None"], None]
#: Called when the "changed elsewhere" flag changes, with its new value.
FlagListener = Callable[[bool], None]
#: Called when stored settings were saved without a change of mode.
StoredListener = Callable[["Stored"], None]


class EditSession:
    """The state of one window over ``store``; listeners hear of every change."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stored: Stored | None = None
        self.access = Access.WRITE
        self.unreadable: SettingsUnreadable | None = None
        # What Cancel returns to: the stored settings on entering Edit.
        self.snapshot: Stored | None = None
        # Counts mode entries, so that a check started in one Edit session
        # does not put its findings into the form of another.
        self.generation = 0
        # True while the stored settings changed under an edit (Submit will ask).
        self.changed_elsewhere = False
        self.machine = ModeMachine(self._entered)
        self._mode_listeners: list[ModeListener] = []
        self._flag_listeners: list[FlagListener] = []
        self._stored_listeners: list[StoredListener] = []

    # -- listening ---------------------------------------------------------------

    def on_mode(self, listener: ModeListener) -> None:
        """Call ``listener`` after each mode entry (the session's state is set by then)."""
        self._mode_listeners.append(listener)

    def on_changed_elsewhere(self, listener: FlagListener) -> None:
        """Call ``listener`` when the settings are found changed under an edit, or no more."""
        self._flag_listeners.append(listener)

    def on_stored(self, listener: StoredListener) -> None:
        """Call ``listener`` when settings were saved and the mode stays (a pinned certificate)."""
        self._stored_listeners.append(listener)

    # -- reading -----------------------------------------------------------------

    @property
    def mode(self) -> Mode | None:
        """The current mode, ``None`` before the store was first loaded."""
        return self.machine.mode

    @property
    def view(self) -> ModeView:
        """What the current mode offers."""
        return self.machine.view

    @property
    def writable(self) -> bool:
        return self.access is Access.WRITE

    @property
    def readable(self) -> bool:
        return self.access is not Access.NONE

    @property
    def editing(self) -> bool:
        """Whether the form holds values to save (Write or Edit mode)."""
        return self.mode in (Mode.WRITE, Mode.EDIT)

    @property
    def base(self) -> model.Settings | None:
        """The stored settings an edit starts from (an empty password keeps theirs)."""
        return self.stored.settings if self.stored is not None else None

    @property
    def testable(self) -> bool:
        """Whether Test has settings to check in this mode."""
        source = self.view.test
        return source is Source.FORM or (source is Source.STORED and self.stored is not None)

    @property
    def can_detect(self) -> bool:
        """Whether Detect Settings may apply what it finds (from Read-only it enters Edit)."""
        return self.view.form_editable or (
            self.mode is Mode.READ_ONLY and self.writable and self.stored is not None
        )

    def not_writable_reason(self) -> str:
        return (
            f"this account may not change the settings in {self.store.data_dir} "
            "(no write permission). Ask the administrator who manages them, or run "
            "the configurator as that user."
        )

    def still_current(self, tested: model.Settings, generation: int) -> bool:
        """Whether findings of a check of ``tested`` started at ``generation`` still apply.

        In Read-only mode the stored settings must be the ones tested (the pin
        aside: that is what a finding changes); in Write and Edit mode no mode
        may have been entered since the check started.
        """
        import dataclasses

        if self.mode is Mode.READ_ONLY:
            if self.stored is None:
                return False
            kept = dataclasses.replace(tested, tls_fingerprint=self.stored.settings.tls_fingerprint)
            return kept == self.stored.settings
        return self.editing and generation == self.generation

    def stored_unchanged(self) -> bool:
        """Whether the store still holds what the session shows (unreadable: no)."""
        try:
            return self.store.load() == self.stored
        except SettingsUnreadable:
            return False

    # -- moving --------------------------------------------------------------------

    def reload(self) -> None:
        """Read the store again and enter the mode that fits what was found."""
        self.unreadable = None
        self.stored = None
        try:
            self.access = self.store.access()
        except OSError:
            self.access = Access.NONE
        if not self.readable:
            self.machine.go(Mode.REFUSED)
            return
        try:
            self.stored = self.store.load()
        except SettingsUnreadable as exc:
            self.unreadable = exc
            self.machine.go(Mode.UNREADABLE)
            return
        self.machine.go(Mode.WRITE if self.stored is None and self.writable else Mode.READ_ONLY)

    def edit(self) -> bool:
        """Enter Edit from Read-only, if this account may write; True when entered."""
        if self.mode is Mode.READ_ONLY and self.writable and self.stored is not None:
            self.machine.go(Mode.EDIT)
            return True
        return False

    def discard_edits(self) -> None:
        """Back to Read-only with the snapshot taken on entering Edit."""
        self.stored = self.snapshot
        self.machine.go(Mode.READ_ONLY)

    def saved(self, stored: Stored) -> None:
        """``stored`` was saved from the form: show it read-only."""
        self.stored = stored
        self.machine.go(Mode.READ_ONLY)

    def kept(self, stored: Stored) -> None:
        """``stored`` was saved without leaving the mode (a finding of a check)."""
        self.stored = stored
        for listener in list(self._stored_listeners):
            listener(stored)

    def emptied(self) -> None:
        """Nothing is stored any more (Reset, Start Again): new settings are entered."""
        self.unreadable = None
        self.stored = None
        self.machine.go(Mode.WRITE)

    def rebase(self, theirs: Stored | None) -> bool:
        """Edit from ``theirs`` on (Back to Editing); True when a mode was entered.

        Submit then expects ``theirs``'s revision and Cancel returns to it.
        Without a change of mode the form keeps everything; after one the
        caller restores the form's values.
        """
        self.stored = theirs
        target = Mode.EDIT if theirs is not None else Mode.WRITE
        if self.mode is target:
            self.snapshot = theirs
            return False
        if target is Mode.EDIT:
            self.machine.go(Mode.READ_ONLY)  # Edit is entered from Read-only only
        self.machine.go(target)
        return True

    def mark_changed_elsewhere(self) -> None:
        """The stored settings changed under an edit: Submit will ask what to keep."""
        self.changed_elsewhere = True
        self._tell_flag(True)

    def forget_changed_elsewhere(self) -> None:
        """The change elsewhere no longer matters (resolved, or undone)."""
        if self.changed_elsewhere:
            self.changed_elsewhere = False
            self._tell_flag(False)

    def _tell_flag(self, value: bool) -> None:
        for listener in list(self._flag_listeners):
            listener(value)

    def _entered(self, mode: Mode, previous: Mode | None) -> None:
        if mode is Mode.EDIT:
            assert self.stored is not None
            self.snapshot = self.stored
        else:
            self.snapshot = None
        self.changed_elsewhere = False
        self.generation += 1
        for listener in list(self._mode_listeners):
            listener(mode, previous)
