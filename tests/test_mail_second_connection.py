"""The second connections the check opens only to explain a failure.

To show an untrusted certificate, to find out whether a TLS port got a plain
SMTP server, or whether a silent port expects TLS, the check connects a second
time.  Such a connection must stay within the timeout when the server does not
answer it, must send nothing but what it needs, and must name the server (SNI)
as the first connection did.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.peer import STARTTLS_NOW, by_command, scripted
from support.smtp import Pki, make_settings, server_context

from configurator import mail
from configurator.mail import Problem
from configurator.model import Security

pytest_plugins = ["support.smtp"]

TIMEOUT = 2.0
EHLO_STARTTLS = b"250-scripted.example.org\r\n250 STARTTLS\r\n"


def check(port: int, security: Security, **changes: object) -> tuple[mail.CheckResult, float]:
    values: dict[str, object] = {"security": security, "timeout": TIMEOUT}
    values.update(changes)
    started = time.monotonic()
    result = mail.run_check(make_settings(port, **values))
    return result, time.monotonic() - started


def problem(result: mail.CheckResult) -> Problem:
    assert result.failure is not None, "the check passed"
    return result.failure.problem


def notes(result: mail.CheckResult) -> list[str]:
    return [line.text for line in result.transcript if line.direction.value == "note"]


def test_an_untrusted_certificate_is_not_waited_for_forever(pki: Pki) -> None:
    """The second connection is accepted but never answered: the check still ends in time."""
    context = server_context(pki.untrusted)
    with scripted(by_command({}), tls=context, implicit_tls=True, answer_first=1) as server:
        result, took = check(server.port, Security.SSL_TLS)
        assert server.connections == 2
    assert problem(result) is Problem.CERT_UNTRUSTED
    assert result.certificate is None
    assert took < 2 * TIMEOUT + 1.5
    assert (
        "fetching the certificate over a second connection to show it; nothing else is sent"
        in notes(result)
    )


def test_the_certificate_of_a_starttls_server_is_fetched_with_ehlo_and_starttls_only(
    pki: Pki,
) -> None:
    context = server_context(pki.untrusted)
    answer = by_command({"EHLO": EHLO_STARTTLS, "STARTTLS": STARTTLS_NOW})
    with scripted(answer, tls=context) as server:
        result, _ = check(server.port, Security.STARTTLS)
        lines = list(server.lines)
    assert problem(result) is Problem.CERT_UNTRUSTED
    assert result.certificate is not None
    assert lines == ["EHLO [127.0.0.1]", "STARTTLS", "EHLO [127.0.0.1]", "STARTTLS"]


def test_the_second_connection_names_the_server_as_the_first_did(pki: Pki) -> None:
    context = server_context(pki.untrusted)
    with scripted(by_command({}), tls=context, implicit_tls=True) as server:
        result, _ = check(server.port, Security.SSL_TLS, server="localhost")
        names = list(server.server_names)
    assert problem(result) is Problem.CERT_UNTRUSTED
    assert result.certificate is not None
    assert names == ["localhost", "localhost"]


def test_a_plain_greeting_only_on_the_first_connection_is_waited_for_briefly() -> None:
    with scripted(by_command({}), answer_first=1) as server:
        result, took = check(server.port, Security.SSL_TLS)
    assert problem(result) is Problem.TLS_FAILED
    assert took < 2 * TIMEOUT + 1.5


def test_a_silent_port_whose_second_connection_is_refused_is_a_greeting_timeout() -> None:
    with scripted(by_command({}), greeting=b"", max_connections=1) as server:
        result, _ = check(server.port, Security.STARTTLS)
    assert problem(result) is Problem.GREETING_TIMEOUT


def test_a_tls_port_that_refuses_the_handshake_with_an_alert_still_counts_as_tls(
    pki: Pki,
) -> None:
    """No cipher in common: the server answers with a TLS alert, which only TLS servers send."""
    context = server_context(pki.good)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("PSK")
    with scripted(by_command({}), tls=context, implicit_tls=True) as server:
        result, _ = check(server.port, Security.STARTTLS)
    assert problem(result) is Problem.TLS_EXPECTED


def test_the_tls_probe_names_the_server(pki: Pki) -> None:
    context = server_context(pki.good)
    with scripted(by_command({}), tls=context, implicit_tls=True) as server:
        result, _ = check(server.port, Security.STARTTLS, server="localhost")
        names = list(server.server_names)
    assert problem(result) is Problem.TLS_EXPECTED
    assert "localhost" in names
    assert None not in names


def _leaf_with_unknown_critical_extension(pki: Pki, directory: Path) -> ssl.SSLContext:
    """A certificate the CA signed, with a critical extension no client understands."""
    ca_key = serialization.load_pem_private_key(pki.ca.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_file = directory / "leaf.pem"
    key_file = directory / "leaf.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_a_verification_failure_without_its_own_explanation_is_an_invalid_certificate(
    pki: Pki, tmp_path: Path
) -> None:
    context = _leaf_with_unknown_critical_extension(pki, tmp_path)
    with scripted(by_command({}), tls=context, implicit_tls=True) as server:
        result, _ = check(server.port, Security.SSL_TLS, ca_file=str(pki.ca_file))
    assert problem(result) is Problem.CERT_INVALID
    assert result.failure is not None
    assert "unhandled critical extension" in result.failure.cause
    assert result.certificate is not None


def test_cancel_also_ends_the_tls_probe_at_once() -> None:
    """The probe's handshake waits on a silent server: cancel must wake it, not leave it."""
    cancel = mail.CancelToken()
    with scripted(by_command({}), greeting=b"", answer_first=0) as server:
        settings = make_settings(server.port, security=Security.STARTTLS, timeout=6.0)
        timer = threading.Timer(4.0, cancel.cancel)  # the probe starts after 3 s
        timer.start()
        try:
            result = mail.run_check(settings, cancel=cancel)
        finally:
            timer.cancel()
        time.sleep(0.3)
        probes = [t for t in threading.enumerate() if t.name == "configurator-tls-probe"]
    assert problem(result) is Problem.CANCELLED
    assert probes == []


def _starttls_then_plain_text(listener: socket.socket) -> None:
    """Accept STARTTLS, then answer the TLS handshake in plain text; greet later connections."""
    first, _ = listener.accept()
    with first:
        first.settimeout(10)
        first.sendall(b"220 odd.example.org ESMTP\r\n")
        first.recv(4096)  # EHLO
        first.sendall(b"250-odd.example.org\r\n250 STARTTLS\r\n")
        first.recv(4096)  # STARTTLS
        first.sendall(b"220 Go ahead\r\n")
        first.recv(4096)  # the TLS ClientHello
        first.sendall(b"500 5.5.1 What is this?\r\n")
        time.sleep(0.2)
    listener.settimeout(1.5)
    try:
        later, _ = listener.accept()
    except TimeoutError:
        return
    with later:
        later.sendall(b"220 odd.example.org ESMTP\r\n")
        time.sleep(0.5)


def test_a_starttls_server_that_answers_the_handshake_in_plain_text_fails_tls() -> None:
    """After STARTTLS it is the TLS handshake that failed, not the choice of port."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_starttls_then_plain_text, args=(listener,))
        server.start()
        try:
            result, _ = check(listener.getsockname()[1], Security.STARTTLS)
        finally:
            server.join(10)
    assert problem(result) is Problem.TLS_FAILED
    assert result.failure is not None
    assert result.failure.cause.endswith("failed: the server did not answer with TLS.")
