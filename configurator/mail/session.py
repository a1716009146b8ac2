"""An SMTP session exactly as the settings say: verified, then authenticated, then mail.

``Session.open`` runs the sequence, each part a named step (see ``steps``):

- resolve the name, with the timeout, and connect to the first address that
  answers (``connect``);
- Connection Security None: plain SMTP.  SSL/TLS: TLS from the first byte.
  STARTTLS: EHLO, then STARTTLS is *required* -- a server that does not offer
  it ends the attempt before anything else is sent -- then EHLO again;
- the certificate is trusted only as ``tls`` decides: verified, or pinned;
- authentication through a pluggable ``Authenticator`` (see ``auth``).

Then any number of mail transactions over the same connection: MAIL FROM,
RCPT TO and DATA one by one, or ``send_message`` for all three.  What went
wrong is explained by ``classify``; a failure that needs a second connection
to be explained asks ``probes``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from configurator import syntax
from configurator.mail.auth import Authenticator, authenticator_for
from configurator.mail.cancel import CancelToken
from configurator.mail.certificate import TlsInfo
from configurator.mail.channel import BadReply, Channel, Reply, ServerClosed
from configurator.mail.classify import Explainer, ssl_reason
from configurator.mail.connect import Background, Dialer
from configurator.mail.deadline import Deadline
from configurator.mail.errors import MailError, Problem, cancelled
from configurator.mail.probes import Probes
from configurator.mail.stepids import StepId
from configurator.mail.steps import StepObserver, StepTracker
from configurator.mail.tls import Trust
from configurator.mail.transcript import Transcript
from configurator.model import Security, Settings

if TYPE_CHECKING:
    import ssl
    from email.message import EmailMessage

QUIT_TIMEOUT = 2.0

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


class Session:
    """One SMTP session: as secure as the settings ask, and logged in if they say so.

    ``open()`` connects, secures and authenticates, or raises ``MailError``
    naming the step that failed; after it, any number of mail transactions,
    each method raising ``MailError`` naming its step.  Use it as a context
    manager: leaving says QUIT and closes the socket.

    ``plan`` lists the steps the ``tracker`` reports (by default those of
    opening); a caller that runs steps of its own through the tracker, as the
    check does, plans them too.  ``authenticator`` replaces the one the
    settings imply (an OAuth2 one, say).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        plan: Sequence[StepId] | None = None,
        cancel: CancelToken | None = None,
        transcript: Transcript | None = None,
        on_step: StepObserver | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.transcript = transcript if transcript is not None else Transcript()
        self._timeout = float(settings.timeout)
        self._cancel = cancel if cancel is not None else CancelToken()
        self._authenticator = authenticator or authenticator_for(settings)
        # Before anything touches the network: no form of a secret may be shown.
        self.transcript.add_password(settings.password)
        if self._authenticator is not None:
            self.transcript.add_secrets(self._authenticator.secrets())
        # Every step, whatever the server does, ends within the timeout.
        self._deadline = Deadline(self._timeout)
        explainer = Explainer(settings, redact=self.transcript.redact, cancel=self._cancel)
        self._explainer = explainer
        self._explain = explainer.explain
        self.tracker = StepTracker(
            plan if plan is not None else plan_steps(settings, sender=False),
            classify=explainer.classify,
            redact=self.transcript.redact,
            on_step=on_step,
            on_start=self._begin_step,
        )
        self._dialer = Dialer(
            settings,
            explainer=explainer,
            deadline=self._deadline,
            cancel=self._cancel,
            transcript=self.transcript,
        )
        self._trust = Trust(settings, explainer)
        self._channel: Channel | None = None
        self._probes: Probes | None = None
        self._ehlo_name = ""
        self._tls_name = ""
        self._capabilities: dict[str, str] = {}
        self._tls: TlsInfo | None = None
        self._authenticated = False
        self._smtputf8 = False

    @property
    def capabilities(self) -> Mapping[str, str]:
        """EHLO keywords in upper case, with their parameters (after TLS, if any)."""
        return dict(self._capabilities)

    @property
    def tls(self) -> TlsInfo | None:
        """The TLS in use and the certificate trusted; ``None`` on a plain connection."""
        return self._tls

    @property
    def authenticated(self) -> bool:
        return self._authenticated

    def supports(self, extension: str) -> bool:
        return extension.upper() in self._capabilities

    def _begin_step(self, step: StepId) -> None:
        self._deadline.restart()

    @contextlib.contextmanager
    def _guard(self, step: StepId) -> Iterator[None]:
        """Outside a tracked check: a step's time limit, and every failure as a ``MailError``."""
        self._begin_step(step)
        try:
            yield
        except Exception as exc:
            error = self._explainer.classify(exc, step).at_step(step)
            if error is exc:
                raise
            raise error from exc

    # -- opening --------------------------------------------------------------

    def open(self) -> None:
        """Connect, secure and authenticate as the settings say; raise ``MailError`` otherwise."""
        try:
            self._cancel.check()
            with self.tracker.run(StepId.RESOLVE) as step:
                self._dialer.resolve(step)
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
            self._finish(error)
            raise
        except BaseException:
            self._finish(cancelled())  # not a sane session any more: close without QUIT
            raise

    def _connect(self) -> None:
        with self.tracker.run(StepId.CONNECT) as step:
            sock, peer = self._dialer.connect(step)
            self._channel = Channel(
                sock,
                transcript=self.transcript,
                cancel=self._cancel,
                timeout=self._timeout,
                deadline=self._deadline,
            )
            self._ehlo_name, self._tls_name = peer.ehlo_name, peer.tls_name
            self._probes = Probes(
                peer,
                starttls=self.settings.security is Security.STARTTLS,
                cancel=self._cancel,
                transcript=self.transcript,
                timeout=self._timeout,
                deadline=self._deadline,
            )

    def _greeting(self) -> None:
        with self.tracker.run(StepId.GREETING) as step:
            reply = self._await_greeting()
            step.reply = str(reply)
            if reply.code != 220:
                if 400 <= reply.code < 600:
                    raise self._explain(Problem.SERVER_REFUSED, reply=str(reply))
                raise self._explain(Problem.NOT_SMTP, reply=str(reply))
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
        half = self._timeout / 2
        if channel.wait_readable(half):
            return channel.read_reply()
        self.transcript.note(
            f"no greeting after {half:g} s; trying a TLS handshake over a second connection"
        )
        # The probe must end within the step's time, with a moment to spare for its answer.
        budget = self._deadline.left() * 0.8
        probes = self._require_probes()
        probe = Background(lambda: probes.speaks_tls(budget), "configurator-tls-probe")
        if channel.wait_readable(self._deadline.left()):
            return channel.read_reply()
        if probe.wait(self._deadline.left(), self._cancel) and probe.result():
            self.transcript.note("the second connection completed a TLS handshake")
            raise self._explain(Problem.TLS_EXPECTED)
        raise self._explain(Problem.GREETING_TIMEOUT)

    def _ehlo(self) -> None:
        with self.tracker.run(StepId.EHLO) as step:
            reply = self._ehlo_exchange(step.notes)
            step.reply = str(reply)
            step.detail = self._capability_text()
            if self.settings.security is Security.NONE and "STARTTLS" in self._capabilities:
                step.notes.append(
                    "the server offers STARTTLS: choose STARTTLS to encrypt the connection"
                )

    def _ehlo_exchange(self, notes: list[str]) -> Reply:
        channel = self._require_channel()
        reply = channel.command(f"EHLO {self._ehlo_name}")
        self._capabilities = {}
        if reply.code == 250:
            self._capabilities = _parse_capabilities(reply)
            return reply
        helo = channel.command(f"HELO {self._ehlo_name}")
        if helo.code != 250:
            raise self._explain(Problem.EHLO_REJECTED, reply=str(helo))
        notes.append("the server does not support EHLO, so it offers no extensions")
        return helo

    def _capability_text(self) -> str:
        if not self._capabilities:
            return "no extensions"
        items = (f"{name} {value}".strip() for name, value in self._capabilities.items())
        return "capabilities: " + ", ".join(items)

    def _starttls(self) -> None:
        with self.tracker.run(StepId.TLS) as step:
            channel = self._require_channel()
            if "STARTTLS" not in self._capabilities:
                raise self._explain(Problem.STARTTLS_NOT_OFFERED)
            reply = channel.command("STARTTLS")
            step.reply = str(reply)
            if reply.code != 220:
                raise self._explain(Problem.STARTTLS_REFUSED, reply=str(reply))
            if channel.has_unread_data:
                raise self._explain(Problem.STARTTLS_INJECTION)
            self._secure(step.notes, implicit=False)
            # RFC 3207: forget everything learnt before TLS and ask again.
            self._ehlo_exchange(step.notes)
            step.detail = f"{self._tls_summary()}; after TLS, {self._capability_text()}"

    def _authenticate(self) -> None:
        authenticator = self._authenticator
        if authenticator is None:
            self.tracker.skip(StepId.AUTH, "Authentication Method is None: no login")
            return
        with self.tracker.run(StepId.AUTH) as step:
            if "AUTH" not in self._capabilities:
                hint = (
                    " Many servers offer AUTH only on an encrypted connection."
                    if self._tls is None
                    else ""
                )
                raise self._explain(Problem.AUTH_NOT_OFFERED, hint=hint)
            offered = frozenset(self._capabilities["AUTH"].upper().split())
            attempt = authenticator.authenticate(self._require_channel(), offered)
            step.reply = str(attempt.reply)
            if attempt.reply.code != 235:
                raise self._explainer.auth_failure(
                    attempt.reply, attempt.mechanism, encrypted=self._tls is not None
                )
            self._authenticated = True
            step.detail = f"logged in as {authenticator.identity} with AUTH {attempt.mechanism}"
            if self._tls is None:
                step.notes.append("the password was sent without encryption")

    def _secure(self, notes: list[str], *, implicit: bool) -> None:
        """Run the TLS handshake over the channel's socket and decide whether to trust it."""
        import ssl

        channel = self._require_channel()
        context = self._trust.context()
        tls_sock = context.wrap_socket(
            channel.sock, server_hostname=self._tls_name, do_handshake_on_connect=False
        )
        channel.replace_socket(tls_sock)
        try:
            tls_sock.settimeout(self._deadline.remaining())  # bounds the whole handshake
            tls_sock.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            raise self._certificate_error(exc) from None
        except ssl.SSLError as exc:
            self._cancel.check()
            reason = str(exc.reason or "")
            if "ALERT" in reason:
                # A TLS alert is a TLS answer: the server speaks TLS, and this is the verdict.
                self.transcript.note(f"the server answered the TLS handshake with {reason}")
            elif implicit and not isinstance(exc, ssl.SSLEOFError):
                greeting = self._require_probes().greets_in_plain(ssl_reason(exc))
                if greeting is not None:
                    raise self._explain(Problem.PLAIN_SMTP_ON_TLS, reply=greeting) from None
            raise
        self._tls = self._trust.accept(tls_sock, notes)
        self.transcript.note(f"TLS established: {self._tls.summary()}")

    def _tls_summary(self) -> str:
        return self._tls.summary() if self._tls is not None else "not encrypted"

    def _certificate_error(self, exc: ssl.SSLCertVerificationError) -> MailError:
        problem, detail = self._trust.verification_problem(exc)
        self.transcript.note(f"certificate verification failed: {detail}")
        certificate = self._require_probes().fetch_certificate()
        return self._trust.failure(problem, certificate, detail=detail)

    def _require_channel(self) -> Channel:
        if self._channel is None:
            raise ServerClosed("the connection is closed")
        return self._channel

    def _require_probes(self) -> Probes:
        if self._probes is None:
            raise ServerClosed("no address to connect to")
        return self._probes

    # -- mail transactions, any number of them --------------------------------

    def mail_from(self, address: str, *, smtputf8: bool = False) -> Reply:
        """Begin a transaction from ``address``; ``smtputf8`` asks for SMTPUTF8 for all of it."""
        with self._guard(StepId.SENDER):
            channel = self._require_channel()
            text, needs_utf8 = smtp_address(address)
            utf8 = needs_utf8 or smtputf8
            if utf8 and "SMTPUTF8" not in self._capabilities:
                raise self._explain(Problem.SMTPUTF8_UNSUPPORTED, address=address, role="sender")
            reply = channel.command(f"MAIL FROM:<{text}>{' SMTPUTF8' if utf8 else ''}", utf8=utf8)
            self._accepted(reply, (250,), Problem.SENDER_REFUSED, sender=address)
            self._smtputf8 = utf8
            return reply

    def rcpt_to(self, address: str) -> Reply:
        with self._guard(StepId.RECIPIENT):
            channel = self._require_channel()
            text, needs_utf8 = smtp_address(address)
            if needs_utf8 and not self._smtputf8:
                raise self._explain(Problem.SMTPUTF8_UNSUPPORTED, address=address, role="recipient")
            reply = channel.command(f"RCPT TO:<{text}>", utf8=needs_utf8)
            return self._accepted(reply, (250, 251), Problem.RECIPIENT_REFUSED, recipient=address)

    def _accepted(
        self, reply: Reply, codes: tuple[int, ...], refused: Problem, **context: object
    ) -> Reply:
        """``reply`` if its code is one of ``codes``; else why the server would not have it."""
        if reply.code in codes:
            return reply
        if reply.code == 530:
            raise self._explainer.access_refused(reply, encrypted=self._tls is not None)
        raise self._explain(refused, reply=str(reply), context=context)

    def data(self, content: bytes) -> Reply:
        """Send a complete message (CRLF line endings) after MAIL FROM and RCPT TO."""
        with self._guard(StepId.MESSAGE):
            channel = self._require_channel()
            reply = channel.command("DATA")
            if reply.code == 354:
                reply = channel.send_data(content)
                if reply.code == 250:
                    return reply
            raise self._explain(Problem.MESSAGE_REFUSED, reply=str(reply))

    def reset(self) -> None:
        """Abandon the transaction begun (RSET); the session stays open for the next."""
        with self._guard(StepId.SENDER):
            self._require_channel().command("RSET")
        self._smtputf8 = False

    def send_message(
        self, message: EmailMessage, *, sender: str, recipients: Sequence[str]
    ) -> Reply:
        """Send ``message`` to ``recipients``: the whole transaction, or nothing.

        Any refused recipient aborts the transaction (RSET) before DATA, so a
        message never reaches only some of its recipients unnoticed; the
        session stays open for the next message.
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

    # -- closing ----------------------------------------------------------------

    def close(self) -> None:
        """Say QUIT and close the connection."""
        self._finish()

    def _finish(self, error: MailError | None = None) -> None:
        """Close the connection: with QUIT when the session is sane, else at once."""
        channel, self._channel = self._channel, None
        if channel is None:
            return
        try:
            if error is None or error.problem in _POLITE_ENDINGS:
                with contextlib.suppress(OSError, BadReply, MailError, ValueError):
                    # Not a step: a goodbye gets at most QUIT_TIMEOUT, whatever the server does.
                    channel.set_timeout(min(self._timeout, QUIT_TIMEOUT))
                    channel.command("QUIT")
        finally:
            channel.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._finish(exc if isinstance(exc, MailError) else None)


#: The name callers first knew the session by.
Connection = Session


def open_connection(
    settings: Settings,
    *,
    cancel: CancelToken | None = None,
    transcript: Transcript | None = None,
    on_step: StepObserver | None = None,
    authenticator: Authenticator | None = None,
) -> Session:
    """Connect, secure and authenticate as ``settings`` say; raise ``MailError`` otherwise.

    ``authenticator`` replaces the one the settings imply (for instance an
    OAuth2 one); ``on_step`` sees the steps as they run.
    """
    session = Session(
        settings, cancel=cancel, transcript=transcript, on_step=on_step, authenticator=authenticator
    )
    session.open()
    return session


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
