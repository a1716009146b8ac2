"""The command line: ``show``, ``set``, ``reset``, ``test``, ``detect`` and ``audit``.

Administrators script the configurator, or use it over SSH where there is no
desktop, so the commands validate and store exactly as the window's Submit
does (``model.build`` then ``Store.save``): both fronts accept and refuse the
same values with the same words.  The commands and options are declared in
``configurator.cli_parser``; each command is carried out by its module in
``configurator.commands``.  This module opens the store and dispatches; what
every command shares (the exit codes and the console) is in
``configurator.console``, below the commands.

Imports stay lazy: ``show`` must start quickly and must not load Qt, TLS or
the keyring library unless the data key lives there; ``configurator.mail``
(and with it TLS) loads only for ``test`` and ``detect``, and each command
module only when its command is called.  Without a command the window opens;
only then is ``configurator.app`` (and with it Qt) imported.  The commonest
calls -- the window without arguments, ``show`` and ``show --json`` -- are
answered without building the parser (``_QUICK_CALLS``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from configurator.console import PROG, Console, Exit
from configurator.errors import StoreError

if TYPE_CHECKING:
    import argparse

    from configurator.store import Store


def main(argv: Sequence[str] | None = None) -> int:
    """Run one call of the command line and return its exit code."""
    console = Console()
    try:
        code = _run(argv, console)
    except KeyboardInterrupt:
        console.err(f"{PROG}: interrupted.")
        code = Exit.INTERRUPTED
    except BrokenPipeError as exc:  # written past the console: --help, the window's report
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and _reader_left(stream):
                console.lost(stream)
        code = Exit.READER_GONE if console.reader_gone else _unexpected(exc, console)
    except Exception as exc:
        code = _unexpected(exc, console)
    console.flush()
    return Exit.READER_GONE if console.reader_gone else code


def _reader_left(stream: TextIO) -> bool:
    """Whether ``stream`` is a pipe whose reader went away (a broken pipe may be another one)."""
    import select

    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):  # no poll() on Windows
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _unexpected(exc: Exception, console: Console) -> int:
    """The last resort: one line, never a traceback."""
    message = " ".join(str(exc).split())
    console.err(f"{PROG}: unexpected error ({type(exc).__name__}): {message}")
    return Exit.ERROR


def _run(argv: Sequence[str] | None, console: Console) -> int:
    words = tuple(sys.argv[1:] if argv is None else argv)
    quick = _QUICK_CALLS.get(words)
    if quick is not None:
        store = _open_store(None, system=False, console=console)
        return store if isinstance(store, int) else quick(store, console)

    args = _parse(words)
    if isinstance(args, int):
        return args
    args.words = words  # for hints that repeat this call (as another account)
    store = _open_store(args.data_dir, system=args.system, console=console)
    if isinstance(store, int):
        return store
    if args.command is None:
        return _launch_window(store, self_test=args.self_test, console=console)

    if _writes(args):
        # Temporary files of saves killed part-way; never for show, which must stay fast.
        store.cleanup()
    return _handler(args.command)(args, store, console)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (see ``configurator.cli_parser``)."""
    from configurator import cli_parser

    return cli_parser.build_parser()


def _parse(argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed command line, or the exit code when argparse has already answered."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.self_test and args.command is not None:
            parser.error("--self-test starts the window; it cannot be combined with a command")
        if args.system and args.data_dir:
            parser.error(
                "--system and --data-dir cannot be combined: --system is the system-wide "
                "store, --data-dir another one"
            )
    except SystemExit as exc:  # argparse has printed --help, --version or the error
        return exc.code if isinstance(exc.code, int) else Exit.USAGE
    return args


def _open_store(data_dir: str | None, *, system: bool, console: Console) -> Store | int:
    """The store this call works on, or the exit code of a usage error."""
    from configurator import keys, paths

    try:
        backend = keys.backend_choice()
    except StoreError as exc:
        console.err(f"{PROG}: error: {exc}")
        return Exit.USAGE
    directory = paths.resolve_data_dir(data_dir, system=system)

    from configurator.store import Store

    try:
        # --system says what the store is; otherwise a system-wide store is
        # recognised by its marker, as the window recognises it.
        return Store(directory, backend, shared=True if system else None)
    except StoreError as exc:
        console.err(f"{PROG}: error: {exc}")
        return Exit.USAGE


def _writes(args: argparse.Namespace) -> bool:
    """Whether this call may write the store: ``test`` only with --to, ``detect`` with --apply."""
    if args.command in ("set", "reset"):
        return True
    if args.command == "test":
        return args.to is not None
    if args.command == "detect":
        return bool(args.apply)
    return False


def _launch_window(store: Store, *, self_test: bool, console: Console) -> int:
    """Import the window only now: every other call stays free of Qt.

    A system-wide store is created with its permissions and marker first (when
    this account may), so that the window, which finds it by its marker, keeps
    it shared rather than making it private.
    """
    if store.shared:
        from configurator.store import Access

        if store.access() is Access.WRITE:
            try:
                store.ensure_directory()
            except OSError as exc:
                console.err(f"{PROG}: the folder {store.data_dir} cannot be created: {exc}")
                return Exit.ERROR
    try:
        from configurator.app import run
    except ImportError as exc:  # e.g. Qt missing from a server-only installation
        console.err(f"{PROG}: the configuration window cannot start: {exc}")
        return Exit.ERROR
    return run(store.data_dir, self_test=self_test)


# -- dispatch --------------------------------------------------------------


def _handler(command: str) -> Callable[[argparse.Namespace, Store, Console], int]:
    """The ``run`` of ``command``'s module, imported only now that it is needed."""
    if command == "show":
        from configurator.commands import show

        return show.run
    if command == "set":
        from configurator.commands import settings

        return settings.run
    if command == "reset":
        from configurator.commands import reset

        return reset.run
    if command == "test":
        from configurator.commands import check

        return check.run
    if command == "detect":
        from configurator.commands import detect

        return detect.run
    from configurator.commands import audit

    return audit.run


def _show_quickly(store: Store, console: Console, *, as_json: bool) -> int:
    from configurator.commands import show

    return show.show_stored(store, console, as_json=as_json)


# The commonest calls, each with exactly these words, answered without building the
# parser: a launch of the window (from a desktop menu) and ``show`` (in scripts).
# tests/test_cli.py checks that argparse reads each of them to the same effect.
_QUICK_CALLS: dict[tuple[str, ...], Callable[[Store, Console], int]] = {
    (): lambda store, console: _launch_window(store, self_test=False, console=console),
    ("show",): lambda store, console: _show_quickly(store, console, as_json=False),
    ("show", "--json"): lambda store, console: _show_quickly(store, console, as_json=True),
}
