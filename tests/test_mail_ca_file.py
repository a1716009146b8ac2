"""The Trusted CA File as the check reads it: bounded, never a FIFO, never another's.

The model refuses such a file when it is entered; these cases are about a file
that was fine when saved and changed since, which the check meets first.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from support.smtp import USERNAME, Pki, StartServer, make_settings

from configurator import mail
from configurator.mail import Problem, StepId

pytest_plugins = ["support.smtp"]

USERS = {USERNAME: "pass-ca-file-Zq8"}


def _check(settings: object) -> mail.CheckResult:
    outcome: list[mail.CheckResult] = []
    thread = threading.Thread(target=lambda: outcome.append(mail.run_check(settings)), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the check hung on the CA file"
    return outcome[0]


def _refused(result: mail.CheckResult, said: str) -> None:
    assert result.failure is not None
    assert result.failure.problem is Problem.CA_FILE_UNUSABLE
    assert result.failed_step is not None
    assert result.failed_step.id is StepId.TLS
    assert said in result.failure.cause


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_ca_file_replaced_by_a_fifo_is_refused_without_hanging(
    smtp_server: StartServer, tmp_path: Path
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()

    result = _check(make_settings(server.port, ca_file=str(fifo), password=USERS[USERNAME]))

    _refused(result, "a FIFO")
    assert time.monotonic() - started < 5


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_ca_file_others_may_change_is_refused(
    smtp_server: StartServer, pki: Pki, tmp_path: Path
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    shared = tmp_path / "ca.pem"
    shared.write_bytes(Path(pki.ca_file).read_bytes())
    shared.chmod(0o666)

    result = _check(make_settings(server.port, ca_file=str(shared), password=USERS[USERNAME]))

    _refused(result, "other users may change it")
    assert server.auth_attempts == []  # nothing was sent on a trust others could choose


def test_a_ca_file_far_too_large_is_refused_unread(
    smtp_server: StartServer, tmp_path: Path
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    huge = tmp_path / "ca.pem"
    with huge.open("wb") as file:
        file.truncate(1 << 30)  # sparse: no disk used, 1 GiB to a reader

    result = _check(make_settings(server.port, ca_file=str(huge), password=USERS[USERNAME]))

    _refused(result, "more than a CA file holds")


def test_a_ca_file_with_text_in_another_encoding_still_works(
    smtp_server: StartServer, pki: Pki, tmp_path: Path
) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    commented = tmp_path / "ca.pem"
    commented.write_bytes(
        "Zertifizierungsstelle für Prüfungen\n".encode("latin-1") + Path(pki.ca_file).read_bytes()
    )

    result = _check(make_settings(server.port, ca_file=str(commented), password=USERS[USERNAME]))

    assert result.failure is None, result.failure.describe() if result.failure else ""
