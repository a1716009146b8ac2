"""Everything that talks SMTP: connect, secure, authenticate, diagnose, send, detect.

No Qt here: the window and the command line are two fronts over the same
calls.  Everything blocks; run it on a worker thread, never on the GUI
thread.  Importing this package is cheap: ``ssl``, ``email`` and
``cryptography`` load only when a check needs them.

Checking the settings (the window's Test button, ``configurator test``)::

    from configurator import mail

    token = mail.CancelToken()            # token.cancel() from any thread stops the check
    result = mail.run_check(settings, recipient="admin@example.com",
                            on_step=show_step, cancel=token)
    result.passed                         # True when every step passed
    result.failed_step                    # the Step that failed or was cancelled, else None
    result.failure                        # Failure: problem, summary, cause, fix, reply
    result.certificate                    # CertificateInfo (subject, issuer, expiry,
                                          # fingerprint), also for an untrusted certificate
    result.transcript_text()              # the conversation, passwords shown as [hidden]
    result.to_json()                      # the whole result for ``test --json``

The recipient is the caller's choice (the ``--to`` option, or the stored
``settings.test_recipient``); without one the check stops once the server
has accepted the sender, with one it sends the test e-mail
(``message.compose_test_message``).  ``on_step(step)`` is called from the
worker thread when a step starts (``Outcome.RUNNING``) and when it ends
(passed, failed, skipped or cancelled); ``mail.plan_steps(settings)`` lists
the step ids in advance and ``step.title`` names each one for people.  A
pinned certificate (``settings.tls_fingerprint``) replaces the trusted
authorities: only that exact certificate is accepted.

Finding working settings (``configurator detect``)::

    found = mail.detect(settings.server, settings.username, settings.password,
                        settings.timeout, settings.ca_file,
                        candidates=mail.candidates_for(settings.port, settings.security))
    found.best                            # the Probe to propose, or None
    found.best.candidate.changes()        # {"port": 465, "security": "ssl_tls"}
    found.unencrypted, found.warning      # plain SMTP only: offer it with the warning

Delivering mail (for a future outbox)::

    with mail.open_connection(settings, cancel=token) as session:
        for message in queued:            # any number of messages over one login
            session.send_message(message, sender=..., recipients=[...])

``open_connection`` returns an open ``Session`` (also known as
``Connection``) and raises ``MailError`` (``.failure``, ``.certificate``)
when any step fails.  ``send_message`` raises it for a message the server
refuses, and the session stays open for the next.  A different login method (an OAuth2 token, say)
plugs in as an ``Authenticator`` (see ``auth``), passed as
``open_connection(..., authenticator=...)``.

Inside, one module per concern: ``session`` (the step sequence and mail
transactions), ``connect`` (resolving and connecting), ``tls`` (contexts, the
Trusted CA File, pinning), ``probes`` (second connections that explain a
failure), ``classify`` (what went wrong, in words), ``auth`` (logging in),
``diagnose`` (the check) and ``detect`` (finding working settings).
"""

from __future__ import annotations

from configurator.mail.auth import Authenticator, PasswordAuthenticator, authenticator_for
from configurator.mail.cancel import CancelToken
from configurator.mail.certificate import CertificateInfo, TlsInfo
from configurator.mail.channel import Reply
from configurator.mail.detect import (
    DEFAULT_CANDIDATES,
    Candidate,
    DetectResult,
    Probe,
    Verdict,
    candidates_for,
    detect,
)
from configurator.mail.diagnose import CheckResult, run_check
from configurator.mail.errors import Failure, MailError, Problem
from configurator.mail.message import SUBJECT as TEST_SUBJECT
from configurator.mail.message import compose_test_message
from configurator.mail.session import Connection, Session, open_connection, plan_steps
from configurator.mail.stepids import StepId
from configurator.mail.steps import Outcome, Step
from configurator.mail.transcript import HIDDEN, Direction, TranscriptLine

__all__ = [
    "DEFAULT_CANDIDATES",
    "HIDDEN",
    "TEST_SUBJECT",
    "Authenticator",
    "CancelToken",
    "Candidate",
    "CertificateInfo",
    "CheckResult",
    "Connection",
    "DetectResult",
    "Direction",
    "Failure",
    "MailError",
    "Outcome",
    "PasswordAuthenticator",
    "Probe",
    "Problem",
    "Reply",
    "Session",
    "Step",
    "StepId",
    "TlsInfo",
    "TranscriptLine",
    "Verdict",
    "authenticator_for",
    "candidates_for",
    "compose_test_message",
    "detect",
    "open_connection",
    "plan_steps",
    "run_check",
]
