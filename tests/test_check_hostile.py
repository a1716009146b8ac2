"""The server check against hostile servers: time limits, terminal safety, exact blame.

Every server here is real and listens on 127.0.0.1 (``support.hostile``):
one drips its replies a byte at a time, one sends terminal escapes, one
presents a certificate whose subject forges a line of the output, one echoes
the password back in altered forms.  The command line runs as a subprocess
and is read as a terminal would show it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTreeWidget, QWidget
from pytestqt.qtbot import QtBot
from support import secrets
from support.hostile import (
    Peer,
    RawServer,
    Script,
    implicit_tls,
    self_signed,
    smtp_dialogue,
    tls_server_context,
)
from support.smtp import PASSWORD, USERNAME, Pki, StartServer, leaf_fingerprint, make_settings

from configurator import mail
from configurator.mail import Candidate, Problem, StepId
from configurator.model import Auth, Security, Settings
from configurator.store import Store
from configurator.ui.certificate_dialog import CertificateDialog
from configurator.ui.check_dialog import CheckDialog, report_text

pytest_plugins = ["support.smtp"]

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
USERS = {USERNAME: PASSWORD}


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(*args: str, timeout: float = 60) -> Run:
    started = time.monotonic()
    completed = subprocess.run(
        [*COMMAND, *args], capture_output=True, cwd=REPO, timeout=timeout, check=False
    )
    run = Run(
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8"),
        time.monotonic() - started,
    )
    assert "Traceback" not in run.stderr, run.stderr
    return run


@pytest.fixture
def raw_server() -> Iterator[Callable[[Script], RawServer]]:
    started: list[RawServer] = []

    def start(script: Script) -> RawServer:
        server = RawServer(script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
    for server in started:
        assert not server.errors, server.errors


def plain(port: int, **changes: object) -> Settings:
    """Plain SMTP without a login: nothing in the way of what the server does."""
    values: dict[str, object] = {
        "security": Security.NONE,
        "auth": Auth.NONE,
        "username": "",
        "password": "",
    }
    values.update(changes)
    return make_settings(port, **values)


def store(data_dir: Path, settings: Settings) -> None:
    Store(data_dir).save(settings)


# -- time limits: a deadline per step, not per recv ----------------------------------


def drip_greeting(peer: Peer) -> None:
    peer.drip("220 " + "x" * 400 + "\r\n", every=0.25)


def drip_ehlo_reply(peer: Peer) -> None:
    peer.send("220 drip.test ESMTP\r\n")
    peer.read_line()
    peer.drip("250-drip.test\r\n250 " + "y" * 400 + "\r\n", every=0.25)


def drip_tls_handshake(peer: Peer) -> None:
    """Answers the ClientHello with the header of a 16 KiB handshake record, then drips it."""
    if peer.read_raw():
        peer.send(b"\x16\x03\x03\x40\x00")
        peer.drip(b"\x02" * 400, every=0.25)


@pytest.mark.parametrize(
    ("script", "security", "step"),
    [
        (drip_greeting, Security.NONE, StepId.GREETING),
        (drip_ehlo_reply, Security.NONE, StepId.EHLO),
        (drip_tls_handshake, Security.SSL_TLS, StepId.TLS),
    ],
)
def test_a_server_dripping_bytes_cannot_stretch_a_step_beyond_the_timeout(
    raw_server: Callable[[Script], RawServer], script: Script, security: Security, step: StepId
) -> None:
    server = raw_server(script)
    started = time.monotonic()

    result = mail.run_check(plain(server.port, security=security, timeout=1.0))

    assert time.monotonic() - started < 2.5
    assert result.failed_step is not None
    assert result.failed_step.id is step
    assert result.failure is not None
    assert "timed out" in result.failure.summary
    assert result.failed_step.duration < 1.5


def test_the_command_line_timeout_bounds_a_dripping_server(
    data_dir: Path, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(drip_greeting)
    store(data_dir, plain(server.port, timeout=60.0))

    run = run_cli("test", "--timeout", "1", timeout=30)

    assert run.returncode == 6
    assert 'FAILED at "Server greeting": timed out' in run.stdout
    # Start-up, one step of 1 s and the goodbye: far from the minute the drip would take.
    assert run.seconds < 8


def test_the_windows_check_is_bounded_by_the_timeout_too(
    qtbot: QtBot, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(drip_greeting)
    host = QWidget()
    qtbot.addWidget(host)
    dialog = CheckDialog(host)
    qtbot.addWidget(dialog)
    settings = plain(server.port, timeout=1.0)
    dialog.prepare(settings, "the stored settings")
    dialog.show()
    started = time.monotonic()

    with qtbot.waitSignal(dialog.check_ended, timeout=10_000) as ended:
        dialog.begin(settings, "the stored settings", 1)

    assert time.monotonic() - started < 3.0
    assert ended.args[0].failed_step.id is StepId.GREETING
    assert dialog.step_outcomes()["greeting"] == "failed"


def test_test_help_states_the_per_step_limit_and_the_bound_of_the_whole_check() -> None:
    run = run_cli("test", "--help")
    text = " ".join(run.stdout.split())
    assert "each step" in text
    assert "9 times" in text


# -- terminal safety: the server's words are shown escaped ----------------------------

LONG = "A" * 5000
ESCAPES = {
    "greeting": "220 evil\x1b]0;owned\x07.test ESMTP\x1b[2J\rpassed   \r\n",
    "EHLO": f"250-evil.test \x1b[31mred\r\n250-{LONG}\r\n250 8BITMIME\r\n",
    "MAIL": "550 5.7.1 \x1b[2J\x1b[Hno\x07 sender\rpassed   Sender accepted \x9b0m\u202e\r\n",
}


def escaping_server(peer: Peer) -> None:
    smtp_dialogue(peer, ESCAPES, greeting=ESCAPES["greeting"])


def unsafe(text: str) -> list[str]:
    """Characters a terminal or a widget would act on (line breaks between lines allowed)."""
    return [char for char in text if char != "\n" and not char.isprintable()]


def test_escape_sequences_from_the_server_are_shown_escaped_on_the_command_line(
    data_dir: Path, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(escaping_server)
    store(data_dir, plain(server.port))

    run = run_cli("test", "--transcript")

    assert run.returncode == 6
    assert unsafe(run.stdout) == []
    assert unsafe(run.stderr) == []
    assert "\\x1b]0;owned\\x07" in run.stdout  # the greeting's title sequence, escaped
    assert "Server reply: 550 5.7.1 \\x1b[2J\\x1b[Hno\\x07 sender\\x0dpassed" in run.stdout
    assert "more characters cut]" in run.stdout  # the 5000-character EHLO line
    assert LONG not in run.stdout
    assert 'FAILED at "Sender accepted"' in run.stdout


def test_json_keeps_the_servers_exact_words_escaped_the_json_way(
    data_dir: Path, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(escaping_server)
    store(data_dir, plain(server.port))

    run = run_cli("test", "--json")

    assert run.returncode == 6
    assert unsafe(run.stdout) == []
    data = json.loads(run.stdout)
    assert data["failure"]["reply"] == ESCAPES["MAIL"].removesuffix("\r\n")
    server_lines = [line["text"] for line in data["transcript"] if line["direction"] == "server"]
    assert ESCAPES["greeting"].removesuffix("\r\n") in server_lines
    assert f"250-{LONG}" in server_lines


def fake_fingerprint() -> str:
    return ":".join(["AB"] * 32)


@pytest.fixture
def forged_certificate(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate whose organisation forges a fingerprint line and hides the real."""
    return self_signed(
        tmp_path,
        common_name="evil.test\x1b[8m",
        organization=f"Evil\n  SHA-256:  {fake_fingerprint()}\n\x1b[8m",
    )


