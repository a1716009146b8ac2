"""The server check against hostile servers: time limits, terminal safety, exact blame.

Every server here is real and listens on 127.0.0.1 (``support.hostile``):
one drips its replies a byte at a time, one sends terminal escapes, one
presents a certificate whose subject forges a line of the output, one echoes
the password back in altered forms.  The command line runs as a subprocess
and is read as a terminal would show it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.hostile import Peer, RawServer, Script, smtp_dialogue
from support.smtp import PASSWORD, make_settings

from configurator import mail
from configurator.mail import Problem, StepId
from configurator.model import Auth, Security, Settings
from configurator.store import Store

pytest_plugins = ["support.smtp"]

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(*args: str, timeout: float = 60) -> Run:
    started = time.monotonic()
    completed = subprocess.run(
        [*COMMAND, *args], capture_output=True, cwd=REPO, timeout=timeout, check=False
    )
    run = Run(
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8"),
        time.monotonic() - started,
    )
    assert "Traceback" not in run.stderr, run.stderr
    return run


@pytest.fixture
def raw_server() -> Iterator[Callable[[Script], RawServer]]:
    started: list[RawServer] = []

    def start(script: Script) -> RawServer:
        server = RawServer(script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
    for server in started:
        assert not server.errors, server.errors


def plain(port: int, **changes: object) -> Settings:
    """Plain SMTP without a login: nothing in the way of what the server does."""
    values: dict[str, object] = {
        "security": Security.NONE,
        "auth": Auth.NONE,
        "username": "",
        "password": "",
    }
    values.update(changes)
    return make_settings(port, **values)


def store(data_dir: Path, settings: Settings) -> None:
    Store(data_dir).save(settings)


# -- time limits: a deadline per step, not per recv ----------------------------------


def drip_greeting(peer: Peer) -> None:
    peer.drip("220 " + "x" * 400 + "\r\n", every=0.25)


def drip_ehlo_reply(peer: Peer) -> None:
    peer.send("220 drip.test ESMTP\r\n")
    peer.read_line()
    peer.drip("250-drip.test\r\n250 " + "y" * 400 + "\r\n", every=0.25)


@pytest.mark.parametrize(
    ("script", "step"),
    [(drip_greeting, StepId.GREETING), (drip_ehlo_reply, StepId.EHLO)],
)
def test_a_server_dripping_bytes_cannot_stretch_a_step_beyond_the_timeout(
    raw_server: Callable[[Script], RawServer], script: Script, step: StepId
) -> None:
    server = raw_server(script)
    started = time.monotonic()

    result = mail.run_check(plain(server.port, timeout=1.0))

    assert time.monotonic() - started < 2.5
    assert result.failed_step is not None
    assert result.failed_step.id is step
    assert result.failure is not None
    assert "timed out" in result.failure.summary
    assert result.failed_step.duration < 1.5


def test_the_command_line_timeout_bounds_a_dripping_server(
    data_dir: Path, raw_server: Callable[[Script], RawServer]
) -> None:
    server = raw_server(drip_greeting)
    store(data_dir, plain(server.port, timeout=60.0))

    run = run_cli("test", "--timeout", "1", timeout=30)

    assert run.returncode == 6
    assert 'FAILED at "Server greeting": timed out' in run.stdout
    # Start-up, one step of 1 s and the goodbye: far from the minute the drip would take.
    assert run.seconds < 8


def test_test_help_states_the_per_step_limit_and_the_bound_of_the_whole_check() -> None:
    run = run_cli("test", "--help")
    text = " ".join(run.stdout.split())
    assert "each step" in text
    assert "9 times" in text
