"""Run the command line as another account (``nobody``), for the root-scope tests.

As root every permission check passes, so tests of "this account may only
read" or "may not read at all" must run the program as someone else.  When
``nobody`` can start this interpreter, the command runs as ``nobody`` from the
first instruction.  When it cannot (the interpreter may live under a private
home directory), a driver starts as root, loads every module a command may
need, then becomes ``nobody`` for good before the command runs: every
permission check on the settings is still the operating system's own.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "configurator"]

_BECOME_USER = """
import os, sys
import configurator.cli, configurator.keys, configurator.paths, configurator.store
import configurator.audit, configurator.syntax, configurator.mail
import configurator.commands.audit, configurator.commands.background
import configurator.commands.check, configurator.commands.common
import configurator.commands.detect, configurator.commands.reset
import configurator.commands.settings, configurator.commands.show
import cryptography.exceptions, getpass, idna, encodings.idna
import grp, pwd, keyring, smtplib, socket, ssl
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import keyring.backends.chainer, keyring.backends.fail, keyring.errors
import cryptography.hazmat.primitives.hashes, cryptography.hazmat.primitives.hmac
import dataclasses, datetime, filelock, ipaddress, secrets, shlex, signal, tempfile, threading
configurator.cli.build_parser().format_help()  # argparse loads gettext, locale, shutil as it goes
keyring.get_keyring()
# PRELOAD
uid, gid = int(sys.argv[1]), int(sys.argv[2])
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
assert os.getuid() == uid and os.geteuid() == uid
sys.exit(configurator.cli.main(sys.argv[3:]))
"""

# For the window: Qt, its platform and image plugins and every window module are
# loaded (and the application created) before the account changes.
_PRELOAD_WINDOW = """
import importlib, pkgutil
import configurator.app, configurator.qtlibs, configurator.ui, configurator.ui.icons
import ctypes, ctypes.util  # the check for Qt's system libraries, before Qt loads
for info in pkgutil.iter_modules(configurator.ui.__path__):
    importlib.import_module("configurator.ui." + info.name)
configurator.app.application()
configurator.ui.icons.check_all()
"""


def nobody() -> tuple[int, int]:
    """The user and group ids of ``nobody``."""
    import pwd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


@functools.cache
def _can_start_python(uid: int, gid: int) -> bool:
    try:
        completed = subprocess.run(
            [sys.executable, "-c", "pass"],
            user=uid,
            group=gid,
            extra_groups=[],
            cwd=REPO,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return False
    return completed.returncode == 0


def run_as(
    uid: int, gid: int, *args: str, stdin: bytes = b"", window: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """``configurator ARGS`` as the account ``uid``/``gid`` (the caller must be root).

    ``window``: the call opens the window (``--self-test``, or no command).
    """
    if _can_start_python(uid, gid):
        return subprocess.run(
            [*COMMAND, *args],
            input=stdin,
            capture_output=True,
            cwd=REPO,
            timeout=60,
            check=False,
            user=uid,
            group=gid,
            extra_groups=[],
        )
    driver = _BECOME_USER.replace("# PRELOAD\n", _PRELOAD_WINDOW if window else "")
    return subprocess.run(
        [sys.executable, "-c", driver, str(uid), str(gid), *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
