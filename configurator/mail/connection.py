"""Open an SMTP connection exactly as the settings say: verified, then authenticated.

The sequence, each part a named step (see ``steps``):

- resolve the name, with the timeout, and connect to the first address that answers;
- Connection Security None: plain SMTP.  SSL/TLS: TLS from the first byte.
  STARTTLS: EHLO, then STARTTLS is *required* -- a server that does not offer
  it ends the attempt before anything else is sent -- then EHLO again;
- the certificate is verified against the system's trusted authorities plus
  the optional Trusted CA File, host name included.  A pinned certificate
  (SHA-256 of its DER form) replaces that verification: the handshake is done
  without it, and the fingerprint is compared before a single byte is sent
  over the connection.  Only a matching certificate is used; any other ends
  the attempt, however well it is signed;
- authentication through a pluggable ``Authenticator`` (see ``auth``).

When verification fails, a second connection fetches the certificate without
verifying it, only to show its subject, issuer and fingerprint; nothing else
is sent over it.  ``ssl`` is imported only when TLS is used.
"""

from __future__ import annotations

import contextlib
import errno
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from configurator import syntax
from configurator.mail.auth import Authenticator, authenticator_for
from configurator.mail.cancel import CancelToken
from configurator.mail.certificate import CertificateInfo, TlsInfo, describe_certificate
from configurator.mail.channel import BadReply, Channel, Reply, ServerClosed
from configurator.mail.classify import UNREACHABLE_ERRNOS, Explainer, seconds, ssl_reason
from configurator.mail.deadline import Deadline
from configurator.mail.errors import MailError, Problem, cancelled
from configurator.mail.steps import StepId, StepObserver, StepTracker
from configurator.mail.tls import Trust, unverified_context
from configurator.mail.transcript import Transcript
from configurator.model import Security, Settings

if TYPE_CHECKING:
    import ssl
    from email.message import EmailMessage

MAX_ADDRESSES = 4  # each address may cost a full timeout
QUIT_TIMEOUT = 2.0
PROBE_TIMEOUT = 5.0  # a plain SMTP server greets at once; no need to wait long

T = TypeVar("T")

# After these failures the session is still in a sane state: say goodbye.
_POLITE_ENDINGS = frozenset(
    {
        Problem.SERVER_REFUSED,
        Problem.EHLO_REJECTED,
        Problem.STARTTLS_NOT_OFFERED,
        Problem.STARTTLS_REFUSED,
        Problem.AUTH_NOT_OFFERED,
        Problem.AUTH_MECHANISM_UNSUPPORTED,
        Problem.AUTH_REJECTED,
        Problem.AUTH_NEEDS_ENCRYPTION,
        Problem.AUTH_TEMPORARY,
        Problem.AUTH_REQUIRED,
        Problem.ENCRYPTION_REQUIRED,
        Problem.SENDER_REFUSED,
        Problem.RECIPIENT_REFUSED,
        Problem.MESSAGE_REFUSED,
        Problem.SMTPUTF8_UNSUPPORTED,
    }
)

_SMTP_REPLY_START = re.compile(r"^\d{3}[ -]")


def plan_steps(settings: Settings, *, sender: bool = True) -> tuple[StepId, ...]:
    """The steps a check of ``settings`` goes through, in order."""
    steps = [StepId.RESOLVE, StepId.CONNECT]
    if settings.security is Security.SSL_TLS:
        steps += [StepId.TLS, StepId.GREETING, StepId.EHLO]
    else:
        steps += [StepId.GREETING, StepId.EHLO, StepId.TLS]
    steps.append(StepId.AUTH)
    if sender:
        steps += [StepId.SENDER, StepId.RECIPIENT, StepId.MESSAGE]
    return tuple(steps)


def smtp_address(address: str) -> tuple[str, bool]:
    """The address as it goes into MAIL FROM / RCPT TO, and whether it needs SMTPUTF8.

    A non-ASCII domain is sent in its IDNA form, which every server takes;
    only a non-ASCII part before the @ needs the SMTPUTF8 extension.
    """
    local, _, domain = address.rpartition("@")
    if domain and not domain.startswith("["):
        domain = syntax.to_ascii_hostname(domain)
    return f"{local}@{domain}", not local.isascii()


