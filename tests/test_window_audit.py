"""What the window writes to the audit trail, and the History view that shows it.

Each test acts through the window's widgets and then reads the trail back
with ``audit.read`` -- the chain verified against the real audit key -- and
searches the raw bytes of ``audit.log`` for any password or setting value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QLabel,
    QMessageBox,
    QTreeWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot
from support.smtp import PASSWORD, USERNAME, Pki, StartServer, free_port, make_settings
from support.window import SECRET, STORED, OpenWindow, answer, click, line, type_into

from configurator import audit, fsutil, mail
from configurator.store import Access, Store
from configurator.ui import workers
from configurator.ui.banner import Kind
from configurator.ui.check_dialog import CheckDialog
from configurator.ui.history import INTACT, NOT_INTACT, HistoryDialog
from configurator.ui.modes import Mode
from configurator.ui.window import MainWindow

pytest_plugins = ["support.smtp", "support.window"]

NEW_SECRET = "correct horse battery staple"
CHECK_TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(qtbot: QtBot) -> Iterator[None]:
    yield
    qtbot.waitUntil(lambda: workers.running_jobs() == 0, timeout=5000)


def trail(data_dir: Path) -> audit.AuditReport:
    report = audit.read(data_dir)
    assert report.intact, report.problem
    assert all(entry.verified for entry in report.entries)
    return report


def assert_no_values_in_the_log(data_dir: Path, *values: str) -> None:
    blob = (data_dir / "audit.log").read_bytes()
    for value in values:
        for form in (value.encode(), value.encode("unicode_escape")):
            assert form not in blob, value


def submit_in_write_mode(qtbot: QtBot, window: MainWindow) -> None:
    type_into(qtbot, line(window, "account_name"), STORED.account_name)
    type_into(qtbot, line(window, "account_email"), STORED.account_email)
    type_into(qtbot, line(window, "server"), STORED.server)
    type_into(qtbot, line(window, "username"), STORED.username)
    type_into(qtbot, line(window, "password"), SECRET)
    click(qtbot, window.submit_button)
    assert window.mode is Mode.READ_ONLY


# -- what is recorded -------------------------------------------------------------------


def test_submits_record_the_fields_they_changed_and_never_a_value(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    submit_in_write_mode(qtbot, window)
    window.edit()
    type_into(qtbot, line(window, "server"), "mail.example.net")
    type_into(qtbot, line(window, "password"), NEW_SECRET)
    click(qtbot, window.submit_button)

    entries = trail(data_dir).entries
    assert [entry.action for entry in entries] == ["submit", "submit"]
    first, second = entries
    assert first.fields == (
        "account_name",
        "account_email",
        "server",
        "username",
        "password",
    )
    assert first.detail == "revision 1"
    assert second.fields == ("server", "password")
    assert second.detail == "revision 2"
    stored = Store(data_dir).load()
    assert stored is not None
    assert stored.settings.password == NEW_SECRET
    assert_no_values_in_the_log(
        data_dir, SECRET, NEW_SECRET, "mail.example.net", STORED.server, STORED.username
    )


def test_reset_is_recorded_after_the_confirmation(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    click(qtbot, window.reset_button)
    assert not (data_dir / "audit.log").exists()  # asking is not doing

    answer(qtbot, window, "resetConfirmation", QMessageBox.StandardButton.Yes)

    assert window.mode is Mode.WRITE
    (entry,) = trail(data_dir).entries
    assert entry.action == "reset"
    assert entry.fields == ()
    assert entry.detail == "settings file and data key destroyed"


def test_start_again_is_recorded_with_where_the_file_was_kept(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x01
    path.write_bytes(bytes(blob))
    window = open_window()
    assert window.mode is Mode.UNREADABLE
    # A file changed behind the program's back is worth a record too.
    (failed,) = trail(data_dir).entries
    assert failed.action == "unlock_failed"
    assert failed.detail == "tampered"

    click(qtbot, window.banner.buttons()[1])
    answer(qtbot, window, "startAgainConfirmation", QMessageBox.StandardButton.Yes)

    (kept,) = data_dir.glob("settings.enc.unreadable-*")
    _, entry = trail(data_dir).entries
    assert entry.action == "start_again"
    assert entry.detail == f"kept as {kept.name}"


def test_a_missing_key_is_recorded_as_a_failed_unlock(
    open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    (data_dir / "settings.key").unlink()

    window = open_window()

    assert window.mode is Mode.UNREADABLE
    (entry,) = trail(data_dir).entries
    assert entry.action == "unlock_failed"
    assert entry.detail == "key_missing"  # the record keeps the code ...


def test_history_says_why_an_unlock_failed_in_words(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    """... and History shows it in words, as ``configurator audit`` does."""
    Store(data_dir).save(STORED)
    (data_dir / "settings.key").unlink()
    window = open_window()

    dialog = open_history(qtbot, window)

    (row,) = dialog.rows()
    assert row[2:] == ("Stored settings could not be opened", "", "the data key is missing")


def test_a_reader_records_nothing(
    open_window: OpenWindow, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever may not write the store cannot write its trail either; no warning for that."""
    Store(data_dir).save(STORED)
    (data_dir / "settings.key").unlink()
    monkeypatch.setattr(Store, "access", lambda self: Access.READ)

    window = open_window()

    assert window.mode is Mode.UNREADABLE
    assert not (data_dir / "audit.log").exists()
    assert "audit" not in window.statusBar().currentMessage()


