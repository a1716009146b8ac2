"""The command line: ``show``, ``set``, ``reset``, ``test``, ``detect`` and ``audit``.

Administrators script the configurator, or use it over SSH where there is no
desktop, so the commands validate and store exactly as the window's Submit
does (``model.build`` then ``Store.save``): both fronts accept and refuse the
same values with the same words.  The commands and options are declared in
``configurator.cli_parser``.

Imports stay lazy: ``show`` must start quickly and must not load Qt, TLS or
the keyring library unless the data key lives there; ``configurator.mail``
(and with it TLS) loads only for ``test`` and ``detect``.  Without a command
the window opens; only then is ``configurator.app`` (and with it Qt) imported.
The commonest calls -- the window without arguments, ``show`` and ``show
--json`` -- are answered without building the parser (``_QUICK_CALLS``).

Every call that saves, resets, checks or fails to unlock the settings adds a
record to the audit trail (``configurator.audit``), as the window does; a
trail that cannot be written is reported as a warning and never changes the
exit code.  Calls by an account that may only read the store add nothing: it
may not write the trail either.

``test`` and ``detect`` run the network work on a worker thread while the
main thread waits, so that Ctrl+C reaches the main thread at once, cancels
the work through its ``CancelToken`` and ends with exit code 130 instead of a
traceback from the middle of a socket call.
"""

from __future__ import annotations

import enum
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from configurator import model
from configurator.errors import (
    UNLOCK_FAILURES,
    ConflictError,
    NotWritable,
    SettingsUnreadable,
    StoreError,
    Unreadable,
)

if TYPE_CHECKING:
    import argparse

    from configurator import audit, mail
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
    INTERRUPTED = 130  # Ctrl+C, as shells report a SIGINT


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

    def write(self, text: str) -> None:
        """Write without adding a line end, and flush: progress must show as it happens."""
        sys.stdout.write(_printable(text, sys.stdout))
        sys.stdout.flush()

    def hide(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "(hidden)")
        return text


def _printable(text: str, stream: object) -> str:
    """Keep a console's encoding from turning a non-ASCII name into a crash."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one call of the command line and return its exit code."""
    console = _Console()
    try:
        return _run(argv, console)
    except KeyboardInterrupt:
        console.err(f"{PROG}: interrupted.")
        return Exit.INTERRUPTED
    except Exception as exc:  # the last resort: one line, never a traceback
        message = " ".join(str(exc).split())
        console.err(f"{PROG}: unexpected error ({type(exc).__name__}): {message}")
        return Exit.ERROR


def _run(argv: Sequence[str] | None, console: _Console) -> int:
    words = tuple(sys.argv[1:] if argv is None else argv)
    quick = _QUICK_CALLS.get(words)
    if quick is not None:
        store = _open_store(None, system=False, console=console)
        return store if isinstance(store, int) else quick(store, console)

    args = _parse(words)
    if isinstance(args, int):
        return args
    store = _open_store(args.data_dir, system=args.system, console=console)
    if isinstance(store, int):
        return store
    if args.command is None:
        return _launch_window(store, self_test=args.self_test, console=console)

    if _writes(args):
        # Temporary files of saves killed part-way; never for show, which must stay fast.
        store.cleanup()
    handlers: dict[str, Callable[[argparse.Namespace, Store, _Console], int]] = {
        "show": _show,
        "set": _set,
        "reset": _reset,
        "test": _test,
        "detect": _detect,
        "audit": _audit,
    }
    return handlers[args.command](args, store, console)


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


def _open_store(data_dir: str | None, *, system: bool, console: _Console) -> Store | int:
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


def _launch_window(store: Store, *, self_test: bool, console: _Console) -> int:
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


# -- audit trail -----------------------------------------------------------


