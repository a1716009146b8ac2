"""Connecting, securing and logging in, against real local SMTP servers."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from support.smtp import (
    ACCOUNT_EMAIL,
    PASSWORD,
    UNICODE_PASSWORD,
    UNICODE_USERNAME,
    USERNAME,
    Pki,
    StartServer,
    assert_no_secret,
    leaf_fingerprint,
    make_settings,
)

from configurator import mail
from configurator.mail import Outcome, Problem, StepId
from configurator.mail.auth import AuthAttempt, AuthChannel
from configurator.mail.transcript import Transcript
from configurator.model import Auth, Security

pytest_plugins = ["support.smtp"]

USERS = {USERNAME: PASSWORD}


def outcomes(result: mail.CheckResult) -> dict[StepId, Outcome]:
    return {step.id: step.outcome for step in result.steps}


def test_starttls_with_login_verifies_the_certificate_and_logs_in(
    smtp_server: StartServer,
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="configurator")
    server = smtp_server(tls="starttls", users=USERS)
    settings = make_settings(server.port, ca_file=str(pki.ca_file))

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert outcomes(result) == {
        StepId.RESOLVE: Outcome.PASSED,
        StepId.CONNECT: Outcome.PASSED,
        StepId.GREETING: Outcome.PASSED,
        StepId.EHLO: Outcome.PASSED,
        StepId.TLS: Outcome.PASSED,
        StepId.AUTH: Outcome.PASSED,
        StepId.SENDER: Outcome.PASSED,
        StepId.RECIPIENT: Outcome.SKIPPED,
        StepId.MESSAGE: Outcome.SKIPPED,
    }
    assert [step.id for step in result.steps] == list(mail.plan_steps(settings))
    assert server.recorder.commands == ["STARTTLS", "AUTH PLAIN"]
    assert server.auth_attempts == [("PLAIN", USERNAME)]
    assert server.recorder.messages == []  # no recipient: nothing sent
    assert result.tls is not None
    assert result.tls.protocol.startswith("TLSv1.")
    assert "trusted CA file" in result.tls.trust
    assert result.certificate is not None
    assert result.certificate.fingerprint == leaf_fingerprint(pki.good)
    assert "127.0.0.1" in result.certificate.names
    assert "AUTH PLAIN [hidden]" in result.transcript_text()
    assert "logged in as alerts@example.org with AUTH PLAIN" in result.step(StepId.AUTH).detail
    output = capsys.readouterr()
    assert_no_secret(
        PASSWORD,
        USERNAME,
        result.to_json(),
        repr(result),
        result.transcript_text(),
        caplog.text,
        output.out,
        output.err,
    )


def test_implicit_tls_is_encrypted_from_the_first_byte(smtp_server: StartServer, pki: Pki) -> None:
    server = smtp_server(tls="implicit", users=USERS)
    settings = make_settings(server.port, security=Security.SSL_TLS, ca_file=str(pki.ca_file))

    result = mail.run_check(settings)

    assert result.passed, result.failure
    order = [step.id for step in result.steps]
    assert order.index(StepId.TLS) < order.index(StepId.GREETING)
    assert server.recorder.commands == ["AUTH PLAIN"]
    texts = [line.text for line in result.transcript]
    tls_at = next(i for i, text in enumerate(texts) if text.startswith("TLS established"))
    assert texts[tls_at + 1].startswith("220 ")  # the greeting came over TLS


def test_plain_smtp_without_authentication(smtp_server: StartServer) -> None:
    server = smtp_server()
    settings = make_settings(
        server.port, security=Security.NONE, auth=Auth.NONE, username="", password=""
    )

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert result.step(StepId.TLS).outcome is Outcome.SKIPPED
    assert "not encrypted" in result.step(StepId.TLS).detail
    assert result.step(StepId.AUTH).outcome is Outcome.SKIPPED
    assert result.tls is None
    assert result.certificate is None


def test_plain_smtp_notes_that_the_server_offers_starttls(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls")
    settings = make_settings(
        server.port, security=Security.NONE, auth=Auth.NONE, username="", password=""
    )

    result = mail.run_check(settings)

    # This server requires STARTTLS before MAIL: the sender step says so.
    assert result.failure is not None
    assert result.failure.step is StepId.SENDER
    assert result.failure.problem is Problem.ENCRYPTION_REQUIRED
    assert any("choose STARTTLS" in note for note in result.step(StepId.EHLO).notes)


@pytest.mark.parametrize(
    ("exclude", "mechanism"),
    [((), "PLAIN"), (("PLAIN",), "LOGIN")],
    ids=["plain", "login-only"],
)
def test_non_ascii_user_name_and_password_log_in(
    smtp_server: StartServer,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    exclude: tuple[str, ...],
    mechanism: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="configurator")
    server = smtp_server(
        tls="starttls", users={UNICODE_USERNAME: UNICODE_PASSWORD}, exclude=exclude
    )
    settings = make_settings(
        server.port,
        username=UNICODE_USERNAME,
        password=UNICODE_PASSWORD,
        ca_file=str(pki.ca_file),
    )

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert server.auth_attempts == [(mechanism, UNICODE_USERNAME)]
    assert f"with AUTH {mechanism}" in result.step(StepId.AUTH).detail
    client_lines = [line.text for line in result.transcript if line.direction == "client"]
    auth_at = next(i for i, text in enumerate(client_lines) if text.startswith("AUTH"))
    if mechanism == "LOGIN":
        assert client_lines[auth_at : auth_at + 3] == ["AUTH LOGIN", "[hidden]", "[hidden]"]
    else:
        assert client_lines[auth_at] == "AUTH PLAIN [hidden]"
    assert_no_secret(
        UNICODE_PASSWORD, UNICODE_USERNAME, result.to_json(), result.transcript_text(), caplog.text
    )


def test_a_server_offering_neither_plain_nor_login_gets_no_credentials(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, exclude=("PLAIN", "LOGIN"))
    settings = make_settings(server.port, ca_file=str(pki.ca_file))

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.AUTH_MECHANISM_UNSUPPORTED
    assert result.failure.step is StepId.AUTH
    assert server.recorder.received_auth == []


def test_a_pinned_certificate_is_accepted_though_no_authority_trusts_it(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, cert=pki.untrusted)
    pin = leaf_fingerprint(pki.untrusted)
    settings = make_settings(server.port, tls_fingerprint=pin)

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert result.tls is not None
    assert "pinned" in result.tls.trust
    assert server.recorder.received_auth == ["AUTH PLAIN"]


def test_a_wrong_pin_fails_before_any_credential_is_sent(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, cert=pki.untrusted)
    settings = make_settings(server.port, tls_fingerprint="ab" * 32)

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.CERT_PIN_MISMATCH
    assert result.failure.step is StepId.TLS
    assert result.failure.summary == "certificate does not match the pinned fingerprint"
    assert result.step(StepId.AUTH).outcome is Outcome.SKIPPED
    assert server.recorder.received_auth == []
    assert server.auth_attempts == []
    # The certificate actually presented is shown, so that it can be compared.
    assert result.certificate is not None
    assert result.certificate.fingerprint == leaf_fingerprint(pki.untrusted)


def test_a_pin_also_refuses_a_certificate_that_the_authorities_trust(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="implicit", users=USERS)
    settings = make_settings(
        server.port,
        security=Security.SSL_TLS,
        ca_file=str(pki.ca_file),
        tls_fingerprint=leaf_fingerprint(pki.untrusted),
    )

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.CERT_PIN_MISMATCH
    assert server.recorder.received_auth == []


def test_steps_are_reported_live_in_order(smtp_server: StartServer, pki: Pki) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    settings = make_settings(server.port, ca_file=str(pki.ca_file))
    seen: list[tuple[StepId, Outcome]] = []

    result = mail.run_check(settings, on_step=lambda step: seen.append((step.id, step.outcome)))

    assert result.passed
    ran = [StepId.RESOLVE, StepId.CONNECT, StepId.GREETING, StepId.EHLO, StepId.TLS]
    ran += [StepId.AUTH, StepId.SENDER]
    expected = [(step, outcome) for step in ran for outcome in (Outcome.RUNNING, Outcome.PASSED)]
    expected += [(StepId.RECIPIENT, Outcome.SKIPPED), (StepId.MESSAGE, Outcome.SKIPPED)]
    assert seen == expected


def test_open_connection_delivers_a_message_for_later_alert_delivery(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="implicit", users=USERS)
    settings = make_settings(server.port, security=Security.SSL_TLS, ca_file=str(pki.ca_file))
    message = EmailMessage()
    message["From"] = ACCOUNT_EMAIL
    message["To"] = "soc@example.net, oncall@example.net"
    message["Subject"] = "Alert: breach observed"
    message.set_content("Sensor 7 reported a breach.")

    with mail.open_connection(settings) as connection:
        assert connection.authenticated
        assert connection.supports("auth")
        reply = connection.send_message(
            message, sender=ACCOUNT_EMAIL, recipients=["soc@example.net", "oncall@example.net"]
        )

    assert reply.code == 250
    [received] = server.recorder.messages
    assert received.rcpt_tos == ["soc@example.net", "oncall@example.net"]
    parsed = message_from_bytes(received.content, policy=policy.default)
    assert parsed["Subject"] == "Alert: breach observed"


def _alert(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = ACCOUNT_EMAIL
    message["To"] = "soc@example.net"
    message["Subject"] = subject
    message.set_content("Sensor 7 reported a breach.")
    return message


def test_one_session_sends_many_messages_and_outlives_a_refused_one(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(
        tls="implicit", users=USERS, refused_recipients=frozenset({"gone@example.net"})
    )
    settings = make_settings(server.port, security=Security.SSL_TLS, ca_file=str(pki.ca_file))

    with mail.open_connection(settings) as session:
        session.send_message(_alert("first"), sender=ACCOUNT_EMAIL, recipients=["soc@example.net"])
        with pytest.raises(mail.MailError) as caught:
            session.send_message(
                _alert("refused"),
                sender=ACCOUNT_EMAIL,
                recipients=["soc@example.net", "gone@example.net"],
            )
        session.send_message(_alert("third"), sender=ACCOUNT_EMAIL, recipients=["soc@example.net"])

    assert caught.value.problem is Problem.RECIPIENT_REFUSED
    assert caught.value.step is StepId.RECIPIENT
    subjects = [
        message_from_bytes(received.content, policy=policy.default)["Subject"]
        for received in server.recorder.messages
    ]
    assert subjects == ["first", "third"]
    assert server.recorder.received_auth == ["AUTH PLAIN"]  # one login for all of them


class TokenAuthenticator:
    """A login method of the caller's own: a token in place of a password."""

    def __init__(self, username: str, token: str) -> None:
        self.username, self.token = username, token

    @property
    def identity(self) -> str:
        return self.username

    def secrets(self) -> list[str]:
        return [self.token, base64.b64encode(f"\0{self.username}\0{self.token}".encode()).decode()]

    def authenticate(self, channel: AuthChannel, offered: frozenset[str]) -> AuthAttempt:
        blob = base64.b64encode(f"\0{self.username}\0{self.token}".encode()).decode()
        return AuthAttempt("PLAIN", channel.command(f"AUTH PLAIN {blob}"))


