"""Why talking to the mail server failed, in words an administrator can act on.

Every failure carries a ``Problem`` (a stable identifier for programs and
tests), a short ``summary`` that names it the way a person would ("authentication
rejected"), the likely ``cause`` and what to do about it (``fix``).  The texts
live in one table so that the window, the command line and the JSON output all
say the same thing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configurator.mail.certificate import CertificateInfo
    from configurator.mail.stepids import StepId


class Problem(enum.StrEnum):
    """What went wrong, independent of the wording shown to people."""

    SERVER_NAME_INVALID = "server_name_invalid"
    NAME_NOT_FOUND = "name_not_found"
    DNS_FAILED = "dns_failed"
    CONNECTION_REFUSED = "connection_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    NETWORK_UNREACHABLE = "network_unreachable"
    CONNECT_FAILED = "connect_failed"
    GREETING_TIMEOUT = "greeting_timeout"
    TLS_EXPECTED = "tls_expected"
    SERVER_REFUSED = "server_refused"
    NOT_SMTP = "not_smtp"
    PLAIN_SMTP_ON_TLS = "plain_smtp_on_tls"
    STARTTLS_NOT_OFFERED = "starttls_not_offered"
    STARTTLS_REFUSED = "starttls_refused"
    STARTTLS_INJECTION = "starttls_injection"
    CA_FILE_UNUSABLE = "ca_file_unusable"
    CERT_UNTRUSTED = "cert_untrusted"
    CERT_EXPIRED = "cert_expired"
    CERT_NOT_YET_VALID = "cert_not_yet_valid"
    CERT_WRONG_HOST = "cert_wrong_host"
    CERT_PIN_MISMATCH = "cert_pin_mismatch"
    CERT_INVALID = "cert_invalid"
    TLS_FAILED = "tls_failed"
    EHLO_REJECTED = "ehlo_rejected"
    AUTH_NOT_OFFERED = "auth_not_offered"
    AUTH_MECHANISM_UNSUPPORTED = "auth_mechanism_unsupported"
    AUTH_REJECTED = "auth_rejected"
    AUTH_NEEDS_ENCRYPTION = "auth_needs_encryption"
    AUTH_TEMPORARY = "auth_temporary"
    AUTH_REQUIRED = "auth_required"
    ENCRYPTION_REQUIRED = "encryption_required"
    SENDER_REFUSED = "sender_refused"
    RECIPIENT_REFUSED = "recipient_refused"
    MESSAGE_REFUSED = "message_refused"
    SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"
    REPLY_TIMEOUT = "reply_timeout"
    CONNECTION_CLOSED = "connection_closed"
    PROTOCOL_ERROR = "protocol_error"
    CANCELLED = "cancelled"
    INTERNAL_ERROR = "internal_error"

    @property
    def is_certificate(self) -> bool:
        """Whether the server's certificate is at fault, so that it is worth showing."""
        return self in _CERTIFICATE_PROBLEMS

    @property
    def pinnable(self) -> bool:
        """Whether trusting the authority or pinning the certificate resolves it."""
        return self in _PINNABLE


_CERTIFICATE_PROBLEMS = frozenset(
    {
        Problem.CERT_UNTRUSTED,
        Problem.CERT_EXPIRED,
        Problem.CERT_NOT_YET_VALID,
        Problem.CERT_WRONG_HOST,
        Problem.CERT_PIN_MISMATCH,
        Problem.CERT_INVALID,
    }
)
_PINNABLE = frozenset({Problem.CERT_UNTRUSTED, Problem.CERT_WRONG_HOST, Problem.CERT_PIN_MISMATCH})


_CERT = "Subject: {subject}; issuer: {issuer}; SHA-256 fingerprint: {fingerprint}."