def _record(
    store: Store,
    console: _Console,
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


def _may_write(store: Store) -> bool:
    from configurator.store import Access

    return store.access() is Access.WRITE


# The failures to open the settings that concern their key or their seal: worth
# recording, since trying keys or swapping files is what an intruder would do.


def _audit(args: argparse.Namespace, store: Store, console: _Console) -> int:
    from configurator import audit

    report = audit.read(store.data_dir, store.key_backend)
    code = Exit.OK if report.intact else Exit.UNREADABLE
    if args.json:
        console.out(json.dumps(report.to_dict(), indent=2))
        return code
    if report.entries:
        console.out(f"Audit trail {report.path}:")
        console.out()
        _print_audit_table(report.entries, console)
        console.out()
    elif report.intact:
        console.out("No audit entries yet.")
    if report.intact:
        if report.entries:
            count = len(report.entries)
            console.out(f"Chain intact: {count} {'entry' if count == 1 else 'entries'}")
    else:
        console.out(f"Chain broken: {report.problem}")
    for warning in report.warnings:
        console.out(f"Warning: {warning}")
    return code


def _print_audit_table(entries: Sequence[audit.Entry], console: _Console) -> None:
    header = ("Time", "User", "Action", "Fields changed", "Detail")
    rows = [header]
    for entry in entries:
        detail = entry.detail if entry.verified else f"{entry.detail} [not verified]".lstrip()
        rows.append(
            (
                _audit_time(entry.time),
                entry.user,
                entry.action,
                ", ".join(entry.fields) or "-",
                detail or "-",
            )
        )
    cleaned = [tuple(_no_controls(cell) for cell in row) for row in rows]
    widths = [max(len(row[column]) for row in cleaned) for column in range(len(header) - 1)]
    for row in cleaned:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        console.out("  ".join([*cells, row[-1]]).rstrip())


def _audit_time(text: str) -> str:
    """Show "2026-05-09T12:00:00+00:00" as "2026-05-09 12:00:00 UTC", anything else as it is."""
    if len(text) == 25 and text[10] == "T" and text.endswith("+00:00"):
        return f"{text[:10]} {text[11:19]} UTC"
    return text


def _no_controls(text: str) -> str:
    """A record read from disk may hold anything: never hand control characters to a terminal."""
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode()
        for char in text
    )


# -- show ----------------------------------------------------------------


def _show(args: argparse.Namespace, store: Store, console: _Console) -> int:
    return _show_stored(store, console, as_json=args.json)


def _show_stored(store: Store, console: _Console, *, as_json: bool) -> int:
    try:
        stored = store.load()
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, store, console)
    if stored is None:
        console.err(
            f"No mail server settings are stored in {store.data_dir}. "
            f"Store them in the window or with '{PROG} set' (see '{PROG} set --help')."
        )
        return Exit.NOT_CONFIGURED
    if as_json:
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
    if store.shared:
        place.insert(1, ("Scope", store.scope()))
    width = max(len(label) for label, _ in rows + place) + 1
    for label, value in rows:
        console.out(f"{label + ':':<{width}} {value}")
    console.out()
    for label, value in place:
        console.out(f"{label + ':':<{width}} {value}")
    return Exit.OK


# The commonest calls, each with exactly these words, answered without building the
# parser: a launch of the window (from a desktop menu) and ``show`` (in scripts).
# tests/test_cli.py checks that argparse reads each of them to the same effect.
_QUICK_CALLS: dict[tuple[str, ...], Callable[[Store, _Console], int]] = {
    (): lambda store, console: _launch_window(store, self_test=False, console=console),
    ("show",): lambda store, console: _show_stored(store, console, as_json=False),
    ("show", "--json"): lambda store, console: _show_stored(store, console, as_json=True),
}


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


