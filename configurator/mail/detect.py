"""Finding the port and security that work with a server.

The usual combinations -- SSL/TLS on 465, STARTTLS on 587, STARTTLS on 25 --
and the stored port (``candidates_for``) are tried at once, each in its own
thread with the timeout, and the first in that order of preference that
works is proposed; with credentials, "works" includes a successful login.
An unencrypted connection is never proposed silently: a server that answers
only in plain SMTP is reported separately, with a warning, and no
credentials are ever sent to find that out.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from configurator import textsafe
from configurator.mail.cancel import CancelToken
from configurator.mail.certificate import CertificateInfo, TlsInfo
from configurator.mail.errors import Failure, MailError, Problem
from configurator.mail.session import Session
from configurator.mail.transcript import Transcript, TranscriptLine, format_transcript
from configurator.model import Auth, Security, Settings


@dataclass(frozen=True)
class Candidate:
    """One combination of port and connection security to try."""

    port: int
    security: Security

    @property
    def label(self) -> str:
        return f"{self.security.phrase} on port {self.port}"

    def changes(self) -> dict[str, object]:
        """The settings to change to use this combination (for ``model.build``)."""
        return {"port": self.port, "security": self.security.value}


DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate(465, Security.SSL_TLS),
    Candidate(587, Security.STARTTLS),
    Candidate(25, Security.STARTTLS),
)


def candidates_for(
    port: int, security: Security, usual: Sequence[Candidate] = DEFAULT_CANDIDATES
) -> tuple[Candidate, ...]:
    """The stored port first, then the ``usual`` combinations not already among them.

    A server may listen on a port of its own (2526, say): a detection that
    left it out would report "nothing works" for a server whose check just
    passed.  It comes first so that settings that work are kept rather than
    swapped for another working combination.  A port stored without
    encryption is tried with STARTTLS: if the server offers none, the probe
    says so (``Verdict.UNENCRYPTED``) without sending any credentials.
    """
    stored = Candidate(port, security if security.encrypted else Security.STARTTLS)
    return (stored, *(candidate for candidate in usual if candidate != stored))


class Verdict(enum.StrEnum):
    WORKS = "works"
    UNENCRYPTED = "unencrypted"  # the server answers, but only without encryption
    FAILED = "failed"


UNENCRYPTED_WARNING = (
    "Only an unencrypted connection works ({label}): the password and every alert would "
    "cross the network readable by anyone on the way. Use it only on a network you trust, "
    "or ask the mail administrator to enable STARTTLS or SSL/TLS."
)


@dataclass(frozen=True)
class Probe:
    """What trying one candidate found."""

    candidate: Candidate
    verdict: Verdict
    auth_verified: bool
    failure: Failure | None
    tls: TlsInfo | None
    certificate: CertificateInfo | None
    duration: float
    transcript: tuple[TranscriptLine, ...]

    @property
    def warning(self) -> str:
        if self.verdict is Verdict.UNENCRYPTED:
            plain = Candidate(self.candidate.port, Security.NONE)
            return UNENCRYPTED_WARNING.format(label=plain.label)
        return ""

    def transcript_text(self) -> str:
        return format_transcript(self.transcript)

    def to_dict(self) -> dict[str, object]:
        return {
            "port": self.candidate.port,
            "security": self.candidate.security.value,
            "verdict": self.verdict.value,
            "auth_verified": self.auth_verified,
            "warning": self.warning,
            "failure": self.failure.to_dict() if self.failure is not None else None,
            "tls": self.tls.to_dict() if self.tls is not None else None,
            "certificate": self.certificate.to_dict() if self.certificate is not None else None,
            "duration": round(self.duration, 3),
            "transcript": [line.to_dict() for line in self.transcript],
        }


@dataclass(frozen=True)
class DetectResult:
    """Every candidate's outcome and the proposal, if any."""

    server: str
    probes: tuple[Probe, ...]  # in order of preference
    best: Probe | None  # encrypted and working: the proposal
    unencrypted: Probe | None  # only when nothing encrypted works; carries a warning

    @property
    def found(self) -> bool:
        return self.best is not None

    @property
    def tried(self) -> str:
        """The combinations tried, in words: "SSL/TLS on port 465, STARTTLS on port 587"."""
        return ", ".join(probe.candidate.label for probe in self.probes)

    @property
    def warning(self) -> str:
        return self.unencrypted.warning if self.unencrypted is not None else ""

    def summary(self) -> str:
        if self.best is not None:
            login = " and the login was accepted" if self.best.auth_verified else ""
            return f"{self.best.candidate.label} works{login}."
        if self.unencrypted is not None:
            return self.warning
        problems = {probe.failure.summary for probe in self.probes if probe.failure}
        reasons = "; ".join(sorted(problems)) or "no candidate was tried"
        tried = f" Tried: {self.tried}." if self.probes else ""
        return f"No combination works ({reasons}).{tried}"

    def to_dict(self) -> dict[str, object]:
        return {
            "server": self.server,
            "found": self.found,
            "summary": self.summary(),
            "best": self.best.candidate.changes() if self.best is not None else None,
            "unencrypted": (
                self.unencrypted.candidate.port if self.unencrypted is not None else None
            ),
            "warning": self.warning,
            "tried": [probe.candidate.changes() for probe in self.probes],
            "probes": [probe.to_dict() for probe in self.probes],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return textsafe.json_text(self.to_dict(), indent=indent)


def _probe(candidate: Candidate, base: Settings, cancel: CancelToken) -> Probe:
    encrypted = candidate.security.encrypted
    login = encrypted and bool(base.username and base.password)
    settings = Settings(
        server=base.server,
        port=candidate.port,
        security=candidate.security,
        # Credentials never go over a connection that is not encrypted.
        auth=Auth.LOGIN_PLAIN if login else Auth.NONE,
        username=base.username if login else "",
        password=base.password if login else "",
        ca_file=base.ca_file,
        tls_fingerprint=base.tls_fingerprint,
        timeout=base.timeout,
    )
    transcript = Transcript()
    transcript.add_password(base.password)
    session = Session(settings, cancel=cancel, transcript=transcript)
    started = time.monotonic()
    failure: Failure | None = None
    certificate: CertificateInfo | None = None
    try:
        session.open()
        session.close()
    except MailError as error:
        failure = error.failure
        certificate = error.certificate
    if failure is None:
        verdict = Verdict.WORKS if encrypted else Verdict.UNENCRYPTED
    elif failure.problem is Problem.STARTTLS_NOT_OFFERED:
        verdict = Verdict.UNENCRYPTED
    else:
        verdict = Verdict.FAILED
    if certificate is None and session.tls is not None:
        certificate = session.tls.certificate
    return Probe(
        candidate=candidate,
        verdict=verdict,
        auth_verified=failure is None and login,
        failure=failure,
        tls=session.tls,
        certificate=certificate,
        duration=time.monotonic() - started,
        transcript=transcript.lines(),
    )


def detect(
    server: str,
    username: str = "",
    password: str = "",
    timeout: float = 10.0,
    ca_file: str = "",
    *,
    candidates: Sequence[Candidate] = DEFAULT_CANDIDATES,
    tls_fingerprint: str = "",
    cancel: CancelToken | None = None,
    on_probe: Callable[[Probe], None] | None = None,
) -> DetectResult:
    """Try every candidate in parallel; propose the first that works, in the given order.

    With ``username`` and ``password`` a candidate works only if the login is
    accepted.  ``on_probe`` is called from the probing threads as each
    candidate finishes.
    """
    from concurrent.futures import ThreadPoolExecutor

    token = cancel if cancel is not None else CancelToken()
    base = Settings(
        server=server,
        username=username,
        password=password,
        ca_file=ca_file,
        tls_fingerprint=tls_fingerprint,
        timeout=timeout,
    )

    def run(candidate: Candidate) -> Probe:
        probe = _probe(candidate, base, token)
        if on_probe is not None:
            on_probe(probe)
        return probe

    with ThreadPoolExecutor(
        max_workers=max(1, len(candidates)), thread_name_prefix="configurator-detect"
    ) as pool:
        probes = tuple(pool.map(run, candidates))
    best = next((probe for probe in probes if probe.verdict is Verdict.WORKS), None)
    unencrypted = None
    if best is None:
        unencrypted = next((p for p in probes if p.verdict is Verdict.UNENCRYPTED), None)
    return DetectResult(server=server, probes=probes, best=best, unencrypted=unencrypted)
