"""The diagnosis: each way a server can fail is named, explained and kept free of secrets.

Every case runs against a real local server (or a real closed or silent
port) configured to fail in exactly one way.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.smtp import (
    ACCOUNT_EMAIL,
    PASSWORD,
    USERNAME,
    Pki,
    Server,
    StartServer,
    assert_no_secret,
    free_port,
    leaf_fingerprint,
    make_settings,
)

from configurator import mail
from configurator.mail import Outcome, Problem, StepId
from configurator.model import Auth, Security, Settings

pytest_plugins = ["support.smtp"]

USERS = {USERNAME: PASSWORD}


@dataclass
class Lab:
    smtp_server: StartServer
    pki: Pki
    silent_port: int
    tmp_path: Path


@dataclass(frozen=True)
class Case:
    """A server set up to fail one way, and what the check must say about it."""

    build: Callable[[Lab], tuple[Settings, Server | None]]
    step: StepId
    problem: Problem
    summary: str
    recipient: str | None = None
    max_seconds: float = 5.0
    credentials_may_be_sent: bool = False


def _starttls_not_offered(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(users=USERS, auth_over_plain=True)
    return make_settings(server.port), server


def _untrusted(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="starttls", users=USERS, cert=lab.pki.untrusted)
    return make_settings(server.port, ca_file=str(lab.pki.ca_file)), server


def _wrong_host(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="starttls", users=USERS, cert=lab.pki.wrong_host)
    return make_settings(server.port, ca_file=str(lab.pki.ca_file)), server


def _expired(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="implicit", users=USERS, cert=lab.pki.expired)
    settings = make_settings(server.port, security=Security.SSL_TLS, ca_file=str(lab.pki.ca_file))
    return settings, server


def _wrong_password(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="starttls", users={USERNAME: "the real password"})
    return make_settings(server.port, ca_file=str(lab.pki.ca_file)), server


def _auth_not_offered(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server()
    return make_settings(server.port, security=Security.NONE), server


def _sender_refused(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(
        tls="starttls", users=USERS, refused_senders=frozenset({ACCOUNT_EMAIL})
    )
    return make_settings(server.port, ca_file=str(lab.pki.ca_file)), server


def _recipient_refused(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(
        tls="starttls", users=USERS, refused_recipients=frozenset({"nobody@example.net"})
    )
    return make_settings(server.port, ca_file=str(lab.pki.ca_file)), server


def _closed_port(lab: Lab) -> tuple[Settings, Server | None]:
    return make_settings(free_port()), None


def _silent(lab: Lab) -> tuple[Settings, Server | None]:
    return make_settings(lab.silent_port, timeout=1.0), None


def _plain_server_but_ssl_tls(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(users=USERS, auth_over_plain=True)
    return make_settings(server.port, security=Security.SSL_TLS), server


def _implicit_server_but_starttls(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="implicit", users=USERS)
    return make_settings(server.port, timeout=1.0, ca_file=str(lab.pki.ca_file)), server


def _implicit_server_but_none(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="implicit", users=USERS)
    return make_settings(server.port, security=Security.NONE, timeout=1.0), server


def _no_smtputf8(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="starttls", users=USERS, smtputf8=False)
    settings = make_settings(
        server.port, account_email="prüfung@example.org", ca_file=str(lab.pki.ca_file)
    )
    return settings, server


def _unusable_ca_file(lab: Lab) -> tuple[Settings, Server | None]:
    server = lab.smtp_server(tls="starttls", users=USERS)
    not_pem = lab.tmp_path / "not-a-certificate.pem"
    not_pem.write_text("this is not a certificate\n", encoding="utf-8")
    return make_settings(server.port, ca_file=str(not_pem)), server


CASES: dict[str, Case] = {
    "starttls-not-offered": Case(
        _starttls_not_offered,
        StepId.TLS,
        Problem.STARTTLS_NOT_OFFERED,
        "server does not offer STARTTLS",
    ),
    "certificate-not-trusted": Case(
        _untrusted, StepId.TLS, Problem.CERT_UNTRUSTED, "certificate not trusted"
    ),
    "wrong-host-name": Case(
        _wrong_host, StepId.TLS, Problem.CERT_WRONG_HOST, "certificate is for a wrong host name"
    ),
    "certificate-expired": Case(_expired, StepId.TLS, Problem.CERT_EXPIRED, "certificate expired"),
    "wrong-password": Case(
        _wrong_password,
        StepId.AUTH,
        Problem.AUTH_REJECTED,
        "authentication rejected",
        credentials_may_be_sent=True,
    ),
    "auth-not-offered": Case(
        _auth_not_offered,
        StepId.AUTH,
        Problem.AUTH_NOT_OFFERED,
        "the server does not offer authentication (AUTH)",
    ),
    "sender-refused": Case(
        _sender_refused,
        StepId.SENDER,
        Problem.SENDER_REFUSED,
        "sender address refused",
        credentials_may_be_sent=True,
    ),
    "recipient-refused": Case(
        _recipient_refused,
        StepId.RECIPIENT,
        Problem.RECIPIENT_REFUSED,
        "recipient address refused",
        recipient="nobody@example.net",
        credentials_may_be_sent=True,
    ),
    "connection-refused": Case(
        _closed_port, StepId.CONNECT, Problem.CONNECTION_REFUSED, "connection refused"
    ),
    "nothing-answers": Case(
        _silent,
        StepId.GREETING,
        Problem.GREETING_TIMEOUT,
        "timed out waiting for the server greeting",
        max_seconds=1.8,
    ),
    "ssl-tls-chosen-but-plain-server": Case(
        _plain_server_but_ssl_tls,
        StepId.TLS,
        Problem.PLAIN_SMTP_ON_TLS,
        "the server speaks plain SMTP on this port, not SSL/TLS",
    ),
    "starttls-chosen-but-implicit-tls-server": Case(
        _implicit_server_but_starttls,
        StepId.GREETING,
        Problem.TLS_EXPECTED,
        "the server expects SSL/TLS from the first byte",
        max_seconds=1.8,
    ),
    "none-chosen-but-implicit-tls-server": Case(
        _implicit_server_but_none,
        StepId.GREETING,
        Problem.TLS_EXPECTED,
        "the server expects SSL/TLS from the first byte",
        max_seconds=1.8,
    ),
    "smtputf8-needed-but-not-offered": Case(
        _no_smtputf8,
        StepId.SENDER,
        Problem.SMTPUTF8_UNSUPPORTED,
        "the server cannot take this internationalised address",
        credentials_may_be_sent=True,
    ),
    "unusable-ca-file": Case(
        _unusable_ca_file,
        StepId.TLS,
        Problem.CA_FILE_UNUSABLE,
        "the trusted CA file cannot be used",
    ),
}


@pytest.fixture
def lab(smtp_server: StartServer, pki: Pki, silent_port: int, tmp_path: Path) -> Lab:
    return Lab(smtp_server, pki, silent_port, tmp_path)


@pytest.mark.parametrize("name", list(CASES))
def test_a_failure_names_its_step_and_explains_it(
    name: str,
    lab: Lab,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="configurator")
    case = CASES[name]
    settings, server = case.build(lab)
    started = time.monotonic()

    result = mail.run_check(settings, recipient=case.recipient)

    elapsed = time.monotonic() - started
    assert elapsed < case.max_seconds
    assert not result.passed
    assert result.failure is not None
    assert result.failure.problem is case.problem, result.failure.describe()
    assert result.failure.step is case.step
    assert result.failure.summary == case.summary
    assert result.failure.cause
    assert result.failure.fix
    failed = result.failed_step
    assert failed is not None
    assert failed.id is case.step
    assert failed.outcome is Outcome.FAILED
    assert failed.detail == case.summary
    after = result.steps[result.steps.index(failed) + 1 :]
    assert all(step.outcome is Outcome.SKIPPED for step in after)
    if server is not None and not case.credentials_may_be_sent:
        assert server.recorder.received_auth == []
        assert server.auth_attempts == []
    output = capsys.readouterr()
    assert_no_secret(
        settings.password,
        settings.username,
        result.to_json(),
        repr(result),
        result.transcript_text(),
        result.failure.describe(),
        caplog.text,
        output.out,
        output.err,
    )


def test_an_untrusted_certificate_is_shown_so_that_it_can_be_judged(lab: Lab) -> None:
    settings, _server = _untrusted(lab)

    result = mail.run_check(settings)

    certificate = result.certificate
    assert certificate is not None
    assert certificate.fingerprint == leaf_fingerprint(lab.pki.untrusted)
    assert "Unknown CA" in certificate.issuer
    assert certificate.subject
    assert certificate.fingerprint_colons in result.failure.cause  # type: ignore[union-attr]
    assert "Unknown CA" in result.failure.cause  # type: ignore[union-attr]
    assert "second connection" in result.transcript_text()


def test_a_wrong_host_name_says_which_names_the_certificate_is_for(lab: Lab) -> None:
    settings, _server = _wrong_host(lab)

    result = mail.run_check(settings)

    assert result.failure is not None
    assert "mail.example.org" in result.failure.cause
    assert result.certificate is not None
    assert result.certificate.names == ("mail.example.org",)


def test_an_expired_certificate_says_when_it_expired(lab: Lab) -> None:
    settings, _server = _expired(lab)

    result = mail.run_check(settings)

    assert result.certificate is not None
    assert result.certificate.expired()
    assert result.certificate.not_after is not None
    assert result.certificate.not_after.strftime("%Y-%m-%d") in result.failure.cause  # type: ignore[union-attr]


def test_a_refused_sender_shows_the_servers_reply(lab: Lab) -> None:
    settings, _server = _sender_refused(lab)

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.reply.startswith("553 5.7.1")
    assert result.step(StepId.SENDER).reply.startswith("553")
    assert ACCOUNT_EMAIL in result.failure.cause


def test_a_name_that_does_not_exist_is_reported_as_such() -> None:
    try:
        socket.getaddrinfo("nonexistent.invalid", 25)
    except socket.gaierror as exc:
        if exc.errno != socket.EAI_NONAME:
            pytest.skip(f"this machine's resolver answers {exc}")
    else:
        pytest.skip("this machine's resolver invents addresses for unknown names")
    settings = make_settings(25, server="nonexistent.invalid")

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.NAME_NOT_FOUND
    assert result.failure.step is StepId.RESOLVE
    assert result.failure.summary == "server name not found"
    assert "nonexistent.invalid" in result.failure.cause


def test_a_wrong_password_never_shows_in_any_form(
    lab: Lab, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings, server = _wrong_password(lab)

    result = mail.run_check(settings)

    assert server is not None
    assert server.auth_attempts == [("PLAIN", USERNAME)]  # it really was sent to the server
    text = result.transcript_text()
    assert "C: AUTH PLAIN [hidden]" in text
    assert "535" in text
    output = capsys.readouterr()
    assert_no_secret(
        PASSWORD, USERNAME, result.to_json(), text, caplog.text, output.out, output.err
    )


def test_cancel_ends_a_check_blocked_on_a_silent_server_at_once(silent_port: int) -> None:
    settings = make_settings(silent_port, timeout=20.0)
    token = mail.CancelToken()
    waiting = threading.Event()
    results: list[mail.CheckResult] = []

    def observe(step: mail.Step) -> None:
        if step.id is StepId.GREETING and step.outcome is Outcome.RUNNING:
            waiting.set()

    worker = threading.Thread(
        target=lambda: results.append(mail.run_check(settings, on_step=observe, cancel=token))
    )
    worker.start()
    assert waiting.wait(5)
    time.sleep(0.1)  # let the worker block in its read
    cancelled_at = time.monotonic()
    token.cancel()
    worker.join(5)

    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 1.0
    [result] = results
    assert result.cancelled
    assert result.failure is not None
    assert result.failure.problem is Problem.CANCELLED
    failed = result.failed_step
    assert failed is not None
    assert failed.id is StepId.GREETING
    assert failed.outcome is Outcome.CANCELLED
    later = [step for step in result.steps if step.outcome is Outcome.SKIPPED]
    assert later
    assert {step.detail for step in later} == {"not run: the check was cancelled"}


def test_a_check_cancelled_before_it_starts_touches_nothing() -> None:
    token = mail.CancelToken()
    token.cancel()

    result = mail.run_check(make_settings(free_port()), cancel=token)

    assert result.cancelled
    assert result.transcript == ()


def test_the_json_result_holds_steps_failure_certificate_and_transcript(lab: Lab) -> None:
    settings, _server = _untrusted(lab)

    data = json.loads(mail.run_check(settings).to_json())

    assert data["passed"] is False
    assert data["failed_step"] == "tls"
    assert data["failure"]["problem"] == "cert_untrusted"
    assert data["failure"]["summary"] == "certificate not trusted"
    assert [step["id"] for step in data["steps"]] == [s.value for s in mail.plan_steps(settings)]
    assert {step["outcome"] for step in data["steps"]} == {"passed", "failed", "skipped"}
    assert data["certificate"]["fingerprint_sha256"] == leaf_fingerprint(lab.pki.untrusted)
    assert data["target"]["password_set"] is True
    assert "password" not in data["target"]
    assert {line["direction"] for line in data["transcript"]} == {"client", "server", "note"}


def test_login_without_encryption_is_noted(smtp_server: StartServer) -> None:
    server = smtp_server(users=USERS, auth_over_plain=True)
    settings = make_settings(server.port, security=Security.NONE, auth=Auth.LOGIN_PLAIN)

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert "the password was sent without encryption" in result.notes


def test_every_planned_step_is_reported_final_even_after_a_failure(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(users=USERS, auth_over_plain=True)
    settings = make_settings(server.port)
    last: dict[StepId, Outcome] = {}

    result = mail.run_check(settings, on_step=lambda step: last.update({step.id: step.outcome}))

    assert result.failure is not None
    assert list(last) == list(mail.plan_steps(settings))
    assert last[StepId.TLS] is Outcome.FAILED
    assert [last[step] for step in (StepId.AUTH, StepId.SENDER, StepId.MESSAGE)] == [
        Outcome.SKIPPED
    ] * 3
    assert result.step(StepId.AUTH).detail == "not run: TLS did not succeed"
