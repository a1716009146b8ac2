"""The window's mode table: what each mode offers and which moves are allowed."""

from __future__ import annotations

import pytest

from configurator.ui.modes import (
    LOADED,
    TRANSITIONS,
    VIEWS,
    Button,
    InvalidTransition,
    Mode,
    ModeMachine,
)


def test_every_mode_has_a_view_and_transitions() -> None:
    assert set(VIEWS) == set(Mode)
    assert set(TRANSITIONS) == set(Mode)


@pytest.mark.parametrize(
    ("mode", "buttons", "editable", "edit_action"),
    [
        (Mode.WRITE, {Button.SUBMIT}, True, False),
        (Mode.READ_ONLY, set(), False, True),
        (Mode.EDIT, {Button.RESET, Button.CANCEL, Button.SUBMIT}, True, False),
        (Mode.UNREADABLE, set(), False, False),
        (Mode.REFUSED, set(), False, False),
    ],
)
def test_what_each_mode_offers(
    mode: Mode, buttons: set[Button], editable: bool, edit_action: bool
) -> None:
    view = VIEWS[mode]
    assert view.buttons == buttons
    assert view.form_editable is editable
    assert view.edit_action is edit_action
    assert view.has_edits is editable


def test_edit_is_reached_only_from_read_only() -> None:
    sources = {mode for mode, targets in TRANSITIONS.items() if Mode.EDIT in targets}
    assert sources == {Mode.READ_ONLY}
    assert Mode.EDIT not in LOADED


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Mode.READ_ONLY, Mode.EDIT),  # Edit
        (Mode.EDIT, Mode.READ_ONLY),  # Cancel, Submit
        (Mode.EDIT, Mode.WRITE),  # Reset
        (Mode.WRITE, Mode.READ_ONLY),  # Submit
        (Mode.UNREADABLE, Mode.WRITE),  # Start Again
        (Mode.UNREADABLE, Mode.READ_ONLY),  # Try Again
        (Mode.REFUSED, Mode.READ_ONLY),  # Try Again
    ],
)
def test_the_moves_the_window_makes_are_allowed(start: Mode, target: Mode) -> None:
    assert target in TRANSITIONS[start]


def test_machine_reports_each_change_and_refuses_bad_moves() -> None:
    seen: list[tuple[Mode, Mode | None]] = []
    machine = ModeMachine(lambda mode, previous: seen.append((mode, previous)))
    assert machine.mode is None

    with pytest.raises(InvalidTransition):
        machine.go(Mode.EDIT)  # nothing loaded yet
    machine.go(Mode.READ_ONLY)
    machine.go(Mode.EDIT)
    machine.go(Mode.READ_ONLY)
    machine.go(Mode.READ_ONLY)  # reload re-enters
    with pytest.raises(InvalidTransition):
        ModeMachine(lambda *_: None).go(Mode.EDIT)

    assert seen == [
        (Mode.READ_ONLY, None),
        (Mode.EDIT, Mode.READ_ONLY),
        (Mode.READ_ONLY, Mode.EDIT),
        (Mode.READ_ONLY, Mode.READ_ONLY),
    ]
    assert machine.view == VIEWS[Mode.READ_ONLY]


def test_edit_cannot_be_entered_from_write_or_unreadable() -> None:
    for start in (Mode.WRITE, Mode.UNREADABLE, Mode.REFUSED):
        machine = ModeMachine(lambda *_: None)
        machine.go(start)
        assert not machine.can_go(Mode.EDIT)
        with pytest.raises(InvalidTransition):
            machine.go(Mode.EDIT)