def _report_unreadable(exc: SettingsUnreadable, store: Store, console: _Console) -> int:
    """Say why the settings cannot be used; record a failed unlock if the trail may be written."""
    console.err(f"{PROG}: the stored settings cannot be used ({exc.reason.value}).")
    console.err(exc.detail)
    console.err(exc.advice)
    if exc.reason not in (Unreadable.NO_ACCESS, Unreadable.KEY_UNAVAILABLE):
        console.err(f"To discard them and start again: {PROG} reset")
    if exc.reason in UNLOCK_FAILURES and _may_write(store):
        _record(store, console, "unlock_failed", detail=exc.reason.value)
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
        return _report_unreadable(exc, store, console)
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
        saved = store.save(
            settings,
            expected_revision=stored.revision if stored else 0,
            expected_lineage=stored.lineage if stored else None,
        )
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, store, console)
    except model.ValidationError as exc:
        return _report_invalid(exc, console)
    except ConflictError as exc:
        console.err(f"{PROG}: {exc} Nothing was saved; run the command again.")
        return Exit.ERROR
    except StoreError as exc:
        console.err(f"{PROG}: {exc}")
        return Exit.ERROR
    console.out(f"Saved the mail server settings to {store.path} (revision {saved.revision}).")
    from configurator import audit

    old = stored.settings if stored else None
    _record(store, console, "submit", fields=audit.changed_fields(old, settings))
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
    detail = f"not everything was erased: {warnings[0]}" if warnings else ""
    _record(store, console, "reset", detail=detail)
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


# -- test and detect: shared ---------------------------------------------

T = TypeVar("T")

# How long a cancelled check may take to wind down before the program stops waiting.
_CANCEL_GRACE = 5.0


def _in_background(work: Callable[[], T], token: mail.CancelToken, name: str) -> T:
    """Run ``work`` on a worker thread; Ctrl+C cancels it through ``token``.

    While the work runs, Ctrl+C does not raise ``KeyboardInterrupt`` (which
    could land anywhere in the waiting loop, even before it starts): a signal
    handler cancels the token, and the result of the cancelled work -- which
    reports the cancelled step -- is returned.  If the work does not end
    within ``_CANCEL_GRACE`` seconds, or Ctrl+C comes again,
    ``KeyboardInterrupt`` is raised.
    """
    import signal
    import threading

    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()
    deadline: list[float] = []

    def target() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # handed to the main thread, which reports it
            errors.append(exc)
        finally:
            done.set()

    def interrupted(signum: int, frame: object) -> None:
        if deadline:
            raise KeyboardInterrupt
        deadline.append(time.monotonic() + _CANCEL_GRACE)
        token.cancel()

    # Signal handlers can only be set from the main thread; elsewhere (an
    # embedding program) Ctrl+C is that program's business.
    handled = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupted) if handled else None
    try:
        # A daemon thread: a second Ctrl+C must be able to end the program at once.
        # The wait is on an Event, not Thread.join(): an interrupted join() can
        # leave the thread looking finished before it is (CPython issue 90882).
        threading.Thread(target=target, name=name, daemon=True).start()
        while not done.wait(0.1):
            if deadline and time.monotonic() > deadline[0]:
                raise KeyboardInterrupt
    finally:
        if handled:
            signal.signal(
                signal.SIGINT, previous if previous is not None else signal.default_int_handler
            )
    if errors:
        raise errors[0]
    return results[0]


def _load_configured(store: Store, console: _Console) -> tuple[int, model.Settings | None]:
    """The stored settings, or the exit code for why there are none to use."""
    try:
        stored = store.load()
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, store, console), None
    if stored is None:
        console.err(
            f"No mail server settings are stored in {store.data_dir}, so there is nothing to "
            f"check. Store them in the window or with '{PROG} set' (see '{PROG} set --help')."
        )
        return Exit.NOT_CONFIGURED, None
    console.secrets.append(stored.settings.password)
    return Exit.OK, stored.settings


def _command(args: argparse.Namespace, *words: str) -> str:
    """A command line the user can paste, for the same data directory."""
    import shlex

    parts = [PROG]
    if getattr(args, "system", False):
        parts.append("--system")
    elif getattr(args, "data_dir", None):
        parts += ["--data-dir", str(args.data_dir)]
    parts += words
    return shlex.join(parts)


