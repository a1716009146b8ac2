"""A real Secret Service (GNOME Keyring) on a D-Bus session bus of the test's own.

``dbus-run-session`` starts a private session bus; inside it
``gnome-keyring-daemon --unlock`` reads the login password from standard
input, then creates and unlocks the login keyring in the test's own home
directory, as a desktop login does.  The user's real keyring and session bus
are never touched, and no display is passed on, so no unlock prompt can
appear: a locked keyring stays locked, as on a server nobody is logged in to.

Used as a pytest plugin (``pytest_plugins = ["support.secretservice"]``) for
the ``secret_service`` fixture, which skips (fails in CI, see
``support/tools.py``) when the programs are not installed.  Test modules
import helpers from here before pytest loads it as a plugin, too late for
assertion rewriting: PYTEST_DONT_REWRITE says so.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from support import secrets, tools

PROGRAMS = ("dbus-run-session", "gnome-keyring-daemon", "secret-tool")
PACKAGES = "dbus gnome-keyring libsecret-tools"
LOGIN_PASSWORD = "login-Keyring-Pw-4711"
BUS_NAME = "org.freedesktop.secrets"
# The warning for a connection to a test session bus that keyring left open.
LEAKED_CONNECTIONS = r"unclosed <socket\.socket .*dbus-"

# Runs inside the session: unlock, say where the bus is, live until stdin closes.
_SESSION = r"""
IFS= read -r password
printf '%s' "$password" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1
echo "$DBUS_SESSION_BUS_ADDRESS"
read -r _ || true
"""
# What would lead a program to the user's own session, keyring or display.
_LEFT_OUT = (
    "DBUS_SESSION_BUS_ADDRESS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "GNOME_KEYRING_CONTROL",
    "SSH_AUTH_SOCK",
    "PYTHON_KEYRING_BACKEND",
)


class SecretService:
    """One private session with an unlocked login keyring; ``start`` it, ``stop`` it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.runtime = root / "runtime"
        self.address = ""
        self._session: subprocess.Popen[str] | None = None
        self._daemon_pid: int | None = None

    @property
    def env(self) -> dict[str, str]:
        """The variables a program needs to use this keyring, and only it."""
        assert self.address, "the session is not running"
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_RUNTIME_DIR": str(self.runtime),
        }

    def program_env(self) -> dict[str, str]:
        """This process's environment, pointed at this keyring (for subprocesses)."""
        base = {key: value for key, value in os.environ.items() if key not in _LEFT_OUT}
        return {**base, **self.env}

    def start(self) -> None:
        """Start the session; on a home used before, this is the user logging in again."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        base = {key: value for key, value in os.environ.items() if key not in _LEFT_OUT}
        with open(self.root / "session.log", "a", encoding="utf-8") as log:
            self._session = subprocess.Popen(
                ["dbus-run-session", "--", "sh", "-c", _SESSION],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**base, "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.runtime)},
            )
        assert self._session.stdin is not None
        assert self._session.stdout is not None
        self._session.stdin.write(LOGIN_PASSWORD + "\n")
        self._session.stdin.flush()
        self.address = self._session.stdout.readline().strip()
        if not self.address:
            self._session.wait(timeout=30)
            log_text = (self.root / "session.log").read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"the Secret Service did not start: {log_text}")
        try:
            self._daemon_pid = self._bus_owner_pid()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """End the session; the keyring daemon goes with its bus (or is stopped)."""
        session, self._session = self._session, None
        if session is None:
            return
        assert session.stdin is not None
        assert session.stdout is not None
        session.stdin.close()
        try:
            session.wait(timeout=30)
        except subprocess.TimeoutExpired:
            session.kill()
            session.wait(timeout=30)
        session.stdout.close()
        self.address = ""
        pid, self._daemon_pid = self._daemon_pid, None
        if pid is not None:
            _stop_if_running(pid, "gnome-keyring-d")

    def _connection(self) -> contextlib.closing:  # type: ignore[type-arg]
        from jeepney.io.blocking import open_dbus_connection

        return contextlib.closing(open_dbus_connection(bus=self.address))

    def _bus_owner_pid(self) -> int:
        """The keyring daemon's process, once it has taken the Secret Service's name."""
        from jeepney.bus_messages import message_bus

        deadline = time.monotonic() + 30
        with self._connection() as connection:
            while True:
                reply = connection.send_and_get_reply(message_bus.NameHasOwner(BUS_NAME))
                if reply.body == (True,):
                    break
                assert time.monotonic() < deadline, "no Secret Service appeared on the bus"
                time.sleep(0.02)
            reply = connection.send_and_get_reply(
                message_bus.GetConnectionUnixProcessID(BUS_NAME), timeout=30
            )
        (pid,) = reply.body
        return int(pid)

    def lock(self) -> None:
        """Lock the login keyring, as a screen lock or a timeout does."""
        import secretstorage

        with self._connection() as connection:
            collection = secretstorage.get_default_collection(connection)
            collection.lock()
            assert collection.is_locked()

    def is_locked(self) -> bool:
        import secretstorage

        with self._connection() as connection:
            return bool(secretstorage.get_default_collection(connection).is_locked())

    def count(self, **attributes: str) -> int:
        """How many items carry ``attributes`` (their attributes are searchable even locked)."""
        import secretstorage

        with self._connection() as connection:
            collection = secretstorage.get_default_collection(connection)
            return len(list(collection.search_items(attributes)))

    def lookup(self, **attributes: str) -> str | None:
        """The secret of the item with ``attributes``, asked of libsecret's own ``secret-tool``."""
        arguments = [part for pair in attributes.items() for part in pair]
        found = subprocess.run(
            ["secret-tool", "lookup", *arguments],
            capture_output=True,
            text=True,
            env=self.program_env(),
            timeout=60,
            check=False,
        )
        if found.returncode != 0:
            assert found.stdout == "", found.stderr
            return None
        return found.stdout


def _stop_if_running(pid: int, name: str) -> None:
    """Wait a little for process ``pid`` (ours, named ``name``) to end; stop it if it does not."""
    deadline = time.monotonic() + 10
    while _running(pid, name):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            return
        time.sleep(0.05)


def _running(pid: int, name: str) -> bool:
    """Whether ``pid`` is still the process ``name`` and has not ended (zombies have)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    comm, _, rest = stat.partition("(")[2].rpartition(")")
    return comm.startswith(name) and rest.split()[0] != "Z"


@pytest.fixture
def secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretService]:
    """A running, unlocked Secret Service that this process and its subprocesses use."""
    tools.require(*PROGRAMS, packages=PACKAGES)
    from keyring.backends import SecretService as SecretServiceBackend

    secrets.secret(LOGIN_PASSWORD)
    service = SecretService(tmp_path / "secret-service")
    try:
        service.start()
        for key in _LEFT_OUT:
            monkeypatch.delenv(key, raising=False)
        for key, value in service.env.items():
            monkeypatch.setenv(key, value)
        keyring.set_keyring(SecretServiceBackend.Keyring())
        yield service
    finally:
        service.stop()
        # keyring's backend opens a D-Bus connection on every call and never closes
        # it: collect them here, not in some later test (see LEAKED_CONNECTIONS).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", LEAKED_CONNECTIONS, ResourceWarning)
            gc.collect()


def log_in_again(service: SecretService, monkeypatch: pytest.MonkeyPatch) -> None:
    """End the session and start a new one on the same home: the login keyring is unlocked."""
    service.stop()
    service.start()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", service.address)
