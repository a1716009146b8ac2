"""Helper processes for the fault tests: savers to kill, and racers to start at once.

``python -m support.faultdriver forker DATA_DIR`` reads one command per line:

- ``save`` / ``reset`` / ``audit``: fork a child that saves (or saves and
  resets, or appends audit records) in a loop until it is killed; print its pid;
- ``reap PID``: wait for that child; print ``signal N`` or ``exit N``.

Forking from one warm process makes a new victim cost a millisecond instead of
an interpreter start, so hundreds of kills fit in a few seconds.

``python -m support.faultdriver racer DATA_DIR`` takes part in races:

- ``load``: load the store, remember its revision, print ``ready REVISION``;
- ``save NAME`` / ``save-blind NAME``: save settings named NAME, starting from
  the remembered revision (or without one); print ``saved REVISION`` or
  ``conflict EXPECTED FOUND``.

Each saved revision ``r`` carries port ``1024 + r % 60000`` and account name
``rev r``, so a reader can tell a whole save from a mixed one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from configurator import audit, model
from configurator.errors import ConflictError
from configurator.store import Store

REPO = Path(__file__).resolve().parents[2]


def settings_for(revision: int, name: str = "") -> model.Settings:
    return model.build(
        {
            "account_name": name or f"rev {revision}",
            "account_email": "alerts@example.org",
            "server": "smtp.example.org",
            "port": str(1024 + revision % 60000),
            "security": "starttls",
            "auth": "none",
        }
    )


def _save_forever(store: Store) -> None:
    while True:
        current = store.load()
        revision = current.revision if current is not None else 0
        store.save(settings_for(revision + 1), expected_revision=revision)


def _save_and_reset_forever(store: Store) -> None:
    while True:
        for _ in range(3):
            _save_once(store)
        store.reset()


def _save_once(store: Store) -> None:
    current = store.load()
    revision = current.revision if current is not None else 0
    store.save(settings_for(revision + 1), expected_revision=revision)


def _audit_forever(data_dir: Path) -> None:
    while True:
        warning = audit.record(data_dir, audit.Action.SUBMIT, fields_changed=["port"])
        if warning is not None:
            raise RuntimeError(warning)


def _child(command: str, data_dir: Path) -> None:
    try:
        if command == "save":
            _save_forever(Store(data_dir))
        elif command == "reset":
            _save_and_reset_forever(Store(data_dir))
        else:
            _audit_forever(data_dir)
    except BaseException as exc:  # a child that stops by itself has found a fault
        sys.stderr.write(f"child stopped: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(3)


def _warm_up() -> None:
    """Import what a save needs before forking, so that children start saving at once."""
    import filelock  # noqa: F401
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: F401

    from configurator import keys

    keys.keyring_usable()  # a first save asks whether a keyring is there
    settings_for(1)


def forker(data_dir: Path) -> None:
    _warm_up()
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command in ("save", "reset", "audit"):
            pid = os.fork()
            if pid == 0:
                _child(command, data_dir)
            print(pid, flush=True)
        elif command == "reap":
            _, status = os.waitpid(int(argument), 0)
            if os.WIFSIGNALED(status):
                print(f"signal {os.WTERMSIG(status)}", flush=True)
            else:
                print(f"exit {os.WEXITSTATUS(status)}", flush=True)
        else:
            raise SystemExit(f"unknown command {line!r}")


def racer(data_dir: Path) -> None:
    store = Store(data_dir)
    revision = 0
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "load":
            current = store.load()
            revision = current.revision if current is not None else 0
            print(f"ready {revision}", flush=True)
        elif command in ("save", "save-blind"):
            expected = revision if command == "save" else None
            try:
                saved = store.save(settings_for(revision + 1, name), expected_revision=expected)
            except ConflictError as exc:
                print(f"conflict {exc.expected} {exc.found}", flush=True)
            else:
                print(f"saved {saved.revision}", flush=True)
        else:
            raise SystemExit(f"unknown command {line!r}")


class Driver:
    """A process of this module, for a test to speak to line by line."""

    def __init__(self, role: str, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.faultdriver", role, str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self) -> str:
        assert self.process.stdout is not None
        reply = self.process.stdout.readline().strip()
        assert reply, self.close()
        return reply

    def ask(self, line: str) -> str:
        self.send(line)
        return self.answer()

    def close(self) -> str:
        """Stop the driver; return what it wrote to standard error."""
        _, err = self.process.communicate(input="", timeout=30)
        return str(err)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    role, directory = sys.argv[1], Path(sys.argv[2])
    {"forker": forker, "racer": racer}[role](directory)