def _on_terminal() -> bool:
    """Rewrite progress lines in place only on a terminal; pipes and logs get plain lines."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


def _first_line(reply: str) -> str:
    """The first line of a (possibly multi-line) reply, as "250 name" rather than "250-name"."""
    first = reply.splitlines()[0] if reply else ""
    if len(reply.splitlines()) > 1 and first[3:4] == "-":
        first = f"{first[:3]} {first[4:]}"
    return first


# -- test ----------------------------------------------------------------

# Columns of a step line: outcome, step, time, then the server's reply.
_OUTCOME_WIDTH = 10
_TITLE_WIDTH = 25
_TIME_WIDTH = 9
_INDENT = " " * _OUTCOME_WIDTH


class _StepPrinter:
    """Prints each step when it starts and again when it ends.

    Piped output is plain lines: a "running" line when a step starts (so that
    a hang shows where it is), a result line when it ends.  On a terminal the
    "running" line is overwritten by the result.
    """

    def __init__(self, console: _Console, *, terminal: bool) -> None:
        import threading

        self._console = console
        self._terminal = terminal
        self._lock = threading.Lock()
        self._open_line = False

    def __call__(self, step: mail.Step) -> None:
        from configurator.mail import Outcome

        with self._lock:
            if step.outcome is Outcome.RUNNING:
                line = f"{'running':<{_OUTCOME_WIDTH}}{step.title} ..."
                if self._terminal:
                    self._console.write(line)
                    self._open_line = True
                else:
                    self._console.write(line + "\n")
                return
            if self._open_line:
                self._console.write("\r\x1b[K")
                self._open_line = False
            for line in _step_lines(step):
                self._console.write(line + "\n")


def _step_lines(step: mail.Step) -> list[str]:
    from configurator.mail import Outcome

    word = "FAILED" if step.outcome is Outcome.FAILED else step.outcome.value
    timing = "" if step.outcome is Outcome.SKIPPED else _seconds(step.duration)
    reply = _first_line(step.reply)
    detail = step.detail
    if not reply:
        reply, detail = detail, ""
    elif detail and detail in step.reply:
        detail = ""
    head = f"{word:<{_OUTCOME_WIDTH}}{step.title:<{_TITLE_WIDTH}}{timing:>{_TIME_WIDTH}}"
    lines = [f"{head}  {reply}".rstrip()]
    if detail:
        lines.append(f"{_INDENT}{detail}")
    lines.extend(f"{_INDENT}Warning: {note}" for note in step.notes)
    return lines


# A sample that passes every rule, so that an option of ``test`` is judged by
# the rule of its own field alone (stored settings that have since become
# invalid -- a CA file removed, say -- are still checked, and the check says why).
_SAMPLE = model.Settings(
    account_name="Sample",
    account_email="sample@example.com",
    server="mail.example.com",
    auth=model.Auth.NONE,
)


def _with_run_options(settings: model.Settings, changes: dict[str, object]) -> model.Settings:
    """``settings`` with this run's options, each checked by the model's rule for its field.

    Raises ``model.ValidationError`` naming the bad fields, as ``set`` does.
    """
    import dataclasses

    if not changes:
        return settings
    checked = model.build(changes, _SAMPLE)
    return dataclasses.replace(settings, **{key: getattr(checked, key) for key in changes})


def _test(args: argparse.Namespace, store: Store, console: _Console) -> int:
    code, stored = _load_configured(store, console)
    if stored is None:
        return code

    changes: dict[str, object] = {}
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    recipient: str | None = None
    if args.to is not None:
        recipient = args.to or stored.test_recipient
        if not recipient:
            console.err(
                f"{model.FIELDS_BY_KEY['test_recipient'].label}: is not remembered yet: "
                "give the address, as in --to admin@example.com"
            )
            return Exit.INVALID
        changes["test_recipient"] = recipient
    try:
        settings = _with_run_options(stored, changes)
    except model.ValidationError as exc:
        return _report_invalid(exc, console)

    from configurator import mail

    token = mail.CancelToken()
    printer: _StepPrinter | None = None
    if not args.json:
        printer = _StepPrinter(console, terminal=_on_terminal())
        console.write(_check_heading(settings, recipient) + "\n")
    result = _in_background(
        lambda: mail.run_check(settings, recipient=recipient, on_step=printer, cancel=token),
        token,
        "configurator-test",
    )

    if args.json:
        console.out(result.to_json())
    else:
        _print_outcome(result, args, console)
        if args.transcript:
            console.out()
            console.out("Transcript (passwords hidden):")
            console.out(result.transcript_text() or "(nothing was exchanged)")

    if _may_write(store):
        _record(store, console, "check", detail=_check_detail(result))
    if args.to and not result.cancelled:
        _remember_recipient(store, result, console, quiet=args.json)
    if result.passed:
        return Exit.OK
    if result.cancelled:
        console.err(f"{PROG}: interrupted; the check was cancelled.")
        return Exit.INTERRUPTED
    return Exit.CHECK_FAILED


def _check_detail(result: mail.CheckResult) -> str:
    """The result in plain words for the audit trail, worded as the window words it.

    No setting value goes there, not even the test recipient.
    """
    step = result.failed_step
    if result.passed:
        return "passed; the server accepted the test e-mail" if result.recipient else "passed"
    summary = result.failure.summary if result.failure is not None else "unknown problem"
    if result.cancelled:
        return "cancelled"
    if step is None:
        return f"failed: {summary}"
    return f"failed at {step.title}: {summary}"


def _check_heading(settings: model.Settings, recipient: str | None) -> str:
    login = (
        f", logging in as {settings.username}" if settings.auth is model.Auth.LOGIN_PLAIN else ""
    )
    text = (
        f"Checking {settings.server} port {settings.port} with "
        f"{settings.security.label}{login} (waiting up to {settings.timeout:g} s per step)"
    )
    if recipient:
        text += f"; a test e-mail goes to {recipient}"
    return text + ":"


# Certificate problems that trusting the authority or pinning the certificate resolves.
_TRUSTABLE = frozenset({"cert_untrusted", "cert_wrong_host", "cert_pin_mismatch"})


def _print_outcome(result: mail.CheckResult, args: argparse.Namespace, console: _Console) -> None:
    """After the steps: the verdict, and for a failure what it means and what to do."""
    console.out()
    if result.passed:
        if result.recipient:
            console.out(
                f"Passed: every step succeeded, and the server accepted the test e-mail to "
                f"{result.recipient}. Check that it arrived."
            )
        else:
            console.out(
                "Passed: every step succeeded. No e-mail was sent; add --to ADDRESS to send "
                "a test e-mail."
            )
        return
    failure = result.failure
    step = result.failed_step
    if failure is None or step is None:
        return
    if result.cancelled:
        console.out(f'Cancelled during "{step.title}".')
        return
    console.out(f'FAILED at "{step.title}": {failure.summary}.')
    console.out(f"Cause: {failure.cause}")
    console.out(f"Fix:   {failure.fix}")
    if failure.reply:
        console.out(f"Server reply: {failure.reply}")
    certificate = result.certificate
    if certificate is None or not failure.problem.startswith("cert_"):
        return
    console.out()
    console.out("The server's certificate:")
    rows = [
        ("Subject", certificate.subject),
        ("Issuer", certificate.issuer),
        ("Valid", f"{_date(certificate.not_before)} to {_date(certificate.not_after)}"),
        ("Names", ", ".join(certificate.names) or "(none)"),
        ("SHA-256", certificate.fingerprint_colons),
    ]
    for label, value in rows:
        console.out(f"  {label + ':':<9} {value}")
    if failure.problem.value not in _TRUSTABLE:
        return
    console.out()
    console.out("To trust it, either:")
    if failure.problem.value == "cert_untrusted":
        console.out("- trust the authority that issued it (its certificate as a PEM file):")
        console.out(f"    {_command(args, 'set', '--ca-file', '/path/to/ca.pem')}")
    console.out(
        "- or pin exactly this certificate, after confirming its fingerprint with the mail "
        "administrator:"
    )
    console.out(f"    {_command(args, 'set', '--tls-fingerprint', certificate.fingerprint)}")


def _date(moment: object) -> str:
    return f"{moment:%Y-%m-%d}" if moment is not None else "unknown"


def _remember_recipient(
    store: Store, result: mail.CheckResult, console: _Console, *, quiet: bool
) -> None:
    """Keep the test recipient for next time; a failure to do so never fails the test."""
    import dataclasses

    from configurator.mail import Problem

    recipient = result.recipient
    if not recipient:
        return
    if result.failure is not None and result.failure.problem is Problem.RECIPIENT_REFUSED:
        console.err(f"Note: {recipient} was not remembered, since the server refused it.")
        return
    label = model.FIELDS_BY_KEY["test_recipient"].label
    try:
        current = store.load()
        if current is None or current.settings.test_recipient == recipient:
            return
        store.require_writable()
        remembered = dataclasses.replace(current.settings, test_recipient=recipient)
        store.save(remembered, expected_revision=current.revision, expected_lineage=current.lineage)
    except (StoreError, model.ValidationError) as exc:
        console.err(f"Note: {recipient} was not remembered as the {label}: {exc}")
        return
    _record(store, console, "submit", fields=("test_recipient",))
    if not quiet:
        console.out(f"Remembered {recipient} as the {label}.")


# -- detect --------------------------------------------------------------


class _ProbePrinter:
    """Prints each candidate's outcome as its probe finishes (probes run in parallel)."""

    def __init__(self, console: _Console) -> None:
        import threading

        self._console = console
        self._lock = threading.Lock()

    def __call__(self, probe: mail.Probe) -> None:
        with self._lock:
            self._console.write(_probe_line(probe) + "\n")


