"""Real SMTP servers on 127.0.0.1 for the mail tests, and a throwaway certificate authority.

Used as a pytest plugin (``pytest_plugins = ["support.smtp"]``) for its
fixtures.  The servers are aiosmtpd 1.4.6 with the quirks PITFALLS.md lists:
a port bound beforehand, ``hostname="127.0.0.1"``, an authenticator that
answers with ``handled=False`` and ``auth_require_tls=False`` for implicit TLS.
Each server records what it was sent -- which commands, which logins, which
messages -- so that tests can prove what a client did *not* send.

Test modules import helpers from here before pytest loads it as a plugin,
too late for assertion rewriting: PYTEST_DONT_REWRITE says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from configurator.model import Auth, Security, Settings

SERVER_NAME = "smtp.test.invalid"  # the name in greetings; avoids a slow getfqdn()
ACCOUNT_EMAIL = "alerts@example.org"
USERNAME = "alerts@example.org"
PASSWORD = "S3cret-Pa55word!"
UNICODE_USERNAME = "usér"
UNICODE_PASSWORD = "pässwörd✓"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def secret_forms(password: str, username: str = "") -> list[str]:
    """Every way the password can show up: as typed, JSON-escaped, and base64 as on the wire."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    forms = [password, json.dumps(password)[1:-1], b64(password)]
    forms.append(b64(f"\0{username}\0{password}"))
    return forms


def assert_no_secret(password: str, username: str, *outputs: str | bytes) -> None:
    forms = secret_forms(password, username)
    for output in outputs:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        for form in forms:
            assert form not in text


# -- certificates -------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A test CA (whose file the client may trust) and the server certificates it needs."""

    ca: trustme.CA
    ca_file: Path
    good: trustme.LeafCert  # for 127.0.0.1 and localhost
    wrong_host: trustme.LeafCert  # for another name only
    expired: trustme.LeafCert  # for 127.0.0.1, but expired yesterday
    untrusted: trustme.LeafCert  # for 127.0.0.1, from a CA the client does not know


def server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


def leaf_fingerprint(leaf: trustme.LeafCert) -> str:
    """SHA-256 of the leaf's DER form, computed independently of the code under test."""
    import hashlib

    pem = leaf.cert_chain_pems[0].bytes().decode("ascii")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = trustme.CA(organization_name="Configurator Test CA")
    ca_file = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    now = dt.datetime.now(dt.UTC)
    return Pki(
        ca=ca,
        ca_file=ca_file,
        good=ca.issue_cert("127.0.0.1", "localhost"),
        wrong_host=ca.issue_cert("mail.example.org"),
        expired=ca.issue_cert(
            "127.0.0.1",
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        ),
        untrusted=trustme.CA(organization_name="Unknown CA").issue_cert("127.0.0.1"),
    )


# -- servers --------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    content: bytes


@dataclass
class Recorder:
    """The server's handler: accepts mail, refuses chosen addresses, remembers everything."""

    refused_senders: frozenset[str] = frozenset()
    refused_recipients: frozenset[str] = frozenset()
    commands: list[str] = field(default_factory=list)
    messages: list[Received] = field(default_factory=list)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if address in self.refused_senders:
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refused_recipients:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        self.messages.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                content=bytes(content),
            )
        )
        return "250 2.0.0 Ok: queued as TEST0001"

    # Not named auth_*: aiosmtpd would take such a member for an AUTH mechanism.
    @property
    def received_auth(self) -> list[str]:
        return [command for command in self.commands if command.startswith("AUTH")]


@dataclass
class Accounts:
    """The server's user database; records who tried to log in (never the password)."""

    users: dict[str, str]
    attempts: list[tuple[str, str]] = field(default_factory=list)

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        self.attempts.append((mechanism, login))
        return AuthResult(success=self.users.get(login) == password, handled=False)


class _RecordingSMTP(SMTP):
    """aiosmtpd's server, noting each AUTH and STARTTLS command as it arrives."""

    async def smtp_AUTH(self, arg: str) -> None:
        mechanism = arg.split(maxsplit=1)[0].upper() if arg else ""
        self.event_handler.commands.append(f"AUTH {mechanism}".strip())
        await super().smtp_AUTH(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        self.event_handler.commands.append("STARTTLS")
        await super().smtp_STARTTLS(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, **self.SMTP_kwargs)


Tls = Literal["none", "starttls", "implicit"]


@dataclass
class Server:
    port: int
    recorder: Recorder
    accounts: Accounts | None
    controller: _Controller

    @property
    def auth_attempts(self) -> list[tuple[str, str]]:
        return self.accounts.attempts if self.accounts is not None else []


StartServer = Callable[..., Server]


@pytest.fixture
def smtp_server(pki: Pki) -> Iterator[StartServer]:
    """Start servers on demand; all are stopped when the test ends.

    ``tls``: "none", "starttls" (required before anything else) or "implicit";
    ``cert``: the server's certificate (default: ``pki.good``);
    ``users``: offer AUTH and accept these logins (``None``: no AUTH);
    ``auth_over_plain``: offer AUTH without TLS;
    ``exclude``: AUTH mechanisms not to offer;
    ``smtputf8``: offer SMTPUTF8.
    """
    running: list[_Controller] = []

    def start(
        *,
        tls: Tls = "none",
        cert: trustme.LeafCert | None = None,
        users: dict[str, str] | None = None,
        auth_over_plain: bool = False,
        exclude: tuple[str, ...] = (),
        refused_senders: frozenset[str] = frozenset(),
        refused_recipients: frozenset[str] = frozenset(),
        smtputf8: bool = True,
    ) -> Server:
        recorder = Recorder(refused_senders, refused_recipients)
        accounts = Accounts(users) if users is not None else None
        port = free_port()
        options: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": port,
            "server_hostname": SERVER_NAME,
            "enable_SMTPUTF8": smtputf8,
            "auth_exclude_mechanism": list(exclude),
            "ready_timeout": 5.0,
        }
        if accounts is not None:
            options["authenticator"] = accounts
        context = server_context(cert or pki.good)
        if tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif tls == "implicit":
            options.update(ssl_context=context, auth_require_tls=False)
        elif auth_over_plain:
            options["auth_require_tls"] = False
        controller = _Controller(recorder, **options)
        controller.start()
        running.append(controller)
        recorder.commands.clear()  # the controller's own start-up connection
        return Server(port, recorder, accounts, controller)

    yield start
    for controller in running:
        controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word.

    The kernel completes the TCP handshake for a listening socket whether or
    not the program calls accept(), so the client sees an open connection on
    which no greeting ever comes.
    """
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield int(listener.getsockname()[1])


def make_settings(port: int, **changes: Any) -> Settings:
    """Settings for a local test server: STARTTLS with Login/Plain unless told otherwise."""
    values: dict[str, Any] = {
        "account_name": "Security Monitoring",
        "account_email": ACCOUNT_EMAIL,
        "server": "127.0.0.1",
        "port": port,
        "security": Security.STARTTLS,
        "auth": Auth.LOGIN_PLAIN,
        "username": USERNAME,
        "password": PASSWORD,
        "timeout": 3.0,
    }
    values.update(changes)
    return Settings(**values)
