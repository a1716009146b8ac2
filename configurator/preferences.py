"""One administrator's own choices, kept apart from the settings: today the Test Recipient.

The settings belong to everyone who manages the store (the system-wide store
is written only by root), and every change to them is a new revision in the
audit trail.  Running a check only looks at them, so what a check remembers
for next time -- the address its test e-mail went to -- is a preference of
the person who ran it: ``preferences.json`` in their configuration directory
(platformdirs; ``$XDG_CONFIG_HOME/mail-server-configurator`` on Linux).  The
window and ``configurator test --to`` read and write the same file.

Nothing in it is secret, but it follows the rules of the files beside the
settings: a private directory, a private file replaced atomically, never read
through a symbolic link, never read beyond a small size, never trusted if
another account may change it.  A file that breaks a rule is not believed;
the next address remembered replaces it with a private one.  No Qt.
"""

from __future__ import annotations

import json
from pathlib import Path

from configurator import fsutil
from configurator.errors import StoreError

APP_NAME = "mail-server-configurator"
PREFERENCES_FILE_NAME = "preferences.json"
MAX_SIZE = 64 * 1024
_RECIPIENT = "test_recipient"


class PreferenceError(Exception):
    """A preference could not be kept; the message says why in plain words."""


def preferences_dir() -> Path:
    """This user's configuration directory for the program (platformdirs, imported lazily)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True))


def preferences_path(directory: Path | None = None) -> Path:
    return (directory if directory is not None else preferences_dir()) / PREFERENCES_FILE_NAME


def _read(path: Path) -> dict[str, object]:
    """The preferences in ``path``; empty when missing, unsafe or not understood.

    Read as every file of the store is (``fsutil.read_bounded``): never through a
    link, FIFO or device, never one another account could have chosen where our
    test e-mails go, never more than ``MAX_SIZE``.
    """
    try:
        raw = fsutil.read_bounded(path, MAX_SIZE)
    except (OSError, StoreError):
        return {}
    if raw is None:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_recipient(directory: Path | None = None) -> str:
    """The remembered Test Recipient, or "" (none yet, or one the model would refuse now)."""
    from configurator import model

    value = _read(preferences_path(directory)).get(_RECIPIENT, "")
    if not isinstance(value, str) or not value:
        return ""
    return "" if model.recipient_problem(value) is not None else value


def remember_recipient(address: str, directory: Path | None = None) -> Path:
    """Keep ``address`` as this user's Test Recipient; return the file it is kept in.

    Raises ``PreferenceError`` when the address is not valid or the file
    cannot be written; the settings are never touched either way.
    """
    from configurator import model

    problem = model.recipient_problem(address)
    if problem is not None:
        raise PreferenceError(f"{address!r} {problem}")
    path = preferences_path(directory)
    data = _read(path)
    if data.get(_RECIPIENT) == address:
        return path
    data[_RECIPIENT] = address
    content = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        fsutil.ensure_private_dir(path.parent)
        fsutil.atomic_write(path, content)
    except OSError as exc:
        raise PreferenceError(f"{path} cannot be written ({exc.strerror or exc})") from None
    return path
