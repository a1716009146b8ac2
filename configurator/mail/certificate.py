"""What the server's certificate says, in a form people can compare and pin.

The administrator decides whether to trust a certificate from its subject,
issuer, validity and SHA-256 fingerprint (the hash of the DER bytes, the same
value ``openssl x509 -fingerprint -sha256`` prints).  ``cryptography`` parses
the certificate because the standard library returns nothing for a
certificate it did not verify.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def fingerprint(der: bytes) -> str:
    """SHA-256 of the DER certificate as 64 lowercase hex digits."""
    import hashlib

    return hashlib.sha256(der).hexdigest()


def colon_hex(hex_digits: str) -> str:
    """``ab12...`` -> ``AB:12:...``, the way certificate viewers show fingerprints."""
    upper = hex_digits.upper()
    return ":".join(upper[index : index + 2] for index in range(0, len(upper), 2))


@dataclass(frozen=True)
class CertificateInfo:
    """The facts of one certificate needed to judge and to pin it."""

    subject: str
    issuer: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    fingerprint: str
    names: tuple[str, ...] = ()

    @property
    def fingerprint_colons(self) -> str:
        return colon_hex(self.fingerprint)

    def expired(self, now: dt.datetime | None = None) -> bool:
        moment = now or dt.datetime.now(dt.UTC)
        return self.not_after is not None and moment > self.not_after

    def context(self) -> dict[str, object]:
        """Values for the failure texts that mention a certificate."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "fingerprint": self.fingerprint_colons,
            "not_before": _date(self.not_before),
            "not_after": _date(self.not_after),
            "names": ", ".join(self.names) or "no names",
        }

    def summary(self) -> str:
        return (
            f"subject {self.subject}; issuer {self.issuer}; valid until "
            f"{_date(self.not_after)}; SHA-256 {self.fingerprint_colons}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "fingerprint_sha256": self.fingerprint,
            "names": list(self.names),
        }


def _date(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "unknown"


def describe_certificate(der: bytes) -> CertificateInfo:
    """Parse a DER certificate; a certificate that cannot be parsed still gets its fingerprint."""
    from cryptography import x509

    digest = fingerprint(der)
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string() or "(empty)"
        issuer = cert.issuer.rfc4514_string() or "(empty)"
        not_before: dt.datetime | None = cert.not_valid_before_utc
        not_after: dt.datetime | None = cert.not_valid_after_utc
    except ValueError:
        return CertificateInfo("(unreadable)", "(unreadable)", None, None, digest)
    names: list[str] = []
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        pass
    else:
        names.extend(extension.value.get_values_for_type(x509.DNSName))
        names.extend(
            str(address) for address in extension.value.get_values_for_type(x509.IPAddress)
        )
    return CertificateInfo(subject, issuer, not_before, not_after, digest, tuple(names))


@dataclass(frozen=True)
class TlsInfo:
    """The TLS session that protects the connection."""

    protocol: str
    cipher: str
    certificate: CertificateInfo | None
    trust: str  # how the certificate came to be accepted

    def summary(self) -> str:
        text = f"{self.protocol}, {self.cipher}; {self.trust}"
        if self.certificate is not None:
            text += f"; certificate: {self.certificate.summary()}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "cipher": self.cipher,
            "trust": self.trust,
            "certificate": self.certificate.to_dict() if self.certificate else None,
        }
