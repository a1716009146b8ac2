"""Every kind of failure a check can report, each produced through the real check.

``CASES`` holds one case for every ``Problem`` that the table of
test_mail_diagnose does not: a real server (aiosmtpd, or the scripted raw
server for what aiosmtpd will not do), a real certificate, a real closed,
silent or unanswered port.  Each case is run by one parametrised test that
asserts the kind, the step and the summary the administrator reads, so the
union of both tables is the set of kinds that tests really produce;
``test_every_failure_kind_is_produced_by_a_case`` compares it with
``Problem``: a new kind without a case fails the suite.

Only the resolver's "temporary failure" is simulated (``DNS_FAILED``): the
resolver belongs to the machine, and no server a test can start makes it fail
that way.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from support.scripted import CLOSE, SILENCE, Script, ScriptedServer, StartScripted
from support.smtp import (
    PASSWORD,
    USERNAME,
    Pki,
    Server,
    StartServer,
    assert_no_secret,
    leaf_fingerprint,
    make_settings,
    server_context,
)
from test_mail_diagnose import CASES as DIAGNOSE_CASES

from configurator import mail
from configurator.mail import Outcome, Problem, StepId
from configurator.mail.channel import Channel
from configurator.mail.transcript import Transcript
from configurator.model import Auth, Security, Settings

pytest_plugins = ["support.smtp", "support.scripted"]

USERS = {USERNAME: PASSWORD}
AUTH_CAPABILITIES = ("PIPELINING", "AUTH PLAIN LOGIN")


# -- certificates aiosmtpd's fixture does not have ------------------------------


@dataclass(frozen=True)
class ServerCertificate:
    """A certificate and key in files, as ``SSLContext.load_cert_chain`` takes them."""

    cert_file: Path
    key_file: Path

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def client_only_certificate(ca: trustme.CA, directory: Path) -> ServerCertificate:
    """A certificate for 127.0.0.1 from the trusted CA, but only for TLS *clients*.

    Its extended key usage says clientAuth, so a client verifying a server
    refuses it ("unsupported certificate purpose"): a verification error the
    check has no special name for.
    """
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client only")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = directory / "client-only.pem"
    key_file = directory / "client-only.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ServerCertificate(cert_file, key_file)


def tls_1_1_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    """A server context that speaks TLS 1.0 and 1.1 only, as an outdated server does.

    OpenSSL 3 offers versions before 1.2 only at security level 0.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the versions are deprecated
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


# -- the cases ----------------------------------------------------------------------


@dataclass
class Lab:
    smtp_server: StartServer
    scripted_server: StartScripted
    pki: Pki
    silent_port: int
    unanswered_port: int
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch


@dataclass
class Scenario:
    """What a case sets up: the settings to check and whatever serves them."""

    settings: Settings
    server: Server | ScriptedServer | None = None
    recipient: str | None = None
    cancel: mail.CancelToken | None = None


@dataclass(frozen=True)
class Case:
    """A peer that fails one way, and what the check must say about it.

    ``verify`` makes case-specific assertions, above all about what the client
    did not send.
    """

    build: Callable[[Lab], Scenario]
    step: StepId
    problem: Problem
    summary: str
    outcome: Outcome = Outcome.FAILED
    max_seconds: float = 5.0
    verify: Callable[[Scenario, mail.CheckResult], None] = field(default=lambda _s, _r: None)


def _scripted(lab: Lab, script: Script, **changes: Any) -> Scenario:
    """A scripted server and settings for it; STARTTLS over the test CA unless told otherwise."""
    server = lab.scripted_server(script)
    values: dict[str, Any] = {"ca_file": str(lab.pki.ca_file)}
    values.update(changes)
    return Scenario(make_settings(server.port, **values), server)


def _tls(lab: Lab) -> ssl.SSLContext:
    return server_context(lab.pki.good)


def _conversation(scenario: Scenario) -> list[str]:
    """The verbs of the check's own connection to the scripted server."""
    assert isinstance(scenario.server, ScriptedServer)
    return scenario.server.first.verbs


def _name_not_found(lab: Lab) -> Scenario:
    name = "nonexistent.invalid"  # RFC 6761: never resolves
    try:
        socket.getaddrinfo(name, 25)
    except socket.gaierror as exc:
        if exc.errno != socket.EAI_NONAME:
            pytest.skip(f"this machine's resolver answers {exc}")
    else:
        pytest.skip("this machine's resolver invents addresses for unknown names")
    return Scenario(make_settings(25, server=name))


