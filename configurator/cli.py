"""The command line: ``show``, ``set`` and ``reset`` over the same model and store as the window.

Administrators script the configurator, or use it over SSH where there is no
desktop, so the commands validate and store exactly as the window's Submit
does (``model.build`` then ``Store.save``): both fronts accept and refuse the
same values with the same words.  The options of ``set`` are generated from
``model.FIELDS`` so that a new field cannot be forgotten here.

Imports stay lazy: ``show`` must start quickly and must not load Qt, TLS or
the keyring library unless the data key lives there.  Without a command the
window opens; only then is ``configurator.app`` (and with it Qt) imported.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from configurator import __version__, model
from configurator.errors import (
    ConflictError,
    NotWritable,
    SettingsUnreadable,
    StoreError,
    Unreadable,
)

if TYPE_CHECKING:
    from configurator.store import Store

PROG = "configurator"


class Exit(enum.IntEnum):
    """Exit codes of every call (a contract: scripts depend on them)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_CONFIGURED = 3
    UNREADABLE = 4
    INVALID = 5
    CHECK_FAILED = 6


EPILOG = """\
exit codes:
  0  success
  1  unexpected error, or this account may not change the settings store
     (it can read but not write it: ask the administrator who manages it,
     run as that administrator, or use your own store with --data-dir)
  2  usage error: unknown command or option, a value that is not one of the
     choices, an invalid CONFIGURATOR_KEY_BACKEND; reset refused or declined
  3  no settings are stored
  4  the stored settings cannot be read: corrupt, tampered, data key missing
     or wrong, keyring locked, newer format, or no permission to read them
  5  invalid input: one line per bad field on standard error
  6  the mail server check failed

environment:
  CONFIGURATOR_DATA_DIR     the data directory, unless --data-dir is given
                            (default: the per-user data directory)
  CONFIGURATOR_KEY_BACKEND  where the data key lives: auto (default; the OS
                            keyring when a usable one exists, else the file
                            settings.key beside the settings), keyring or file
"""

_NOTHING_CHANGED = "Nothing was changed."


class _Console:
    """Writes what the user sees, hiding any secret this call has read.

    Normal output never contains a password; the filter is a second line of
    defence for error messages built from exceptions, whose text is not ours.
    """

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def out(self, text: str = "") -> None:
        print(_printable(text, sys.stdout))

    def err(self, text: str) -> None:
        print(_printable(self.hide(text), sys.stderr), file=sys.stderr)

    def hide(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "(hidden)")
        return text


def _printable(text: str, stream: object) -> str:
    """Keep a console's encoding from turning a non-ASCII name into a crash."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose, but keeps text laid out by hand (the exit code table) as it is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _RefuseArgvSecret(argparse.Action):
    """``--password VALUE`` is refused without echoing the value.

    A password in argv is visible to every user through the process list and
    lands in shell history, so it is accepted only on standard input.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.error(
            f"{option_string} is not accepted: a password on the command line can be seen "
            f"by other users and is kept in shell history. Use {option_string}-stdin and "
            "pass the password on standard input."
        )


def _subparser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    common: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        parents=[common],
        help=summary,
        description=description,
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )


def _metavar(spec: model.FieldSpec) -> str:
    return {"port": "PORT", "timeout": "SECONDS", "ca_file": "PATH"}.get(spec.key, spec.key.upper())


