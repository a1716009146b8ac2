"""What went wrong during a step, as the ``Problem`` a person can act on.

Whatever a step raises -- a timeout, a refused or reset connection, a reply
that is not SMTP, a TLS error -- and whatever a server answers to AUTH or
with 530 becomes a ``MailError`` here, its texts filled in with the settings'
values and redacted, so that no secret reaches a message.  ``ssl`` is not
imported here: a failure without TLS need not load it.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Mapping
from types import ModuleType

from configurator.mail.cancel import CancelToken
from configurator.mail.channel import BadReply, Reply, ServerClosed
from configurator.mail.errors import MailError, Problem, cancelled, explain
from configurator.mail.stepids import StepId
from configurator.model import Settings

_WAITING: dict[StepId, str] = {
    StepId.TLS: "during the TLS handshake",
    StepId.EHLO: "waiting for the server's reply to EHLO",
    StepId.AUTH: "waiting for the server's reply to AUTH",
    StepId.SENDER: "waiting for the server's reply to MAIL FROM",
    StepId.RECIPIENT: "waiting for the server's reply to RCPT TO",
    StepId.MESSAGE: "waiting for the server to accept the message",
}

_WHEN: dict[StepId, str] = {
    StepId.CONNECT: "while connecting",
    StepId.GREETING: "before the server greeting",
    StepId.TLS: "during the TLS handshake",
    StepId.EHLO: "during EHLO",
    StepId.AUTH: "during authentication",
    StepId.SENDER: "after MAIL FROM",
    StepId.RECIPIENT: "after RCPT TO",
    StepId.MESSAGE: "while sending the message",
}

_SSL_REASONS: dict[str, str] = {
    "WRONG_VERSION_NUMBER": "the server did not answer with TLS",
    "UNSUPPORTED_PROTOCOL": "the server supports only TLS versions older than 1.2",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the server supports only TLS versions older than 1.2",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server and this program have no cipher in common",
    "NO_SHARED_CIPHER": "the server and this program have no cipher in common",
    "DH_KEY_TOO_SMALL": "the server's key exchange is too weak",
}

UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}
)


def seconds(value: float) -> str:
    """A duration for a message: "1 second", "2.5 seconds"."""
    return f"{value:g} second" + ("" if value == 1 else "s")


def ssl_reason(exc: BaseException) -> str:
    """An ``ssl.SSLError`` in words: its OpenSSL reason, explained where it is a common one."""
    reason = getattr(exc, "reason", None) or ""
    return _SSL_REASONS.get(str(reason), str(reason).replace("_", " ").lower() or str(exc))


def _ssl_module() -> ModuleType | None:
    """The ssl module if TLS was used; failures without TLS need not load it."""
    return sys.modules.get("ssl")


class Explainer:
    """Turns problems and exceptions into redacted failures about one server's settings."""

    def __init__(
        self, settings: Settings, *, redact: Callable[[str], str], cancel: CancelToken
    ) -> None:
        self._settings = settings
        self._redact = redact
        self._cancel = cancel

    def explain(
        self,
        problem: Problem,
        *,
        reply: str = "",
        context: Mapping[str, object] | None = None,
        **more: object,
    ) -> MailError:
        """The failure for ``problem``, its texts filled in and redacted."""
        settings = self._settings
        values: dict[str, object] = {
            "server": settings.server,
            "port": settings.port,
            "timeout": seconds(float(settings.timeout)),
            "security": settings.security.label,
            "username": settings.username,
            "ca_file": settings.ca_file,
        }
        values.update(context or {})
        values.update(more)
        redact = self._redact
        safe = {key: redact(str(value)) for key, value in values.items()}
        return MailError(explain(problem, reply=redact(reply), context=safe))

    def classify(self, exc: Exception, step: StepId) -> MailError:
        """Turn whatever a step raised into the failure a person can act on."""
        if isinstance(exc, MailError):
            return exc
        if self._cancel.cancelled:
            return cancelled()
        ssl_module = _ssl_module()
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            if step is StepId.RESOLVE:
                return self.explain(Problem.DNS_FAILED, detail="no answer in time")
            if step is StepId.CONNECT:
                return self.explain(Problem.CONNECT_TIMEOUT)
            if step is StepId.GREETING:
                return self.explain(Problem.GREETING_TIMEOUT)
            return self.explain(Problem.REPLY_TIMEOUT, waiting=_WAITING.get(step, "waiting"))
        if isinstance(exc, ConnectionRefusedError):
            return self.explain(Problem.CONNECTION_REFUSED)
        closed: tuple[type[BaseException], ...] = (
            ServerClosed,
            ConnectionResetError,
            ConnectionAbortedError,
            BrokenPipeError,
        )
        if ssl_module is not None:
            closed += (ssl_module.SSLEOFError, ssl_module.SSLZeroReturnError)
        if isinstance(exc, closed):
            return self.explain(
                Problem.CONNECTION_CLOSED, when=_WHEN.get(step, "unexpectedly"), detail=detail
            )
        if isinstance(exc, BadReply):
            if step is StepId.GREETING:
                return self.explain(Problem.NOT_SMTP, detail=detail)
            return self.explain(Problem.PROTOCOL_ERROR, detail=detail)
        if ssl_module is not None and isinstance(exc, ssl_module.SSLError):
            return self.explain(Problem.TLS_FAILED, detail=ssl_reason(exc))
        if isinstance(exc, OSError):
            if exc.errno in UNREACHABLE_ERRNOS:
                return self.explain(Problem.NETWORK_UNREACHABLE, detail=exc.strerror or detail)
            if step is StepId.CONNECT:
                return self.explain(Problem.CONNECT_FAILED, detail=exc.strerror or detail)
            return self.explain(
                Problem.CONNECTION_CLOSED, when=_WHEN.get(step, "unexpectedly"), detail=detail
            )
        return self.explain(Problem.INTERNAL_ERROR, detail=f"{type(exc).__name__}: {detail}")

    def auth_failure(self, reply: Reply, mechanism: str, *, encrypted: bool) -> MailError:
        """What a reply other than 235 to AUTH means."""
        text = str(reply)
        if reply.code == 538 or (reply.code == 530 and not encrypted):
            return self.explain(Problem.AUTH_NEEDS_ENCRYPTION, reply=text)
        if 400 <= reply.code < 500:
            return self.explain(Problem.AUTH_TEMPORARY, reply=text)
        if reply.code == 504:
            return self.explain(Problem.AUTH_MECHANISM_UNSUPPORTED, reply=text, offered=mechanism)
        if reply.code in (500, 502):
            return self.explain(Problem.AUTH_NOT_OFFERED, reply=text, hint="")
        return self.explain(Problem.AUTH_REJECTED, reply=text)

    def access_refused(self, reply: Reply, *, encrypted: bool) -> MailError:
        """530 means "not like this": without TLS, or without a login."""
        if not encrypted and "TLS" in reply.text.upper():
            return self.explain(Problem.ENCRYPTION_REQUIRED, reply=str(reply))
        return self.explain(Problem.AUTH_REQUIRED, reply=str(reply))
