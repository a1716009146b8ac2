"""STARTTLS and login replies a correct server rarely gives, from a scripted peer.

Each reply code the check tells apart is sent by a real peer on 127.0.0.1; the
test then looks at the failure a person would read: which kind, which step,
and the server's reply quoted exactly.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator

import pytest
from support.peer import STARTTLS_NOW, ScriptedServer, by_command, scripted
from support.smtp import PASSWORD, USERNAME, Pki, make_settings, server_context

from configurator import mail
from configurator.mail import Outcome, Problem, StepId
from configurator.mail.errors import MailError
from configurator.model import Auth, Security, Settings

pytest_plugins = ["support.smtp"]

EHLO_PLAIN = b"250-scripted.example.org\r\n250 AUTH PLAIN LOGIN\r\n"
EHLO_STARTTLS = b"250-scripted.example.org\r\n250 STARTTLS\r\n"


@pytest.fixture
def tls(pki: Pki) -> ssl.SSLContext:
    return server_context(pki.good)


def failure_of(settings: Settings) -> MailError:
    with pytest.raises(MailError) as caught:
        mail.open_connection(settings).close()
    return caught.value


def plain(port: int, **changes: object) -> Settings:
    values: dict[str, object] = {"security": Security.NONE}
    values.update(changes)
    return make_settings(port, **values)


def starttls(port: int, pki: Pki, **changes: object) -> Settings:
    values: dict[str, object] = {"ca_file": str(pki.ca_file)}
    values.update(changes)
    return make_settings(port, **values)


@pytest.fixture
def serve() -> Iterator[list[ScriptedServer]]:
    running: list[ScriptedServer] = []
    yield running
    for server in running:
        server.close()


# -- how a refused login is explained -------------------------------------------


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (538, Problem.AUTH_NEEDS_ENCRYPTION),
        (530, Problem.AUTH_NEEDS_ENCRYPTION),
        (400, Problem.AUTH_TEMPORARY),
        (454, Problem.AUTH_TEMPORARY),
        (499, Problem.AUTH_TEMPORARY),
        (500, Problem.AUTH_NOT_OFFERED),
        (501, Problem.AUTH_REJECTED),
        (502, Problem.AUTH_NOT_OFFERED),
        (503, Problem.AUTH_REJECTED),
        (504, Problem.AUTH_MECHANISM_UNSUPPORTED),
        (505, Problem.AUTH_REJECTED),
        (535, Problem.AUTH_REJECTED),
        (539, Problem.AUTH_REJECTED),
    ],
)
def test_each_refusal_of_a_plain_login_is_told_apart(code: int, problem: Problem) -> None:
    reply = f"{code} 5.7.0 scripted refusal {code}"
    answer = by_command({"EHLO": EHLO_PLAIN, "AUTH": f"{reply}\r\n".encode()})
    with scripted(answer) as server:
        error = failure_of(plain(server.port))
    assert error.problem is problem
    assert error.step is StepId.AUTH
    assert error.failure.reply == reply
    assert "?" not in error.failure.cause
    if problem is Problem.AUTH_MECHANISM_UNSUPPORTED:
        assert error.failure.cause == (
            "The server offers AUTH PLAIN, but this program logs in only with PLAIN or LOGIN."
        )
    if problem is Problem.AUTH_NOT_OFFERED:
        assert error.failure.cause.endswith("cannot check a user name and password.")


def test_530_to_a_login_over_tls_is_a_rejection_not_a_call_for_encryption(
    pki: Pki, tls: ssl.SSLContext
) -> None:
    answer = by_command(
        {
            "EHLO": [EHLO_STARTTLS, EHLO_PLAIN],
            "STARTTLS": STARTTLS_NOW,
            "AUTH": b"530 5.7.0 Authentication required\r\n",
        }
    )
    with scripted(answer, tls=tls) as server:
        error = failure_of(starttls(server.port, pki))
    assert error.problem is Problem.AUTH_REJECTED
    assert error.failure.reply == "530 5.7.0 Authentication required"


def test_no_auth_on_a_plain_connection_suggests_encryption() -> None:
    answer = by_command({"EHLO": b"250 scripted.example.org\r\n"})
    with scripted(answer) as server:
        error = failure_of(plain(server.port))
    assert error.problem is Problem.AUTH_NOT_OFFERED
    assert error.failure.cause.endswith(
        "password. Many servers offer AUTH only on an encrypted connection."
    )


def test_no_auth_over_tls_says_nothing_about_encryption(pki: Pki, tls: ssl.SSLContext) -> None:
    answer = by_command(
        {"EHLO": [EHLO_STARTTLS, b"250 scripted.example.org\r\n"], "STARTTLS": STARTTLS_NOW}
    )
    with scripted(answer, tls=tls) as server:
        error = failure_of(starttls(server.port, pki))
    assert error.problem is Problem.AUTH_NOT_OFFERED
    assert error.failure.cause.endswith("cannot check a user name and password.")


def test_a_login_over_plain_smtp_succeeds_with_a_note(pki: Pki) -> None:
    answer = by_command({"EHLO": EHLO_PLAIN, "AUTH": b"235 2.7.0 Authentication successful\r\n"})
    with scripted(answer) as server:
        result = mail.run_check(plain(server.port))
    assert result.passed, result.failure
    auth = next(step for step in result.steps if step.id is StepId.AUTH)
    assert auth.outcome is Outcome.PASSED
    assert auth.reply == "235 2.7.0 Authentication successful"
    assert auth.detail == f"logged in as {USERNAME} with AUTH PLAIN"
    assert auth.notes == ("the password was sent without encryption",)
    tls_step = next(step for step in result.steps if step.id is StepId.TLS)
    assert tls_step.outcome is Outcome.SKIPPED
    assert tls_step.detail == "Connection Security is None: the connection is not encrypted"


def test_without_authentication_the_login_step_is_skipped_and_says_why() -> None:
    answer = by_command({"EHLO": EHLO_PLAIN})
    with scripted(answer) as server:
        settings = plain(server.port, auth=Auth.NONE, username="", password="")
        result = mail.run_check(settings)
        assert not any(line.startswith("AUTH") for line in server.lines)
    auth = next(step for step in result.steps if step.id is StepId.AUTH)
    assert auth.outcome is Outcome.SKIPPED
    assert auth.detail == "Authentication Method is None: no login"


# -- 530 to MAIL FROM --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("5.7.0 Must issue a STARTTLS command first", Problem.ENCRYPTION_REQUIRED),
        ("5.7.0 Authentication required", Problem.AUTH_REQUIRED),
    ],
)
def test_530_to_the_sender_on_a_plain_connection_says_what_is_missing(
    text: str, problem: Problem
) -> None:
    answer = by_command({"EHLO": EHLO_PLAIN, "MAIL": f"530 {text}\r\n".encode()})
    with scripted(answer) as server:
        settings = plain(server.port, auth=Auth.NONE, username="", password="")
        with mail.open_connection(settings) as connection, pytest.raises(MailError) as caught:
            connection.mail_from("alerts@example.org")
    assert caught.value.problem is problem
    assert caught.value.failure.reply == f"530 {text}"


def test_530_naming_tls_over_tls_asks_for_a_login(pki: Pki, tls: ssl.SSLContext) -> None:
    answer = by_command(
        {
            "EHLO": [EHLO_STARTTLS, b"250 scripted.example.org\r\n"],
            "STARTTLS": STARTTLS_NOW,
            "MAIL": b"530 5.7.0 TLS session ok, but log in first\r\n",
        }
    )
    with scripted(answer, tls=tls) as server:
        settings = starttls(server.port, pki, auth=Auth.NONE, username="", password="")
        with mail.open_connection(settings) as connection, pytest.raises(MailError) as caught:
            connection.mail_from("alerts@example.org")
    assert caught.value.problem is Problem.AUTH_REQUIRED


# -- STARTTLS ----------------------------------------------------------------------


def test_a_refused_starttls_is_reported_with_the_reply_and_nothing_more_is_sent(
    pki: Pki,
) -> None:
    answer = by_command({"EHLO": EHLO_STARTTLS, "STARTTLS": b"454 4.7.0 TLS not available\r\n"})
    with scripted(answer) as server:
        error = failure_of(starttls(server.port, pki))
        sent = list(server.lines)
    assert error.problem is Problem.STARTTLS_REFUSED
    assert error.step is StepId.TLS
    assert error.failure.reply == "454 4.7.0 TLS not available"
    assert not any(line.startswith(("AUTH", "MAIL")) for line in sent)


def test_data_sent_right_after_the_starttls_reply_is_refused_before_the_handshake(
    pki: Pki,
) -> None:
    injected = STARTTLS_NOW + b"250 injected reply\r\n"
    answer = by_command({"EHLO": EHLO_STARTTLS, "STARTTLS": injected})
    with scripted(answer) as server:
        error = failure_of(starttls(server.port, pki))
        sent = list(server.lines)
    assert error.problem is Problem.STARTTLS_INJECTION
    assert error.step is StepId.TLS
    assert "STARTTLS" in sent
    assert not any(
        line.startswith(("AUTH", "EHLO", "MAIL")) for line in sent[sent.index("STARTTLS") :]
    )


def test_after_starttls_the_capabilities_are_asked_again_and_only_those_count(
    pki: Pki, tls: ssl.SSLContext
) -> None:
    """RFC 3207: what the server said before TLS may have been forged."""
    answer = by_command(
        {
            "EHLO": [EHLO_STARTTLS, b"250-scripted.example.org\r\n250 AUTH LOGIN\r\n"],
            "STARTTLS": STARTTLS_NOW,
            "AUTH": b"334 VXNlcm5hbWU6\r\n",
            base64.b64encode(USERNAME.encode()).decode(): b"334 UGFzc3dvcmQ6\r\n",
            base64.b64encode(
                PASSWORD.encode()
            ).decode(): b"235 2.7.0 Authentication successful\r\n",
        },
    )
    with scripted(answer, tls=tls) as server:
        settings = starttls(server.port, pki)
        result = mail.run_check(settings)
        lines = list(server.lines)
    assert [line for line in lines if line.startswith("EHLO")] == ["EHLO [127.0.0.1]"] * 2
    assert "AUTH LOGIN" in lines
    assert result.passed, result.failure
    tls_step = next(step for step in result.steps if step.id is StepId.TLS)
    assert tls_step.detail.endswith("; after TLS, capabilities: AUTH LOGIN")
    assert PASSWORD not in " ".join(line.text for line in result.transcript)