def _dns_failed(lab: Lab) -> Scenario:
    # Simulated: the machine's resolver cannot be made to fail temporarily from a test.
    name = "resolver-down.test"
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    lab.monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return Scenario(make_settings(25, server=name))


def _connect_timeout(lab: Lab) -> Scenario:
    return Scenario(make_settings(lab.unanswered_port, timeout=1.0))


def _network_unreachable(lab: Lab) -> Scenario:
    # The kernel refuses a TCP connection to the broadcast address at once: no packet leaves.
    return Scenario(make_settings(25, server="255.255.255.255"))


def _connect_failed(lab: Lab) -> Scenario:
    # A name whose answer is a link-local IPv6 address without an interface: the
    # kernel refuses to connect to it ("Invalid argument").  Only the answer is
    # simulated (the machine's resolver is not the test's); the refusal is real.
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:
        pytest.skip("this machine has no IPv6")
    name = "link-local-answer.test"
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1", port, 0, 0))]
        return real(host, port, *args, **kwargs)

    lab.monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return Scenario(make_settings(25, server=name))


def _server_name_invalid(lab: Lab) -> Scenario:
    # Settings stored before the IP-literal rule (or edited by hand) may hold a
    # name inet_aton would read as 127.0.0.1; the check refuses it unconnected.
    return Scenario(make_settings(25, server="0x7f.1"))


def _server_refused(lab: Lab) -> Scenario:
    script = Script(greeting="554 5.7.1 Service unavailable; client host blocked")
    return _scripted(lab, script)


def _not_smtp(lab: Lab) -> Scenario:
    return _scripted(lab, Script(greeting="SSH-2.0-OpenSSH_9.6"))


def _starttls_refused(lab: Lab) -> Scenario:
    script = Script(
        capabilities=("PIPELINING", "STARTTLS"),
        replies={"STARTTLS": "454 4.7.0 TLS not available due to local problem"},
    )
    return _scripted(lab, script)


def _nothing_after_starttls(scenario: Scenario, result: mail.CheckResult) -> None:
    assert isinstance(scenario.server, ScriptedServer)
    assert _conversation(scenario) == ["EHLO", "STARTTLS", "QUIT"]


def _starttls_injection(lab: Lab) -> Scenario:
    # One write: the acceptance and an injected reply that a client reading
    # through a buffer would take for the answer to its first command over TLS.
    script = Script(
        starttls=_tls(lab), replies={"STARTTLS": "220 2.0.0 Ready to start TLS\r\n250 injected"}
    )
    return _scripted(lab, script)


def _dropped_before_the_handshake(scenario: Scenario, result: mail.CheckResult) -> None:
    assert isinstance(scenario.server, ScriptedServer)
    assert _conversation(scenario) == ["EHLO", "STARTTLS"]
    assert not scenario.server.first.tls  # not even a handshake was started over it
    assert result.tls is None


def _not_yet_valid(lab: Lab) -> Scenario:
    now = dt.datetime.now(dt.UTC)
    leaf = lab.pki.ca.issue_cert(
        "127.0.0.1", not_before=now + dt.timedelta(days=2), not_after=now + dt.timedelta(days=90)
    )
    server = lab.smtp_server(tls="starttls", users=USERS, cert=leaf)
    return Scenario(make_settings(server.port, ca_file=str(lab.pki.ca_file)), server)


def _says_from_when(scenario: Scenario, result: mail.CheckResult) -> None:
    assert result.certificate is not None
    assert result.certificate.not_before is not None
    assert result.failure is not None
    assert f"{result.certificate.not_before:%Y-%m-%d}" in result.failure.cause


def _pin_mismatch(lab: Lab) -> Scenario:
    server = lab.smtp_server(tls="starttls", users=USERS)
    pin = leaf_fingerprint(lab.pki.wrong_host)  # a real certificate, but not this server's
    return Scenario(make_settings(server.port, tls_fingerprint=pin), server)


def _cert_invalid(lab: Lab) -> Scenario:
    context = client_only_certificate(lab.pki.ca, lab.tmp_path).context()
    return _scripted(lab, Script(starttls=context))