# Problem -> (summary, cause, fix).  Placeholders are filled from the context
# given to explain(); a missing one shows as "?" rather than failing.
_TEXTS: dict[Problem, tuple[str, str, str]] = {
    Problem.SERVER_NAME_INVALID: (
        "the server name is not valid",
        "Outgoing Mail Server {server} {detail}.",
        "Enter the server's DNS name, or its IP address: IPv4 as four numbers such as "
        "192.0.2.10, IPv6 without a zone.",
    ),
    Problem.NAME_NOT_FOUND: (
        "server name not found",
        "The name {server} does not exist in DNS, or this computer's DNS server does not know it.",
        "Check the spelling of Outgoing Mail Server, or enter the server's IP address.",
    ),
    Problem.DNS_FAILED: (
        "the server name could not be looked up",
        "Looking up {server} failed: {detail}.",
        "Check this computer's network and DNS settings, then try again.",
    ),
    Problem.CONNECTION_REFUSED: (
        "connection refused",
        "Nothing accepts connections on port {port} of {server}, or a firewall rejects them.",
        "Check Server Port: the usual ports are 587 (STARTTLS), 465 (SSL/TLS) and 25.",
    ),
    Problem.CONNECT_TIMEOUT: (
        "timed out connecting to the server",
        "Nothing answered on port {port} of {server} within {timeout}: a firewall "
        "may drop the connection, the address may be wrong, or the network may block this "
        "port (port 25 often is).",
        "Check Outgoing Mail Server and Server Port, and whether a firewall lets this "
        "computer connect to that port.",
    ),
    Problem.NETWORK_UNREACHABLE: (
        "network unreachable",
        "This computer has no route to {server} ({detail}).",
        "Check this computer's network connection; if the server's address is IPv6, check "
        "that this network supports IPv6.",
    ),
    Problem.CONNECT_FAILED: (
        "could not connect to the server",
        "Connecting to port {port} of {server} failed: {detail}.",
        "Check Outgoing Mail Server, Server Port and this computer's network connection.",
    ),
    Problem.GREETING_TIMEOUT: (
        "timed out waiting for the server greeting",
        "The connection to port {port} was accepted, but the server sent nothing within {timeout}.",
        "Check Server Port and that the mail service is running; a server under heavy load "
        "may need a longer timeout.",
    ),
    Problem.TLS_EXPECTED: (
        "the server expects SSL/TLS from the first byte",
        "Port {port} of {server} starts with TLS at once (typical of port 465), but "
        "Connection Security is {security}, which waits for a plain SMTP greeting.",
        "Choose SSL/TLS as Connection Security for this port, or use port 587 with STARTTLS.",
    ),
    Problem.SERVER_REFUSED: (
        "the server refused the session",
        "The server answered the connection with a refusal: it may block this computer's "
        "address, or be overloaded.",
        "Read the server's reply; ask the mail administrator to allow this computer.",
    ),
    Problem.NOT_SMTP: (
        "the server does not speak SMTP",
        "Port {port} of {server} answered with something that is not an SMTP greeting.",
        "Check Server Port: it may belong to another service.",
    ),
    Problem.PLAIN_SMTP_ON_TLS: (
        "the server speaks plain SMTP on this port, not SSL/TLS",
        "Connection Security is SSL/TLS, which starts TLS at once, but port {port} of "
        "{server} greets in plain SMTP (typical of ports 587 and 25).",
        "Choose STARTTLS for this port, or use port 465 with SSL/TLS.",
    ),
    Problem.STARTTLS_NOT_OFFERED: (
        "server does not offer STARTTLS",
        "The server does not list STARTTLS among its capabilities, so the connection cannot "
        "be encrypted. Nothing was sent after EHLO: no user name and no password.",
        "Use SSL/TLS (usually port 465) if the server offers it, or ask the mail "
        "administrator to enable STARTTLS. A firewall or proxy that removes STARTTLS can "
        "also cause this.",
    ),
    Problem.STARTTLS_REFUSED: (
        "the server refused STARTTLS",
        "The server lists STARTTLS but refused to start TLS.",
        "Try again later, or use SSL/TLS on port 465; ask the mail administrator if it persists.",
    ),
    Problem.STARTTLS_INJECTION: (
        "unexpected data before the TLS handshake",
        "After accepting STARTTLS the server, or something between, sent more data before "
        "the TLS handshake. That is how commands are injected into a connection, so it was "
        "dropped.",
        "Look for a proxy or security appliance that alters SMTP traffic, and tell the mail "
        "administrator.",
    ),
    Problem.CA_FILE_UNUSABLE: (
        "the trusted CA file cannot be used",
        "{ca_file}: {detail}.",
        "Set Trusted CA File to a readable PEM file of CA certificates, or clear it.",
    ),
    Problem.CERT_UNTRUSTED: (
        "certificate not trusted",
        "The server's certificate is not signed by an authority this computer trusts "
        "({detail}). " + _CERT,
        "If the server uses a private certificate authority, set Trusted CA File to its "
        "certificate. If you have confirmed this fingerprint with the mail administrator, "
        "pin the certificate.",
    ),
    Problem.CERT_EXPIRED: (
        "certificate expired",
        "The server's certificate expired on {not_after}. " + _CERT,
        "Ask the mail administrator to renew the certificate, and check this computer's "
        "date and time.",
    ),
    Problem.CERT_NOT_YET_VALID: (
        "certificate not yet valid",
        "The server's certificate is valid only from {not_before}. " + _CERT,
        "Check this computer's date and time.",
    ),
    Problem.CERT_WRONG_HOST: (
        "certificate is for a wrong host name",
        "The certificate is valid for {names}, not for {server}. " + _CERT,
        "Set Outgoing Mail Server to a name the certificate is for; pin the certificate "
        "only if the mail administrator confirms its fingerprint.",
    ),
    Problem.CERT_PIN_MISMATCH: (
        "certificate does not match the pinned fingerprint",
        "The server presented a different certificate than the pinned one: it may have been "
        "renewed, or someone may be intercepting the connection. Nothing was sent over it. "
        + _CERT,
        "Confirm the new fingerprint with the mail administrator and pin it, or clear "
        "Pinned Certificate to rely on the trusted authorities.",
    ),
    Problem.CERT_INVALID: (
        "certificate rejected",
        "The server's certificate failed verification: {detail}. " + _CERT,
        "Ask the mail administrator to install a valid certificate.",
    ),
    Problem.TLS_FAILED: (
        "TLS handshake failed",
        "The TLS handshake with {server} failed: {detail}.",
        "The server may support only outdated TLS versions or ciphers (TLS 1.2 or newer is "
        "required); ask the mail administrator to update it.",
    ),
    Problem.EHLO_REJECTED: (
        "the server rejected EHLO",
        "The server refused both EHLO and HELO.",
        "Read the server's reply; ask the mail administrator to allow this computer.",
    ),
    Problem.AUTH_NOT_OFFERED: (
        "the server does not offer authentication (AUTH)",
        "The server's capabilities list no AUTH on this connection, so it cannot check a "
        "user name and password.{hint}",
        "If the server accepts mail from this computer without a login, set Authentication "
        "Method to None; otherwise use an encrypted connection, on which servers usually "
        "offer AUTH.",
    ),
    Problem.AUTH_MECHANISM_UNSUPPORTED: (
        "no supported authentication method",
        "The server offers AUTH {offered}, but this program logs in only with PLAIN or LOGIN.",
        "Ask the mail administrator to enable AUTH PLAIN or LOGIN over TLS.",
    ),
    Problem.AUTH_REJECTED: (
        "authentication rejected",
        "The server did not accept the user name {username} with this password.",
        "Check User Name (often the full e-mail address) and Password. Some providers "
        "require an app password when two-step verification is on.",
    ),
    Problem.AUTH_NEEDS_ENCRYPTION: (
        "the server requires encryption before authentication",
        "The server refuses to take a password over an unencrypted connection.",
        "Choose STARTTLS or SSL/TLS as Connection Security.",
    ),
    Problem.AUTH_TEMPORARY: (
        "temporary authentication failure",
        "The server could not check the login just now.",
        "Try again in a few minutes.",
    ),
    Problem.AUTH_REQUIRED: (
        "the server requires authentication",
        "The server accepts mail only after a login.",
        "Set Authentication Method to Login/Plain and enter the account's user name and password.",
    ),
    Problem.ENCRYPTION_REQUIRED: (
        "the server requires an encrypted connection",
        "The server accepts mail only after STARTTLS or over SSL/TLS.",
        "Choose STARTTLS as Connection Security (or SSL/TLS on port 465).",
    ),
    Problem.SENDER_REFUSED: (
        "sender address refused",
        "The server refused {sender} as the sender: usually this login may not send as "
        "this address.",
        "Set Account E-mail Address to an address this account may send as (often the "
        "login's own address), or ask the mail administrator to allow it.",
    ),
    Problem.RECIPIENT_REFUSED: (
        "recipient address refused",
        "The server refused to deliver to {recipient}: the address may not exist, or the "
        "server does not relay mail for this client.",
        "Check the recipient's address; if the reply mentions relaying, log in with "
        "Login/Plain or ask the mail administrator to allow relaying.",
    ),
    Problem.MESSAGE_REFUSED: (
        "message refused",
        "The server did not accept the message.",
        "Read the server's reply: it may consider the message spam or too large; ask the "
        "mail administrator.",
    ),
    Problem.SMTPUTF8_UNSUPPORTED: (
        "the server cannot take this internationalised address",
        "The {role} address {address} has non-ASCII characters before the @, which needs "
        "the SMTPUTF8 extension, and the server does not offer it.",
        "Use a {role} address with only ASCII characters before the @.",
    ),
    Problem.REPLY_TIMEOUT: (
        "timed out {waiting}",
        "The server did not answer within {timeout}.",
        "Try again; if it persists, the server or the network is overloaded, or a firewall "
        "interferes with the connection.",
    ),
    Problem.CONNECTION_CLOSED: (
        "the server closed the connection",
        "The connection ended {when}: {detail}.",
        "The server may refuse this computer, or be overloaded or misconfigured; read the "
        "transcript and try again later.",
    ),
    Problem.PROTOCOL_ERROR: (
        "the server's reply could not be understood",
        "{detail}.",
        "Check Server Port: it may belong to another service.",
    ),
    Problem.CANCELLED: (
        "check cancelled",
        "The check was cancelled before it finished.",
        "Start it again when ready.",
    ),
    Problem.INTERNAL_ERROR: (
        "unexpected error",
        "{detail}.",
        "Please report this problem together with the transcript.",
    ),
}