def _add_field_options(parser: argparse.ArgumentParser) -> None:
    """One option per field of ``model.FIELDS``; secrets only through standard input."""
    basic = parser.add_argument_group("settings")
    advanced = parser.add_argument_group("advanced settings")
    for spec in model.FIELDS:
        group = advanced if spec.advanced else basic
        text = spec.help.replace("%", "%%")
        if spec.secret:
            group.add_argument(
                f"{spec.cli_option}-stdin",
                dest=f"{spec.key}_stdin",
                action="store_true",
                help=f"{text} Read from the first line of standard input (without its line "
                "ending); on a terminal it is asked for without echo. Never give it as an "
                "argument.",
            )
            group.add_argument(
                spec.cli_option, nargs="?", action=_RefuseArgvSecret, help=argparse.SUPPRESS
            )
            continue
        if spec.choices:
            names = ", ".join(f"{choice.value} ({choice.label})" for choice in spec.choices)
            group.add_argument(
                spec.cli_option,
                dest=spec.key,
                choices=[choice.value for choice in spec.choices],
                help=f"{text} One of: {names}.",
            )
        else:
            group.add_argument(spec.cli_option, dest=spec.key, metavar=_metavar(spec), help=text)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``--data-dir`` is accepted before and after the command."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    data_dir_help = (
        "the data directory holding settings.enc (and settings.key); "
        "default: $CONFIGURATOR_DATA_DIR, else the per-user data directory"
    )
    # SUPPRESS: given after the command it overrides, absent it keeps the top-level value.
    common.add_argument("--data-dir", metavar="PATH", default=argparse.SUPPRESS, help=data_dir_help)

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Set up the outgoing mail server (SMTP) that carries the security "
        "platform's alert e-mails. Without a command the configuration window opens.",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start exactly as a normal launch (load the settings, build and show the window, "
        "load every icon), then quit; exit 0 when all of that worked",
    )
    parser.add_argument("--data-dir", metavar="PATH", default=None, help=data_dir_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    show = _subparser(
        commands,
        "show",
        "print the stored settings (never the password)",
        "Print the stored mail server settings. The password is never printed; only "
        "whether one is set.",
        common,
    )
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: account_name, account_email, server, port, security, "
        "auth, username, password_set, and the advanced settings that differ from their "
        "defaults",
    )

    set_ = _subparser(
        commands,
        "set",
        "validate and store settings",
        "Validate and store mail server settings, exactly as Submit in the window does. "
        "An option not given keeps its stored value; an option given with an empty value "
        "('') makes it empty. Nothing is written unless every value is valid.",
        common,
    )
    _add_field_options(set_)

    reset = _subparser(
        commands,
        "reset",
        "delete the stored settings and destroy their data key",
        "Delete the stored settings and destroy the data key that sealed them, so that "
        "no copy of the old settings file can be decrypted any more. Alert e-mail cannot "
        "be sent until new settings are stored. Asks for confirmation on a terminal.",
        common,
    )
    reset.add_argument("--yes", action="store_true", help="confirm without asking")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one call of the command line and return its exit code."""
    console = _Console()
    try:
        return _run(argv, console)
    except KeyboardInterrupt:
        console.err(f"{PROG}: interrupted.")
        return 130
    except Exception as exc:  # the last resort: one line, never a traceback
        message = " ".join(str(exc).split())
        console.err(f"{PROG}: unexpected error ({type(exc).__name__}): {message}")
        return Exit.ERROR


def _run(argv: Sequence[str] | None, console: _Console) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.self_test and args.command is not None:
            parser.error("--self-test starts the window; it cannot be combined with a command")
    except SystemExit as exc:  # argparse has printed --help, --version or the error
        return exc.code if isinstance(exc.code, int) else Exit.USAGE

    from configurator import keys, paths

    try:
        backend = keys.backend_choice()
    except StoreError as exc:
        console.err(f"{PROG}: error: {exc}")
        return Exit.USAGE
    data_dir = paths.resolve_data_dir(args.data_dir)

    if args.command is None:
        return _launch_window(data_dir, self_test=args.self_test, console=console)

    from configurator.store import Store

    store = Store(data_dir, backend)
    handlers: dict[str, Callable[[argparse.Namespace, Store, _Console], int]] = {
        "show": _show,
        "set": _set,
        "reset": _reset,
    }
    return handlers[args.command](args, store, console)


def _launch_window(data_dir: Path, *, self_test: bool, console: _Console) -> int:
    """Import the window only now: every other call stays free of Qt."""
    try:
        from configurator.app import run
    except ImportError as exc:  # e.g. Qt missing from a server-only installation
        console.err(f"{PROG}: the configuration window cannot start: {exc}")
        return Exit.ERROR
    return run(data_dir, self_test=self_test)


# -- show ----------------------------------------------------------------


def _show(args: argparse.Namespace, store: Store, console: _Console) -> int:
    try:
        stored = store.load()
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, console)
    if stored is None:
        console.err(
            f"No mail server settings are stored in {store.data_dir}. "
            f"Store them in the window or with '{PROG} set' (see '{PROG} set --help')."
        )
        return Exit.NOT_CONFIGURED
    if args.json:
        console.out(json.dumps(public_settings(stored.settings), indent=2))
        return Exit.OK

    from configurator import keys

    settings = stored.settings
    rows = [
        (spec.label, _display(spec, getattr(settings, spec.key)))
        for spec in model.FIELDS
        if not spec.advanced or _differs_from_default(settings, spec.key)
    ]
    place = [
        ("Stored in", str(store.path)),
        ("Data key", keys.store_for(stored.key_location, store.data_dir).describe()),
        ("Revision", f"{stored.revision}, saved {stored.saved_at or 'at an unknown time'}"),
    ]
    width = max(len(label) for label, _ in rows + place) + 1
    for label, value in rows:
        console.out(f"{label + ':':<{width}} {value}")
    console.out()
    for label, value in place:
        console.out(f"{label + ':':<{width}} {value}")
    return Exit.OK


def public_settings(settings: model.Settings) -> dict[str, object]:
    """What ``show --json`` prints: the basic fields, ``password_set``, changed advanced ones."""
    everything = settings.public_dict()
    data = {
        spec.key: everything[spec.key]
        for spec in model.FIELDS
        if not spec.advanced and not spec.secret
    }
    data["password_set"] = settings.password_set
    for spec in model.FIELDS:
        if spec.advanced and _differs_from_default(settings, spec.key):
            data[spec.key] = everything[spec.key]
    return data


_DEFAULTS = model.Settings()


def _differs_from_default(settings: model.Settings, key: str) -> bool:
    return bool(getattr(settings, key) != getattr(_DEFAULTS, key))


def _display(spec: model.FieldSpec, value: object) -> str:
    if spec.secret:
        return "(set)" if value else "(not set)"
    if isinstance(value, model.Security | model.Auth):
        return value.label
    if spec.key == "timeout" and isinstance(value, float):
        return f"{value:g} seconds"
    text = str(value)
    return text if text else "(empty)"


def _report_unreadable(exc: SettingsUnreadable, console: _Console) -> int:
    console.err(f"{PROG}: the stored settings cannot be used ({exc.reason.value}).")
    console.err(exc.detail)
    console.err(exc.advice)
    if exc.reason not in (Unreadable.NO_ACCESS, Unreadable.KEY_UNAVAILABLE):
        console.err(f"To discard them and start again: {PROG} reset")
    return Exit.UNREADABLE


# -- set -----------------------------------------------------------------


def _set(args: argparse.Namespace, store: Store, console: _Console) -> int:
    changes: dict[str, object] = {
        spec.key: getattr(args, spec.key)
        for spec in model.FIELDS
        if not spec.secret and getattr(args, spec.key) is not None
    }
    secrets = [spec for spec in model.FIELDS if spec.secret and getattr(args, f"{spec.key}_stdin")]
    if not changes and not secrets:
        console.err(
            f"{PROG} set: nothing to store: give at least one option (see '{PROG} set --help')."
        )
        return Exit.USAGE

    try:
        stored = store.load()
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, console)
    try:
        store.require_writable()
    except NotWritable as exc:
        console.err(f"{PROG}: {exc} {_NOTHING_CHANGED}")
        return Exit.ERROR

    errors: list[model.FieldError] = []
    for spec in secrets:
        value, problem = _read_secret(spec)
        if problem is not None:
            errors.append(model.FieldError(spec.key, problem))
        else:
            console.secrets.append(value)
            changes[spec.key] = value
    try:
        settings = model.build(changes, stored.settings if stored else None)
    except model.ValidationError as exc:
        already = {error.key for error in errors}
        errors.extend(error for error in exc.errors if error.key not in already)
    if errors:
        return _report_invalid(model.ValidationError(errors), console)

    try:
        saved = store.save(settings, expected_revision=stored.revision if stored else 0)
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, console)
    except model.ValidationError as exc:
        return _report_invalid(exc, console)
    except ConflictError as exc:
        console.err(f"{PROG}: {exc} Nothing was saved; run the command again.")
        return Exit.ERROR
    except StoreError as exc:
        console.err(f"{PROG}: {exc}")
        return Exit.ERROR
    console.out(f"Saved the mail server settings to {store.path} (revision {saved.revision}).")
    usual_port = settings.security.default_port
    if "security" in changes and "port" not in changes and settings.port != usual_port:
        # The window moves the port with the security mode; here an option not
        # given keeps its value, so point out the likely mismatch instead.
        console.err(
            f"Note: {model.FIELDS_BY_KEY['port'].label} is still {settings.port}; "
            f"{settings.security.value} usually uses {usual_port} (--port {usual_port})."
        )
    if settings.sends_password_in_clear:
        console.err(
            "Warning: Login/Plain without Connection Security sends the user name and "
            "password unencrypted; choose starttls or ssl_tls if the server supports them."
        )
    return Exit.OK


def _report_invalid(exc: model.ValidationError, console: _Console) -> int:
    for error in exc.errors:
        console.err(str(error))
    return Exit.INVALID


def _read_secret(spec: model.FieldSpec) -> tuple[str, str | None]:
    """Read a secret from the first line of standard input; return it or a problem."""
    stream = sys.stdin
    if stream is None:
        return "", f"is missing: {spec.cli_option}-stdin found no standard input"
    if stream.isatty():
        import getpass

        try:
            line = getpass.getpass(f"{spec.label}: ")
        except EOFError:
            line = ""
    else:
        raw = stream.buffer.readline()
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "", "is not valid UTF-8 text"
        line = line.removesuffix("\n").removesuffix("\r")
    if not line:
        return "", (
            f"must not be empty: {spec.cli_option}-stdin reads it from the first line "
            "of standard input"
        )
    return line, None


# -- reset ---------------------------------------------------------------


def _reset(args: argparse.Namespace, store: Store, console: _Console) -> int:
    from configurator import keys

    if not store.data_dir.exists():
        console.out(f"Nothing is stored in {store.data_dir}: there was nothing to reset.")
        return Exit.OK
    try:
        store.require_writable()
    except NotWritable as exc:
        console.err(f"{PROG}: {exc} {_NOTHING_CHANGED}")
        return Exit.ERROR
    key_file = store.data_dir / keys.KEY_FILE_NAME
    if not store.path.exists() and not key_file.exists():
        console.out(f"Nothing is stored in {store.data_dir}: there was nothing to reset.")
        return Exit.OK

    if not args.yes:
        refusal = _confirm_reset(store)
        if refusal is not None:
            console.err(f"{PROG} reset: {refusal} {_NOTHING_CHANGED}")
            return Exit.USAGE

    warnings = store.reset()
    console.out(
        f"Reset done: the settings in {store.data_dir} were deleted and their data key "
        "destroyed. Alert e-mail cannot be sent until new settings are stored."
    )
    for warning in warnings:
        console.err(f"Warning: {warning}")
    return Exit.OK


def _confirm_reset(store: Store) -> str | None:
    """Ask on a terminal; return why the reset must not go ahead, or ``None``."""
    stream = sys.stdin
    if stream is None or not stream.isatty():
        return (
            "refused: standard input is not a terminal, so the reset cannot be confirmed. "
            f"Run '{PROG} reset --yes' to confirm it."
        )
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
