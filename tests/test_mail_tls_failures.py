"""What a failed TLS set-up tells the administrator, word for word.

The servers are real: implicit-TLS or STARTTLS peers on 127.0.0.1 with
trustme certificates.  Some accept a single connection, so that the second
connection the check opens to show a certificate (or to look for a plain
greeting) is refused, as it is when a server limits connections per client.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import trustme
from support.peer import STARTTLS_NOW, by_command, scripted
from support.smtp import (
    PASSWORD,
    USERNAME,
    Pki,
    StartServer,
    leaf_fingerprint,
    make_settings,
    server_context,
)

from configurator import mail
from configurator.mail import Outcome, Problem, StepId
from configurator.mail.errors import MailError
from configurator.model import Auth, Security

pytest_plugins = ["support.smtp"]

UNKNOWN_CERTIFICATE = "Subject: unknown; issuer: unknown; SHA-256 fingerprint: unknown."


def implicit(port: int, **changes: object) -> mail.CheckResult:
    values: dict[str, object] = {"security": Security.SSL_TLS}
    values.update(changes)
    return mail.run_check(make_settings(port, **values))


def failure(result: mail.CheckResult) -> mail.Failure:
    assert result.failure is not None, "the check passed"
    return result.failure


def step(result: mail.CheckResult, step_id: StepId) -> mail.Step:
    return next(item for item in result.steps if item.id is step_id)


# -- a certificate that cannot be fetched for display ----------------------------


@pytest.mark.parametrize(
    ("leaf", "problem", "sentence"),
    [
        (
            "untrusted",
            Problem.CERT_UNTRUSTED,
            "The server's certificate is not signed by an authority this computer trusts "
            f"(unable to get local issuer certificate). {UNKNOWN_CERTIFICATE}",
        ),
        (
            "expired",
            Problem.CERT_EXPIRED,
            f"The server's certificate expired on unknown. {UNKNOWN_CERTIFICATE}",
        ),
        (
            "wrong_host",
            Problem.CERT_WRONG_HOST,
            f"The certificate is valid for unknown names, not for 127.0.0.1. {UNKNOWN_CERTIFICATE}",
        ),
        (
            "not_yet_valid",
            Problem.CERT_NOT_YET_VALID,
            f"The server's certificate is valid only from unknown. {UNKNOWN_CERTIFICATE}",
        ),
    ],
)
def test_a_certificate_that_cannot_be_fetched_again_is_described_as_unknown(
    pki: Pki, leaf: str, problem: Problem, sentence: str
) -> None:
    if leaf == "not_yet_valid":
        now = dt.datetime.now(dt.UTC)
        certificate = pki.ca.issue_cert(
            "127.0.0.1", not_before=now + dt.timedelta(days=2), not_after=now + dt.timedelta(days=9)
        )
    else:
        certificate = getattr(pki, leaf)
    context = server_context(certificate)
    with scripted(by_command({}), tls=context, implicit_tls=True, max_connections=1) as server:
        result = implicit(server.port, ca_file=str(pki.ca_file))
        assert server.connections == 1
    found = failure(result)
    assert found.problem is problem
    assert found.step is StepId.TLS
    assert sentence in found.cause
    assert "?" not in found.cause
    assert result.certificate is None


def test_a_certificate_not_yet_valid_is_told_apart(pki: Pki) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.ca.issue_cert(
        "127.0.0.1",
        not_before=now + dt.timedelta(days=2),
        not_after=now + dt.timedelta(days=60),
    )
    with scripted(by_command({}), tls=server_context(leaf), implicit_tls=True) as server:
        result = implicit(server.port, ca_file=str(pki.ca_file))
    found = failure(result)
    assert found.problem is Problem.CERT_NOT_YET_VALID
    assert result.certificate is not None
    assert f"{result.certificate.not_before:%Y-%m-%d}" in found.cause


# -- the trusted CA file -----------------------------------------------------------


def test_a_missing_ca_file_is_named_with_the_system_reason(
    tmp_path: Path, smtp_server: StartServer
) -> None:
    missing = tmp_path / "missing-ca.pem"
    server = smtp_server(tls="starttls")
    with pytest.raises(MailError) as caught:
        mail.open_connection(make_settings(server.port, ca_file=str(missing)))
    assert caught.value.problem is Problem.CA_FILE_UNUSABLE
    assert caught.value.failure.cause == f"{missing}: No such file or directory."


def test_a_ca_file_without_a_certificate_says_so(tmp_path: Path, smtp_server: StartServer) -> None:
    junk = tmp_path / "junk-ca.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    server = smtp_server(tls="starttls")
    with pytest.raises(MailError) as caught:
        mail.open_connection(make_settings(server.port, ca_file=str(junk)))
    assert caught.value.problem is Problem.CA_FILE_UNUSABLE
    assert caught.value.failure.cause == f"{junk}: it holds no usable PEM certificate."


# -- the handshake itself ----------------------------------------------------------


def test_a_plain_server_on_the_tls_port_that_greets_only_once_is_a_tls_failure() -> None:
    """Without a greeting on the second connection there is no proof it is plain SMTP."""
    with scripted(by_command({}), max_connections=1) as server:
        result = implicit(server.port)
    found = failure(result)
    assert found.problem is Problem.TLS_FAILED
    assert (
        found.cause
        == "The TLS handshake with 127.0.0.1 failed: the server did not answer with TLS."
    )


def test_a_tls_alert_without_a_known_text_is_shown_in_plain_words(pki: Pki, tmp_path: Path) -> None:
    """A server that wants a client certificate rejects the connection after the handshake."""
    context = server_context(pki.good)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(pki.ca_file))
    with scripted(by_command({}), tls=context, implicit_tls=True) as server:
        result = implicit(server.port, ca_file=str(pki.ca_file))
    found = failure(result)
    assert found.problem is Problem.TLS_FAILED
    assert found.cause == (
        "The TLS handshake with 127.0.0.1 failed: tlsv13 alert certificate required."
    )


def test_an_expired_but_pinned_certificate_is_used_with_a_note(
    pki: Pki, smtp_server: StartServer
) -> None:
    server = smtp_server(tls="starttls", cert=pki.expired, users={USERNAME: PASSWORD})
    settings = make_settings(server.port, tls_fingerprint=leaf_fingerprint(pki.expired))
    result = mail.run_check(settings)
    assert result.passed, result.failure
    assert result.tls is not None
    assert result.tls.trust == "accepted because it matches the pinned SHA-256 fingerprint"
    tls = step(result, StepId.TLS)
    assert "the pinned certificate has expired; it is used because it is pinned" in tls.notes


def test_implicit_tls_reports_the_protocol_in_its_step(pki: Pki, smtp_server: StartServer) -> None:
    server = smtp_server(tls="implicit")
    result = implicit(
        server.port, ca_file=str(pki.ca_file), username="", password="", auth=Auth.NONE
    )
    assert result.passed, result.failure
    assert result.tls is not None
    tls = step(result, StepId.TLS)
    assert tls.outcome is Outcome.PASSED
    assert tls.detail.startswith("TLSv1.")
    assert tls.detail == result.tls.summary()


def test_a_ca_trusted_only_through_the_file_is_named_in_the_trust(
    pki: Pki, smtp_server: StartServer
) -> None:
    server = smtp_server(tls="starttls", users={USERNAME: PASSWORD})
    result = mail.run_check(make_settings(server.port, ca_file=str(pki.ca_file)))
    assert result.tls is not None
    assert result.tls.trust == "verified against the system's authorities and the trusted CA file"


def test_the_certificate_of_an_untrusted_starttls_server_is_fetched_for_display(
    pki: Pki, smtp_server: StartServer
) -> None:
    other_ca = trustme.CA(organization_name="Another Unknown CA")
    leaf = other_ca.issue_cert("127.0.0.1")
    server = smtp_server(tls="starttls", cert=leaf)
    result = mail.run_check(make_settings(server.port))
    assert failure(result).problem is Problem.CERT_UNTRUSTED
    assert result.certificate is not None
    assert result.certificate.fingerprint == leaf_fingerprint(leaf)
    assert "Another Unknown CA" in result.certificate.issuer


def test_a_certificate_the_system_trusts_says_so(
    pki: Pki, smtp_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE makes the test authority the system's: no CA file is set."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    server = smtp_server(tls="implicit")
    result = implicit(server.port, username="", password="", auth=Auth.NONE)
    assert result.passed, result.failure
    assert result.tls is not None
    assert result.tls.trust == "verified against the system's trusted authorities"
    assert result.tls.protocol.startswith("TLSv1.")
    known = {cipher["name"] for cipher in ssl.create_default_context().get_ciphers()}
    assert result.tls.cipher in known


def test_a_certificate_expiring_within_a_day_is_noted(pki: Pki, smtp_server: StartServer) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.ca.issue_cert(
        "127.0.0.1", not_before=now - dt.timedelta(days=30), not_after=now + dt.timedelta(hours=5)
    )
    server = smtp_server(tls="implicit", cert=leaf)
    result = implicit(
        server.port, ca_file=str(pki.ca_file), username="", password="", auth=Auth.NONE
    )
    assert result.passed, result.failure
    tls = step(result, StepId.TLS)
    expected = leaf_expiry(result)
    assert tls.notes == (
        f"the server's certificate expires in 0 day(s), on {expected}: "
        "remind the mail administrator to renew it",
    )


def leaf_expiry(result: mail.CheckResult) -> str:
    assert result.tls is not None
    assert result.tls.certificate is not None
    assert result.tls.certificate.not_after is not None
    return f"{result.tls.certificate.not_after:%Y-%m-%d}"


def test_a_plain_greeting_on_the_tls_port_is_quoted() -> None:
    with scripted(by_command({})) as server:
        result = implicit(server.port)
    found = failure(result)
    assert found.problem is Problem.PLAIN_SMTP_ON_TLS
    assert found.reply == "220 scripted.example.org ESMTP"


def test_a_server_without_ehlo_after_starttls_is_greeted_with_helo(
    pki: Pki,
) -> None:
    answer = by_command(
        {
            "EHLO": [b"250-scripted.example.org\r\n250 STARTTLS\r\n", b"502 5.5.1 no EHLO\r\n"],
            "STARTTLS": STARTTLS_NOW,
        }
    )
    with scripted(answer, tls=server_context(pki.good)) as server:
        settings = make_settings(
            server.port, ca_file=str(pki.ca_file), auth=Auth.NONE, username="", password=""
        )
        result = mail.run_check(settings)
        assert "HELO [127.0.0.1]" in server.lines
    assert result.passed, result.failure
    tls = step(result, StepId.TLS)
    assert tls.reply == "220 2.0.0 Ready to start TLS"
    assert tls.notes == ("the server does not support EHLO, so it offers no extensions",)
    assert tls.detail.endswith("; after TLS, no extensions")


def test_a_ca_file_name_the_system_cannot_take_is_reported(smtp_server: StartServer) -> None:
    """Settings made in code are not validated like the form's: the check still explains."""
    server = smtp_server(tls="starttls")
    with pytest.raises(MailError) as caught:
        mail.open_connection(make_settings(server.port, ca_file="ca\0.pem"))
    assert caught.value.problem is Problem.CA_FILE_UNUSABLE
    assert caught.value.failure.cause == "ca\0.pem: embedded null byte."