class _Context(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True)
class Failure:
    """One failure, explained; everything in it is safe to show and to log."""

    problem: Problem
    summary: str
    cause: str
    fix: str
    reply: str = ""
    step: StepId | None = None

    @property
    def temporary(self) -> bool:
        """True when the server's reply code says "try again later" (4xx)."""
        return self.reply[:1] == "4" and self.reply[:3].isdigit()

    def describe(self) -> str:
        """Summary, cause, fix and the server's reply as a few lines of text."""
        lines = [self.summary[:1].upper() + self.summary[1:] + ".", self.cause, self.fix]
        if self.reply:
            lines.append(f"The server replied: {self.reply}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "problem": self.problem.value,
            "step": self.step.value if self.step is not None else None,
            "summary": self.summary,
            "cause": self.cause,
            "fix": self.fix,
            "reply": self.reply,
        }


def explain(
    problem: Problem,
    *,
    reply: str = "",
    step: StepId | None = None,
    context: Mapping[str, object] | None = None,
) -> Failure:
    """Build the failure for ``problem``, filling the texts from ``context``."""
    values = _Context({"hint": ""})  # an optional sentence some texts end with
    values.update(context or {})
    summary, cause, fix = (text.format_map(values) for text in _TEXTS[problem])
    return Failure(problem, summary, cause, fix, reply=reply, step=step)


class MailError(Exception):
    """Raised by the mail package for every failure; ``str()`` is the summary.

    Never holds a password: the texts are built from redacted values only.
    ``certificate`` is set for certificate problems so that a front end can
    show the certificate and offer to pin it.
    """

    def __init__(self, failure: Failure, certificate: CertificateInfo | None = None) -> None:
        self.failure = failure
        self.certificate = certificate
        super().__init__(failure.summary)

    @property
    def problem(self) -> Problem:
        return self.failure.problem

    @property
    def step(self) -> StepId | None:
        return self.failure.step

    def at_step(self, step: StepId) -> MailError:
        """Record the step the failure happened in, unless it is known already."""
        if self.failure.step is None:
            self.failure = replace(self.failure, step=step)
        return self


def cancelled() -> MailError:
    return MailError(explain(Problem.CANCELLED))