_VERDICT_WIDTH = 13
_CANDIDATE_WIDTH = 22


def _probe_line(probe: mail.Probe) -> str:
    from configurator.mail import Verdict

    if probe.verdict is Verdict.WORKS:
        what = "the login was accepted" if probe.auth_verified else "a verified TLS connection"
    elif probe.verdict is Verdict.UNENCRYPTED:
        what = "answers, but offers no encryption"
    else:
        what = probe.failure.summary if probe.failure is not None else "did not work"
    verdict = probe.verdict.value
    return (
        f"{verdict:<{_VERDICT_WIDTH}}{probe.candidate.label:<{_CANDIDATE_WIDTH}}"
        f"{_seconds(probe.duration):>{_TIME_WIDTH}}  {what}"
    )


def _detect(args: argparse.Namespace, store: Store, console: _Console) -> int:
    if args.allow_unencrypted and not args.apply:
        console.err(f"{PROG} detect: --allow-unencrypted only has a meaning with --apply.")
        return Exit.USAGE
    code, stored = _load_configured(store, console)
    if stored is None:
        return code
    if args.apply:
        try:
            store.require_writable()
        except NotWritable as exc:
            console.err(f"{PROG}: {exc} {_NOTHING_CHANGED}")
            return Exit.ERROR

    from configurator import mail

    login = stored.auth is model.Auth.LOGIN_PLAIN
    token = mail.CancelToken()
    printer: _ProbePrinter | None = None
    if not args.json:
        printer = _ProbePrinter(console)
        with_login = f" with the login of {stored.username}" if login else ""
        console.write(
            f"Trying {stored.server}{with_login}: every combination at once, waiting up to "
            f"{stored.timeout:g} s per step:\n"
        )
    found = _in_background(
        lambda: mail.detect(
            stored.server,
            stored.username if login else "",
            stored.password if login else "",
            stored.timeout,
            stored.ca_file,
            # Named explicitly (not left to the default) so that the list is looked up now.
            candidates=mail.DEFAULT_CANDIDATES,
            tls_fingerprint=stored.tls_fingerprint,
            cancel=token,
            on_probe=printer,
        ),
        token,
        "configurator-detect",
    )
    if token.cancelled:
        console.err(f"{PROG}: interrupted; detection was cancelled.")
        return Exit.INTERRUPTED

    report = console.err if args.json else console.out
    if not args.json:
        console.out()
    code = _detect_verdict(found, stored, args, report)
    applied: dict[str, object] | None = None
    if args.apply:
        code, applied = _apply_detected(found, store, args, console, report)
    if args.json:
        data = found.to_dict()
        if args.apply:
            data["applied"] = applied
        console.out(json.dumps(data, indent=2, ensure_ascii=False))
    return code


