"""Fixtures shared by the whole suite.

No test ever touches the real user's settings or keyring: every test gets its
own data directory and, unless it asks for the test keyring, no keyring at all
(as on a headless server), both in this process and in the subprocesses it
starts.

In CI (``CI`` set) no test may skip because a program it needs is missing
(``support/tools.py``).

No test may show a password: every log record, everything written to standard
output or error and the output of every subprocess a test waits for is
searched for the secrets of ``support/secrets.py``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

pytest.register_assert_rewrite("support.window")

from support import secrets, tools  # noqa: E402
from support.testkeyring import TestKeyring  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the program at a fresh data directory, fresh preferences and no keyring."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("CONFIGURATOR_DATA_DIR", str(data_dir))
    # Where platformdirs puts this user's preferences (the remembered Test Recipient).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("CONFIGURATOR_KEY_BACKEND", "auto")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    python_path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", python_path)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield data_dir
    keyring.set_keyring(previous)


@pytest.fixture
def data_dir(isolated: Path) -> Path:
    """The data directory this test's program instances use (not created yet)."""
    return isolated


@pytest.fixture
def preferences_file(tmp_path: Path) -> Path:
    """This test's ``preferences.json`` (not created yet), as ``isolated`` points to it."""
    return tmp_path / "config" / "mail-server-configurator" / "preferences.json"


@pytest.fixture
def test_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestKeyring:
    """A usable OS keyring stand-in, shared with subprocesses through a file."""
    monkeypatch.setenv("TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("TEST_KEYRING_STATE", "")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "support.testkeyring.TestKeyring")
    backend = TestKeyring()
    keyring.set_keyring(backend)
    return backend


# aiosmtpd, the test peer, logs what clients send it: AUTH lines included.
PEER_LOGGERS = ("mail.log",)


@pytest.fixture(autouse=True)
def secret_hygiene(monkeypatch: pytest.MonkeyPatch) -> Iterator[secrets.Watch]:
    """Fail the test if a secret reached a log record, read output or subprocess output.

    The program's own loggers are opened to DEBUG so that their quietest
    records are searched too.  Output the test leaves unread is searched by
    ``pytest_runtest_makereport`` below.
    """
    secrets.forget_registered()
    watch = secrets.Watch(ignored_loggers=PEER_LOGGERS)
    handler = watch.log_handler()
    root = logging.getLogger()
    ours = logging.getLogger("configurator")
    level = ours.level
    root.addHandler(handler)
    ours.setLevel(logging.DEBUG)

    read_output = pytest.CaptureFixture.readouterr

    def readouterr(self: pytest.CaptureFixture[Any]) -> Any:
        captured = read_output(self)
        watch.add("captured standard output", captured.out)
        watch.add("captured standard error", captured.err)
        return captured

    communicate = subprocess.Popen.communicate

    def communicate_and_watch(
        self: subprocess.Popen[Any], *args: Any, **kwargs: Any
    ) -> tuple[Any, Any]:
        out, err = communicate(self, *args, **kwargs)
        # Named by pid only: the command line itself may hold what is searched for.
        watch.add(f"standard output of subprocess {self.pid}", out)
        watch.add(f"standard error of subprocess {self.pid}", err)
        return out, err

    monkeypatch.setattr(pytest.CaptureFixture, "readouterr", readouterr)
    monkeypatch.setattr(subprocess.Popen, "communicate", communicate_and_watch)
    try:
        yield watch
    finally:
        root.removeHandler(handler)
        ours.setLevel(level)
    if subprocess.Popen.communicate is not communicate_and_watch:
        pytest.fail(
            "The test undid the suite-wide isolation (monkeypatch.undo() restores the data "
            "directory, the keyring and this watch too): use 'with monkeypatch.context()'.",
            pytrace=False,
        )
    leaks = watch.leaks()
    if leaks:
        pytest.fail("A secret was shown: " + "; ".join(leaks), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Search what pytest captured in this phase: output the test did not read, Qt messages.

    And in CI, fail a test skipped for want of a program: CI installs them all.
    """
    report = yield
    if report.skipped and tools.in_ci() and tools.MISSING in str(report.longrepr):
        # A skip's longrepr is (file, line, "Skipped: reason").
        reason = str(report.longrepr[2])  # type: ignore[index]
        report.outcome = "failed"
        report.longrepr = f"{reason}, and CI must install it (see .ci/run)"
        return report
    if report.failed or report.skipped:
        return report
    for title, content in report.sections:
        # Log records were searched as they were emitted, test peers' left out.
        if not title.endswith(f" {report.when}") or title.startswith("Captured log"):
            continue
        leak = secrets.find(content)
        if leak is not None:
            report.outcome = "failed"
            report.longrepr = f"A secret was shown: {title.lower()} shows {leak}"
            break
    return report
