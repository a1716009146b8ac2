"""The window's state without a window: the edit session over a real store.

Everything the window shows follows from the session (``ui/session.py``), so
its rules are driven here directly: modes entered, what Cancel returns to, a
stale snapshot meeting a change saved elsewhere, what changes on disk mean,
and why a late check result no longer applies.  No Qt is loaded
(``test_imports.test_the_edit_session_imports_no_qt``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support.window import STORED

from configurator import model
from configurator.errors import ConflictError
from configurator.store import Access, Store
from configurator.ui.modes import InvalidTransition, Mode, Source
from configurator.ui.session import EditSession


class Heard:
    """What a session told its listeners, in order."""

    def __init__(self, session: EditSession) -> None:
        self.modes: list[tuple[Mode, Mode | None]] = []
        self.flags: list[bool] = []
        self.kept: list[int] = []
        session.on_mode(lambda mode, previous: self.modes.append((mode, previous)))
        session.on_changed_elsewhere(self.flags.append)
        session.on_stored(lambda stored: self.kept.append(stored.revision))


def stored_session(data_dir: Path) -> tuple[EditSession, Heard]:
    Store(data_dir).save(STORED)
    session = EditSession(Store(data_dir))
    heard = Heard(session)
    session.reload()
    return session, heard


def test_an_empty_store_is_written_and_a_save_shows_it_read_only(data_dir: Path) -> None:
    session = EditSession(Store(data_dir))
    heard = Heard(session)
    session.reload()
    assert session.mode is Mode.WRITE
    assert session.editing
    assert session.view.test is Source.FORM
    assert session.testable
    assert session.base is None
    saved = session.store.save(STORED)
    session.saved(saved)
    assert session.mode is Mode.READ_ONLY
    assert session.stored == saved
    assert heard.modes == [(Mode.WRITE, None), (Mode.READ_ONLY, Mode.WRITE)]


def test_edit_takes_a_snapshot_and_cancel_returns_to_it(data_dir: Path) -> None:
    session, heard = stored_session(data_dir)
    first = session.stored
    assert session.mode is Mode.READ_ONLY
    assert session.testable
    assert session.can_detect
    assert session.edit()
    assert session.mode is Mode.EDIT
    assert session.snapshot == first
    assert session.base == STORED
    session.discard_edits()
    assert session.mode is Mode.READ_ONLY
    assert session.snapshot is None
    assert session.stored == first
    assert [mode for mode, _ in heard.modes] == [Mode.READ_ONLY, Mode.EDIT, Mode.READ_ONLY]


def test_the_mode_table_still_refuses_what_it_does_not_allow(data_dir: Path) -> None:
    session = EditSession(Store(data_dir))
    session.reload()
    assert not session.edit()  # nothing stored: no Edit
    with pytest.raises(InvalidTransition):
        session.machine.go(Mode.EDIT)  # the table of modes decides, not the caller
    assert session.mode is Mode.WRITE


def test_a_reader_may_not_edit(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(data_dir).save(STORED)
    monkeypatch.setattr(Store, "access", lambda self: Access.READ)
    session = EditSession(Store(data_dir))
    session.reload()
    assert session.mode is Mode.READ_ONLY
    assert session.readable
    assert not session.writable
    assert not session.can_detect
    assert str(data_dir) in session.not_writable_reason()
    assert not session.edit()
    assert session.mode is Mode.READ_ONLY


def test_no_access_is_refused_and_damage_is_unreadable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _ = stored_session(data_dir)
    (data_dir / "settings.enc").write_bytes(b"not settings")
    session.reload()
    assert session.mode is Mode.UNREADABLE
    assert session.unreadable is not None
    assert session.stored is None
    session.emptied()  # Start Again
    assert session.mode is Mode.WRITE
    assert session.unreadable is None
    monkeypatch.setattr(Store, "access", lambda self: Access.NONE)
    session.reload()
    assert session.mode is Mode.REFUSED
    assert not session.readable
    assert not session.testable


def test_a_stale_snapshot_meets_a_change_saved_elsewhere(data_dir: Path) -> None:
    session, heard = stored_session(data_dir)
    session.edit()
    assert session.stored_unchanged()
    other = Store(data_dir)
    theirs = other.save(
        dataclasses.replace(STORED, server="mail.example.org"),
        expected_revision=1,
        expected_lineage=session.stored.lineage if session.stored else None,
    )
    assert not session.stored_unchanged()
    session.mark_changed_elsewhere()
    assert session.changed_elsewhere
    assert heard.flags == [True]
    # Submit from the snapshot is refused by the store: the conflict the window asks about.
    stale = session.stored
    assert stale is not None
    with pytest.raises(ConflictError):
        session.store.save(STORED, expected_revision=stale.revision, expected_lineage=stale.lineage)
    # Back to Editing: the edit goes on from theirs, without a new mode.
    generation = session.generation
    assert not session.rebase(theirs)
    assert session.stored == theirs
    assert session.snapshot == theirs
    assert session.generation == generation
    session.forget_changed_elsewhere()
    session.forget_changed_elsewhere()  # said once only
    assert heard.flags == [True, False]
    assert session.stored_unchanged()
    saved = session.store.save(
        STORED, expected_revision=theirs.revision, expected_lineage=theirs.lineage
    )
    session.saved(saved)
    assert session.mode is Mode.READ_ONLY


def test_back_to_editing_when_the_settings_were_reset_elsewhere(data_dir: Path) -> None:
    session, _ = stored_session(data_dir)
    session.edit()
    Store(data_dir).reset()
    assert not session.stored_unchanged()
    assert session.rebase(None)  # nothing stored now: a new mode, Write
    assert session.mode is Mode.WRITE
    assert session.stored is None


def test_reload_shows_what_was_changed_on_disk(data_dir: Path) -> None:
    session, heard = stored_session(data_dir)
    assert session.stored is not None
    Store(data_dir).save(
        dataclasses.replace(STORED, port=465, security=model.Security.SSL_TLS),
        expected_revision=session.stored.revision,
        expected_lineage=session.stored.lineage,
    )
    assert not session.stored_unchanged()
    session.reload()
    assert session.stored is not None
    assert session.stored.revision == 2
    assert session.stored.settings.port == 465
    assert session.stored_unchanged()
    assert heard.modes[-1] == (Mode.READ_ONLY, Mode.READ_ONLY)


def test_every_mode_entry_bumps_the_generation_and_drops_late_results(data_dir: Path) -> None:
    session = EditSession(Store(data_dir))
    session.reload()
    started = session.generation
    tested = dataclasses.replace(STORED, password="")
    assert session.still_current(tested, started)
    saved = session.store.save(STORED)
    session.saved(saved)  # Write -> Read-only while the check ran
    assert session.generation == started + 1
    assert not session.still_current(tested, started)
    session.edit()
    in_edit = session.generation
    assert session.still_current(STORED, in_edit)
    session.discard_edits()
    session.edit()  # another Edit session: the earlier check's findings are not for it
    assert not session.still_current(STORED, in_edit)
    assert session.still_current(STORED, session.generation)


def test_in_read_only_a_finding_applies_to_the_settings_it_tested(data_dir: Path) -> None:
    session, heard = stored_session(data_dir)
    assert session.stored is not None
    pinned = dataclasses.replace(STORED, tls_fingerprint="ab" * 32)
    assert session.still_current(pinned, generation=-1)  # the pin aside, the same settings
    assert not session.still_current(dataclasses.replace(STORED, port=2525), generation=-1)
    saved = session.store.save(
        pinned,
        expected_revision=session.stored.revision,
        expected_lineage=session.stored.lineage,
    )
    modes = list(heard.modes)
    session.kept(saved)
    assert session.stored == saved
    assert heard.kept == [saved.revision]
    assert heard.modes == modes  # no mode entered


def test_listeners_hear_of_a_mode_once_the_state_fits_it(data_dir: Path) -> None:
    """The window builds its widgets from the session in the listener: all must be set."""
    session, _ = stored_session(data_dir)
    seen: list[tuple[Mode, bool, int, bool]] = []
    session.on_mode(
        lambda mode, _previous: seen.append(
            (mode, session.snapshot is not None, session.generation, session.changed_elsewhere)
        )
    )
    session.mark_changed_elsewhere()
    before = session.generation
    session.edit()
    session.discard_edits()
    assert seen == [
        (Mode.EDIT, True, before + 1, False),
        (Mode.READ_ONLY, False, before + 2, False),
    ]
