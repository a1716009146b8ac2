"""Fixtures shared by the whole suite.

No test ever touches the real user's settings or keyring: every test gets its
own data directory and, unless it asks for the test keyring, no keyring at all
(as on a headless server), both in this process and in the subprocesses it
starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from support.testkeyring import TestKeyring  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the program at a fresh data directory and a keyring that is absent."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("CONFIGURATOR_DATA_DIR", str(data_dir))
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
def test_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestKeyring:
    """A usable OS keyring stand-in, shared with subprocesses through a file."""
    monkeypatch.setenv("TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("TEST_KEYRING_STATE", "")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "support.testkeyring.TestKeyring")
    backend = TestKeyring()
    keyring.set_keyring(backend)
    return backend
