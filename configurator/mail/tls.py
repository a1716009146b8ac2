"""Whether to trust the server's TLS: the contexts, the Trusted CA File, and pinning.

The certificate is verified against the system's trusted authorities plus
the optional Trusted CA File, host name included.  A pinned certificate
(SHA-256 of its DER form) replaces that verification: the handshake is done
without it, and the fingerprint is compared before a single byte is sent
over the connection.  Only a matching certificate is used; any other ends
the attempt, however well it is signed.  ``ssl`` is imported only when TLS
is used.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from configurator.mail.certificate import CertificateInfo, TlsInfo, describe_certificate
from configurator.mail.classify import Explainer
from configurator.mail.errors import MailError, Problem
from configurator.model import Settings, normalise_fingerprint

if TYPE_CHECKING:
    import ssl

EXPIRY_WARNING = dt.timedelta(days=14)

# A CA bundle of every public authority is about 250 KiB.
_CA_FILE_LIMIT = 4 << 20
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----"
)

# OpenSSL verification error codes (X509_V_ERR_*) and what they mean here.
_CERT_PROBLEMS: dict[int, Problem] = {
    2: Problem.CERT_UNTRUSTED,  # unable to get issuer certificate
    9: Problem.CERT_NOT_YET_VALID,
    10: Problem.CERT_EXPIRED,
    18: Problem.CERT_UNTRUSTED,  # self-signed
    19: Problem.CERT_UNTRUSTED,  # self-signed certificate in chain
    20: Problem.CERT_UNTRUSTED,  # unable to get local issuer certificate
    21: Problem.CERT_UNTRUSTED,  # unable to verify the first certificate
    27: Problem.CERT_UNTRUSTED,  # certificate not trusted
    62: Problem.CERT_WRONG_HOST,  # host name mismatch
    64: Problem.CERT_WRONG_HOST,  # IP address mismatch
}


def unverified_context() -> ssl.SSLContext:
    """For comparing a pin or showing a certificate only; never trusted by itself."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class Trust:
    """How one session decides whether the server's certificate is the right one."""

    def __init__(self, settings: Settings, explainer: Explainer) -> None:
        self._ca_file = settings.ca_file
        self._explainer = explainer
        self.pin = normalise_fingerprint(settings.tls_fingerprint)
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        """One context per session: verifying, or (with a pin) comparing the fingerprint."""
        if self._context is not None:
            return self._context
        import ssl

        if self.pin:
            context = unverified_context()
        else:
            # Not create_default_context(cafile=...): that would drop the system's authorities.
            context = ssl.create_default_context()
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if self._ca_file:
                self._trust_ca_file(context)
        self._context = context
        return context

    def _trust_ca_file(self, context: ssl.SSLContext) -> None:
        """Add the Trusted CA File, read within a bound and only if no one else may change it."""
        import ssl
        from pathlib import Path

        from configurator import fsutil

        explain = self._explainer.explain
        try:
            data = fsutil.read_trusted_input(Path(self._ca_file), _CA_FILE_LIMIT)
        except OSError as exc:
            raise explain(Problem.CA_FILE_UNUSABLE, detail=exc.strerror or str(exc)) from None
        except ValueError as exc:
            raise explain(Problem.CA_FILE_UNUSABLE, detail=str(exc)) from None
        # Only the certificate blocks: a comment in another encoding must not spoil the file.
        blocks = _PEM_CERTIFICATE.findall(data)
        try:
            if not blocks:
                raise ValueError("no certificate")
            context.load_verify_locations(cadata=b"\n".join(blocks).decode("ascii"))
        except (ssl.SSLError, ValueError):
            raise explain(
                Problem.CA_FILE_UNUSABLE, detail="it holds no usable PEM certificate"
            ) from None

    def accept(self, tls_sock: ssl.SSLSocket, notes: list[str]) -> TlsInfo:
        """After the handshake: the pin compared, the expiry looked at; raise if not trusted."""
        der = tls_sock.getpeercert(binary_form=True)
        certificate = describe_certificate(der) if der else None
        if self.pin:
            if certificate is None or certificate.fingerprint != self.pin:
                raise self.failure(Problem.CERT_PIN_MISMATCH, certificate)
            trust = "accepted because it matches the pinned SHA-256 fingerprint"
            if certificate.expired():
                notes.append("the pinned certificate has expired; it is used because it is pinned")
        elif self._ca_file:
            trust = "verified against the system's authorities and the trusted CA file"
        else:
            trust = "verified against the system's trusted authorities"
        if certificate is not None and certificate.not_after is not None:
            left = certificate.not_after - dt.datetime.now(dt.UTC)
            if dt.timedelta(0) < left < EXPIRY_WARNING:
                notes.append(
                    f"the server's certificate expires in {left.days} day(s), on "
                    f"{certificate.not_after:%Y-%m-%d}: remind the mail administrator to renew it"
                )
        cipher = tls_sock.cipher()
        return TlsInfo(
            protocol=tls_sock.version() or "TLS",
            cipher=cipher[0] if cipher else "unknown cipher",
            certificate=certificate,
            trust=trust,
        )

    @staticmethod
    def verification_problem(exc: ssl.SSLCertVerificationError) -> tuple[Problem, str]:
        """What a failed verification means, and OpenSSL's words for it."""
        code = exc.verify_code if isinstance(exc.verify_code, int) else -1
        problem = _CERT_PROBLEMS.get(code, Problem.CERT_INVALID)
        return problem, str(exc.verify_message or exc.reason or exc)

    def failure(
        self, problem: Problem, certificate: CertificateInfo | None, **context: object
    ) -> MailError:
        """A certificate failure that names the certificate, when it is known."""
        values: dict[str, object] = {
            "subject": "unknown",
            "issuer": "unknown",
            "fingerprint": "unknown",
            "not_before": "unknown",
            "not_after": "unknown",
            "names": "unknown names",
        }
        if certificate is not None:
            values.update(certificate.context())
        values.update(context)
        error = self._explainer.explain(problem, context=values)
        error.certificate = certificate
        return error