def _names_the_reason(scenario: Scenario, result: mail.CheckResult) -> None:
    assert result.failure is not None
    assert "certificate purpose" in result.failure.cause
    assert result.certificate is not None  # shown, so that it can be judged
    assert _conversation(scenario) == ["EHLO", "STARTTLS"]


def _tls_failed(lab: Lab) -> Scenario:
    return _scripted(lab, Script(starttls=tls_1_1_context(lab.pki.good)))


def _says_tls_is_too_old(scenario: Scenario, result: mail.CheckResult) -> None:
    assert result.failure is not None
    assert "the server supports only TLS versions older than 1.2" in result.failure.cause
    assert isinstance(scenario.server, ScriptedServer)
    assert not scenario.server.first.tls
    assert _conversation(scenario) == ["EHLO", "STARTTLS"]


def _ehlo_rejected(lab: Lab) -> Scenario:
    script = Script(
        replies={
            "EHLO": "502 5.5.2 Error: command not recognized",
            "HELO": "554 5.7.1 Access denied",
        }
    )
    return _scripted(lab, script, security=Security.NONE, auth=Auth.NONE)


def _mechanism_unsupported(lab: Lab) -> Scenario:
    script = Script(starttls=_tls(lab), capabilities=("AUTH CRAM-MD5 SCRAM-SHA-256",))
    return _scripted(lab, script)


def _no_credentials_sent(scenario: Scenario, result: mail.CheckResult) -> None:
    assert "AUTH" not in _conversation(scenario)


def _auth_needs_encryption(lab: Lab) -> Scenario:
    script = Script(
        capabilities=AUTH_CAPABILITIES,
        replies={"AUTH": "538 5.7.11 Encryption required for requested authentication mechanism"},
    )
    return _scripted(lab, script, security=Security.NONE)


def _auth_temporary(lab: Lab) -> Scenario:
    script = Script(
        starttls=_tls(lab),
        capabilities=AUTH_CAPABILITIES,
        replies={"AUTH": "454 4.7.0 Temporary authentication failure"},
    )
    return _scripted(lab, script)


def _is_temporary(scenario: Scenario, result: mail.CheckResult) -> None:
    assert result.failure is not None
    assert result.failure.temporary


def _auth_required(lab: Lab, reply: str = "530 5.7.0 Authentication required") -> Scenario:
    script = Script(starttls=_tls(lab), replies={"MAIL": reply})
    return _scripted(lab, script, auth=Auth.NONE)


def _auth_required_over_tls(lab: Lab) -> Scenario:
    # Over TLS already: the mention of TLS must not turn this into "encryption required".
    return _auth_required(lab, "530 5.7.0 Authentication required: log in over TLS")


def _encryption_required(lab: Lab) -> Scenario:
    server = lab.smtp_server(tls="starttls")  # aiosmtpd: nothing before STARTTLS
    settings = make_settings(server.port, security=Security.NONE, auth=Auth.NONE)
    return Scenario(settings, server)


def _message_refused(lab: Lab) -> Scenario:
    script = Script(starttls=_tls(lab), end_of_data="554 5.7.1 Message rejected as spam")
    scenario = _scripted(lab, script, auth=Auth.NONE)
    scenario.recipient = "security-team@example.org"
    return scenario


def _reply_timeout(lab: Lab) -> Scenario:
    return _scripted(lab, Script(replies={"EHLO": SILENCE}), timeout=1.0)


def _connection_closed(lab: Lab) -> Scenario:
    return _scripted(lab, Script(replies={"EHLO": CLOSE}))


def _protocol_error(lab: Lab) -> Scenario:
    return _scripted(lab, Script(replies={"EHLO": "HTTP/1.1 400 Bad Request"}))


def _cancelled(lab: Lab) -> Scenario:
    token = mail.CancelToken()
    timer = threading.Timer(0.3, token.cancel)
    timer.daemon = True
    timer.start()
    return Scenario(make_settings(lab.silent_port, timeout=20.0), cancel=token)


def _internal_error(lab: Lab) -> Scenario:
    # The recipient is not validated here (the command line and the window do
    # that): the channel's own refusal of a line break is what stops it.
    script = Script(starttls=_tls(lab))
    scenario = _scripted(lab, script, auth=Auth.NONE)
    scenario.recipient = "team\r\nRCPT TO:<attacker@example.net>\r\nx@example.org"
    return scenario


