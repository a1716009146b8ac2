"""Logging in with PLAIN or LOGIN, against a scripted server that says exactly what a test needs.

The exchange is checked on the wire: which lines the server received, in
which order, and that the transcript shows none of the credentials.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import pytest
from support.peer import ScriptedServer, in_turn, scripted
from support.smtp import make_settings

from configurator.mail.auth import PasswordAuthenticator, authenticator_for
from configurator.mail.cancel import CancelToken
from configurator.mail.channel import Channel, Reply
from configurator.mail.errors import MailError, Problem
from configurator.mail.transcript import HIDDEN, Direction, Transcript, credential_forms
from configurator.model import Auth

USER = "alerts@example.org"
PASSWORD = "hunter2-secret"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PLAIN_BLOB = b64(f"\0{USER}\0{PASSWORD}")


@pytest.fixture
def authenticator() -> PasswordAuthenticator:
    return PasswordAuthenticator(USER, PASSWORD)


def talk(server: ScriptedServer) -> Iterator[tuple[Channel, Transcript]]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    # No secrets registered: the redaction would hide a credential that the
    # exchange itself failed to replace with "[hidden]".
    transcript = Transcript()
    channel = Channel(sock, transcript=transcript, cancel=CancelToken(), timeout=5)
    assert channel.read_reply().code == 220
    try:
        yield channel, transcript
    finally:
        channel.close()


def run(
    authenticator: PasswordAuthenticator, offered: set[str], *replies: bytes
) -> tuple[Reply, str, list[str], list[str]]:
    """Log in against a server answering ``replies`` in turn: reply, mechanism, wire, transcript."""
    with scripted(in_turn(*replies)) as server:
        for channel, transcript in talk(server):
            attempt = authenticator.authenticate(channel, frozenset(offered))
            shown = [line.text for line in transcript.lines() if line.direction is Direction.CLIENT]
            return attempt.reply, attempt.mechanism, list(server.lines), shown
    raise AssertionError("unreachable")


def test_plain_sends_the_rfc_4616_blob_in_one_line(authenticator: PasswordAuthenticator) -> None:
    reply, mechanism, wire, shown = run(
        authenticator, {"PLAIN", "LOGIN"}, b"235 2.7.0 Authentication successful\r\n"
    )
    assert (reply.code, mechanism) == (235, "PLAIN")
    assert wire == [f"AUTH PLAIN {PLAIN_BLOB}"]
    assert shown == [f"AUTH PLAIN {HIDDEN}"]


def test_plain_answers_a_server_that_ignores_the_initial_response(
    authenticator: PasswordAuthenticator,
) -> None:
    reply, mechanism, wire, shown = run(
        authenticator, {"PLAIN"}, b"334 \r\n", b"235 2.7.0 Authentication successful\r\n"
    )
    assert (reply.code, mechanism) == (235, "PLAIN")
    assert wire == [f"AUTH PLAIN {PLAIN_BLOB}", PLAIN_BLOB]
    assert shown == [f"AUTH PLAIN {HIDDEN}", HIDDEN]


def test_plain_aborts_when_the_server_keeps_asking(authenticator: PasswordAuthenticator) -> None:
    reply, _, wire, shown = run(
        authenticator,
        {"PLAIN"},
        b"334 \r\n",
        b"334 again?\r\n",
        b"501 5.7.0 Authentication aborted\r\n",
    )
    assert reply.code == 501
    assert wire == [f"AUTH PLAIN {PLAIN_BLOB}", PLAIN_BLOB, "*"]
    assert shown == [f"AUTH PLAIN {HIDDEN}", HIDDEN, "*"]


def test_login_is_used_when_plain_is_not_offered(authenticator: PasswordAuthenticator) -> None:
    reply, mechanism, wire, shown = run(
        authenticator,
        {"LOGIN", "CRAM-MD5"},
        b"334 VXNlcm5hbWU6\r\n",
        b"334 UGFzc3dvcmQ6\r\n",
        b"235 2.7.0 Authentication successful\r\n",
    )
    assert (reply.code, mechanism) == (235, "LOGIN")
    assert wire == ["AUTH LOGIN", b64(USER), b64(PASSWORD)]
    assert shown == ["AUTH LOGIN", HIDDEN, HIDDEN]


def test_login_stops_when_the_server_refuses_the_user_name(
    authenticator: PasswordAuthenticator,
) -> None:
    reply, _, wire, _ = run(
        authenticator,
        {"LOGIN"},
        b"334 VXNlcm5hbWU6\r\n",
        b"535 5.7.8 No such user\r\n",
    )
    assert reply == Reply(535, ("5.7.8 No such user",))
    assert wire == ["AUTH LOGIN", b64(USER)]


def test_login_refused_at_once_sends_no_credential(authenticator: PasswordAuthenticator) -> None:
    reply, _, wire, _ = run(authenticator, {"LOGIN"}, b"504 5.5.4 Unrecognized mechanism\r\n")
    assert reply.code == 504
    assert wire == ["AUTH LOGIN"]


def test_login_aborts_a_third_challenge(authenticator: PasswordAuthenticator) -> None:
    reply, _, wire, _ = run(
        authenticator,
        {"LOGIN"},
        b"334 VXNlcm5hbWU6\r\n",
        b"334 UGFzc3dvcmQ6\r\n",
        b"334 more?\r\n",
        b"501 aborted\r\n",
    )
    assert reply.code == 501
    assert wire == ["AUTH LOGIN", b64(USER), b64(PASSWORD), "*"]


def test_a_unicode_login_is_sent_as_utf8() -> None:
    authenticator = PasswordAuthenticator("usér", "pässwörd✓")
    reply, _, wire, _ = run(authenticator, {"PLAIN"}, b"235 ok\r\n")
    assert reply.code == 235
    assert wire == [f"AUTH PLAIN {b64(chr(0) + 'usér' + chr(0) + 'pässwörd✓')}"]


@pytest.mark.parametrize(
    ("offered", "shown"),
    [(set(), "with no mechanism"), ({"CRAM-MD5", "GSSAPI"}, "CRAM-MD5 GSSAPI")],
)
def test_no_usable_mechanism_sends_nothing_and_names_what_was_offered(
    authenticator: PasswordAuthenticator, offered: set[str], shown: str
) -> None:
    with scripted(in_turn()) as server:
        for channel, _ in talk(server):
            with pytest.raises(MailError) as caught:
                authenticator.authenticate(channel, frozenset(offered))
        assert server.lines == []
    assert caught.value.problem is Problem.AUTH_MECHANISM_UNSUPPORTED
    assert caught.value.failure.cause == (
        f"The server offers AUTH {shown}, but this program logs in only with PLAIN or LOGIN."
    )


def test_the_authenticator_names_the_user_and_every_secret_form(
    authenticator: PasswordAuthenticator,
) -> None:
    assert authenticator.identity == USER
    assert list(authenticator.secrets()) == credential_forms(USER, PASSWORD)
    assert PASSWORD not in repr(authenticator)


def test_the_settings_choose_the_authenticator() -> None:
    settings = make_settings(25, username=USER, password=PASSWORD)
    chosen = authenticator_for(settings)
    assert chosen == PasswordAuthenticator(USER, PASSWORD)
    assert authenticator_for(make_settings(25, auth=Auth.NONE, username="", password="")) is None
