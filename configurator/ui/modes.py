"""The window's modes as one small, explicit state machine.

Each mode has one ``ModeView`` saying what the window offers in it, and
``TRANSITIONS`` lists every allowed move.  The window applies a view in one
place instead of sprinkling ``setEnabled`` calls over its handlers, so "what
can the user do now" can be read (and tested) from this table alone.  No Qt.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from configurator.frozen import frozen


class Mode(enum.Enum):
    """Where the window is."""

    WRITE = "write"  # nothing stored yet: the form is editable, Submit stores it
    READ_ONLY = "read_only"  # stored settings shown; Edit (if allowed) enters EDIT
    EDIT = "edit"  # changing stored settings: Reset, Cancel, Submit
    UNREADABLE = "unreadable"  # a settings file exists but cannot be used
    REFUSED = "refused"  # this account may not read the store at all

    @property
    def title(self) -> str:
        return {
            Mode.WRITE: "New settings",
            Mode.READ_ONLY: "Read-only",
            Mode.EDIT: "Editing",
            Mode.UNREADABLE: "Settings unreadable",
            Mode.REFUSED: "No access",
        }[self]


class Button(enum.Enum):
    """The form's action buttons whose presence depends on the mode."""

    RESET = "reset"
    CANCEL = "cancel"
    SUBMIT = "submit"


class Source(enum.Enum):
    """Which settings the server check tests."""

    FORM = "form"  # the values in the form, valid but not saved
    STORED = "stored"  # the stored settings


@frozen
class ModeView:
    """What the window offers in one mode."""

    form_editable: bool  # fields accept input
    form_enabled: bool  # False greys out the whole form (nothing usable is shown)
    buttons: frozenset[Button]  # the action buttons shown
    edit_action: bool  # the Edit action is offered (if the store is writable)
    has_edits: bool  # the form may hold changes that closing would lose
    test: Source | None = None  # what the Test button checks; None: no Test


VIEWS: dict[Mode, ModeView] = {
    Mode.WRITE: ModeView(
        form_editable=True,
        form_enabled=True,
        buttons=frozenset({Button.SUBMIT}),
        edit_action=False,
        has_edits=True,
        test=Source.FORM,  # test before saving
    ),
    Mode.READ_ONLY: ModeView(
        form_editable=False,
        form_enabled=True,
        buttons=frozenset(),
        edit_action=True,
        has_edits=False,
        test=Source.STORED,
    ),
    Mode.EDIT: ModeView(
        form_editable=True,
        form_enabled=True,
        buttons=frozenset({Button.RESET, Button.CANCEL, Button.SUBMIT}),
        edit_action=False,
        has_edits=True,
        test=Source.FORM,
    ),
    Mode.UNREADABLE: ModeView(
        form_editable=False,
        form_enabled=False,
        buttons=frozenset(),
        edit_action=False,
        has_edits=False,
    ),
    Mode.REFUSED: ModeView(
        form_editable=False,
        form_enabled=False,
        buttons=frozenset(),
        edit_action=False,
        has_edits=False,
    ),
}

# Where loading the store can lead, from any mode (start, "Try Again", reload
# after a conflict or a failed save).
LOADED: frozenset[Mode] = frozenset({Mode.WRITE, Mode.READ_ONLY, Mode.UNREADABLE, Mode.REFUSED})

TRANSITIONS: dict[Mode, frozenset[Mode]] = {
    Mode.WRITE: LOADED | {Mode.READ_ONLY},  # Submit
    Mode.READ_ONLY: LOADED | {Mode.EDIT},  # Edit
    Mode.EDIT: LOADED | {Mode.READ_ONLY, Mode.WRITE},  # Cancel or Submit; Reset
    Mode.UNREADABLE: LOADED | {Mode.WRITE},  # Start Again
    Mode.REFUSED: LOADED,
}


class InvalidTransition(RuntimeError):
    """A move the table does not allow: a bug in the caller, not a user error."""


class ModeMachine:
    """Holds the current mode and tells a listener about every change."""

    def __init__(self, on_enter: Callable[[Mode, Mode | None], None]) -> None:
        self._mode: Mode | None = None
        self._on_enter = on_enter

    @property
    def mode(self) -> Mode | None:
        """The current mode, ``None`` before the store was first loaded."""
        return self._mode

    @property
    def view(self) -> ModeView:
        return VIEWS[self._mode] if self._mode is not None else VIEWS[Mode.REFUSED]

    def can_go(self, target: Mode) -> bool:
        allowed = LOADED if self._mode is None else TRANSITIONS[self._mode]
        return target in allowed

    def go(self, target: Mode) -> None:
        """Enter ``target``; the listener is called even when re-entering the same mode."""
        if not self.can_go(target):
            raise InvalidTransition(f"cannot go from {self._mode} to {target}")
        previous = self._mode
        self._mode = target
        self._on_enter(target, previous)
