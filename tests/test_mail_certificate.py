"""Describing certificates: real ones made with cryptography, parsed as the check parses them."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from configurator.mail.certificate import (
    CertificateInfo,
    TlsInfo,
    colon_hex,
    describe_certificate,
    fingerprint,
)

START = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2031, 5, 6, 7, 8, tzinfo=dt.UTC)


def make_der(
    *,
    subject: str | None = "mail.example.org",
    issuer: str | None = "Example CA",
    names: list[x509.GeneralName] | None = None,
) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())

    def name(common: str | None) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)] if common else [])

    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(START)
        .not_valid_after(END)
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.DER)


def test_a_certificate_is_described_with_its_names_dates_and_fingerprint() -> None:
    der = make_der(
        names=[
            x509.DNSName("mail.example.org"),
            x509.DNSName("smtp.example.org"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
        ]
    )
    info = describe_certificate(der)
    assert info == CertificateInfo(
        subject="CN=mail.example.org",
        issuer="CN=Example CA",
        not_before=START,
        not_after=END,
        fingerprint=hashlib.sha256(der).hexdigest(),
        names=("mail.example.org", "smtp.example.org", "192.0.2.7"),
    )
    assert info.context() == {
        "subject": "CN=mail.example.org",
        "issuer": "CN=Example CA",
        "fingerprint": colon_hex(hashlib.sha256(der).hexdigest()),
        "not_before": "2030-01-02 03:04 UTC",
        "not_after": "2031-05-06 07:08 UTC",
        "names": "mail.example.org, smtp.example.org, 192.0.2.7",
    }
    assert info.summary() == (
        "subject CN=mail.example.org; issuer CN=Example CA; valid until 2031-05-06 07:08 UTC; "
        f"SHA-256 {info.fingerprint_colons}"
    )
    assert info.to_dict() == {
        "subject": "CN=mail.example.org",
        "issuer": "CN=Example CA",
        "not_before": "2030-01-02T03:04:00+00:00",
        "not_after": "2031-05-06T07:08:00+00:00",
        "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
        "names": ["mail.example.org", "smtp.example.org", "192.0.2.7"],
    }


def test_empty_names_and_a_missing_alternative_name_are_said_plainly() -> None:
    info = describe_certificate(make_der(subject=None, issuer=None))
    assert (info.subject, info.issuer, info.names) == ("(empty)", "(empty)", ())
    assert info.context()["names"] == "no names"


def test_bytes_that_are_no_certificate_still_get_their_fingerprint() -> None:
    der = b"\x30\x03\x02\x01\x00"
    info = describe_certificate(der)
    assert info == CertificateInfo(
        "(unreadable)", "(unreadable)", None, None, hashlib.sha256(der).hexdigest()
    )
    assert info.context()["not_after"] == "unknown"
    assert info.context()["not_before"] == "unknown"
    assert info.to_dict()["not_before"] is None
    assert info.to_dict()["not_after"] is None
    assert not info.expired()


def test_fingerprints_are_sha256_in_hex_and_in_colon_pairs() -> None:
    assert fingerprint(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert colon_hex("ab12cd") == "AB:12:CD"
    assert colon_hex("") == ""


@pytest.mark.parametrize(
    ("moment", "expired"),
    [
        (END - dt.timedelta(seconds=1), False),
        (END, False),
        (END + dt.timedelta(seconds=1), True),
    ],
)
def test_a_certificate_expires_after_its_last_moment(moment: dt.datetime, expired: bool) -> None:
    info = describe_certificate(make_der())
    assert info.expired(moment) is expired


def test_expired_without_a_moment_compares_with_now() -> None:
    info = describe_certificate(make_der())  # valid from 2030
    assert not info.expired()
    past = CertificateInfo("s", "i", None, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "00")
    assert past.expired()


def test_the_tls_summary_and_dict_include_the_certificate_when_known() -> None:
    certificate = describe_certificate(make_der())
    with_cert = TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", certificate, "pinned")
    assert with_cert.summary() == (
        f"TLSv1.3, TLS_AES_256_GCM_SHA384; pinned; certificate: {certificate.summary()}"
    )
    assert with_cert.to_dict() == {
        "protocol": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384",
        "trust": "pinned",
        "certificate": certificate.to_dict(),
    }
    without = TlsInfo("TLSv1.2", "ECDHE", None, "verified")
    assert without.summary() == "TLSv1.2, ECDHE; verified"
    assert without.to_dict()["certificate"] is None
