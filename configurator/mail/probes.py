"""Second connections to the server, only to explain why the first one failed.

When verification fails, a second connection fetches the certificate without
verifying it, only to show its subject, issuer and fingerprint.  When a port
stays silent, a second connection tries a TLS handshake; when a TLS
handshake fails, one listens for a plain SMTP greeting.  Nothing is sent
over a second connection beyond what finding that out needs -- never a
credential -- and each stays within the time of the step it explains.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from configurator.mail.cancel import CancelToken
from configurator.mail.certificate import CertificateInfo, describe_certificate
from configurator.mail.channel import BadReply, Channel
from configurator.mail.connect import Peer, open_socket
from configurator.mail.deadline import Deadline
from configurator.mail.errors import MailError
from configurator.mail.tls import unverified_context
from configurator.mail.transcript import Transcript

if TYPE_CHECKING:
    import ssl

PROBE_TIMEOUT = 5.0  # a plain SMTP server greets at once; no need to wait long

_SMTP_REPLY_START = re.compile(r"^\d{3}[ -]")


class Probes:
    """Second connections to ``peer``, bounded by the deadline of the step they explain."""

    def __init__(
        self,
        peer: Peer,
        *,
        starttls: bool,
        cancel: CancelToken,
        transcript: Transcript,
        timeout: float,
        deadline: Deadline,
    ) -> None:
        self._peer = peer
        self._starttls = starttls
        self._cancel = cancel
        self._transcript = transcript
        self._timeout = timeout
        self._deadline = deadline

    def fetch_certificate(self) -> CertificateInfo | None:
        """Fetch the certificate that failed verification, only to show it.

        A second connection, a handshake without verification, the
        certificate read, the connection closed: nothing else is sent.
        """
        self._transcript.note(
            "fetching the certificate over a second connection to show it; nothing else is sent"
        )
        scratch = self._transcript.sibling()  # the repeated greeting and EHLO would only clutter
        channel: Channel | None = None
        try:
            # Within what is left of the step that failed.
            sock = open_socket(self._peer, self._deadline.remaining(), self._cancel)
            channel = Channel(
                sock,
                transcript=scratch,
                cancel=self._cancel,
                timeout=self._timeout,
                deadline=self._deadline,
            )
            if self._starttls:
                if channel.read_reply().code != 220:
                    return None
                if channel.command(f"EHLO {self._peer.ehlo_name}").code != 250:
                    return None
                if channel.command("STARTTLS").code != 220:
                    return None
            tls_sock = unverified_context().wrap_socket(
                channel.sock, server_hostname=self._peer.tls_name, do_handshake_on_connect=False
            )
            channel.replace_socket(tls_sock)
            tls_sock.settimeout(self._deadline.remaining())
            tls_sock.do_handshake()
            der = tls_sock.getpeercert(binary_form=True)
        except (OSError, BadReply, MailError, ValueError):
            return None
        finally:
            if channel is not None:
                channel.close()
        return describe_certificate(der) if der else None

    def speaks_tls(self, timeout: float) -> bool:
        """Whether a second connection gets TLS answers to a TLS handshake within ``timeout``."""
        import ssl

        deadline = Deadline(timeout)
        try:
            sock = open_socket(self._peer, timeout, self._cancel)
        except OSError:
            return False
        tls_sock: ssl.SSLSocket | None = None
        try:
            tls_sock = unverified_context().wrap_socket(
                sock, server_hostname=self._peer.tls_name, do_handshake_on_connect=False
            )
            with self._cancel.watch(tls_sock):
                tls_sock.settimeout(deadline.remaining())
                tls_sock.do_handshake()
        except ssl.SSLError as exc:
            # An alert is a TLS answer too: the server speaks TLS but dislikes something.
            return "ALERT" in str(exc.reason or "")
        except OSError:
            return False
        finally:
            if tls_sock is not None:
                tls_sock.close()
            sock.close()
        return True

    def greets_in_plain(self, why: str) -> str | None:
        """The plain SMTP greeting a second connection gets, if it gets one.

        Waits at most ``PROBE_TIMEOUT`` and never beyond the step's deadline.
        """
        transcript = self._transcript
        transcript.note(
            f"the TLS handshake failed ({why}); connecting a second time, without TLS, "
            "to see whether the server greets in plain SMTP"
        )
        scratch = transcript.sibling()
        timeout = min(self._deadline.left(), PROBE_TIMEOUT)
        try:
            sock = open_socket(self._peer, timeout, self._cancel)
            channel = Channel(sock, transcript=scratch, cancel=self._cancel, timeout=timeout)
            try:
                reply = channel.read_reply()
            finally:
                channel.close()
        except (OSError, BadReply, MailError):
            transcript.note("the second connection got no plain SMTP greeting")
            return None
        text = str(reply)
        if not _SMTP_REPLY_START.match(text):
            transcript.note("the second connection got no plain SMTP greeting")
            return None
        transcript.note(f"the second connection got a plain SMTP greeting: {text}")
        return text
