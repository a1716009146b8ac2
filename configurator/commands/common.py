"""What several commands share: the audit record, the refusals they word alike, output columns.

Every call that saves, resets, checks or fails to unlock the settings adds a
record to the audit trail (``configurator.audit``), as the window does.  A
change (``set``, ``reset``, ``detect --apply``) first makes sure no file of
the trail is planted (``audit.check_files``), so that the change and its record
both happen; should the record still fail, the command says what was changed
and what was not recorded, and exits ``Exit.NOT_RECORDED`` (8).  For a check
or a failed unlock, a trail that cannot be written is a warning only.  Calls
by an account that may only read the store add nothing: it may not write the
trail either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from configurator.console import PROG, Exit
from configurator.errors import UNLOCK_FAILURES, NotWritable, SettingsUnreadable, Unreadable

if TYPE_CHECKING:
    import argparse

    from configurator import model
    from configurator.console import Console
    from configurator.store import Store

NOTHING_CHANGED = "Nothing was changed."

# Width of the time column in the step lines of ``test`` and the probe lines of ``detect``.
TIME_WIDTH = 9


def record(
    store: Store,
    console: Console,
    action: str,
    *,
    fields: Sequence[str] = (),
    detail: str = "",
) -> None:
    """Add one record to the audit trail; a failure to do so is a warning, never an error."""
    from configurator import audit

    warning = audit.record(
        store.data_dir, action, fields_changed=fields, detail=detail, key_backend=store.key_backend
    )
    if warning is not None:
        console.err(f"Warning: {warning}")


def record_change(
    store: Store,
    console: Console,
    action: str,
    done: str,
    *,
    fields: Sequence[str] = (),
    detail: str = "",
) -> int:
    """Record a change that has been made; ``Exit.OK``, or ``Exit.NOT_RECORDED`` with what happened.

    ``done`` says what was changed, for the message when it was not recorded.
    """
    from configurator import audit

    warning = audit.record(
        store.data_dir, action, fields_changed=fields, detail=detail, key_backend=store.key_backend
    )
    if warning is None:
        return Exit.OK
    console.err(f"{PROG}: {done}, but {warning[0].lower()}{warning[1:]}")
    return Exit.NOT_RECORDED


def check_trail(store: Store) -> None:
    """Before a change: refuse (``UnsafePath``) if a file of the audit trail is planted."""
    from configurator import audit

    audit.check_files(store.data_dir)


def may_write(store: Store) -> bool:
    """Whether this account may write the store, and with it the audit trail."""
    from configurator.store import Access

    return store.access() is Access.WRITE


# The failures to open the settings that concern their key or their seal are
# worth recording, since trying keys or swapping files is what an intruder would do.


def report_unreadable(exc: SettingsUnreadable, store: Store, console: Console) -> int:
    """Say why the settings cannot be used; record a failed unlock if the trail may be written.

    The reason's code (``exc.reason``) stays out of the text: the detail says
    in words what is wrong, the advice what to do.
    """
    if exc.reason is Unreadable.UNSAFE:
        # Not the settings' fault: a file or folder of the store that is not safe to use.
        console.err(f"{PROG}: {exc.detail}")
        console.err(exc.advice)
        return Exit.UNREADABLE
    console.err(f"{PROG}: the stored settings cannot be used.")
    console.err(exc.detail)
    console.err(exc.advice)
    if exc.reason not in (Unreadable.NO_ACCESS, Unreadable.KEY_UNAVAILABLE):
        console.err(f"To discard them and start again: {command(store, 'reset')}")
    if exc.reason in UNLOCK_FAILURES and may_write(store):
        record(store, console, "unlock_failed", detail=exc.reason.value)
    return Exit.UNREADABLE


def refuse_change(
    exc: NotWritable, store: Store, args: argparse.Namespace, console: Console
) -> int:
    """This account may not change the store: say so, and how its manager would run the call."""
    console.err(f"{PROG}: {exc} {NOTHING_CHANGED}")
    as_manager = _as_manager(store, getattr(args, "words", ()))
    if as_manager is not None:
        console.err(f"To run it as the account that manages the store: {as_manager}")
    return Exit.ERROR


def _as_manager(store: Store, words: Sequence[str]) -> str | None:
    """This call run with ``sudo`` as the store's manager, naming the store; None if no help.

    ``sudo`` clears the environment, so a store chosen through
    ``CONFIGURATOR_DATA_DIR`` must be named on the command line.
    """
    import os
    import shlex

    if os.name != "posix" or os.geteuid() == 0 or not words:
        return None
    import getpass

    manager = store.manager()
    if manager == getpass.getuser():  # its own store, made read-only: not a matter of accounts
        return None
    rest: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--data-dir":
            skip = True
        elif word != "--system" and not word.startswith("--data-dir="):
            rest.append(word)
    sudo = "sudo" if manager == "root" else f"sudo -u {shlex.quote(manager)}"
    return f"{sudo} {command(store, *rest)}"


def report_invalid(exc: model.ValidationError, console: Console) -> int:
    """Name every bad field at once, in the model's words."""
    for error in exc.errors:
        console.err(str(error))
    return Exit.INVALID


