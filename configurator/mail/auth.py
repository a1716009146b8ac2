"""Proving the account's identity to the server, one pluggable authenticator per method.

An authenticator gets the mechanisms the server offers and a channel, runs its
exchange and returns the server's final reply; the connection decides what
that reply means.  Login/Plain is ``PasswordAuthenticator``.  A future OAuth2
method becomes another class with the same two methods (XOAUTH2 sends one
``AUTH XOAUTH2 <token>`` line) and one more case in ``authenticator_for``.

Credentials are sent as UTF-8 (RFC 4616 for PLAIN; LOGIN has no standard and
servers expect the same), so any Unicode user name or password works.  Only
PLAIN and LOGIN are used, never another mechanism picked silently.  Every
client line of the exchange is shown in the transcript as "[hidden]".
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from configurator.mail.channel import Reply
from configurator.mail.errors import MailError, Problem, explain
from configurator.mail.transcript import HIDDEN, credential_forms
from configurator.model import Auth, Settings


class AuthChannel(Protocol):
    """What an authenticator may do with the connection."""

    def command(self, line: str, *, shown: str | None = None, utf8: bool = False) -> Reply: ...


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    reply: Reply


class Authenticator(Protocol):
    """One way of logging in."""

    @property
    def identity(self) -> str:
        """Who logs in, as shown to people (never a secret)."""
        ...

    def secrets(self) -> Sequence[str]:
        """Every text the exchange may put on the wire that must never be shown."""
        ...

    def authenticate(self, channel: AuthChannel, offered: frozenset[str]) -> AuthAttempt:
        """Log in using one of the ``offered`` mechanisms; raise ``MailError`` if none fits."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class PasswordAuthenticator:
    """AUTH PLAIN, or AUTH LOGIN when the server offers only that."""

    username: str
    password: str = field(repr=False)
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")

    @property
    def identity(self) -> str:
        return self.username

    def secrets(self) -> Sequence[str]:
        return credential_forms(self.username, self.password)

    def authenticate(self, channel: AuthChannel, offered: frozenset[str]) -> AuthAttempt:
        for mechanism in self.mechanisms:
            if mechanism in offered:
                if mechanism == "PLAIN":
                    return AuthAttempt(mechanism, self._plain(channel))
                return AuthAttempt(mechanism, self._login(channel))
        raise MailError(
            explain(
                Problem.AUTH_MECHANISM_UNSUPPORTED,
                context={"offered": " ".join(sorted(offered)) or "with no mechanism"},
            )
        )

    def _plain(self, channel: AuthChannel) -> Reply:
        # RFC 4616: empty authorisation identity, NUL, user, NUL, password; UTF-8.
        blob = _b64(f"\0{self.username}\0{self.password}".encode())
        reply = channel.command(f"AUTH PLAIN {blob}", shown=f"AUTH PLAIN {HIDDEN}")
        if reply.code == 334:  # a server that ignores the initial response asks again
            reply = channel.command(blob, shown=HIDDEN)
        return self._finish(channel, reply)

    def _login(self, channel: AuthChannel) -> Reply:
        reply = channel.command("AUTH LOGIN")
        for answer in (self.username, self.password):
            if reply.code != 334:
                return reply
            reply = channel.command(_b64(answer.encode()), shown=HIDDEN)
        return self._finish(channel, reply)

    @staticmethod
    def _finish(channel: AuthChannel, reply: Reply) -> Reply:
        if reply.code == 334:
            # More challenges than the mechanism has: abort the exchange (RFC 4954).
            return channel.command("*")
        return reply


def authenticator_for(settings: Settings) -> Authenticator | None:
    """The authenticator the settings ask for, or ``None`` for no authentication."""
    if settings.auth is Auth.LOGIN_PLAIN:
        return PasswordAuthenticator(settings.username, settings.password)
    return None