def _no_recipient_sent(scenario: Scenario, result: mail.CheckResult) -> None:
    assert _conversation(scenario) == ["EHLO", "STARTTLS", "EHLO", "MAIL"]
    assert result.failure is not None
    assert "line break" in result.failure.cause


CASES: dict[str, Case] = {
    "server-name-invalid": Case(
        _server_name_invalid,
        StepId.RESOLVE,
        Problem.SERVER_NAME_INVALID,
        "the server name is not valid",
    ),
    "name-not-found": Case(
        _name_not_found, StepId.RESOLVE, Problem.NAME_NOT_FOUND, "server name not found"
    ),
    "resolver-fails": Case(
        _dns_failed,
        StepId.RESOLVE,
        Problem.DNS_FAILED,
        "the server name could not be looked up",
    ),
    "connection-not-answered": Case(
        _connect_timeout,
        StepId.CONNECT,
        Problem.CONNECT_TIMEOUT,
        "timed out connecting to the server",
        max_seconds=2.5,
    ),
    "network-unreachable": Case(
        _network_unreachable, StepId.CONNECT, Problem.NETWORK_UNREACHABLE, "network unreachable"
    ),
    "connect-fails": Case(
        _connect_failed, StepId.CONNECT, Problem.CONNECT_FAILED, "could not connect to the server"
    ),
    "greeting-refuses": Case(
        _server_refused, StepId.GREETING, Problem.SERVER_REFUSED, "the server refused the session"
    ),
    "greeting-is-not-smtp": Case(
        _not_smtp, StepId.GREETING, Problem.NOT_SMTP, "the server does not speak SMTP"
    ),
    "starttls-refused": Case(
        _starttls_refused,
        StepId.TLS,
        Problem.STARTTLS_REFUSED,
        "the server refused STARTTLS",
        verify=_nothing_after_starttls,
    ),
    "data-injected-after-starttls": Case(
        _starttls_injection,
        StepId.TLS,
        Problem.STARTTLS_INJECTION,
        "unexpected data before the TLS handshake",
        verify=_dropped_before_the_handshake,
    ),
    "certificate-not-yet-valid": Case(
        _not_yet_valid,
        StepId.TLS,
        Problem.CERT_NOT_YET_VALID,
        "certificate not yet valid",
        verify=_says_from_when,
    ),
    "pin-mismatch": Case(
        _pin_mismatch,
        StepId.TLS,
        Problem.CERT_PIN_MISMATCH,
        "certificate does not match the pinned fingerprint",
    ),
    "certificate-for-clients-only": Case(
        _cert_invalid,
        StepId.TLS,
        Problem.CERT_INVALID,
        "certificate rejected",
        verify=_names_the_reason,
    ),
    "server-speaks-only-tls-1-1": Case(
        _tls_failed,
        StepId.TLS,
        Problem.TLS_FAILED,
        "TLS handshake failed",
        verify=_says_tls_is_too_old,
    ),
    "ehlo-and-helo-rejected": Case(
        _ehlo_rejected, StepId.EHLO, Problem.EHLO_REJECTED, "the server rejected EHLO"
    ),
    "no-plain-or-login": Case(
        _mechanism_unsupported,
        StepId.AUTH,
        Problem.AUTH_MECHANISM_UNSUPPORTED,
        "no supported authentication method",
        verify=_no_credentials_sent,
    ),
    "auth-needs-tls": Case(
        _auth_needs_encryption,
        StepId.AUTH,
        Problem.AUTH_NEEDS_ENCRYPTION,
        "the server requires encryption before authentication",
    ),
    "auth-temporarily-unavailable": Case(
        _auth_temporary,
        StepId.AUTH,
        Problem.AUTH_TEMPORARY,
        "temporary authentication failure",
        verify=_is_temporary,
    ),
    "login-required-to-send": Case(
        _auth_required,
        StepId.SENDER,
        Problem.AUTH_REQUIRED,
        "the server requires authentication",
    ),
    "login-required-though-the-reply-mentions-tls": Case(
        _auth_required_over_tls,
        StepId.SENDER,
        Problem.AUTH_REQUIRED,
        "the server requires authentication",
    ),
    "tls-required-to-send": Case(
        _encryption_required,
        StepId.SENDER,
        Problem.ENCRYPTION_REQUIRED,
        "the server requires an encrypted connection",
    ),
    "message-refused": Case(
        _message_refused, StepId.MESSAGE, Problem.MESSAGE_REFUSED, "message refused"
    ),
    "no-answer-to-ehlo": Case(
        _reply_timeout,
        StepId.EHLO,
        Problem.REPLY_TIMEOUT,
        "timed out waiting for the server's reply to EHLO",
        max_seconds=2.5,
    ),
    "hang-up-after-ehlo": Case(
        _connection_closed,
        StepId.EHLO,
        Problem.CONNECTION_CLOSED,
        "the server closed the connection",
    ),
    "ehlo-answered-with-http": Case(
        _protocol_error,
        StepId.EHLO,
        Problem.PROTOCOL_ERROR,
        "the server's reply could not be understood",
    ),
    "cancelled-while-waiting": Case(
        _cancelled,
        StepId.GREETING,
        Problem.CANCELLED,
        "check cancelled",
        outcome=Outcome.CANCELLED,
        max_seconds=2.0,
    ),
    "line-break-in-recipient": Case(
        _internal_error,
        StepId.RECIPIENT,
        Problem.INTERNAL_ERROR,
        "unexpected error",
        verify=_no_recipient_sent,
    ),
}


