"""Detecting working settings among real local servers, and never downgrading silently."""

from __future__ import annotations

import json
import time

import pytest
from support.smtp import (
    PASSWORD,
    USERNAME,
    Pki,
    StartServer,
    assert_no_secret,
    free_port,
)

from configurator import mail
from configurator.mail import Candidate, Problem, Verdict
from configurator.model import Security

pytest_plugins = ["support.smtp"]

USERS = {USERNAME: PASSWORD}


def test_ssl_tls_is_preferred_when_several_combinations_work(
    smtp_server: StartServer, pki: Pki
) -> None:
    implicit = smtp_server(tls="implicit", users=USERS)
    starttls = smtp_server(tls="starttls", users=USERS)
    candidates = [
        Candidate(implicit.port, Security.SSL_TLS),
        Candidate(starttls.port, Security.STARTTLS),
        Candidate(free_port(), Security.STARTTLS),
    ]

    found = mail.detect(
        "127.0.0.1", USERNAME, PASSWORD, 3.0, str(pki.ca_file), candidates=candidates
    )

    assert found.found
    assert found.best is not None
    assert found.best.candidate == candidates[0]
    assert found.best.auth_verified
    assert found.best.candidate.changes() == {"port": implicit.port, "security": "ssl_tls"}
    assert [probe.verdict for probe in found.probes] == [
        Verdict.WORKS,
        Verdict.WORKS,
        Verdict.FAILED,
    ]
    assert found.probes[2].failure is not None
    assert found.probes[2].failure.problem is Problem.CONNECTION_REFUSED
    assert found.unencrypted is None
    assert found.warning == ""
    assert implicit.auth_attempts == [("PLAIN", USERNAME)]
    assert starttls.auth_attempts == [("PLAIN", USERNAME)]
    assert "login was accepted" in found.summary()


def test_starttls_is_proposed_when_ssl_tls_does_not_answer(
    smtp_server: StartServer, pki: Pki
) -> None:
    starttls = smtp_server(tls="starttls", users=USERS)
    candidates = [
        Candidate(free_port(), Security.SSL_TLS),
        Candidate(starttls.port, Security.STARTTLS),
    ]

    found = mail.detect(
        "127.0.0.1", USERNAME, PASSWORD, 3.0, str(pki.ca_file), candidates=candidates
    )

    assert found.best is not None
    assert found.best.candidate == candidates[1]
    assert found.best.tls is not None


def test_without_credentials_a_verified_tls_connection_is_enough(
    smtp_server: StartServer, pki: Pki
) -> None:
    starttls = smtp_server(tls="starttls", users=USERS)

    found = mail.detect(
        "127.0.0.1",
        ca_file=str(pki.ca_file),
        timeout=3.0,
        candidates=[Candidate(starttls.port, Security.STARTTLS)],
    )

    assert found.best is not None
    assert not found.best.auth_verified
    assert starttls.recorder.received_auth == []


def test_a_plain_only_server_is_offered_only_with_a_warning_and_gets_no_password(
    smtp_server: StartServer, pki: Pki
) -> None:
    plain = smtp_server(users=USERS, auth_over_plain=True)
    candidates = [
        Candidate(free_port(), Security.SSL_TLS),
        Candidate(plain.port, Security.STARTTLS),
        Candidate(plain.port, Security.NONE),
    ]

    found = mail.detect(
        "127.0.0.1", USERNAME, PASSWORD, 3.0, str(pki.ca_file), candidates=candidates
    )

    assert not found.found
    assert found.best is None
    assert found.unencrypted is not None
    assert found.unencrypted.candidate == candidates[1]
    assert found.unencrypted.verdict is Verdict.UNENCRYPTED
    assert not found.unencrypted.auth_verified
    assert found.probes[2].verdict is Verdict.UNENCRYPTED
    assert "unencrypted" in found.warning
    assert f"no encryption on port {plain.port}" in found.warning
    assert found.summary() == found.warning
    assert plain.recorder.received_auth == []
    assert plain.auth_attempts == []
    data = json.loads(found.to_json())
    assert data["found"] is False
    assert data["best"] is None
    assert data["unencrypted"] == plain.port
    assert data["warning"] == found.warning


