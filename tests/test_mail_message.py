"""The test e-mail: what arrives at the server, and how it is built."""

from __future__ import annotations

import datetime as dt
from email import message_from_string, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from support.smtp import (
    ACCOUNT_EMAIL,
    PASSWORD,
    USERNAME,
    Pki,
    StartServer,
    assert_no_secret,
    make_settings,
)

from configurator import mail
from configurator.mail import Outcome, StepId
from configurator.mail.message import compose_test_message, render
from configurator.model import Security

pytest_plugins = ["support.smtp"]

USERS = {USERNAME: PASSWORD}
UNICODE_NAME = "Überwachung Süd ✓ 監視"


def parse(content: bytes) -> EmailMessage:
    """The message as a reader sees it (UTF-8 headers included, line endings normalised)."""
    parsed = message_from_string(
        content.decode("utf-8").replace("\r\n", "\n"), policy=policy.default
    )
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_test_email_arrives_with_encoded_sender_and_a_telling_body(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    settings = make_settings(server.port, account_name=UNICODE_NAME, ca_file=str(pki.ca_file))

    result = mail.run_check(settings, recipient="admin@example.net")

    assert result.passed, result.failure
    assert result.step(StepId.RECIPIENT).outcome is Outcome.PASSED
    assert result.step(StepId.MESSAGE).outcome is Outcome.PASSED
    assert "queued as TEST0001" in result.step(StepId.MESSAGE).reply
    [received] = server.recorder.messages
    assert received.mail_from == ACCOUNT_EMAIL
    assert received.rcpt_tos == ["admin@example.net"]
    assert "SMTPUTF8" not in received.mail_options  # plain ASCII addresses need no extension
    headers, _, _ = received.content.partition(b"\r\n\r\n")
    assert headers.isascii()  # the Unicode name travels as RFC 2047 encoded words
    assert b"=?utf-8?" in headers
    message = parse(received.content)
    sender = message["From"].addresses[0]
    assert sender.display_name == UNICODE_NAME
    assert sender.addr_spec == ACCOUNT_EMAIL
    assert message["To"].addresses[0].addr_spec == "admin@example.net"
    assert message["Subject"] == "Test e-mail from Mail Server Configurator"
    sent = parsedate_to_datetime(message["Date"])
    assert abs((dt.datetime.now(dt.UTC) - sent).total_seconds()) < 60
    assert message["Message-ID"].endswith("@example.org>")
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert "Outgoing Mail Server:  127.0.0.1" in body
    assert f"Server Port:           {server.port}" in body
    assert "Connection Security:   STARTTLS" in body
    assert f"Login/Plain (user name: {USERNAME})" in body
    assert "Sent from host:" in body
    assert_no_secret(PASSWORD, USERNAME, received.content, body)


def test_an_internationalised_sender_uses_smtputf8_when_the_server_offers_it(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="implicit", users=USERS)
    settings = make_settings(
        server.port,
        security=Security.SSL_TLS,
        account_email="prüfung@example.org",
        ca_file=str(pki.ca_file),
    )

    result = mail.run_check(settings, recipient="admin@example.net")

    assert result.passed, result.failure
    [received] = server.recorder.messages
    assert received.mail_from == "prüfung@example.org"
    assert "SMTPUTF8" in received.mail_options
    assert parse(received.content)["From"].addresses[0].username == "prüfung"


def test_a_message_line_starting_with_a_dot_arrives_intact(
    smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    settings = make_settings(server.port, ca_file=str(pki.ca_file))
    message = EmailMessage()
    message["From"] = ACCOUNT_EMAIL
    message["To"] = "soc@example.net"
    message["Subject"] = "dots"
    message.set_content("first line\n.\n.hidden unless stuffed\nlast line\n")

    with mail.open_connection(settings) as connection:
        connection.send_message(message, sender=ACCOUNT_EMAIL, recipients=["soc@example.net"])

    [received] = server.recorder.messages
    assert parse(received.content).get_content() == (
        "first line\n.\n.hidden unless stuffed\nlast line\n"
    )


def test_compose_encodes_names_and_domains_and_never_mentions_the_password() -> None:
    settings = make_settings(
        587, account_name=UNICODE_NAME, account_email="alerts@bücher.example", username="usér"
    )
    moment = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    message = compose_test_message(
        settings, "admin@example.net", sent_at=moment, client_host="ws-17.example.net"
    )
    raw = render(message)

    assert raw.isascii()  # 7-bit: no server needs 8BITMIME or SMTPUTF8 for it
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = parse(raw)
    assert parsed["From"].addresses[0].domain == "xn--bcher-kva.example"
    assert parsed["From"].addresses[0].display_name == UNICODE_NAME
    assert parsed["Date"] == "Wed, 01 May 2024 12:30:00 +0200"
    body = parsed.get_content()
    assert "Sent at:               2024-05-01 12:30:00 +0200" in body
    assert "Sent from host:        ws-17.example.net" in body
    assert "(user name: usér)" in body
    assert_no_secret(PASSWORD, "usér", raw, body)