class _Background(Generic[T]):
    """Runs a blocking function in a daemon thread so that waiting for it can time out."""

    def __init__(self, function: Callable[[], T], name: str) -> None:
        self._function = function
        self._wake = threading.Event()
        self._finished = False
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as exc:  # handed to the waiting thread
            self._error = exc
        finally:
            self._finished = True
            self._wake.set()

    def wait(self, timeout: float, cancel: CancelToken) -> bool:
        """Wait until done, the timeout passes or the token is cancelled."""
        with cancel.on_cancel(self._wake.set):
            self._wake.wait(max(timeout, 0.0))
        cancel.check()
        return self._finished

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        assert self._finished
        return self._value  # type: ignore[return-value]


class _Session:
    """The state of one connection attempt; ``Connection`` is its public face."""

    def __init__(
        self,
        settings: Settings,
        *,
        plan: Sequence[StepId],
        cancel: CancelToken | None = None,
        transcript: Transcript | None = None,
        on_step: StepObserver | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.timeout = float(settings.timeout)
        self.cancel = cancel if cancel is not None else CancelToken()
        self.transcript = transcript if transcript is not None else Transcript()
        self.authenticator = authenticator or authenticator_for(settings)
        # Before anything touches the network: no form of a secret may be shown.
        self.transcript.add_password(settings.password)
        if self.authenticator is not None:
            self.transcript.add_secrets(self.authenticator.secrets())
        # Every step, whatever the server does, ends within the timeout.
        self.deadline = Deadline(self.timeout)
        self.explainer = Explainer(settings, redact=self.transcript.redact, cancel=self.cancel)
        self.explain = self.explainer.explain
        self.tracker = StepTracker(
            plan,
            classify=self.explainer.classify,
            redact=self.transcript.redact,
            on_step=on_step,
            on_start=self._begin_step,
        )
        self.trust = Trust(settings, self.explainer)
        self.channel: Channel | None = None
        self.capabilities: dict[str, str] = {}
        self.tls: TlsInfo | None = None
        self.authenticated = False
        self._smtputf8 = False
        self._addresses: list[tuple[socket.AddressFamily, tuple[object, ...]]] = []
        self._peer: tuple[socket.AddressFamily, tuple[object, ...]] | None = None
        self._ehlo_name = "[127.0.0.1]"
        self._tls_name = settings.server

    def _begin_step(self, step: StepId) -> None:
        self.deadline.restart()

    @contextlib.contextmanager
    def guard(self, step: StepId) -> Iterator[None]:
        """Outside a tracked check: a step's time limit, and every failure as a ``MailError``."""
        self._begin_step(step)
        try:
            yield
        except Exception as exc:
            error = self.explainer.classify(exc, step).at_step(step)
            if error is exc:
                raise
            raise error from exc

    # -- opening --------------------------------------------------------------

    def open(self) -> None:
        try:
            self.cancel.check()
            self._resolve()
            self._connect()
            if self.settings.security is Security.SSL_TLS:
                with self.tracker.run(StepId.TLS) as step:
                    self._secure(step.notes, implicit=True)
                    step.detail = self._tls_summary()
                self._greeting()
                self._ehlo()
            else:
                self._greeting()
                self._ehlo()
                if self.settings.security is Security.STARTTLS:
                    self._starttls()
                else:
                    self.tracker.skip(
                        StepId.TLS, "Connection Security is None: the connection is not encrypted"
                    )
            self._authenticate()
        except MailError as error:
            self.finish(error)
            raise
        except BaseException:
            self.finish(cancelled())  # not a sane session any more: close without QUIT
            raise

    def _resolve(self) -> None:
        with self.tracker.run(StepId.RESOLVE) as step:
            server, port = self.settings.server, self.settings.port
            # The form's rule, again: the resolver would take forms the form refuses
            # ("0x7f.1", "::1%lo"), and stored settings may predate the rule.
            problem = syntax.check_hostname(server)
            if problem is not None:
                raise self.explain(Problem.SERVER_NAME_INVALID, detail=problem)
            if syntax.is_ip_address(server):
                infos = socket.getaddrinfo(
                    server, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
                )
                step.detail = f"{server} is an IP address: nothing to look up"
            else:
                try:
                    name = syntax.to_ascii_hostname(server)
                except ValueError as exc:
                    raise self.explain(Problem.NAME_NOT_FOUND, detail=str(exc)) from None
                self._tls_name = name
                lookup = _Background(
                    lambda: socket.getaddrinfo(name, port, type=socket.SOCK_STREAM),
                    "configurator-resolve",
                )
                if not lookup.wait(self.deadline.left(), self.cancel):
                    raise self.explain(
                        Problem.DNS_FAILED, detail=f"no answer within {seconds(self.timeout)}"
                    )
                try:
                    infos = lookup.result()
                except socket.gaierror as exc:
                    raise self._lookup_error(exc) from None
            seen: set[object] = set()
            for family, _type, _proto, _name, sockaddr in infos:
                if sockaddr[0] not in seen:
                    seen.add(sockaddr[0])
                    self._addresses.append((family, tuple(sockaddr)))
            if not self._addresses:
                raise self.explain(Problem.NAME_NOT_FOUND)
            if not step.detail:
                found = ", ".join(str(address[0]) for _family, address in self._addresses)
                step.detail = f"{server} has the address(es) {found}"
                self.transcript.note(step.detail)

    def _lookup_error(self, exc: socket.gaierror) -> MailError:
        not_found = {
            getattr(socket, name)
            for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
            if hasattr(socket, name)
        }
        if exc.errno in not_found:
            return self.explain(Problem.NAME_NOT_FOUND)
        return self.explain(Problem.DNS_FAILED, detail=exc.strerror or str(exc))

    def _connect(self) -> None:
        with self.tracker.run(StepId.CONNECT) as step:
            failures: list[tuple[tuple[object, ...], OSError]] = []
            addresses = self._addresses[:MAX_ADDRESSES]
            for index, (family, sockaddr) in enumerate(addresses):
                self.transcript.note(f"connecting to {sockaddr[0]} port {sockaddr[1]}")
                # The step's time is shared: each address gets its part of what is left.
                share = self.deadline.remaining() / (len(addresses) - index)
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.settimeout(share)
                    with self.cancel.watch(sock):
                        sock.connect(sockaddr)
                    self.cancel.check()
                except OSError as exc:
                    sock.close()
                    self.cancel.check()
                    self.transcript.note(f"{sockaddr[0]}: {_os_reason(exc)}")
                    failures.append((sockaddr, exc))
                    continue
                except BaseException:
                    sock.close()
                    raise
                self._peer = (family, sockaddr)
                self.channel = Channel(
                    sock,
                    transcript=self.transcript,
                    cancel=self.cancel,
                    timeout=self.timeout,
                    deadline=self.deadline,
                )
                self._ehlo_name = _ehlo_name(sock)
                local = sock.getsockname()[0]
                step.detail = f"connected to {sockaddr[0]} port {sockaddr[1]} from {local}"
                self.transcript.note(f"connected from {local}")
                for address, failure in failures:
                    step.notes.append(f"{address[0]} failed first: {_os_reason(failure)}")
                return
            raise _most_telling(failures)

    def _greeting(self) -> None:
        with self.tracker.run(StepId.GREETING) as step:
            reply = self._await_greeting()
            step.reply = str(reply)
            if reply.code != 220:
                if 400 <= reply.code < 600:
                    raise self.explain(Problem.SERVER_REFUSED, reply=str(reply))
                raise self.explain(Problem.NOT_SMTP, reply=str(reply))
            step.detail = reply.lines[0] if reply.lines else ""

    def _await_greeting(self) -> Reply:
        """Wait for the greeting; meanwhile find out whether the port expects TLS instead.

        A server that expects TLS at once (SSL/TLS, port 465) waits for the
        client, and a plain client waits for the greeting: both stay silent.
        After half the timeout a second connection tries a TLS handshake, so
        that when the wait ends the check can say which it was -- without
        taking longer than the timeout.
        """
        channel = self._require_channel()
        if self.settings.security is Security.SSL_TLS:
            return channel.read_reply()
        half = self.timeout / 2
        if channel.wait_readable(half):
            return channel.read_reply()
        self.transcript.note(
            f"no greeting after {half:g} s; trying a TLS handshake over a second connection"
        )
        # The probe must end within the step's time, with a moment to spare for its answer.
        budget = self.deadline.left() * 0.8
        probe = _Background(lambda: self._speaks_tls(budget), "configurator-tls-probe")
        if channel.wait_readable(self.deadline.left()):
            return channel.read_reply()
        if probe.wait(self.deadline.left(), self.cancel) and probe.result():
            self.transcript.note("the second connection completed a TLS handshake")
            raise self.explain(Problem.TLS_EXPECTED)
        raise self.explain(Problem.GREETING_TIMEOUT)

    def _ehlo(self) -> None:
        with self.tracker.run(StepId.EHLO) as step:
            reply = self._ehlo_exchange(step.notes)
            step.reply = str(reply)
            step.detail = self._capability_text()
            if self.settings.security is Security.NONE and "STARTTLS" in self.capabilities:
                step.notes.append(
                    "the server offers STARTTLS: choose STARTTLS to encrypt the connection"
                )

    def _ehlo_exchange(self, notes: list[str]) -> Reply:
        channel = self._require_channel()
        reply = channel.command(f"EHLO {self._ehlo_name}")
        self.capabilities = {}
        if reply.code == 250:
            self.capabilities = _parse_capabilities(reply)
            return reply
        helo = channel.command(f"HELO {self._ehlo_name}")
        if helo.code != 250:
            raise self.explain(Problem.EHLO_REJECTED, reply=str(helo))
        notes.append("the server does not support EHLO, so it offers no extensions")
        return helo

    def _capability_text(self) -> str:
        if not self.capabilities:
            return "no extensions"
        items = (f"{name} {value}".strip() for name, value in self.capabilities.items())
        return "capabilities: " + ", ".join(items)

    def _starttls(self) -> None:
        with self.tracker.run(StepId.TLS) as step:
            channel = self._require_channel()
            if "STARTTLS" not in self.capabilities:
                raise self.explain(Problem.STARTTLS_NOT_OFFERED)
            reply = channel.command("STARTTLS")
            step.reply = str(reply)
            if reply.code != 220:
                raise self.explain(Problem.STARTTLS_REFUSED, reply=str(reply))
            if channel.has_unread_data:
                raise self.explain(Problem.STARTTLS_INJECTION)
            self._secure(step.notes, implicit=False)
            # RFC 3207: forget everything learnt before TLS and ask again.
            self._ehlo_exchange(step.notes)
            step.detail = f"{self._tls_summary()}; after TLS, {self._capability_text()}"

    def _authenticate(self) -> None:
        if self.authenticator is None:
            self.tracker.skip(StepId.AUTH, "Authentication Method is None: no login")
            return
        with self.tracker.run(StepId.AUTH) as step:
            if "AUTH" not in self.capabilities:
                hint = (
                    " Many servers offer AUTH only on an encrypted connection."
                    if self.tls is None
                    else ""
                )
                raise self.explain(Problem.AUTH_NOT_OFFERED, hint=hint)
            offered = frozenset(self.capabilities["AUTH"].upper().split())
            attempt = self.authenticator.authenticate(self._require_channel(), offered)
            step.reply = str(attempt.reply)
            if attempt.reply.code != 235:
                raise self.explainer.auth_failure(
                    attempt.reply, attempt.mechanism, encrypted=self.tls is not None
                )
            self.authenticated = True
            step.detail = (
                f"logged in as {self.authenticator.identity} with AUTH {attempt.mechanism}"
            )
            if self.tls is None:
                step.notes.append("the password was sent without encryption")

    # -- TLS ------------------------------------------------------------------

    def _secure(self, notes: list[str], *, implicit: bool) -> None:
        """Run the TLS handshake over the channel's socket and decide whether to trust it."""
        import ssl

        channel = self._require_channel()
        context = self.trust.context()
        tls_sock = context.wrap_socket(
            channel.sock, server_hostname=self._tls_name, do_handshake_on_connect=False
        )
        channel.replace_socket(tls_sock)
        try:
            tls_sock.settimeout(self.deadline.remaining())  # bounds the whole handshake
            tls_sock.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            raise self._certificate_error(exc) from None
        except ssl.SSLError as exc:
            self.cancel.check()
            reason = str(exc.reason or "")
            if "ALERT" in reason:
                # A TLS alert is a TLS answer: the server speaks TLS, and this is the verdict.
                self.transcript.note(f"the server answered the TLS handshake with {reason}")
            elif implicit and not isinstance(exc, ssl.SSLEOFError):
                greeting = self._greets_in_plain(ssl_reason(exc))
                if greeting is not None:
                    raise self.explain(Problem.PLAIN_SMTP_ON_TLS, reply=greeting) from None
            raise
        self.tls = self.trust.accept(tls_sock, notes)
        self.transcript.note(f"TLS established: {self.tls.summary()}")

    def _tls_summary(self) -> str:
        return self.tls.summary() if self.tls is not None else "not encrypted"

    def _certificate_error(self, exc: ssl.SSLCertVerificationError) -> MailError:
        problem, detail = self.trust.verification_problem(exc)
        self.transcript.note(f"certificate verification failed: {detail}")
        return self.trust.failure(problem, self._fetch_certificate(), detail=detail)

    def _fetch_certificate(self) -> CertificateInfo | None:
        """Fetch the certificate that failed verification, only to show it.

        A second connection, a handshake without verification, the
        certificate read, the connection closed: nothing else is sent.
        """
        self.transcript.note(
            "fetching the certificate over a second connection to show it; nothing else is sent"
        )
        scratch = self.transcript.sibling()  # the repeated greeting and EHLO would only clutter
        channel: Channel | None = None
        try:
            # Within what is left of the step that failed.
            sock = self._second_connection(self.deadline.remaining())
            channel = Channel(
                sock,
                transcript=scratch,
                cancel=self.cancel,
                timeout=self.timeout,
                deadline=self.deadline,
            )
            if self.settings.security is Security.STARTTLS:
                if channel.read_reply().code != 220:
                    return None
                if channel.command(f"EHLO {self._ehlo_name}").code != 250:
                    return None
                if channel.command("STARTTLS").code != 220:
                    return None
            tls_sock = unverified_context().wrap_socket(
                channel.sock, server_hostname=self._tls_name, do_handshake_on_connect=False
            )
            channel.replace_socket(tls_sock)
            tls_sock.settimeout(self.deadline.remaining())
            tls_sock.do_handshake()
            der = tls_sock.getpeercert(binary_form=True)
        except (OSError, BadReply, MailError, ValueError):
            return None
        finally:
            if channel is not None:
                channel.close()
        return describe_certificate(der) if der else None

    def _second_connection(self, timeout: float) -> socket.socket:
        if self._peer is None:
            raise ServerClosed("no address to connect to")
        family, sockaddr = self._peer
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            with self.cancel.watch(sock):
                sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    def _speaks_tls(self, timeout: float) -> bool:
        """Whether a second connection gets TLS answers to a TLS handshake within ``timeout``."""
        import ssl

        deadline = Deadline(timeout)
        try:
            sock = self._second_connection(timeout)
        except OSError:
            return False
        tls_sock: ssl.SSLSocket | None = None
        try:
            tls_sock = unverified_context().wrap_socket(
                sock, server_hostname=self._tls_name, do_handshake_on_connect=False
            )
            with self.cancel.watch(tls_sock):
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

    def _greets_in_plain(self, why: str) -> str | None:
        """The plain SMTP greeting a second connection gets, if it gets one.

        Waits at most ``PROBE_TIMEOUT`` and never beyond the step's deadline.
        """
        self.transcript.note(
            f"the TLS handshake failed ({why}); connecting a second time, without TLS, "
            "to see whether the server greets in plain SMTP"
        )
        scratch = self.transcript.sibling()
        timeout = min(self.deadline.left(), PROBE_TIMEOUT)
        try:
            sock = self._second_connection(timeout)
            channel = Channel(sock, transcript=scratch, cancel=self.cancel, timeout=timeout)
            try:
                reply = channel.read_reply()
            finally:
                channel.close()
        except (OSError, BadReply, MailError):
            self.transcript.note("the second connection got no plain SMTP greeting")
            return None
        text = str(reply)
        if not _SMTP_REPLY_START.match(text):
            self.transcript.note("the second connection got no plain SMTP greeting")
            return None
        self.transcript.note(f"the second connection got a plain SMTP greeting: {text}")
        return text

    # -- after opening --------------------------------------------------------

    def _require_channel(self) -> Channel:
        if self.channel is None:
            raise ServerClosed("the connection is closed")
        return self.channel

    def mail_from(self, address: str, *, smtputf8: bool = False) -> Reply:
        with self.guard(StepId.SENDER):
            channel = self._require_channel()
            text, needs_utf8 = smtp_address(address)
            utf8 = needs_utf8 or smtputf8
            if utf8 and "SMTPUTF8" not in self.capabilities:
                raise self.explain(Problem.SMTPUTF8_UNSUPPORTED, address=address, role="sender")
            reply = channel.command(f"MAIL FROM:<{text}>{' SMTPUTF8' if utf8 else ''}", utf8=utf8)
            if reply.code == 250:
                self._smtputf8 = utf8
                return reply
            if reply.code == 530:
                raise self.explainer.access_refused(reply, encrypted=self.tls is not None)
            raise self.explain(Problem.SENDER_REFUSED, reply=str(reply), sender=address)

    def rcpt_to(self, address: str) -> Reply:
        with self.guard(StepId.RECIPIENT):
            channel = self._require_channel()
            text, needs_utf8 = smtp_address(address)
            if needs_utf8 and not self._smtputf8:
                raise self.explain(Problem.SMTPUTF8_UNSUPPORTED, address=address, role="recipient")
            reply = channel.command(f"RCPT TO:<{text}>", utf8=needs_utf8)
            if reply.code in (250, 251):
                return reply
            if reply.code == 530:
                raise self.explainer.access_refused(reply, encrypted=self.tls is not None)
            raise self.explain(Problem.RECIPIENT_REFUSED, reply=str(reply), recipient=address)

    def data(self, content: bytes) -> Reply:
        with self.guard(StepId.MESSAGE):
            channel = self._require_channel()
            reply = channel.command("DATA")
            if reply.code == 354:
                reply = channel.send_data(content)
                if reply.code == 250:
                    return reply
            raise self.explain(Problem.MESSAGE_REFUSED, reply=str(reply))

    def reset(self) -> None:
        with self.guard(StepId.SENDER):
            self._require_channel().command("RSET")
        self._smtputf8 = False

    def finish(self, error: MailError | None = None) -> None:
        """Close the connection: with QUIT when the session is sane, else at once."""
        channel, self.channel = self.channel, None
        if channel is None:
            return
        try:
            if error is None or error.problem in _POLITE_ENDINGS:
                with contextlib.suppress(OSError, BadReply, MailError, ValueError):
                    # Not a step: a goodbye gets at most QUIT_TIMEOUT, whatever the server does.
                    channel.set_timeout(min(self.timeout, QUIT_TIMEOUT))
                    channel.command("QUIT")
        finally:
            channel.close()


def _parse_capabilities(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper case) and their parameters; old ``AUTH=`` lines merged into AUTH."""
    capabilities: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword.startswith("AUTH="):
            params = f"{keyword[5:]} {params}".strip()
            keyword = "AUTH"
        if not keyword:
            continue
        if keyword == "AUTH" and "AUTH" in capabilities:
            params = f"{capabilities['AUTH']} {params}".strip()
        capabilities[keyword] = params.strip()
    return capabilities


def _ehlo_name(sock: socket.socket) -> str:
    """The name to introduce ourselves with: a full host name, or our address literal."""
    name = socket.gethostname()
    if "." in name and name.isascii() and syntax.check_hostname(name) is None:
        return name
    address = str(sock.getsockname()[0]).split("%")[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _most_telling(failures: list[tuple[tuple[object, ...], OSError]]) -> OSError:
    """Of several addresses' failures, the one that says most about the server."""
    if not failures:
        return ConnectionRefusedError(errno.ECONNREFUSED, "no address to connect to")
    for _address, exc in failures:
        if exc.errno not in UNREACHABLE_ERRNOS:
            return exc
    return failures[0][1]


class Connection:
    """An open SMTP session: as secure as the settings ask, and logged in if they say so.

    Use it as a context manager; leaving says QUIT and closes the socket.
    Every method raises ``MailError`` naming the step that failed.
    """

    def __init__(self, session: _Session) -> None:
        self._session = session

    @property
    def settings(self) -> Settings:
        return self._session.settings

    @property
    def capabilities(self) -> Mapping[str, str]:
        """EHLO keywords in upper case, with their parameters (after TLS, if any)."""
        return dict(self._session.capabilities)

    @property
    def tls(self) -> TlsInfo | None:
        return self._session.tls

    @property
    def authenticated(self) -> bool:
        return self._session.authenticated

    def supports(self, extension: str) -> bool:
        return extension.upper() in self._session.capabilities

    def mail_from(self, address: str, *, smtputf8: bool = False) -> Reply:
        return self._session.mail_from(address, smtputf8=smtputf8)

    def rcpt_to(self, address: str) -> Reply:
        return self._session.rcpt_to(address)

    def data(self, content: bytes) -> Reply:
        """Send a complete message (CRLF line endings) after MAIL FROM and RCPT TO."""
        return self._session.data(content)

    def reset(self) -> None:
        self._session.reset()

    def send_message(
        self, message: EmailMessage, *, sender: str, recipients: Sequence[str]
    ) -> Reply:
        """Send ``message`` to ``recipients``: the whole transaction, or nothing.

        Any refused recipient aborts the transaction (RSET) before DATA, so a
        message never reaches only some of its recipients unnoticed.
        """
        from configurator.mail.message import needs_smtputf8, render

        # Without SMTPUTF8 offered, the address that needs it fails at its own step.
        utf8 = needs_smtputf8(sender, *recipients) and self.supports("SMTPUTF8")
        self.mail_from(sender, smtputf8=utf8)
        try:
            for recipient in recipients:
                self.rcpt_to(recipient)
        except MailError:
            with contextlib.suppress(MailError):
                self.reset()
            raise
        return self.data(render(message, smtputf8=utf8))

    def close(self) -> None:
        self._session.finish()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._session.finish(exc if isinstance(exc, MailError) else None)


def open_connection(
    settings: Settings,
    *,
    cancel: CancelToken | None = None,
    transcript: Transcript | None = None,
    on_step: StepObserver | None = None,
    authenticator: Authenticator | None = None,
) -> Connection:
    """Connect, secure and authenticate as ``settings`` say; raise ``MailError`` otherwise.

    ``authenticator`` replaces the one the settings imply (for instance an
    OAuth2 one); ``on_step`` sees the steps as they run.
    """
    session = _Session(
        settings,
        plan=plan_steps(settings, sender=False),
        cancel=cancel,
        transcript=transcript,
        on_step=on_step,
        authenticator=authenticator,
    )
    session.open()
    return Connection(session)
