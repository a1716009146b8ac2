"""The data key in a real OS keyring: GNOME Keyring's Secret Service on a private bus.

Every other keyring test uses a stand-in; these run the program against the
Secret Service desktops really use (``support/secretservice.py``), through
the command line as users call it with ``CONFIGURATOR_KEY_BACKEND=keyring``
and through the store itself.  What they prove: the key lands in the
keyring and nowhere else, it is the key that sealed the file, a locked
keyring is "key unavailable" and never a reason to make a new key, and Reset
deletes the entry.
"""

from __future__ import annotations

import binascii
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import secrets
from support.secretservice import LEAKED_CONNECTIONS, SecretService, log_in_again

from configurator import audit, keys, model, store
from configurator.errors import SettingsUnreadable, Unreadable
from configurator.store import Store

pytest_plugins = ["support.secretservice"]
# The program's store calls keyring in this process too, which leaves connections open.
pytestmark = pytest.mark.filterwarnings(f"ignore:{LEAKED_CONNECTIONS}:ResourceWarning")

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "keyring-Geheimnis-93"
OPTIONS = [
    "--account-name",
    "Security Monitoring",
    "--account-email",
    "alerts@example.com",
    "--server",
    "smtp.example.com",
    "--port",
    "587",
    "--security",
    "starttls",
    "--auth",
    "login_plain",
    "--username",
    "alerts@example.com",
]
# settings.enc begins: magic (6 bytes), version (2), key location (1), key id (8).
_HEADER_START = struct.Struct(">6sHB8s")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, stdin: str = "", backend: str | None = "keyring") -> Result:
    """``configurator ARGS`` with the data key in the OS keyring (``backend``)."""
    env = dict(os.environ)
    if backend is None:
        env.pop(keys.BACKEND_ENV, None)
    else:
        env[keys.BACKEND_ENV] = backend
    completed = subprocess.run(
        [sys.executable, "-m", "configurator", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return Result(completed.returncode, completed.stdout, completed.stderr)


def store_settings(backend: str | None = "keyring") -> None:
    secrets.secret(PASSWORD)
    result = run_cli("set", *OPTIONS, "--password-stdin", stdin=PASSWORD + "\n", backend=backend)
    assert result.returncode == 0, result.stderr


def data_key_entry(data_dir: Path) -> dict[str, str]:
    """The attributes under which keyring files the data key of ``data_dir``."""
    return {"service": keys.KEYRING_SERVICE, "username": str(data_dir.resolve())}


def key_in_the_secret_service(service: SecretService, data_dir: Path) -> bytes:
    stored = service.lookup(**data_key_entry(data_dir))
    assert stored is not None, "no data key in the Secret Service"
    key = binascii.a2b_base64(stored, strict_mode=True)
    assert len(key) == keys.KEY_SIZE
    return key


def sealing_key_id(data_dir: Path) -> tuple[int, bytes]:
    """Where the settings file says its key lives, and the id of that key."""
    header = (data_dir / store.SETTINGS_FILE_NAME).read_bytes()[: _HEADER_START.size]
    _magic, _version, location, key_id = _HEADER_START.unpack(header)
    return location, key_id


def files(data_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in data_dir.iterdir() if path.is_file()}


def test_settings_stored_in_the_keyring_read_back_with_the_key_in_the_secret_service(
    secret_service: SecretService, data_dir: Path
) -> None:
    store_settings()

    shown = run_cli("show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["server"] == "smtp.example.com"
    assert json.loads(shown.stdout)["password_set"] is True
    described = run_cli("show")
    assert "Data key: the OS keyring" in " ".join(described.stdout.split())
    # The key is in the keyring, is the one that sealed the file, and has no copy on disk.
    key = key_in_the_secret_service(secret_service, data_dir)
    assert sealing_key_id(data_dir) == (keys.KeyLocation.KEYRING, keys.key_id(key))
    assert not (data_dir / keys.KEY_FILE_NAME).exists()
    assert key not in b"".join(files(data_dir).values())
    assert secret_service.count(service=keys.KEYRING_SERVICE) == 2  # the data and audit keys
    loaded = Store(data_dir).load()
    assert loaded is not None
    same_password = loaded.settings.password == PASSWORD  # compared without showing it
    assert same_password


def test_auto_keeps_the_key_in_a_usable_keyring(
    secret_service: SecretService, data_dir: Path
) -> None:
    store_settings(backend=None)
    key = key_in_the_secret_service(secret_service, data_dir)
    assert sealing_key_id(data_dir) == (keys.KeyLocation.KEYRING, keys.key_id(key))
    assert not (data_dir / keys.KEY_FILE_NAME).exists()


def test_a_locked_keyring_is_key_unavailable_and_never_a_new_key(
    secret_service: SecretService, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_settings()
    key = key_in_the_secret_service(secret_service, data_dir)
    before = files(data_dir)
    secret_service.lock()

    shown = run_cli("show")
    assert shown.returncode == 4, shown.stderr
    assert "The OS keyring is locked: unlock it" in shown.stderr
    changed = run_cli("set", "--port", "465", "--security", "ssl_tls")
    assert changed.returncode == 4, changed.stderr
    assert "The OS keyring is locked" in changed.stderr
    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir).load()
    assert caught.value.reason is Unreadable.KEY_UNAVAILABLE

    # Nothing was written: no new key in the keyring or on disk, the file untouched.
    assert secret_service.is_locked()
    assert secret_service.count(service=keys.KEYRING_SERVICE) == 2
    assert files(data_dir) == before
    # Logged in again, the same key opens the same settings.
    log_in_again(secret_service, monkeypatch)
    assert key_in_the_secret_service(secret_service, data_dir) == key
    shown = run_cli("show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["port"] == 587


def test_a_first_save_into_a_locked_keyring_stores_nothing(
    secret_service: SecretService, data_dir: Path
) -> None:
    secret_service.lock()
    result = run_cli("set", *OPTIONS[:6], "--auth", "none")
    assert result.returncode != 0
    assert "The OS keyring is locked" in result.stderr
    assert secret_service.count(service=keys.KEYRING_SERVICE) == 0
    assert not (data_dir / store.SETTINGS_FILE_NAME).exists()
    assert not (data_dir / keys.KEY_FILE_NAME).exists()


def test_reset_deletes_the_data_key_from_the_secret_service(
    secret_service: SecretService, data_dir: Path
) -> None:
    store_settings()
    key_in_the_secret_service(secret_service, data_dir)

    reset = run_cli("reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert reset.stderr == ""  # no "was not erased" warning

    assert secret_service.lookup(**data_key_entry(data_dir)) is None
    assert secret_service.count(**data_key_entry(data_dir)) == 0
    assert not (data_dir / store.SETTINGS_FILE_NAME).exists()
    assert run_cli("show").returncode == 3
    # The audit key stays (the trail outlives Reset), under its own entry.
    audit_entry = f"{data_dir.resolve()}{os.sep}{audit.AUDIT_KEY_NAME}"
    assert secret_service.count(service=keys.KEYRING_SERVICE, username=audit_entry) == 1


def test_the_store_itself_saves_loads_and_resets_through_the_secret_service(
    secret_service: SecretService, data_dir: Path
) -> None:
    settings = model.build(
        {
            "account_name": "A",
            "account_email": "a@example.com",
            "server": "smtp.example.com",
            "auth": "none",
        }
    )
    Store(data_dir, key_backend="keyring").save(settings)
    loaded = Store(data_dir, key_backend="keyring").load()
    assert loaded is not None
    assert loaded.settings == settings
    key = key_in_the_secret_service(secret_service, data_dir)
    assert sealing_key_id(data_dir)[1] == keys.key_id(key)

    assert Store(data_dir, key_backend="keyring").reset() == []
    assert secret_service.lookup(**data_key_entry(data_dir)) is None