def test_a_rejected_login_means_nothing_is_proposed(smtp_server: StartServer, pki: Pki) -> None:
    starttls = smtp_server(tls="starttls", users={USERNAME: "the real password"})

    found = mail.detect(
        "127.0.0.1",
        USERNAME,
        PASSWORD,
        3.0,
        str(pki.ca_file),
        candidates=[Candidate(starttls.port, Security.STARTTLS)],
    )

    assert found.best is None
    assert found.unencrypted is None
    [probe] = found.probes
    assert probe.failure is not None
    assert probe.failure.problem is Problem.AUTH_REJECTED
    assert "authentication rejected" in found.summary()
    assert_no_secret(PASSWORD, USERNAME, found.to_json(), probe.transcript_text(), repr(found))


def test_candidates_are_probed_in_parallel_each_with_the_timeout(silent_port: int) -> None:
    candidates = [
        Candidate(silent_port, Security.SSL_TLS),
        Candidate(silent_port, Security.STARTTLS),
        Candidate(silent_port, Security.STARTTLS),
    ]
    reported: list[mail.Probe] = []
    started = time.monotonic()

    found = mail.detect("127.0.0.1", timeout=1.0, candidates=candidates, on_probe=reported.append)

    assert time.monotonic() - started < 2.0  # one after another would take three seconds
    assert found.best is None
    assert len(reported) == 3
    problems = [probe.failure.problem for probe in found.probes if probe.failure]
    assert problems == [Problem.REPLY_TIMEOUT, Problem.GREETING_TIMEOUT, Problem.GREETING_TIMEOUT]


USUAL = mail.DEFAULT_CANDIDATES


@pytest.mark.parametrize(
    ("port", "security", "expected"),
    [
        # A port of its own comes first, with its security ...
        (2526, Security.STARTTLS, [Candidate(2526, Security.STARTTLS), *USUAL]),
        (2465, Security.SSL_TLS, [Candidate(2465, Security.SSL_TLS), *USUAL]),
        # ... and without encryption it is tried with STARTTLS (no password in clear).
        (2525, Security.NONE, [Candidate(2525, Security.STARTTLS), *USUAL]),
        # A usual combination is not tried twice; stored, it moves to the front.
        (587, Security.STARTTLS, [USUAL[1], USUAL[0], USUAL[2]]),
        (465, Security.SSL_TLS, list(USUAL)),
        (25, Security.NONE, [USUAL[2], USUAL[0], USUAL[1]]),
        # The usual port with another security is another combination.
        (465, Security.STARTTLS, [Candidate(465, Security.STARTTLS), *USUAL]),
    ],
)
def test_the_stored_port_is_always_tried_first(
    port: int, security: Security, expected: list[Candidate]
) -> None:
    assert list(mail.candidates_for(port, security)) == expected


def test_a_server_on_its_own_port_is_found(smtp_server: StartServer, pki: Pki) -> None:
    """With the usual ports closed, detection finds a server only through its stored port."""
    server = smtp_server(tls="starttls", users=USERS)
    closed = [Candidate(free_port(), Security.SSL_TLS), Candidate(free_port(), Security.STARTTLS)]

    found = mail.detect(
        "127.0.0.1",
        USERNAME,
        PASSWORD,
        5.0,
        str(pki.ca_file),
        candidates=mail.candidates_for(server.port, Security.STARTTLS, closed),
    )

    assert found.best is not None
    assert found.best.candidate == Candidate(server.port, Security.STARTTLS)
    assert found.to_dict()["tried"] == [
        {"port": server.port, "security": "starttls"},
        {"port": closed[0].port, "security": "ssl_tls"},
        {"port": closed[1].port, "security": "starttls"},
    ]
    assert found.tried.startswith(f"STARTTLS on port {server.port}, SSL/TLS on port ")
