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

from configurator.cli import PROG, Exit
from configurator.errors import UNLOCK_FAILURES, SettingsUnreadable, Unreadable

if TYPE_CHECKING:
    import argparse

    from configurator import model
    from configurator.cli import Console
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
    """Say why the settings cannot be used; record a failed unlock if the trail may be written."""
    if exc.reason is Unreadable.UNSAFE:
        # Not the settings' fault: a file or folder of the store that is not safe to use.
        console.err(f"{PROG}: {exc.detail}")
        console.err(exc.advice)
        return Exit.UNREADABLE
    console.err(f"{PROG}: the stored settings cannot be used ({exc.reason.value}).")
    console.err(exc.detail)
    console.err(exc.advice)
    if exc.reason not in (Unreadable.NO_ACCESS, Unreadable.KEY_UNAVAILABLE):
        console.err(f"To discard them and start again: {PROG} reset")
    if exc.reason in UNLOCK_FAILURES and may_write(store):
        record(store, console, "unlock_failed", detail=exc.reason.value)
    return Exit.UNREADABLE


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
            f"No mail server settings are stored in {store.data_dir}, so there is nothing to "
            f"check. Store them in the window or with '{PROG} set' (see '{PROG} set --help')."
        )
        return Exit.NOT_CONFIGURED, None
    console.secrets.append(stored.settings.password)
    return Exit.OK, stored.settings


def command(args: argparse.Namespace, *words: str) -> str:
    """A command line the user can paste, for the same data directory."""
    import shlex

    parts = [PROG]
    if getattr(args, "system", False):
        parts.append("--system")
    elif getattr(args, "data_dir", None):
        parts += ["--data-dir", str(args.data_dir)]
    parts += words
    return shlex.join(parts)


def seconds(value: float) -> str:
    """A duration as the step and probe lines show it."""
    return f"{value:.3f} s"
