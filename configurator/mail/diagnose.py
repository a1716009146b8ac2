"""The step-by-step check of the settings against the real server.

``run_check`` opens the connection as ``session`` does, then asks the
server to accept the sender and, with a recipient, sends the test e-mail.  It
never raises for a mail problem: the result says which step failed, why, and
what to do, together with the redacted transcript.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass

from configurator import textsafe
from configurator.mail.cancel import CancelToken
from configurator.mail.certificate import CertificateInfo, TlsInfo
from configurator.mail.errors import Failure, MailError, Problem
from configurator.mail.session import Session, plan_steps
from configurator.mail.stepids import StepId
from configurator.mail.steps import Outcome, Step, StepObserver
from configurator.mail.transcript import Transcript, TranscriptLine, format_transcript
from configurator.model import Settings

log = logging.getLogger("configurator.mail")


@dataclass(frozen=True)
class CheckResult:
    """Everything a check found out; nothing in it is secret."""

    target: dict[str, object]  # the settings checked, as ``show --json`` prints them
    recipient: str | None
    started_at: dt.datetime
    duration: float
    steps: tuple[Step, ...]
    failure: Failure | None
    tls: TlsInfo | None
    certificate: CertificateInfo | None
    transcript: tuple[TranscriptLine, ...]

    @property
    def passed(self) -> bool:
        return self.failure is None

    @property
    def cancelled(self) -> bool:
        return self.failure is not None and self.failure.problem is Problem.CANCELLED

    @property
    def failed_step(self) -> Step | None:
        """The step that failed (or was cancelled), if any."""
        for step in self.steps:
            if step.outcome in (Outcome.FAILED, Outcome.CANCELLED):
                return step
        return None

    @property
    def notes(self) -> tuple[str, ...]:
        """Warnings from steps that passed, such as a password sent without encryption."""
        return tuple(note for step in self.steps for note in step.notes)

    def step(self, step_id: StepId) -> Step:
        return next(step for step in self.steps if step.id is step_id)

    def transcript_text(self) -> str:
        return format_transcript(self.transcript)

    def summary(self) -> str:
        """The result in plain words, as the audit trail records it for both fronts.

        No setting value goes there, not even the test recipient.
        """
        if self.passed:
            return "passed; the server accepted the test e-mail" if self.recipient else "passed"
        if self.cancelled:
            return "cancelled"
        step = self.failed_step
        summary = self.failure.summary if self.failure is not None else "unknown problem"
        if step is None:
            return f"failed: {summary}"
        return f"failed at {step.title}: {summary}"

    def to_dict(self) -> dict[str, object]:
        failed = self.failed_step
        return {
            "passed": self.passed,
            "cancelled": self.cancelled,
            "target": self.target,
            "recipient": self.recipient,
            "started_at": self.started_at.isoformat(),
            "duration": round(self.duration, 3),
            "failed_step": failed.id.value if failed is not None else None,
            "failure": self.failure.to_dict() if self.failure is not None else None,
            "steps": [step.to_dict() for step in self.steps],
            "tls": self.tls.to_dict() if self.tls is not None else None,
            "certificate": self.certificate.to_dict() if self.certificate is not None else None,
            "transcript": [line.to_dict() for line in self.transcript],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return textsafe.json_text(self.to_dict(), indent=indent)


def run_check(
    settings: Settings,
    recipient: str | None = None,
    on_step: StepObserver | None = None,
    cancel: CancelToken | None = None,
) -> CheckResult:
    """Check ``settings`` step by step; with ``recipient``, send the test e-mail.

    ``on_step`` is called from this (worker) thread each time a step starts
    (outcome ``running``) and ends, and for every step that is skipped, so
    that each planned step reaches a final outcome; a window must hand the
    call over to its own thread.  ``cancel.cancel()`` from any thread ends the check at once with
    the "cancelled" outcome.
    """
    transcript = Transcript()
    session = Session(
        settings,
        plan=plan_steps(settings),
        cancel=cancel,
        transcript=transcript,
        on_step=on_step,
    )
    tracker = session.tracker
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    failure: Failure | None = None
    certificate: CertificateInfo | None = None
    try:
        session.open()
        with session:
            _transaction(session, recipient)
    except MailError as error:
        failure = error.failure
        certificate = error.certificate
    if certificate is None and session.tls is not None:
        certificate = session.tls.certificate
    result = CheckResult(
        target=settings.public_dict(),
        recipient=recipient,
        started_at=started_at,
        duration=time.monotonic() - started,
        steps=tracker.finish(),
        failure=failure,
        tls=session.tls,
        certificate=certificate,
        transcript=transcript.lines(),
    )
    if failure is None:
        log.info("mail check of %s:%s passed", settings.server, settings.port)
    else:
        log.info(
            "mail check of %s:%s failed at %s: %s",
            settings.server,
            settings.port,
            failure.step,
            failure.summary,
        )
    return result


def _transaction(session: Session, recipient: str | None) -> None:
    """Sender, recipient and message steps over the open session."""
    from configurator.mail.message import compose_test_message, needs_smtputf8, render

    settings = session.settings
    tracker = session.tracker
    if not settings.account_email:
        for step_id in (StepId.SENDER, StepId.RECIPIENT, StepId.MESSAGE):
            tracker.skip(step_id, "no Account E-mail Address to send from")
        return
    addresses = [settings.account_email] + ([recipient] if recipient else [])
    # Ask for SMTPUTF8 only where the server offers it: otherwise the address that needs it
    # (the sender at MAIL FROM, or the recipient at RCPT TO) is the one named as failing.
    utf8 = needs_smtputf8(*addresses) and session.supports("SMTPUTF8")
    with tracker.run(StepId.SENDER) as step:
        reply = session.mail_from(settings.account_email, smtputf8=utf8)
        step.reply = str(reply)
        step.detail = f"the server accepts {settings.account_email} as the sender"
    if not recipient:
        with contextlib.suppress(MailError):  # the sender was the point; RSET is courtesy
            session.reset()
        why = "no recipient given: no test e-mail sent"
        tracker.skip(StepId.RECIPIENT, why)
        tracker.skip(StepId.MESSAGE, why)
        return
    with tracker.run(StepId.RECIPIENT) as step:
        reply = session.rcpt_to(recipient)
        step.reply = str(reply)
        step.detail = f"the server accepts mail for {recipient}"
    with tracker.run(StepId.MESSAGE) as step:
        message = compose_test_message(settings, recipient)
        reply = session.data(render(message, smtputf8=utf8))
        step.reply = str(reply)
        step.detail = f"the server accepted the test e-mail {message['Message-ID']}"