def tls_server(
    raw_server: Callable[[Script], RawServer], certificate: tuple[Path, Path, bytes]
) -> RawServer:
    context = tls_server_context(certificate[0], certificate[1])
    return raw_server(implicit_tls(context, lambda peer: smtp_dialogue(peer, {})))


def test_a_certificate_cannot_forge_a_line_of_the_certificate_block(
    data_dir: Path,
    raw_server: Callable[[Script], RawServer],
    forged_certificate: tuple[Path, Path, bytes],
) -> None:
    server = tls_server(raw_server, forged_certificate)
    store(data_dir, plain(server.port, security=Security.SSL_TLS))

    run = run_cli("test")

    assert run.returncode == 6
    assert 'FAILED at "TLS": certificate not trusted.' in run.stdout
    assert unsafe(run.stdout) == []
    real = hashlib.sha256(forged_certificate[2]).hexdigest()
    colons = ":".join(real[i : i + 2] for i in range(0, 64, 2)).upper()
    fingerprint_lines = [line for line in run.stdout.splitlines() if "SHA-256:" in line]
    assert fingerprint_lines[-1] == f"  SHA-256:  {colons}"
    assert [line for line in run.stdout.splitlines() if line.lstrip().startswith("SHA-256")] == [
        f"  SHA-256:  {colons}"
    ]
    [subject] = [line for line in run.stdout.splitlines() if line.startswith("  Subject:")]
    assert "\\x0a  SHA-256:  AB:AB" in subject


