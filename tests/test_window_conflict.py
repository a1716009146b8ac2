"""Concurrent edits: a Submit that finds the settings saved elsewhere meanwhile.

Window A enters Edit; another program (a second ``Store``, a second window,
the command line in a subprocess) saves; A submits.  Nothing may be written
until the admin chose in the conflict dialog, and each answer is checked by
decrypting the real ``settings.enc`` afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTreeWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot
from support.window import (
    SECRET,
    STORED,
    OpenWindow,
    answer,
    click,
    line,
    loaded,
    save_elsewhere,
    type_into,
)

from configurator import audit, model
from configurator.store import Store
from configurator.ui.conflict_dialog import CHANGED, UNCHANGED, ConflictDialog
from configurator.ui.modes import Mode
from configurator.ui.window import MainWindow

THEIR_SECRET = "Sehr-Geheim-42!"
MY_SECRET = "hunter2-secret"

pytest_plugins = ["support.window"]


def open_conflicts(window: MainWindow) -> list[ConflictDialog]:
    """The conflict dialogs shown (a closed one lingers until Qt deletes it)."""
    found = window.findChildren(ConflictDialog, "conflictDialog")
    return [dialog for dialog in found if dialog.isVisible()]


def submit_into_conflict(qtbot: QtBot, window: MainWindow) -> ConflictDialog:
    click(qtbot, window.submit_button)
    shown = open_conflicts(window)
    assert len(shown) == 1, f"{len(shown)} conflict dialogs are open"
    return shown[0]


def rows(dialog: ConflictDialog) -> dict[str, tuple[str, str]]:
    return {label: (yours, theirs) for label, yours, theirs in dialog.shown_rows()}


def dialog_texts(dialog: QWidget) -> list[str]:
    texts = [dialog.windowTitle()]
    for widget in [dialog, *dialog.findChildren(QWidget)]:
        texts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, QLabel | QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QTreeWidget):
            for index in range(widget.topLevelItemCount()):
                item = widget.topLevelItem(index)
                assert item is not None
                for column in range(widget.columnCount()):
                    texts += [item.text(column), item.toolTip(column)]
    return texts


def edit_server_while_port_changes_elsewhere(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> tuple[MainWindow, ConflictDialog]:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mine.example.com")
    save_elsewhere(data_dir, port=2525)
    return window, submit_into_conflict(qtbot, window)


# -- what the dialog shows -------------------------------------------------------------


def test_a_conflict_writes_nothing_and_shows_the_fields_that_differ(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)

    assert loaded(data_dir).revision == 2  # theirs, untouched
    assert loaded(data_dir).settings.server == STORED.server
    assert rows(dialog) == {
        "Outgoing Mail Server": ("mine.example.com", "smtp.example.com"),
        "Server Port": ("587", "2525"),
    }
    assert dialog.isModal()  # window-modal through open(): the form cannot change meanwhile
    assert dialog.back_button.isDefault()  # Enter neither overwrites nor discards
    assert "revision 2" in dialog.who_label.text()
    assert window.mode is Mode.EDIT


def test_the_dialog_names_who_saved_from_the_audit_trail(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mine.example.com")
    saved = save_elsewhere(data_dir, port=2525)
    assert audit.record(data_dir, audit.Action.SUBMIT, fields_changed=["port"]) is None
    user = audit.read(data_dir).entries[-1].user

    dialog = submit_into_conflict(qtbot, window)

    assert dialog.who_label.text().startswith(f"Saved by {user} at ")
    assert f"(revision {saved.revision})" in dialog.who_label.text()


def test_a_password_is_never_shown_only_whether_it_changed(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "password"), MY_SECRET)
    save_elsewhere(data_dir, password=THEIR_SECRET)

    dialog = submit_into_conflict(qtbot, window)

    assert rows(dialog) == {"Password": (CHANGED, CHANGED)}
    texts = "\n".join(dialog_texts(dialog))
    for secret in (SECRET, THEIR_SECRET, MY_SECRET):
        assert secret not in texts


def test_a_password_changed_only_elsewhere_shows_as_unchanged_here(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "account_name"), "Mine")
    save_elsewhere(data_dir, password=THEIR_SECRET)

    dialog = submit_into_conflict(qtbot, window)

    assert rows(dialog) == {
        "Account Name": ("Mine", "Security Monitoring"),
        "Password": (UNCHANGED, CHANGED),
    }


# -- the three answers -----------------------------------------------------------------


def test_keep_mine_saves_the_form_over_the_new_revision(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)

    click(qtbot, dialog.keep_mine_button)

    stored = loaded(data_dir)
    assert stored.revision == 3
    # The form's values win, the port included: it showed 587 when Submit was pressed.
    assert stored.settings == model.build({"server": "mine.example.com", "port": 587}, STORED)
    assert stored.settings.password == SECRET
    assert window.mode is Mode.READ_ONLY
    assert line(window, "server").text() == "mine.example.com"
    last = audit.read(data_dir).entries[-1]
    assert last.action == "submit"
    assert last.fields == ("server", "port")  # against what was stored just before
    assert "replacing revision 2" in last.detail


def test_keep_mine_with_an_empty_password_keeps_the_password_stored_now(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mine.example.com")
    save_elsewhere(data_dir, password=THEIR_SECRET)

    click(qtbot, submit_into_conflict(qtbot, window).keep_mine_button)

    stored = loaded(data_dir)
    assert stored.settings.server == "mine.example.com"
    assert stored.settings.password == THEIR_SECRET


def test_take_theirs_discards_the_edits_and_shows_the_stored_settings(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)
    before = (data_dir / "settings.enc").read_bytes()

    click(qtbot, dialog.take_theirs_button)

    assert (data_dir / "settings.enc").read_bytes() == before
    assert window.mode is Mode.READ_ONLY
    assert line(window, "server").text() == STORED.server
    port = window.form.editor("port")
    assert isinstance(port, QLineEdit)
    assert port.text() == "2525"
    assert not window.isWindowModified()


def test_back_to_editing_keeps_the_form_and_rebases_on_the_stored_revision(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)
    before = (data_dir / "settings.enc").read_bytes()

    click(qtbot, dialog.back_button)

    assert open_conflicts(window) == []
    assert (data_dir / "settings.enc").read_bytes() == before
    assert window.mode is Mode.EDIT
    assert line(window, "server").text() == "mine.example.com"
    # Based on revision 2 now: Submit does not conflict again.
    click(qtbot, window.submit_button)
    assert open_conflicts(window) == []
    stored = loaded(data_dir)
    assert stored.revision == 3
    assert stored.settings.server == "mine.example.com"
    assert stored.settings.port == 587  # the form showed 587 all along
    assert stored.settings.password == SECRET


def test_back_to_editing_keeps_the_password_stored_now_for_an_empty_field(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mine.example.com")
    save_elsewhere(data_dir, password=THEIR_SECRET)
    click(qtbot, submit_into_conflict(qtbot, window).back_button)

    click(qtbot, window.submit_button)

    stored = loaded(data_dir)
    assert stored.revision == 3
    assert stored.settings.server == "mine.example.com"
    assert stored.settings.password == THEIR_SECRET


def test_back_to_editing_then_cancel_shows_what_is_stored_now(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)
    click(qtbot, dialog.back_button)

    click(qtbot, window.cancel_button)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)

    assert window.mode is Mode.READ_ONLY
    assert line(window, "server").text() == STORED.server
    port = window.form.editor("port")
    assert isinstance(port, QLineEdit)
    assert port.text() == "2525"


def test_a_second_change_after_back_to_editing_conflicts_again(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)
    click(qtbot, dialog.back_button)
    save_elsewhere(data_dir, account_name="Third")

    dialog = submit_into_conflict(qtbot, window)

    assert rows(dialog)["Account Name"] == ("Security Monitoring", "Third")
    assert "revision 3" in dialog.who_label.text()
    assert loaded(data_dir).settings.account_name == "Third"


def test_escape_means_back_to_editing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window, dialog = edit_server_while_port_changes_elsewhere(qtbot, open_window, data_dir)

    qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    assert not dialog.isVisible()
    assert window.mode is Mode.EDIT
    assert line(window, "server").text() == "mine.example.com"
    assert loaded(data_dir).revision == 2


# -- other shapes of the same race -------------------------------------------------------


def test_a_save_from_the_command_line_meanwhile_is_a_conflict(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "account_name"), "Edited in the window")
    done = subprocess.run(
        [sys.executable, "-m", "configurator", "set", "--port", "2525"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    dialog = submit_into_conflict(qtbot, window)

    assert rows(dialog) == {
        "Account Name": ("Edited in the window", "Security Monitoring"),
        "Server Port": ("587", "2525"),
    }
    click(qtbot, dialog.keep_mine_button)
    stored = loaded(data_dir).settings
    assert (stored.account_name, stored.port) == ("Edited in the window", 587)


def test_two_windows_the_second_submit_asks(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    first, second = open_window(), open_window()
    first.edit()
    second.edit()
    type_into(qtbot, line(first, "server"), "first.example.com")
    type_into(qtbot, line(second, "server"), "second.example.com")
    click(qtbot, first.submit_button)
    assert loaded(data_dir).settings.server == "first.example.com"

    dialog = submit_into_conflict(qtbot, second)

    assert rows(dialog) == {"Outgoing Mail Server": ("second.example.com", "first.example.com")}
    user = audit.read(data_dir).entries[-1].user
    assert dialog.who_label.text().startswith(f"Saved by {user} at ")
    click(qtbot, dialog.take_theirs_button)
    assert line(second, "server").text() == "first.example.com"


def test_a_first_save_that_finds_settings_stored_meanwhile(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    """Write mode expects nothing stored; Back to Editing moves to Edit with the form kept."""
    window = open_window()
    assert window.mode is Mode.WRITE
    type_into(qtbot, line(window, "account_name"), "Mine")
    type_into(qtbot, line(window, "account_email"), "mine@example.com")
    type_into(qtbot, line(window, "server"), "mine.example.com")
    type_into(qtbot, line(window, "username"), "mine@example.com")
    type_into(qtbot, line(window, "password"), MY_SECRET)
    Store(data_dir).save(STORED)

    dialog = submit_into_conflict(qtbot, window)
    assert rows(dialog)["Outgoing Mail Server"] == ("mine.example.com", "smtp.example.com")
    assert rows(dialog)["Password"] == (CHANGED, CHANGED)  # both set one where none was
    click(qtbot, dialog.back_button)

    assert window.mode is Mode.EDIT
    assert line(window, "server").text() == "mine.example.com"
    assert line(window, "password").text() == MY_SECRET
    click(qtbot, window.submit_button)
    stored = loaded(data_dir)
    assert stored.revision == 2
    assert stored.settings.server == "mine.example.com"
    assert stored.settings.password == MY_SECRET


def test_settings_reset_elsewhere_then_keep_mine_asks_for_the_password(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    """Nothing is stored any more, so an empty password field has nothing to keep."""
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mine.example.com")
    Store(data_dir).reset()

    dialog = submit_into_conflict(qtbot, window)
    assert "no settings are stored now" in dialog.who_label.text()
    click(qtbot, dialog.keep_mine_button)

    assert not (data_dir / "settings.enc").exists()
    assert window.mode is Mode.WRITE
    assert line(window, "server").text() == "mine.example.com"
    assert "required" in window.form.error_text("password")
    type_into(qtbot, line(window, "password"), MY_SECRET)
    click(qtbot, window.submit_button)
    stored = loaded(data_dir)
    assert stored.revision == 1
    assert (stored.settings.server, stored.settings.password) == ("mine.example.com", MY_SECRET)
