"""The server check and Detect Settings in the window, against real SMTP servers on 127.0.0.1.

Driven as a person would: the Test button, the results view's fields and
buttons, the certificate dialog, the Detect Settings button.  What was
stored is read back by decrypting the real ``settings.enc``; what the server
received is what the local aiosmtpd server recorded.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot
from support.smtp import (
    PASSWORD,
    USERNAME,
    Pki,
    StartServer,
    assert_no_secret,
    free_port,
    leaf_fingerprint,
    make_settings,
)
from support.window import OpenWindow, click, type_into
from support.window import line as form_line
from support.window import port as form_port
from support.window import stored_settings as stored

from configurator import audit, mail, model, preferences
from configurator.app import create_window
from configurator.mail import Candidate
from configurator.model import Security
from configurator.store import Access, Store
from configurator.ui import workers
from configurator.ui.check_dialog import CheckDialog
from configurator.ui.detect import DetectDialog, DetectRequest, request_from_form
from configurator.ui.modes import VIEWS, Mode, Source
from configurator.ui.window import MainWindow

pytest_plugins = ["support.smtp", "support.window"]

USERS = {USERNAME: PASSWORD}
RECIPIENT = "soc@example.org"
CHECK_TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(qtbot: QtBot) -> Iterator[None]:
    """Every check a test starts has ended (cancelled ones too) before the next test."""
    yield
    qtbot.waitUntil(lambda: workers.running_jobs() == 0, timeout=5000)


@dataclass(frozen=True)
class Lab:
    """The window, its data directory and the local servers, for tests that need them all."""

    open_window: OpenWindow
    data_dir: Path
    smtp_server: StartServer
    pki: Pki


@pytest.fixture
def lab(open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki) -> Lab:
    return Lab(open_window, data_dir, smtp_server, pki)


def open_check(qtbot: QtBot, window: MainWindow) -> CheckDialog:
    click(qtbot, window.test_button)
    dialog = window.check_dialog
    assert isinstance(dialog, CheckDialog)
    assert dialog.isVisible()
    return dialog


def run_check(qtbot: QtBot, dialog: CheckDialog, recipient: str | None = None) -> mail.CheckResult:
    if recipient is not None:
        type_into(qtbot, dialog.recipient_input, recipient)
    with qtbot.waitSignal(dialog.check_ended, timeout=CHECK_TIMEOUT_MS) as ended:
        click(qtbot, dialog.start_button)
    result = ended.args[0]
    assert isinstance(result, mail.CheckResult)
    return result


def open_box(parent: QWidget, name: str) -> QMessageBox:
    """The visible message box ``name`` (a closed one may linger until deleted)."""
    boxes = [box for box in parent.findChildren(QMessageBox, name) if box.isVisible()]
    assert len(boxes) == 1, f"{len(boxes)} message boxes {name!r} are open"
    return boxes[0]


def widget_texts(root: QWidget) -> list[str]:
    """Every piece of text ``root`` and its descendants hold or show."""
    texts = [root.windowTitle()]
    for widget in [root, *root.findChildren(QWidget)]:
        texts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, QLineEdit):
            texts += [widget.text(), widget.displayText(), widget.placeholderText()]
        elif isinstance(widget, QLabel | QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QPlainTextEdit):
            texts.append(widget.toPlainText())
        elif isinstance(widget, QTreeWidget):
            root_item = widget.invisibleRootItem()
            for row in range(root_item.childCount()):
                item = root_item.child(row)
                assert item is not None
                for column in range(widget.columnCount()):
                    texts += [item.text(column), item.toolTip(column)]
        elif isinstance(widget, QComboBox):
            texts += [widget.itemText(i) for i in range(widget.count())]
    return texts


def store_settings(data_dir: Path, settings: model.Settings) -> None:
    Store(data_dir).save(settings)


# -- what each mode tests -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "source"),
    [
        (Mode.WRITE, Source.FORM),
        (Mode.READ_ONLY, Source.STORED),
        (Mode.EDIT, Source.FORM),
        (Mode.UNREADABLE, None),
        (Mode.REFUSED, None),
    ],
)
def test_what_the_test_button_checks_in_each_mode(mode: Mode, source: Source | None) -> None:
    assert VIEWS[mode].test is source


# -- Read-only: the stored settings ---------------------------------------------------


def test_read_only_check_shows_steps_live_sends_the_mail_and_remembers_the_recipient(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    store_settings(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))
    assert audit.record(data_dir, audit.Action.SUBMIT, detail="revision 1") is None
    window = open_window()
    assert window.mode is Mode.READ_ONLY
    before = (data_dir / "settings.enc").read_bytes()
    qtbot.waitUntil(lambda: window.last_change_label.text() != "")
    last_change = window.last_change_label.text()

    dialog = open_check(qtbot, window)
    assert "stored settings" in dialog.source_label.text()
    assert dialog.recipient_input.text() == ""  # nothing remembered yet
    assert set(dialog.step_outcomes().values()) == {"pending"}
    live: list[tuple[str, str]] = []
    dialog.step_shown.connect(lambda step, outcome: live.append((step, outcome)))

    result = run_check(qtbot, dialog, RECIPIENT)

    assert result.passed
    # Every step was shown running, then passed, before the check ended.
    for step in ("resolve", "connect", "greeting", "ehlo", "tls", "auth", "sender", "recipient"):
        assert live.index((step, "running")) < live.index((step, "passed"))
    assert ("message", "passed") in live
    assert set(dialog.step_outcomes().values()) == {"passed"}
    assert dialog.verdict.title() == "The check passed"
    assert "accepted the connection, the login and the sender" in dialog.verdict.text()
    assert RECIPIENT in dialog.verdict.text()
    assert not dialog.cancel_button.isEnabled()
    assert dialog.start_button.isEnabled()
    # The server got the test e-mail ...
    [received] = server.recorder.messages
    assert received.rcpt_tos == [RECIPIENT]
    assert mail.TEST_SUBJECT.encode() in received.content
    # ... and the recipient is remembered as this user's preference.  Looking wrote
    # nothing: no new revision, no submit in the trail, "Last changed by" as it was.
    assert preferences.remembered_recipient() == RECIPIENT
    assert (data_dir / "settings.enc").read_bytes() == before
    actions = [entry.action for entry in audit.read(data_dir).entries]
    assert actions == [audit.Action.SUBMIT, audit.Action.CHECK]
    qtbot.wait(20)
    assert window.last_change_label.text() == last_change
    assert window.mode is Mode.READ_ONLY
    assert form_line(window, "test_recipient").text() == ""
    assert "remembered as your Test Recipient" in dialog.notice.text()

    # Next time the recipient is offered again.
    dialog.close()
    assert open_check(qtbot, window).recipient_input.text() == RECIPIENT


def test_a_check_without_recipient_sends_nothing_and_says_how_to_send(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    store_settings(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))
    window = open_window()
    before = (data_dir / "settings.enc").read_bytes()

    result = run_check(qtbot, open_check(qtbot, window))

    assert result.passed
    assert server.recorder.messages == []
    outcomes = window.check_dialog.step_outcomes() if window.check_dialog else {}
    assert outcomes["recipient"] == outcomes["message"] == "skipped"
    assert "No test e-mail was sent" in window.check_dialog.verdict.text()  # type: ignore[union-attr]
    assert (data_dir / "settings.enc").read_bytes() == before


def test_an_invalid_recipient_is_refused_before_anything_is_sent(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    store_settings(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))
    window = open_window()
    dialog = open_check(qtbot, window)
    type_into(qtbot, dialog.recipient_input, "soc(at)example.org")

    with qtbot.assertNotEmitted(dialog.start_requested, wait=100):
        click(qtbot, dialog.start_button)

    assert dialog.recipient_error.isVisible()
    # Beside the field only the problem, as in the form.
    assert dialog.recipient_error.text() == model.recipient_problem("soc(at)example.org")
    assert not dialog.running
    assert server.recorder.commands == []


def test_a_reader_can_check_and_remember_the_recipient_but_writes_no_setting(
    qtbot: QtBot, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = lab.data_dir
    server = lab.smtp_server(tls="starttls", users=USERS)
    store_settings(data_dir, make_settings(server.port, ca_file=str(lab.pki.ca_file)))
    monkeypatch.setattr(Store, "access", lambda self: Access.READ)
    window = lab.open_window()
    assert not window.writable
    before = (data_dir / "settings.enc").read_bytes()

    result = run_check(qtbot, open_check(qtbot, window), RECIPIENT)

    assert result.passed
    assert len(server.recorder.messages) == 1
    assert (data_dir / "settings.enc").read_bytes() == before
    assert window.check_dialog is not None
    assert "remembered as your Test Recipient" in window.check_dialog.notice.text()
    assert preferences.remembered_recipient() == RECIPIENT


# -- Edit and Write: the unsaved form -----------------------------------------------


def test_edit_mode_checks_the_unsaved_form_and_the_check_writes_nothing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    # Stored: a port where nothing listens.  The form gets the real one.
    store_settings(data_dir, make_settings(free_port(), ca_file=str(pki.ca_file)))
    window = open_window()
    window.edit()
    type_into(qtbot, form_port(window), str(server.port))
    before = (data_dir / "settings.enc").read_bytes()

    dialog = open_check(qtbot, window)
    assert "form" in dialog.source_label.text()
    assert f"port {server.port}" in dialog.target_label.text()
    result = run_check(qtbot, dialog, RECIPIENT)

    assert result.passed  # the empty password field used the stored password
    assert server.auth_attempts == [("PLAIN", USERNAME)]
    assert len(server.recorder.messages) == 1
    assert (data_dir / "settings.enc").read_bytes() == before
    # The recipient is a preference: the form and its edits are as the user left them.
    assert window.mode is Mode.EDIT
    assert form_line(window, "test_recipient").text() == ""
    assert preferences.remembered_recipient() == RECIPIENT

    click(qtbot, window.submit_button)
    saved = stored(data_dir)
    assert (saved.port, saved.test_recipient) == (server.port, "")
    assert saved.password == PASSWORD


def test_write_mode_tests_before_anything_is_saved(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer
) -> None:
    server = smtp_server(tls="none")
    window = open_window()
    assert window.mode is Mode.WRITE
    type_into(qtbot, form_line(window, "account_name"), "Security Monitoring")
    type_into(qtbot, form_line(window, "account_email"), "alerts@example.org")
    type_into(qtbot, form_line(window, "server"), "127.0.0.1")
    security = window.form.editor("security")
    assert isinstance(security, QComboBox)
    security.setCurrentIndex(security.findData("none"))
    type_into(qtbot, form_port(window), str(server.port))
    auth = window.form.editor("auth")
    assert isinstance(auth, QComboBox)
    auth.setCurrentIndex(auth.findData("none"))

    dialog = open_check(qtbot, window)
    result = run_check(qtbot, dialog)

    assert result.passed
    assert "accepted the connection and the sender" in dialog.verdict.text()  # no login
    assert not (data_dir / "settings.enc").exists()
    assert window.mode is Mode.WRITE


def test_invalid_form_values_are_shown_instead_of_being_tested(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    store_settings(data_dir, make_settings(free_port()))
    window = open_window()
    window.edit()
    type_into(qtbot, form_line(window, "server"), "smtp://mail.example.org")

    click(qtbot, window.test_button)

    assert window.check_dialog is None
    assert window.form.error_text("server")
    assert "Not tested" in window.statusBar().currentMessage()
    assert workers.running_jobs() == 0


# -- failures --------------------------------------------------------------------------


def test_a_wrong_password_fails_at_authentication_in_plain_words_and_is_never_shown(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    wrong = "Wr0ng-Pässwörd-never-shown"
    server = smtp_server(tls="starttls", users=USERS)
    store_settings(data_dir, make_settings(server.port, ca_file=str(pki.ca_file), password=wrong))
    window = open_window()
    dialog = open_check(qtbot, window)

    result = run_check(qtbot, dialog, RECIPIENT)

    assert not result.passed
    outcomes = dialog.step_outcomes()
    assert outcomes["auth"] == "failed"
    assert outcomes["tls"] == "passed"
    assert outcomes["sender"] == outcomes["message"] == "skipped"
    title = dialog.verdict.title()
    assert "Authentication" in title
    assert "authentication rejected" in title
    assert USERNAME in dialog.verdict.text()  # the cause names the account
    assert "Password" in dialog.verdict.text()  # the fix says what to check
    assert server.recorder.messages == []
    assert preferences.remembered_recipient() == ""  # a failed check remembers nothing

    dialog.transcript_toggle.click()
    assert "AUTH PLAIN [hidden]" in dialog.transcript.toPlainText()
    click(qtbot, dialog.copy_transcript_button)
    transcript = QGuiApplication.clipboard().text()
    assert "AUTH" in transcript
    click(qtbot, dialog.copy_report_button)
    report = QGuiApplication.clipboard().text()
    assert "FAILED at Authentication: authentication rejected" in report
    texts = widget_texts(dialog) + widget_texts(window)
    assert_no_secret(wrong, USERNAME, transcript, report, *texts)


def test_a_silent_server_leaves_the_window_responsive_and_cancel_is_prompt(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, silent_port: int
) -> None:
    store_settings(data_dir, make_settings(silent_port, security=Security.NONE, timeout=60.0))
    window = open_window()
    dialog = open_check(qtbot, window)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    with qtbot.waitSignal(dialog.step_shown, timeout=5000, check_params_cb=_greeting_running):
        click(qtbot, dialog.start_button)
    timer.start()
    qtbot.wait(1000)  # the check waits for a greeting that never comes
    timer.stop()
    assert dialog.running
    assert dialog.step_outcomes()["greeting"] == "running"
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert len(ticks) > 20
    assert max(gaps) < 0.2

    started = time.perf_counter()
    with qtbot.waitSignal(dialog.check_ended, timeout=1000) as ended:
        click(qtbot, dialog.cancel_button)
    assert time.perf_counter() - started < 1.0
    result = ended.args[0]
    assert result.cancelled
    assert dialog.step_outcomes()["greeting"] == "cancelled"
    assert dialog.verdict.title() == "Check cancelled"
    assert not dialog.running
    not_run = [
        dialog.steps.topLevelItem(row)
        for row in range(dialog.steps.topLevelItemCount())
        if dialog.steps.topLevelItem(row).data(0, Qt.ItemDataRole.UserRole) == "skipped"
    ]
    assert not_run
    for item in not_run:
        assert item.text(2) == "not run: the check was cancelled"
        assert "did not succeed" not in item.toolTip(2)


def _greeting_running(step: str, outcome: str) -> bool:
    return (step, outcome) == ("greeting", "running")


def test_closing_the_window_during_a_check_does_not_wait_and_does_not_warn(
    qtbot: QtBot, data_dir: Path, silent_port: int
) -> None:
    store_settings(data_dir, make_settings(silent_port, security=Security.NONE, timeout=60.0))
    # Not handed to qtbot: this test deletes the window itself, mid-check.
    window = create_window(data_dir)
    window.show()
    dialog = open_check(qtbot, window)
    with qtbot.waitSignal(dialog.step_shown, timeout=5000, check_params_cb=_greeting_running):
        click(qtbot, dialog.start_button)
    assert workers.running_jobs() == 1

    started = time.perf_counter()
    window.close()
    closed_in = time.perf_counter() - started
    assert not window.isVisible()
    assert not dialog.isVisible()
    assert dialog.cancel_requested
    window.deleteLater()  # the check is still unwinding on its worker
    qtbot.waitUntil(lambda: workers.running_jobs() == 0, timeout=2000)

    assert closed_in < 0.5
    # qt_log_level_fail=WARNING fails this test on any Qt warning, such as
    # "QThread: Destroyed while thread is still running".


def test_reset_during_a_check_cancels_it_first(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, silent_port: int
) -> None:
    store_settings(data_dir, make_settings(silent_port, security=Security.NONE, timeout=60.0))
    window = open_window()
    window.edit()
    dialog = open_check(qtbot, window)
    with qtbot.waitSignal(dialog.step_shown, timeout=5000, check_params_cb=_greeting_running):
        click(qtbot, dialog.start_button)
    cancelled_before_reset: list[bool] = []
    real_reset = window.store.reset

    def reset() -> list[str]:
        cancelled_before_reset.append(dialog.cancel_requested or not dialog.running)
        return real_reset()

    window.store.reset = reset  # type: ignore[method-assign]

    with qtbot.waitSignal(dialog.check_ended, timeout=2000) as ended:
        click(qtbot, window.reset_button)
        box = open_box(window, "resetConfirmation")
        yes = box.button(QMessageBox.StandardButton.Yes)
        assert yes is not None
        click(qtbot, yes)

    assert cancelled_before_reset == [True]
    assert ended.args[0].cancelled
    assert window.mode is Mode.WRITE
    assert not (data_dir / "settings.enc").exists()


# -- certificates ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.READ_ONLY, Mode.EDIT])
def test_an_untrusted_certificate_can_be_inspected_and_trusted_then_the_check_passes(
    qtbot: QtBot, lab: Lab, mode: Mode
) -> None:
    open_window, data_dir, smtp_server, pki = (
        lab.open_window,
        lab.data_dir,
        lab.smtp_server,
        lab.pki,
    )
    server = smtp_server(tls="starttls", users=USERS, cert=pki.untrusted)
    store_settings(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))
    window = open_window()
    if mode is Mode.EDIT:
        window.edit()
    before = (data_dir / "settings.enc").read_bytes()
    dialog = open_check(qtbot, window)

    result = run_check(qtbot, dialog)

    assert not result.passed
    assert dialog.step_outcomes()["tls"] == "failed"
    assert "certificate not trusted" in dialog.verdict.title()
    assert server.auth_attempts == []  # nothing was sent over an untrusted connection
    click(qtbot, dialog.certificate_button)
    shown = dialog.findChild(QWidget, "certificateDialog")
    assert shown is not None
    assert shown.isVisible()
    fingerprint = leaf_fingerprint(pki.untrusted)
    colon_form = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    fingerprint_label = shown.findChild(QLabel, "certificateFingerprint")
    assert fingerprint_label is not None
    assert fingerprint_label.text().replace("\n", "") == colon_form
    subject = shown.findChild(QLabel, "certificateSubject")
    assert subject is not None
    assert subject.text()
    names = shown.findChild(QLabel, "certificateNames")
    assert names is not None
    assert "127.0.0.1" in names.text()
    assert "only this one" in " ".join(widget_texts(shown))  # what trusting means
    trust = shown.findChild(QPushButton, "trustCertificateButton")
    assert trust is not None
    assert not trust.isDefault()

    with qtbot.waitSignal(dialog.check_ended, timeout=CHECK_TIMEOUT_MS) as again:
        click(qtbot, trust)

    assert again.args[0].passed  # the check ran again at once, with the pin
    if mode is Mode.READ_ONLY:
        assert stored(data_dir).tls_fingerprint == fingerprint
        assert window.mode is Mode.READ_ONLY
    else:
        assert (data_dir / "settings.enc").read_bytes() == before
        assert form_line(window, "tls_fingerprint").text() == fingerprint
        click(qtbot, window.submit_button)
        assert stored(data_dir).tls_fingerprint == fingerprint
    assert server.auth_attempts == [("PLAIN", USERNAME)]


def test_a_trusted_certificate_can_be_viewed_but_not_pinned(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    store_settings(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))
    window = open_window()
    dialog = open_check(qtbot, window)
    assert run_check(qtbot, dialog).passed

    click(qtbot, dialog.certificate_button)

    shown = dialog.findChild(QWidget, "certificateDialog")
    assert shown is not None
    assert shown.findChild(QPushButton, "trustCertificateButton") is None
    fingerprint_label = shown.findChild(QLabel, "certificateFingerprint")
    assert fingerprint_label is not None
    shown_hex = fingerprint_label.text().replace(":", "").replace("\n", "").lower()
    assert shown_hex == leaf_fingerprint(pki.good)


# -- Detect Settings ---------------------------------------------------------------------


def run_detect(qtbot: QtBot, window: MainWindow) -> DetectDialog:
    click(qtbot, window.form.detect_button)
    dialog = window.detect_dialog
    assert isinstance(dialog, DetectDialog)
    assert dialog.isVisible()
    if dialog.running:
        assert dialog.progress.isVisible()
        with qtbot.waitSignal(dialog.detect_ended, timeout=CHECK_TIMEOUT_MS):
            pass
    return dialog


def test_detect_offers_the_best_combination_and_apply_enters_edit(
    qtbot: QtBot, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_window, data_dir, smtp_server, pki = (
        lab.open_window,
        lab.data_dir,
        lab.smtp_server,
        lab.pki,
    )
    starttls = smtp_server(tls="starttls", users=USERS)
    nothing = free_port()
    monkeypatch.setattr(
        mail,
        "DEFAULT_CANDIDATES",
        (
            Candidate(nothing, Security.SSL_TLS),
            Candidate(starttls.port, Security.STARTTLS),
            Candidate(free_port(), Security.STARTTLS),
        ),
    )
    # Stored: the wrong combination (SSL/TLS on a port where nothing listens).
    store_settings(
        data_dir,
        make_settings(nothing, security=Security.SSL_TLS, ca_file=str(pki.ca_file)),
    )
    window = open_window()
    before = (data_dir / "settings.enc").read_bytes()

    dialog = run_detect(qtbot, window)

    assert dialog.found is not None
    assert dialog.verdict.title() == f"Use STARTTLS on port {starttls.port}"
    assert "login was accepted" in dialog.verdict.text()
    assert starttls.auth_attempts == [("PLAIN", USERNAME)]
    assert not dialog.progress.isVisible()
    assert dialog.apply_button.isDefault()
    assert window.mode is Mode.READ_ONLY

    click(qtbot, dialog.apply_button)

    assert window.mode is Mode.EDIT
    assert form_port(window).text() == str(starttls.port)
    assert window.form.values()["security"] == "starttls"
    assert not dialog.isVisible()
    assert (data_dir / "settings.enc").read_bytes() == before  # applied, not saved
    click(qtbot, window.submit_button)
    saved = stored(data_dir)
    assert (saved.port, saved.security) == (starttls.port, Security.STARTTLS)
    assert saved.password == PASSWORD


def test_detect_uses_the_stored_password_when_the_edit_field_is_empty(
    qtbot: QtBot, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_window, data_dir, smtp_server, pki = (
        lab.open_window,
        lab.data_dir,
        lab.smtp_server,
        lab.pki,
    )
    implicit = smtp_server(tls="implicit", users=USERS)
    monkeypatch.setattr(mail, "DEFAULT_CANDIDATES", (Candidate(implicit.port, Security.SSL_TLS),))
    store_settings(data_dir, make_settings(free_port(), ca_file=str(pki.ca_file)))
    window = open_window()
    window.edit()

    dialog = run_detect(qtbot, window)

    assert dialog.found is not None
    assert dialog.found.best is not None
    assert dialog.found.best.auth_verified
    assert implicit.auth_attempts == [("PLAIN", USERNAME)]
    click(qtbot, dialog.apply_button)
    assert window.form.values()["security"] == "ssl_tls"
    assert form_port(window).text() == str(implicit.port)


def test_detect_offers_an_unencrypted_server_only_with_a_warning_and_a_question(
    qtbot: QtBot,
    open_window: OpenWindow,
    data_dir: Path,
    smtp_server: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = smtp_server(tls="none", users=USERS, auth_over_plain=True)
    monkeypatch.setattr(
        mail,
        "DEFAULT_CANDIDATES",
        (Candidate(free_port(), Security.SSL_TLS), Candidate(plain.port, Security.STARTTLS)),
    )
    store_settings(data_dir, make_settings(free_port()))
    window = open_window()
    window.edit()
    port_before = form_port(window).text()

    dialog = run_detect(qtbot, window)

    assert dialog.found is not None
    assert dialog.found.best is None
    assert dialog.verdict.kind is not None
    assert dialog.verdict.kind.value == "warning"
    assert dialog.verdict.title() == "No encrypted connection works"
    assert "readable by anyone" in dialog.verdict.text()
    assert "Without Encryption" in dialog.apply_button.text()
    assert not dialog.apply_button.text().startswith("&Use STARTTLS")
    assert plain.auth_attempts == []  # no credentials over a plain connection
    assert plain.recorder.received_auth == []

    click(qtbot, dialog.apply_button)
    box = open_box(dialog, "unencryptedConfirmation")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    cancel = box.button(QMessageBox.StandardButton.Cancel)
    assert cancel is not None
    click(qtbot, cancel)
    assert window.form.values()["security"] == "starttls"  # nothing changed
    assert form_port(window).text() == port_before

    click(qtbot, dialog.apply_button)
    box = open_box(dialog, "unencryptedConfirmation")
    yes = box.button(QMessageBox.StandardButton.Yes)
    assert yes is not None
    click(qtbot, yes)
    assert window.form.values()["security"] == "none"
    assert form_port(window).text() == str(plain.port)
    assert window.form.warning.isVisible()  # Login/Plain without encryption, said again


def test_detect_without_a_server_points_at_the_field(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    click(qtbot, window.form.detect_button)
    assert window.detect_dialog is None
    assert window.form.error_text("server") == "is required"


FORM_VALUES: dict[str, object] = {
    "server": "smtp.example.org",
    "auth": "login_plain",
    "username": "alerts",
    "password": "",
    "timeout": "20",
    "ca_file": "",
    "tls_fingerprint": "AB:" * 31 + "AB",
}


@pytest.mark.parametrize(
    ("changes", "stored_password", "expected"),
    [
        ({}, "kept-secret", ("alerts", "kept-secret")),
        ({"password": "typed"}, "kept-secret", ("alerts", "typed")),
        ({"auth": "none"}, "kept-secret", ("", "")),  # no login: no credentials at all
        ({}, "", ("alerts", "")),
    ],
)
def test_the_detection_request_follows_the_form(
    changes: dict[str, object], stored_password: str, expected: tuple[str, str]
) -> None:
    request = request_from_form({**FORM_VALUES, **changes}, stored_password=stored_password)
    assert isinstance(request, DetectRequest)
    assert (request.username, request.password) == expected
    assert request.timeout == 20.0
    assert request.tls_fingerprint == "ab" * 32
    assert "kept-secret" not in repr(request)


@pytest.mark.parametrize("typed", ["0", "", "1000", "."])
def test_a_timeout_the_model_refuses_gives_way_to_the_default_in_detection(typed: str) -> None:
    request = request_from_form({**FORM_VALUES, "timeout": typed})
    assert isinstance(request, DetectRequest)
    assert request.timeout == model.Settings().timeout


@pytest.mark.parametrize(
    ("server", "problem"), [("", "is required"), ("smtp://mail.example.org", "without a scheme")]
)
def test_the_detection_needs_a_valid_server(server: str, problem: str) -> None:
    found = request_from_form({**FORM_VALUES, "server": server})
    assert isinstance(found, model.FieldError)
    assert found.key == "server"
    assert problem in found.message


# -- loading ---------------------------------------------------------------------------------

IMPORT_DRIVER = """
import json, sys
from PySide6.QtWidgets import QApplication
from configurator.app import create_window
app = QApplication([])
window = create_window()
window.show()
app.processEvents()
before = sorted(sys.modules)
window.test_button.click()
app.processEvents()
after = sorted(sys.modules)
window.check_dialog.close()
window.close_without_asking()
print(json.dumps({"before": before, "after": after}))
"""

MAIL_MODULES = frozenset({"configurator.mail", "smtplib", "ssl", "_ssl"})


def test_the_window_loads_no_mail_code_until_a_check_is_opened(data_dir: Path) -> None:
    store_settings(data_dir, make_settings(25, server="smtp.example.org"))
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_DRIVER],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    loaded = json.loads(completed.stdout.splitlines()[-1])
    assert MAIL_MODULES.isdisjoint(loaded["before"])
    # The probe is sensitive: opening the check loads the mail package (TLS still waits).
    assert "configurator.mail" in loaded["after"]
    assert "ssl" not in loaded["after"]


def test_detect_in_the_window_tries_the_stored_port_first(
    qtbot: QtBot, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server on a port of its own is found, as by the command line (mail.candidates_for)."""
    starttls = lab.smtp_server(tls="starttls", users=USERS)
    closed = (Candidate(free_port(), Security.SSL_TLS), Candidate(free_port(), Security.STARTTLS))
    monkeypatch.setattr(mail, "DEFAULT_CANDIDATES", closed)
    store_settings(lab.data_dir, make_settings(starttls.port, ca_file=str(lab.pki.ca_file)))
    window = lab.open_window()

    dialog = run_detect(qtbot, window)

    rows = [
        dialog.probes.topLevelItem(row).text(0) for row in range(dialog.probes.topLevelItemCount())
    ]
    assert rows == [f"STARTTLS on port {starttls.port}", *(c.label for c in closed)]
    assert f"Trying STARTTLS on port {starttls.port}, " in dialog.explanation.text()
    assert dialog.found is not None
    assert dialog.verdict.title() == f"Use STARTTLS on port {starttls.port}"


def test_the_detection_request_carries_the_form_s_port() -> None:
    request = request_from_form({**FORM_VALUES, "port": "2526", "security": "none"})
    assert isinstance(request, DetectRequest)
    assert (request.port, request.security) == (2526, Security.NONE)
    for port in ("", "0", "70000", "25x"):
        request = request_from_form({**FORM_VALUES, "port": port})
        assert isinstance(request, DetectRequest)
        assert request.port is None
