"""The test e-mail: proof that alerts will arrive, and a record of how it was sent.

Headers are built by the standard library's ``email`` package (default
policy), which encodes any Unicode display name as RFC 2047 encoded words and
refuses line breaks in header values.  The body names the server, port,
security and login that carried it, when and from which host -- never the
password.  SMTPUTF8 is used only when an address needs it (non-ASCII before
the @); a non-ASCII domain travels in its IDNA form instead.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import TYPE_CHECKING

from configurator import __version__, syntax
from configurator.model import FIELDS_BY_KEY, Auth, Settings

if TYPE_CHECKING:
    from email.message import EmailMessage

SUBJECT = "Test e-mail from Mail Server Configurator"


def needs_smtputf8(*addresses: str) -> bool:
    """Whether any address has non-ASCII characters before the @."""
    return any(not address.rpartition("@")[0].isascii() for address in addresses)


def _header_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    if not domain.startswith("["):
        domain = syntax.to_ascii_hostname(domain)
    return local, domain


def _body(settings: Settings, sent_at: dt.datetime, client_host: str) -> str:
    def label(key: str) -> str:
        return FIELDS_BY_KEY[key].label

    auth = settings.auth.label
    if settings.auth is Auth.LOGIN_PLAIN:
        auth += f" (user name: {settings.username})"
    rows = [
        (label("server"), settings.server),
        (label("port"), str(settings.port)),
        (label("security"), settings.security.label),
        (label("auth"), auth),
        ("Sent at", sent_at.strftime("%Y-%m-%d %H:%M:%S %z")),
        ("Sent from host", client_host),
    ]
    width = max(len(name) for name, _ in rows) + 2
    table = "\n".join(f"{name + ':':<{width}}{value}" for name, value in rows)
    return (
        "This is a test e-mail from Mail Server Configurator.\n\n"
        "It arrived, so the outgoing mail server settings below work: alerts of the\n"
        "security-monitoring platform will be sent the same way.\n\n"
        f"{table}\n\n"
        f"Mail Server Configurator {__version__}. No reply is needed.\n"
    )


def compose_test_message(
    settings: Settings,
    recipient: str,
    *,
    sent_at: dt.datetime | None = None,
    client_host: str | None = None,
) -> EmailMessage:
    """The test e-mail from the account to ``recipient``."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    moment = sent_at or dt.datetime.now(dt.UTC).astimezone()
    sender_local, sender_domain = _header_address(settings.account_email)
    recipient_local, recipient_domain = _header_address(recipient)
    message = EmailMessage()
    message["From"] = Address(settings.account_name, sender_local, sender_domain)
    message["To"] = Address("", recipient_local, recipient_domain)
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(moment)
    # An explicit domain: without one, make_msgid asks DNS for this host's name.
    message["Message-ID"] = make_msgid("configurator", domain=sender_domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    message["X-Mailer"] = f"Mail Server Configurator {__version__}"
    body = _body(settings, moment, client_host or socket.gethostname())
    # Quoted-printable keeps the body 7-bit, so no server needs 8BITMIME for it.
    message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
    return message


def render(message: EmailMessage, *, smtputf8: bool = False) -> bytes:
    """The message as it goes after DATA: CRLF line endings, UTF-8 headers only with SMTPUTF8."""
    from email import policy

    return message.as_bytes(policy=policy.SMTPUTF8 if smtputf8 else policy.SMTP)
