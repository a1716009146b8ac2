"""Output stays readable in a narrow terminal: tables that do not fit are stacked.

A terminal breaks a line that is too long wherever the width ends, often in
the middle of a word; ``show`` and ``audit`` then print one value per line.
Real pseudo-terminals with a real window size (set as a terminal emulator
sets it); piped output keeps its columns for scripts.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from configurator import audit, model
from configurator.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals")

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]


def on_terminal(args: list[str], columns: int, expect: int = 0) -> str:
    """Run with standard output on a terminal ``columns`` wide; what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [*COMMAND, *args], stdout=slave, stderr=subprocess.PIPE, cwd=REPO, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the program
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    _, errors = process.communicate(timeout=30)
    assert process.returncode == expect, errors
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture
def stored(data_dir: Path) -> Path:
    settings = model.Settings(
        account_name="Security Monitoring",
        account_email="alerts@example.com",
        server="smtp.example.com",
        auth=model.Auth.NONE,
    )
    Store(data_dir).save(settings)
    assert audit.record(data_dir, "submit", fields_changed=["account_name", "server"]) is None
    return data_dir


def test_show_stacks_its_values_in_a_narrow_terminal(stored: Path) -> None:
    shown = on_terminal(["show"], 40).splitlines()
    assert shown[:4] == [
        "Account Name:",
        "  Security Monitoring",
        "Account E-mail Address:",
        "  alerts@example.com",
    ]
    assert "  " + str(stored / "settings.enc") in shown


def test_show_keeps_its_columns_where_they_fit(stored: Path) -> None:
    shown = on_terminal(["show"], 120).splitlines()
    assert shown[0] == "Account Name:           Security Monitoring"
    piped = subprocess.run(
        [*COMMAND, "show"], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout
    assert piped.splitlines()[0] == shown[0]


def test_audit_shows_one_entry_at_a_time_in_a_narrow_terminal(stored: Path) -> None:
    shown = on_terminal(["audit"], 40)
    lines = shown.splitlines()
    assert "  Action: settings saved" in lines
    assert "  Fields changed: account_name, server" in lines
    assert all(not line.startswith("Time ") for line in lines)
    wide = on_terminal(["audit"], 200).splitlines()
    assert any(line.startswith("Time ") for line in wide)


def test_detect_breaks_its_lines_between_words_in_a_narrow_terminal(data_dir: Path) -> None:
    from support.smtp import free_port

    port = free_port()
    settings = model.Settings(
        account_name="Monitoring",
        account_email="alerts@example.com",
        server="127.0.0.1",
        port=port,
        auth=model.Auth.NONE,
    )
    Store(data_dir).save(settings)

    lines = on_terminal(["detect"], 40, expect=6).splitlines()

    assert lines[0] == "Trying 127.0.0.1 on the stored port and"
    assert f"failed       STARTTLS on port {port}" in lines
    [found] = [i for i, line in enumerate(lines) if line == f"failed       STARTTLS on port {port}"]
    assert lines[found + 1].startswith(" " * 13)
    assert lines[found + 1].endswith(" s  connection refused")
    prose = [line for line in lines if "configurator" not in line]
    assert all(len(line) <= 40 for line in prose)