def _detect_verdict(
    found: mail.DetectResult,
    stored: model.Settings,
    args: argparse.Namespace,
    report: Callable[[str], None],
) -> int:
    """Say what was found and how to use it; return the exit code."""
    import dataclasses

    choice = found.best or found.unencrypted
    if choice is None:
        report(found.summary())
        report(
            f"Check Outgoing Mail Server; '{_command(args, 'test')}' explains what goes wrong "
            "with the stored port step by step."
        )
        return Exit.CHECK_FAILED
    candidate = choice.candidate
    if found.best is None:
        report(f"WARNING: {found.warning}")
        candidate = dataclasses.replace(candidate, security=model.Security.NONE)
    else:
        report(f"Best: {found.summary()}")
    if (stored.port, stored.security) == (candidate.port, candidate.security):
        report("The stored settings already use it.")
    elif not args.apply:
        intro = "To use it" if found.best is not None else "Only if you accept that"
        command = _command(
            args, "set", "--port", str(candidate.port), "--security", candidate.security.value
        )
        report(f"{intro}: {command}")
    return Exit.OK if found.best is not None else Exit.CHECK_FAILED


def _apply_detected(
    found: mail.DetectResult,
    store: Store,
    args: argparse.Namespace,
    console: _Console,
    report: Callable[[str], None],
) -> tuple[int, dict[str, object] | None]:
    """Store the proposed combination; return the exit code and what was stored."""
    if found.best is not None:
        changes = found.best.candidate.changes()
    elif found.unencrypted is not None and args.allow_unencrypted:
        changes = {"port": found.unencrypted.candidate.port, "security": "none"}
    elif found.unencrypted is not None:
        console.err(
            "Not applied: only an unencrypted connection works. Add --allow-unencrypted to "
            f"store it anyway. {_NOTHING_CHANGED}"
        )
        return Exit.CHECK_FAILED, None
    else:
        console.err(f"Not applied: no combination works. {_NOTHING_CHANGED}")
        return Exit.CHECK_FAILED, None
    try:
        current = store.load()
        if current is None:
            console.err(f"{PROG}: the settings were reset meanwhile. {_NOTHING_CHANGED}")
            return Exit.NOT_CONFIGURED, None
        settings = model.build(changes, current.settings)
        if settings == current.settings:
            return Exit.OK, changes
        saved = store.save(
            settings, expected_revision=current.revision, expected_lineage=current.lineage
        )
    except SettingsUnreadable as exc:
        return _report_unreadable(exc, store, console), None
    except model.ValidationError as exc:
        return _report_invalid(exc, console), None
    except ConflictError as exc:
        console.err(f"{PROG}: {exc} Nothing was saved; run the command again.")
        return Exit.ERROR, None
    except StoreError as exc:
        console.err(f"{PROG}: {exc}")
        return Exit.ERROR, None
    from configurator import audit

    _record(store, console, "submit", fields=audit.changed_fields(current.settings, settings))
    port_label = model.FIELDS_BY_KEY["port"].label
    security_label = model.FIELDS_BY_KEY["security"].label
    report(
        f"Stored {port_label} {settings.port} and {security_label} {settings.security.label} "
        f"(revision {saved.revision})."
    )
    if settings.sends_password_in_clear:
        console.err(
            "Warning: Login/Plain without Connection Security sends the user name and "
            "password unencrypted."
        )
    return Exit.OK, changes
