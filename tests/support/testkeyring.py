"""A keyring backend for tests: a JSON file instead of the user's real keyring.

Selected in subprocesses with ``PYTHON_KEYRING_BACKEND=support.testkeyring.TestKeyring``
(``tests`` on ``PYTHONPATH``); the file is ``$TEST_KEYRING_FILE``.  Setting
``TEST_KEYRING_STATE=locked`` makes every call raise ``KeyringLocked``, and
``TEST_KEYRING_STATE=broken`` raises ``KeyringError``, as a real keyring does
when it is locked or its service is unreachable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError


class TestKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @staticmethod
    def _path() -> Path:
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _check(self) -> None:
        state = os.environ.get("TEST_KEYRING_STATE", "")
        if state == "locked":
            raise KeyringLocked("the test keyring is locked")
        if state == "broken":
            raise KeyringError("the test keyring service is unreachable")

    def _entries(self) -> dict[str, str]:
        try:
            data = json.loads(self._path().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        assert isinstance(data, dict)
        return data

    def _save(self, entries: dict[str, str]) -> None:
        self._path().write_text(json.dumps(entries), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self._entries().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        entries = self._entries()
        entries[f"{service}\0{username}"] = password
        self._save(entries)

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        entries = self._entries()
        if entries.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("no such entry")
        self._save(entries)