@pytest.fixture
def lab(
    *,
    smtp_server: StartServer,
    scripted_server: StartScripted,
    pki: Pki,
    silent_port: int,
    unanswered_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Lab:
    return Lab(
        smtp_server=smtp_server,
        scripted_server=scripted_server,
        pki=pki,
        silent_port=silent_port,
        unanswered_port=unanswered_port,
        tmp_path=tmp_path,
        monkeypatch=monkeypatch,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_a_failure_kind_is_produced_named_and_explained(
    name: str,
    lab: Lab,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="configurator")
    case = CASES[name]
    scenario = case.build(lab)
    started = time.monotonic()

    result = mail.run_check(scenario.settings, recipient=scenario.recipient, cancel=scenario.cancel)

    assert time.monotonic() - started < case.max_seconds
    failure = result.failure
    assert failure is not None
    assert failure.problem is case.problem, failure.describe()
    assert failure.step is case.step
    assert failure.summary == case.summary
    assert failure.cause
    assert failure.fix
    assert "?" not in failure.cause + failure.fix  # every placeholder was filled
    failed = result.failed_step
    assert failed is not None
    assert failed.id is case.step
    assert failed.outcome is case.outcome
    assert failed.detail == case.summary
    later = result.steps[result.steps.index(failed) + 1 :]
    assert all(step.outcome is Outcome.SKIPPED for step in later)
    case.verify(scenario, result)
    output = capsys.readouterr()
    assert_no_secret(
        scenario.settings.password,
        scenario.settings.username,
        result.to_json(),
        result.transcript_text(),
        failure.describe(),
        caplog.text,
        output.out,
        output.err,
    )


def test_every_failure_kind_is_produced_by_a_case() -> None:
    """Both tables together produce every kind; a kind added without a case fails here."""
    produced = [case.problem for case in CASES.values()]
    produced += [case.problem for case in DIAGNOSE_CASES.values()]
    missing = sorted(set(Problem) - set(produced))
    assert missing == [], f"no test produces {', '.join(missing)}: add a case to CASES"


# -- the defences that no other test would miss ----------------------------------


def test_data_injected_after_starttls_is_refused_before_the_handshake(lab: Lab) -> None:
    # The server accepts STARTTLS and, in the same write, sends a reply of its
    # own; a client that kept it would take it for the answer to its first
    # command over TLS (CVE-2011-0411).  This server goes on to do TLS properly,
    # so without the refusal the check would pass.
    scenario = _starttls_injection(lab)

    result = mail.run_check(scenario.settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.STARTTLS_INJECTION
    assert result.failure.step is StepId.TLS
    _dropped_before_the_handshake(scenario, result)
    assert isinstance(scenario.server, ScriptedServer)
    assert scenario.server.first.lines[-1] == "STARTTLS"


def test_without_injection_the_same_server_passes(lab: Lab) -> None:
    """The control for the test above: only the injected line makes the difference."""
    server = lab.scripted_server(Script(starttls=_tls(lab)))
    settings = make_settings(server.port, ca_file=str(lab.pki.ca_file), auth=Auth.NONE)

    result = mail.run_check(settings)

    assert result.passed, result.failure
    assert server.first.tls


@pytest.fixture
def old_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new SSLContext starts with the defaults of a platform that allows TLS 1.0 and 1.1.

    Python 3.10 and later refuse them by default (a minimum compiled into
    the ssl module); Python 3.9 allowed them, and a build patched otherwise
    may still.  The check must refuse them by itself, whatever the defaults.
    Only ``__new__`` is replaced: ``ssl.SSLContext`` itself must stay the
    class, whose property setters refer to it by name.
    """
    original = ssl.SSLContext.__new__

    def new(cls: type[ssl.SSLContext], protocol: Any = None, *args: Any, **kwargs: Any) -> Any:
        context = original(cls, protocol, *args, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context

    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(new))


def _tls_1_1_server(lab: Lab) -> ScriptedServer:
    return lab.scripted_server(Script(starttls=tls_1_1_context(lab.pki.good)))


def test_a_server_limited_to_tls_1_1_is_refused_with_its_own_message(lab: Lab) -> None:
    server = _tls_1_1_server(lab)
    settings = make_settings(server.port, ca_file=str(lab.pki.ca_file))

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.TLS_FAILED
    assert "the server supports only TLS versions older than 1.2" in result.failure.cause
    assert "TLS 1.2 or newer is required" in result.failure.fix
    assert not server.first.tls
    assert "AUTH" not in server.first.verbs


@pytest.mark.parametrize("pinned", [False, True], ids=["verified", "pinned"])
@pytest.mark.usefixtures("old_defaults")
def test_tls_1_1_is_refused_even_where_the_platform_would_allow_it(lab: Lab, pinned: bool) -> None:
    server = _tls_1_1_server(lab)
    # The control: with these defaults a client that sets no minimum of its
    # own does complete a TLS 1.1 handshake with this server.
    probe = ssl.create_default_context(cafile=str(lab.pki.ca_file))
    with (
        _starttls_socket(server.port) as raw,
        probe.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.1"
    pin = leaf_fingerprint(lab.pki.good) if pinned else ""
    settings = make_settings(server.port, ca_file=str(lab.pki.ca_file), tls_fingerprint=pin)

    result = mail.run_check(settings)

    assert result.failure is not None
    assert result.failure.problem is Problem.TLS_FAILED, result.failure.describe()
    assert "the server supports only TLS versions older than 1.2" in result.failure.cause
    assert result.tls is None
    assert [conversation.tls for conversation in server.conversations] == [True, False]
    assert "AUTH" not in server.conversations[1].verbs


def _starttls_socket(port: int) -> socket.socket:
    """A plain connection taken up to the point where the TLS handshake starts."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    reader = sock.makefile("rb")
    try:
        reader.readline()
        sock.sendall(b"EHLO probe.test.invalid\r\n")
        while reader.readline()[3:4] == b"-":
            pass
        sock.sendall(b"STARTTLS\r\n")
        assert reader.readline().startswith(b"220")
    finally:
        reader.close()
    return sock


# -- the channel's own refusal of a line break ---------------------------------------


@pytest.fixture
def listening() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair: the client's socket and the server's end of it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        peer, _address = listener.accept()
        with client, peer:
            yield client, peer


@pytest.mark.parametrize(
    "line",
    [
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>",
        "RCPT TO:<b@example.org>\nDATA",
        "RCPT TO:<b@example.org>\rDATA",
        "NOOP\r\n",
    ],
    ids=["crlf", "lf", "cr", "trailing-crlf"],
)
def test_the_channel_refuses_a_command_with_a_line_break(
    listening: tuple[socket.socket, socket.socket], line: str
) -> None:
    client, peer = listening
    transcript = Transcript()
    channel = Channel(client, transcript=transcript, cancel=mail.CancelToken(), timeout=5)

    with pytest.raises(ValueError, match="line break"):
        channel.send_line(line)
    with pytest.raises(ValueError, match="line break"):
        channel.command(line)
    channel.send_line("NOOP")  # still usable, and nothing went before this line
    client.shutdown(socket.SHUT_WR)

    received = b""
    peer.settimeout(5)
    while chunk := peer.recv(4096):
        received += chunk
    assert received == b"NOOP\r\n"
    assert [entry.text for entry in transcript.lines()] == ["NOOP"]
