"""``reset``: delete the settings and destroy their data key, after confirmation."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from configurator.commands import common
from configurator.console import PROG, Exit
from configurator.errors import NotWritable, SettingsUnreadable, StoreError

if TYPE_CHECKING:
    import argparse

    from configurator.console import Console
    from configurator.store import Store


def run(args: argparse.Namespace, store: Store, console: Console) -> int:
    from configurator import keys

    try:
        if not store.check():
            console.out(f"Nothing is stored in {store.data_dir}: there was nothing to reset.")
            return Exit.OK
        store.require_writable()
        # Refused before anything is erased: a planted link is never followed.
        store.check_files()
        common.check_trail(store)
    except SettingsUnreadable as exc:
        return common.report_unreadable(exc, store, console)
    except NotWritable as exc:
        return common.refuse_change(exc, store, args, console)
    key_file = store.data_dir / keys.KEY_FILE_NAME
    if not store.path.exists() and not key_file.exists():
        console.out(f"Nothing is stored in {store.data_dir}: there was nothing to reset.")
        return Exit.OK

    if not args.yes:
        refusal = _confirm_reset(store)
        if refusal is not None:
            console.err(f"{PROG} reset: {refusal} {common.NOTHING_CHANGED}")
            if refusal is _NO_TERMINAL:
                console.err(f"To confirm it, run: {common.command(store, 'reset', '--yes')}")
            return Exit.USAGE

    try:
        warnings = store.reset()
    except SettingsUnreadable as exc:
        return common.report_unreadable(exc, store, console)
    except StoreError as exc:
        console.err(f"{PROG}: {exc}")
        return Exit.ERROR
    console.out(
        f"Reset done: the settings in {store.data_dir} were deleted and their data key "
        "destroyed. Alert e-mail cannot be sent until new settings are stored."
    )
    for warning in warnings:
        console.err(f"Warning: {warning}")
    detail = f"not everything was erased: {warnings[0]}" if warnings else ""
    return common.record_change(store, console, "reset", "the reset was done", detail=detail)


_NO_TERMINAL = "refused: standard input is not a terminal, so the reset cannot be confirmed."


def _confirm_reset(store: Store) -> str | None:
    """Ask on a terminal; return why the reset must not go ahead, or ``None``."""
    stream = sys.stdin
    if stream is None or not stream.isatty():
        return _NO_TERMINAL
    sys.stderr.write(
        f"Delete the mail server settings in {store.data_dir} and destroy their data key?\n"
        "Alert e-mail cannot be sent until new settings are stored. This cannot be undone.\n"
        "Reset? [y/N] "
    )
    sys.stderr.flush()
    answer = stream.readline()
    if answer.strip().lower() in ("y", "yes"):
        return None
    if not answer:
        sys.stderr.write("\n")
    return "cancelled."