def test_a_login_method_of_its_own_plugs_in_as_an_authenticator(
    smtp_server: StartServer, pki: Pki
) -> None:
    token = "ya29.token-of-the-moment"
    server = smtp_server(tls="starttls", users={USERNAME: token})
    # The settings ask for no login: the authenticator alone decides how to log in.
    settings = make_settings(
        server.port, auth=Auth.NONE, username="", password="", ca_file=str(pki.ca_file)
    )
    transcript = Transcript()

    with mail.open_connection(
        settings, transcript=transcript, authenticator=TokenAuthenticator(USERNAME, token)
    ) as session:
        assert session.authenticated

    assert server.auth_attempts == [("PLAIN", USERNAME)]
    shown = "\n".join(str(line) for line in transcript.lines())
    assert "AUTH PLAIN" in shown
    assert_no_secret(token, USERNAME, shown)


def test_open_connection_raises_with_the_failed_step(smtp_server: StartServer, pki: Pki) -> None:
    server = smtp_server(tls="starttls", users={USERNAME: "another password"})
    settings = make_settings(server.port, ca_file=str(pki.ca_file))

    with pytest.raises(mail.MailError) as caught:
        mail.open_connection(settings)

    assert caught.value.problem is Problem.AUTH_REJECTED
    assert caught.value.step is StepId.AUTH
    assert str(caught.value) == "authentication rejected"
    assert_no_secret(PASSWORD, USERNAME, str(caught.value), caught.value.failure.describe())


def test_a_certificate_about_to_expire_is_noted(smtp_server: StartServer, pki: Pki) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=5, hours=1)
    leaf = pki.ca.issue_cert("127.0.0.1", not_after=soon)
    server = smtp_server(tls="starttls", users=USERS, cert=leaf)
    settings = make_settings(server.port, ca_file=str(pki.ca_file))

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert any("expires in 5 day(s)" in note for note in result.step(StepId.TLS).notes)