def test_an_audit_failure_is_shown_in_the_status_bar_and_does_not_block_the_save(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    (data_dir / "audit.log").mkdir()  # cannot be appended to
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mail.example.net")

    click(qtbot, window.submit_button)

    stored = Store(data_dir).load()
    assert stored is not None
    assert stored.settings.server == "mail.example.net"
    message = window.statusBar().currentMessage()
    assert message.startswith("Settings saved (revision 2).")
    assert "audit trail" in message
    assert "not recorded" in message
    assert [box for box in window.findChildren(QMessageBox) if box.isVisible()] == []


# -- checks ---------------------------------------------------------------------------


def run_check(qtbot: QtBot, window: MainWindow) -> tuple[CheckDialog, mail.CheckResult]:
    click(qtbot, window.test_button)
    dialog = window.check_dialog
    assert isinstance(dialog, CheckDialog)
    with qtbot.waitSignal(dialog.check_ended, timeout=CHECK_TIMEOUT_MS) as ended:
        click(qtbot, dialog.start_button)
    result = ended.args[0]
    assert isinstance(result, mail.CheckResult)
    return dialog, result


def test_a_failed_check_is_recorded_with_the_step_and_the_problem(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(make_settings(free_port()))
    window = open_window()

    _dialog, result = run_check(qtbot, window)

    assert not result.passed
    (entry,) = trail(data_dir).entries
    assert entry.action == "check"
    assert entry.detail == "failed at Connect: connection refused"
    assert_no_values_in_the_log(data_dir, PASSWORD, USERNAME)


def test_a_passed_check_of_the_form_is_recorded_as_such(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users={USERNAME: PASSWORD})
    Store(data_dir).save(make_settings(free_port(), ca_file=str(pki.ca_file)))
    window = open_window()
    window.edit()
    port = window.form.editor("port")
    type_into(qtbot, port, str(server.port))

    _dialog, result = run_check(qtbot, window)

    assert result.passed
    (entry,) = trail(data_dir).entries
    assert (entry.action, entry.detail) == ("check", "passed (values in the form, not saved)")


def test_a_cancelled_check_is_recorded_as_cancelled(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, silent_port: int
) -> None:
    Store(data_dir).save(make_settings(silent_port, timeout=10.0))
    window = open_window()
    click(qtbot, window.test_button)
    dialog = window.check_dialog
    assert isinstance(dialog, CheckDialog)
    click(qtbot, dialog.start_button)
    qtbot.waitUntil(lambda: dialog.step_outcomes().get("greeting") == "running", timeout=5000)

    with qtbot.waitSignal(dialog.check_ended, timeout=CHECK_TIMEOUT_MS):
        click(qtbot, dialog.cancel_button)

    (entry,) = trail(data_dir).entries
    assert (entry.action, entry.detail) == ("check", "cancelled")


# -- the history view and the last change ---------------------------------------------------


def open_history(qtbot: QtBot, window: MainWindow) -> HistoryDialog:
    button = window.toolbar.widgetForAction(window.history_action)
    assert isinstance(button, QAbstractButton)
    click(qtbot, button)
    dialog = window.findChild(HistoryDialog, "historyDialog")
    assert isinstance(dialog, HistoryDialog)
    assert dialog.isVisible()
    return dialog


def texts_of(root: QWidget) -> str:
    texts = [root.windowTitle()]
    for widget in [root, *root.findChildren(QWidget)]:
        texts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, QLabel | QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QTreeWidget):
            for index in range(widget.topLevelItemCount()):
                item = widget.topLevelItem(index)
                assert item is not None
                for column in range(widget.columnCount()):
                    texts += [item.text(column), item.toolTip(column)]
    return "\n".join(texts)


def test_history_lists_the_entries_newest_first_with_an_intact_chain(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    submit_in_write_mode(qtbot, window)
    window.edit()
    type_into(qtbot, line(window, "server"), "mail.example.net")
    click(qtbot, window.submit_button)
    window.edit()
    click(qtbot, window.reset_button)
    answer(qtbot, window, "resetConfirmation", QMessageBox.StandardButton.Yes)
    user = trail(data_dir).entries[0].user

    dialog = open_history(qtbot, window)

    assert not dialog.isModal()
    rows = dialog.rows()
    assert [row[1:] for row in rows] == [
        (user, "Settings reset", "", "settings file and data key destroyed"),
        (user, "Settings saved", "Outgoing Mail Server", "revision 2"),
        (
            user,
            "Settings saved",
            "Account Name, Account E-mail Address, Outgoing Mail Server, User Name, Password",
            "revision 1",
        ),
    ]
    assert rows[0][0] >= rows[1][0] >= rows[2][0]  # local times, newest first
    assert dialog.chain.title() == INTACT
    assert dialog.chain.kind is Kind.SUCCESS
    assert SECRET not in texts_of(dialog)
    # Still open beside the window (now in Write mode); what the window does next appears in it.
    submit_in_write_mode(qtbot, window)
    assert dialog.rows()[0][2] == "Settings saved"
    assert len(dialog.rows()) == 4


def test_history_shows_a_broken_chain_prominently(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    for detail in ("one", "two", "three"):
        assert audit.record(data_dir, audit.Action.CHECK, detail=detail) is None
    window = open_window()
    dialog = open_history(qtbot, window)
    assert dialog.chain.title() == INTACT
    log = data_dir / "audit.log"
    first, _second, third = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(first + third)  # a record removed from the middle

    click(qtbot, dialog.refresh_button)

    assert dialog.chain.title() == NOT_INTACT
    assert dialog.chain.kind is Kind.ERROR
    assert "missing" in dialog.chain.text()
    assert [row[4] for row in dialog.rows()] == ["(sealed)", "one"]


def test_an_empty_history_says_so(qtbot: QtBot, open_window: OpenWindow) -> None:
    dialog = open_history(qtbot, open_window())

    assert dialog.rows() == []
    assert dialog.empty.isVisible()
    assert not dialog.table.isVisible()


def test_the_status_bar_says_who_changed_the_settings_last(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    assert not window.last_change_label.isVisible()

    submit_in_write_mode(qtbot, window)

    user = trail(data_dir).entries[-1].user
    qtbot.waitUntil(window.last_change_label.isVisible)
    assert window.last_change_label.text().startswith(f"Last changed by {user} at ")


# -- start-up cleanup -------------------------------------------------------------------


def test_the_window_removes_temporary_files_of_a_killed_save_at_start(
    open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    before = (data_dir / "settings.enc").read_bytes()
    leftover = data_dir / f".settings.enc.k1lled{fsutil.TEMP_SUFFIX}"
    leftover.write_bytes(os.urandom(64))

    window = open_window()

    assert not leftover.exists()
    assert (data_dir / "settings.enc").read_bytes() == before
    assert window.mode is Mode.READ_ONLY
    assert "1 temporary file" in window.statusBar().currentMessage()


# -- alike in the window and on the command line ---------------------------------------


def test_a_check_with_a_test_email_is_recorded_as_the_command_line_words_it(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users={USERNAME: PASSWORD})
    Store(data_dir).save(make_settings(server.port, ca_file=str(pki.ca_file)))
    window = open_window()
    click(qtbot, window.test_button)
    dialog = window.check_dialog
    assert isinstance(dialog, CheckDialog)
    dialog.recipient_input.setText("soc@example.net")
    with qtbot.waitSignal(dialog.check_ended, timeout=CHECK_TIMEOUT_MS):
        click(qtbot, dialog.start_button)

    checks = [entry for entry in trail(data_dir).entries if entry.action == "check"]
    assert [entry.detail for entry in checks] == ["passed; the server accepted the test e-mail"]


def test_history_shows_the_times_the_command_line_shows(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    import time

    try:
        with monkeypatch.context() as patch:
            patch.setenv("TZ", "Europe/Berlin")
            time.tzset()
            window = open_window()
            submit_in_write_mode(qtbot, window)
            shown = open_history(qtbot, window).rows()[0][0]
            printed = subprocess.run(
                [sys.executable, "-m", "configurator", "audit"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    finally:
        time.tzset()  # TZ is back as it was
    assert shown.endswith((" CET", " CEST"))
    assert any(line.startswith(f"{shown}  ") for line in printed.splitlines()), printed


def test_history_never_breaks_a_word_at_its_hyphen(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    from PySide6.QtGui import QTextLayout, QTextOption

    detail = "passed; the server accepted the test e-mail"
    assert audit.record(data_dir, audit.Action.CHECK, detail=detail) is None
    dialog = open_history(qtbot, open_window())
    item = dialog.table.item(0, 4)
    assert item is not None
    assert dialog.rows()[0][4] == detail
    # Lay the cell's text out as the view does, at a width that ends just after "e-".
    font = dialog.table.font()
    width = dialog.table.fontMetrics().horizontalAdvance(detail[: detail.index("-") + 1]) + 1
    layout = QTextLayout(item.text(), font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)  # as the view wraps cells
    layout.setTextOption(option)
    layout.beginLayout()
    lines: list[str] = []
    while (text_line := layout.createLine()).isValid():
        text_line.setLineWidth(width)
        lines.append(
            item.text()[text_line.textStart() : text_line.textStart() + text_line.textLength()]
        )
    layout.endLayout()
    assert len(lines) == 2, lines
    assert not any(text.rstrip().endswith(("-", "\u2011")) for text in lines), lines