def load_configured(store: Store, console: Console) -> tuple[int, model.Settings | None]:
    """The stored settings, or the exit code for why there are none to use."""
    try:
        stored = store.load()
    except SettingsUnreadable as exc:
        return report_unreadable(exc, store, console), None
    if stored is None:
        console.err(
            f"No mail server settings are stored in {store.data_dir}, so there is nothing to check."
        )
        tell_how_to_store(store, console)
        return Exit.NOT_CONFIGURED, None
    console.secrets.append(stored.settings.password)
    return Exit.OK, stored.settings


def tell_how_to_store(store: Store, console: Console) -> None:
    """How to store settings in the same store: the window, or ``set``."""
    console.err(f"Store them in the window: {command(store)}")
    console.err(
        f"or on the command line, with the settings listed by '{PROG} set --help': "
        f"{command(store, 'set')}"
    )


def command(store: Store, *words: str) -> str:
    """A command line for a hint: ``configurator``, the options that select ``store``, ``words``.

    Every hint goes through here, so that pasting it acts on the store this
    call used, never on the default one.  The store is named by what it is,
    not by how this call found it: one chosen through ``CONFIGURATOR_DATA_DIR``
    is repeated as ``--data-dir``, since a hint is often run where that
    variable is not set (another shell, a ticket, ``sudo``, which clears the
    environment).  Arguments are quoted for a POSIX shell; a hint ends its
    line and is never put in quotes of its own, which would break that quoting.
    """
    import shlex

    return shlex.join([PROG, *store_options(store), *words])


def store_options(store: Store) -> list[str]:
    """The options that select ``store``: none for the per-user default, --system, or --data-dir."""
    from configurator import paths

    if store.shared and store.data_dir == paths.system_data_dir():
        return ["--system"]
    if store.data_dir == paths.default_data_dir():
        return []
    return ["--data-dir", str(store.data_dir)]


def terminal_columns() -> int | None:
    """The width of the terminal standard output shows on; ``None`` for a pipe or a file.

    Tables that do not fit are laid out one value per line instead: a terminal
    would otherwise break their lines in the middle of words.
    """
    import os
    import sys

    try:
        if not sys.stdout.isatty():
            return None
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() else os.get_terminal_size(sys.stdout.fileno())[0]
    except (AttributeError, OSError, ValueError):
        return None


def fit(text: str) -> str:
    """Prose wrapped at words to a narrow terminal (never a line holding a command to paste)."""
    columns = terminal_columns()
    if columns is None or len(text) <= columns:
        return text
    import textwrap

    return textwrap.fill(text, columns, break_on_hyphens=False, break_long_words=False)


def print_fields(console: Console, rows: Sequence[tuple[str, str]], width: int) -> None:
    """``Label: value`` lines aligned at ``width``, or stacked when the terminal is narrower."""
    columns = terminal_columns()
    if columns is None or all(width + 1 + len(value) <= columns for _, value in rows):
        for label, value in rows:
            console.out(f"{label + ':':<{width}} {value}")
        return
    for label, value in rows:
        console.out(f"{label}:")
        console.out(f"  {value}")


def seconds(value: float) -> str:
    """A duration as the step and probe lines show it."""
    return f"{value:.3f} s"
