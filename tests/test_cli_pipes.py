"""When the reader of the output goes away, every command ends quietly, as Unix tools do.

``configurator audit | head -2`` must not end in "unexpected error
(BrokenPipeError)": the program stops without a word on either stream and
exits with 141 (128 + SIGPIPE), the status shells report for a tool that
SIGPIPE ended.  Real processes, real pipes: the reader closes its end before
the program writes (``| true``), or after the first lines of output larger
than the pipe buffer (``| head``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.smtp import free_port

from configurator import audit, model
from configurator.store import Store

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
READER_GONE = 141
# Linux pipes hold 64 KiB, and GNU head reads up to 128 KiB at once: the audit
# trail below prints well over both.
LONG = 1 << 19


def settings(port: int) -> model.Settings:
    return model.Settings(
        account_name="Monitoring",
        account_email="alerts@example.com",
        server="127.0.0.1",
        port=port,
        auth=model.Auth.NONE,
        timeout=30.0,
    )


@pytest.fixture
def stored(data_dir: Path) -> Path:
    Store(data_dir).save(settings(free_port()))
    return data_dir


@pytest.fixture
def long_trail(stored: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An audit trail whose table and JSON are both larger than a pipe's buffer."""
    with monkeypatch.context() as quick:
        quick.setattr(os, "fsync", lambda fd: None)  # only to write the trail faster
        for number in range(1500):
            detail = f"failed at step {number}: " + "timed out waiting for the server " * 8
            assert audit.record(stored, "check", detail=detail) is None
    return stored


def run_with_closed_reader(args: list[str]) -> tuple[int, str, float]:
    """Run with standard output a pipe whose reader has gone before the program writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [*COMMAND, *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    return completed.returncode, completed.stderr.decode(), time.monotonic() - started


def run_into_head(args: list[str], lines: int) -> tuple[int, str, str]:
    """``configurator ARGS | head -n LINES`` in bash; the program's status and stderr."""
    errors = Path(os.environ["CONFIGURATOR_DATA_DIR"]).parent / "stderr.txt"
    script = 'set -o pipefail; "$@" 2>"$ERRORS" | head -n "$COUNT"'
    completed = subprocess.run(
        ["bash", "-c", script, "bash", *COMMAND, *args],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "COUNT": str(lines), "ERRORS": str(errors)},
        timeout=60,
        check=False,
    )
    return completed.returncode, completed.stdout.decode(), errors.read_text()


CALLS = [
    ["show"],
    ["show", "--json"],
    ["audit"],
    ["audit", "--json"],
    ["test"],
    ["test", "--json"],
    ["detect"],
    ["--help"],
    ["show", "--help"],
    ["test", "--help"],
    ["--version"],
]


@pytest.mark.parametrize("args", CALLS, ids=" ".join)
def test_a_reader_gone_before_the_output_ends_the_call_quietly(
    stored: Path, args: list[str]
) -> None:
    code, stderr, _ = run_with_closed_reader(args)
    assert (code, stderr) == (READER_GONE, "")


def test_a_reader_gone_in_the_middle_of_long_output_ends_the_call_quietly(
    long_trail: Path,
) -> None:
    for args in (["audit"], ["audit", "--json"]):
        everything = subprocess.run(
            [*COMMAND, *args], capture_output=True, cwd=REPO, timeout=60, check=True
        )
        assert len(everything.stdout) > LONG

        code, stdout, stderr = run_into_head(args, 2)

        assert (code, stderr) == (READER_GONE, ""), args
        assert stdout.splitlines() == everything.stdout.decode().splitlines()[:2]


def test_a_check_nobody_reads_is_cancelled_at_once(data_dir: Path) -> None:
    """A check would wait 30 s per step for a silent server; its reader is gone, so it stops."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:
        Store(data_dir).save(settings(silent.getsockname()[1]))
        code, stderr, took = run_with_closed_reader(["test"])
    assert (code, stderr) == (READER_GONE, "")
    assert took < 10
    # Still recorded, as every check is.
    entries = audit.read(data_dir).entries
    assert [entry.action for entry in entries] == ["check"]
    assert entries[0].detail == "cancelled"


def test_a_save_whose_reader_is_gone_is_still_recorded(data_dir: Path) -> None:
    code, stderr, _ = run_with_closed_reader(
        [
            "set",
            "--account-name=Monitoring",
            "--account-email=alerts@example.com",
            "--server=127.0.0.1",
            "--auth=none",
        ]
    )
    assert (code, stderr) == (READER_GONE, "")
    assert Store(data_dir).load() is not None
    assert [entry.action for entry in audit.read(data_dir).entries] == ["submit"]