def test_the_window_shows_the_forged_certificate_on_one_line_per_fact(
    qtbot: QtBot,
    raw_server: Callable[[Script], RawServer],
    forged_certificate: tuple[Path, Path, bytes],
) -> None:
    server = tls_server(raw_server, forged_certificate)
    host = QWidget()
    qtbot.addWidget(host)
    dialog = CheckDialog(host)
    qtbot.addWidget(dialog)
    settings = plain(server.port, security=Security.SSL_TLS)
    dialog.prepare(settings, "the stored settings")
    dialog.show()
    with qtbot.waitSignal(dialog.check_ended, timeout=15_000) as ended:
        dialog.begin(settings, "the stored settings", 1)
    result = ended.args[0]
    assert result.failure.problem is Problem.CERT_UNTRUSTED
    assert_widgets_safe(dialog)

    dialog.inspect_certificate()
    certificate_dialog = dialog.findChild(CertificateDialog)
    assert certificate_dialog is not None
    assert_widgets_safe(certificate_dialog)
    subject = certificate_dialog.values["Subject"].text()
    assert "\n" not in subject
    assert "SHA-256:  AB:AB" in subject  # shown, but inside the subject's own line
    certificate_dialog.close()


def test_the_window_shows_escape_sequences_from_the_server_escaped(
    qtbot: QtBot, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(escaping_server)
    host = QWidget()
    qtbot.addWidget(host)
    dialog = CheckDialog(host)
    qtbot.addWidget(dialog)
    settings = plain(server.port)
    dialog.prepare(settings, "the stored settings")
    dialog.show()
    with qtbot.waitSignal(dialog.check_ended, timeout=15_000):
        dialog.begin(settings, "the stored settings", 1)

    assert_widgets_safe(dialog)
    transcript = dialog.transcript.toPlainText()
    assert "\\x1b]0;owned\\x07" in transcript
    assert LONG not in transcript
    report = report_text(dialog.run, dialog.outcome) if dialog.run and dialog.outcome else ""
    assert unsafe(report) == []
    assert "\\x1b[2J" in report


def assert_widgets_safe(widget: QWidget) -> None:
    """No label, tree cell, tooltip or text box of ``widget`` holds a character acted on."""
    texts: list[str] = [label.text() for label in widget.findChildren(QLabel)]
    for tree in widget.findChildren(QTreeWidget):
        for row in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(row)
            assert item is not None
            for column in range(tree.columnCount()):
                texts += [item.text(column), item.toolTip(column)]
    texts += [box.toPlainText() for box in widget.findChildren(QPlainTextEdit)]
    for text in texts:
        assert unsafe(text) == [], text
        assert "<b>" not in text or text.startswith("<qt>")


# -- the advice after a certificate failure reads right in every case --------------------


@pytest.mark.parametrize("case", ["wrong-host", "pin-mismatch"])
def test_a_certificate_only_pinning_can_accept_is_offered_just_that(
    data_dir: Path, smtp_server: StartServer, pki: Pki, case: str
) -> None:
    if case == "wrong-host":
        server = smtp_server(tls="starttls", users=USERS, cert=pki.wrong_host)
        settings = make_settings(server.port, ca_file=str(pki.ca_file))
    else:
        server = smtp_server(tls="starttls", users=USERS)
        settings = make_settings(server.port, tls_fingerprint="ab" * 32)
    store(data_dir, settings)

    run = run_cli("test")

    assert run.returncode == 6
    lines = run.stdout.splitlines()
    assert "To trust it, either:" not in lines
    assert not any(line.startswith("- or pin") for line in lines)
    [advice] = [line for line in lines if line.startswith("To trust it")]
    assert advice.startswith("To trust it anyway, pin exactly this certificate")
    command = lines[lines.index(advice) + 1].split()
    assert command[-2:] == [
        "--tls-fingerprint",
        leaf_fingerprint(pki.wrong_host if case == "wrong-host" else pki.good),
    ]


def test_an_untrusted_certificate_is_offered_both_ways(
    data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, cert=pki.untrusted)
    store(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))

    lines = run_cli("test").stdout.splitlines()

    start = lines.index("To trust it, either:")
    assert lines[start + 1].startswith("- trust the authority")
    assert lines[start + 3].startswith("- or pin exactly this certificate")


