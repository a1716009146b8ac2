"""The server check against hostile servers: time limits, terminal safety, exact blame.

Every server here is real and listens on 127.0.0.1 (``support.hostile``):
one drips its replies a byte at a time, one sends terminal escapes, one
presents a certificate whose subject forges a line of the output, one echoes
the password back in altered forms.  The command line runs as a subprocess
and is read as a terminal would show it.
"""

from __future__ import annotations

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
from configurator.mail import Problem, StepId
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


@pytest.mark.parametrize(
    ("script", "step"),
    [(drip_greeting, StepId.GREETING), (drip_ehlo_reply, StepId.EHLO)],
)
def test_a_server_dripping_bytes_cannot_stretch_a_step_beyond_the_timeout(
    raw_server: Callable[[Script], RawServer], script: Script, step: StepId
) -> None:
    server = raw_server(script)
    started = time.monotonic()

    result = mail.run_check(plain(server.port, timeout=1.0))

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