# -- the password said back by the server, altered ---------------------------------------


def echoing_server(peer: Peer) -> None:
    """Offers AUTH without TLS and says the password it was sent back, altered three ways."""
    peer.send("220 echo.test ESMTP\r\n")
    while True:
        line = peer.read_line()
        verb = line.split(" ", 1)[0].upper()
        if verb == "EHLO":
            peer.send("250-echo.test\r\n250 AUTH PLAIN LOGIN\r\n")
        elif verb == "AUTH":
            password = base64.b64decode(line.split()[2]).split(b"\0")[2].decode("utf-8")
            peer.send(
                f"535-5.7.8 {password.upper()} is not right\r\n"
                f"535-5.7.8 nor is {password[::-1]}\r\n"
                f"535 5.7.8 and {password[4:11].swapcase()} neither\r\n"
            )
        elif verb == "QUIT":
            peer.send("221 bye\r\n")
            return
        else:
            peer.send("250 ok\r\n")


def altered(password: str) -> list[str]:
    return [password.upper(), password[::-1], password[4:11].swapcase(), password[4:11]]


def test_the_password_said_back_upper_cased_reversed_or_in_part_is_hidden(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(echoing_server)
    settings = make_settings(server.port, security=Security.NONE)

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.AUTH_REJECTED
    shown = json.dumps(result.to_dict(), ensure_ascii=False) + result.transcript_text()
    for form in altered(PASSWORD):
        assert form.casefold() not in shown.casefold()
    assert result.failure.reply == (
        "535-5.7.8 [hidden] is not right\n535-5.7.8 nor is [hidden]\n535 5.7.8 and [hidden] neither"
    )


def test_the_command_line_never_prints_the_password_said_back(
    data_dir: Path, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(echoing_server)
    store(data_dir, make_settings(server.port, security=Security.NONE))

    for args in (["test", "--transcript"], ["test", "--json"]):
        run = run_cli(*args)
        assert run.returncode == 6
        for form in altered(PASSWORD):
            assert form.casefold() not in run.stdout.casefold()
        assert "[hidden]" in run.stdout


@pytest.mark.parametrize(
    ("shown", "found"),
    [
        (PASSWORD.upper(), True),
        (PASSWORD[::-1], True),
        (PASSWORD[4:10], True),
        (PASSWORD[4:10][::-1].upper(), True),
        (PASSWORD[4:9], False),  # five characters may be chance
        ("-Secret-", False),  # letters and a hyphen: ordinary words
        ("535 authentication failed", False),
    ],
)
def test_the_suite_wide_secret_search_finds_altered_forms(shown: str, found: bool) -> None:
    assert (secrets.find(f"server said: {shown}.") is not None) is found


# -- SMTPUTF8: the address that needs it, at the step that needs it ------------------------

INTERNATIONAL = "josé@exämple.com"


def test_a_non_ascii_recipient_is_blamed_not_the_ascii_sender(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, smtputf8=False)
    settings = make_settings(server.port, ca_file=str(pki.ca_file))

    result = mail.run_check(settings, recipient=INTERNATIONAL)

    assert result.step(StepId.SENDER).outcome.value == "passed"
    assert result.failed_step is not None
    assert result.failed_step.id is StepId.RECIPIENT
    assert result.failure is not None
    assert result.failure.problem is Problem.SMTPUTF8_UNSUPPORTED
    assert f"The recipient address {INTERNATIONAL}" in result.failure.cause
    assert settings.account_email not in result.failure.cause
    assert server.recorder.messages == []


def test_a_non_ascii_sender_is_still_blamed_at_the_sender_step(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, smtputf8=False)
    settings = make_settings(
        server.port, ca_file=str(pki.ca_file), account_email="prüfung@example.org"
    )

    result = mail.run_check(settings, recipient="soc@example.org")

    assert result.failed_step is not None
    assert result.failed_step.id is StepId.SENDER
    assert result.failure is not None
    assert "The sender address prüfung@example.org" in result.failure.cause


def test_the_command_line_names_the_recipient_and_its_step(
    data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, smtputf8=False)
    store(data_dir, make_settings(server.port, ca_file=str(pki.ca_file)))

    run = run_cli("test", "--to", INTERNATIONAL)

    assert run.returncode == 6
    assert 'FAILED at "Recipient accepted": the server cannot take' in run.stdout
    assert f"The recipient address {INTERNATIONAL}" in run.stdout


# -- implicit TLS: an alert is the verdict; a second connection is said ---------------------


def protocol_version_alert(peer: Peer) -> None:
    """Answers the ClientHello with a fatal protocol_version alert, then stays silent."""
    if peer.read_raw():
        peer.send(b"\x15\x03\x03\x00\x02\x02\x46")
    peer.hold()


def test_a_tls_alert_on_an_implicit_tls_port_is_the_verdict_at_once(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(protocol_version_alert)
    settings = plain(server.port, security=Security.SSL_TLS, timeout=10.0)
    started = time.monotonic()

    result = mail.run_check(settings)

    assert time.monotonic() - started < 2.0  # no hidden wait for a plain greeting
    assert result.failure is not None
    assert result.failure.problem is Problem.TLS_FAILED
    assert "older than 1.2" in result.failure.cause
    assert server.connections == 1
    assert "alert" in result.transcript_text().lower()


def test_a_second_connection_to_look_for_plain_smtp_is_in_the_transcript(
    raw_server: Callable[[Script], RawServer],
) -> None:
    server = raw_server(lambda peer: smtp_dialogue(peer, {}))
    settings = plain(server.port, security=Security.SSL_TLS, timeout=5.0)

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.PLAIN_SMTP_ON_TLS
    assert server.connections == 2
    notes = [line.text for line in result.transcript if line.direction.value == "note"]
    assert any("connecting a second time, without TLS" in note for note in notes)
    assert any("second connection got a plain SMTP greeting" in note for note in notes)


# -- IP literals: one rule for validation, the check and detection --------------------------

REFUSED_SERVERS = ["0x7f.1", "127.1", "0177.0.0.1", "::1%lo", "fe80::1%ä", "fe80::1"]


@pytest.mark.parametrize("name", REFUSED_SERVERS)
def test_the_check_refuses_a_server_name_the_form_refuses_before_connecting(
    raw_server: Callable[[Script], RawServer], name: str
) -> None:
    server = raw_server(lambda peer: smtp_dialogue(peer, {}))

    result = mail.run_check(plain(server.port, server=name))

    assert result.failure is not None
    assert result.failure.problem is Problem.SERVER_NAME_INVALID
    assert result.failed_step is not None
    assert result.failed_step.id is StepId.RESOLVE
    assert "Name or service not known" not in result.failure.cause
    assert server.connections == 0


def test_detection_follows_the_same_rule(raw_server: Callable[[Script], RawServer]) -> None:
    server = raw_server(lambda peer: smtp_dialogue(peer, {}))

    found = mail.detect("0x7f.1", candidates=[Candidate(server.port, Security.STARTTLS)])

    assert found.best is None
    assert [probe.failure.problem for probe in found.probes if probe.failure] == [
        Problem.SERVER_NAME_INVALID
    ]
    assert server.connections == 0


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("0x7f.1", "four numbers from 0 to 255"),
        ("127.1", "four numbers from 0 to 255"),
        ("::1%lo", "must not have a zone"),
        ("fe80::1%ä", "must not have a zone"),
    ],
)
def test_set_refuses_the_same_names(data_dir: Path, name: str, said: str) -> None:
    store(data_dir, plain(2525))

    run = run_cli("set", "--server", name)

    assert run.returncode == 5
    assert said in run.stderr
    assert Store(data_dir).load().settings.server == "127.0.0.1"  # type: ignore[union-attr]


def test_a_tooltip_shows_markup_from_the_server_as_text() -> None:
    from configurator.ui.check_dialog import plain_tooltip

    shown = plain_tooltip('Failed\n550 <b>bold</b> <img src="x"> \x1b[2J')
    assert shown == (
        "<qt>Failed<br>550 &lt;b&gt;bold&lt;/b&gt; &lt;img src=&quot;x&quot;&gt; \\x1b[2J</qt>"
    )
