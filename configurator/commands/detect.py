"""``detect``: try every port and security combination at once and propose (or store) the best."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from configurator import model, textsafe
from configurator.commands import common
from configurator.commands.background import in_background
from configurator.console import PROG, Exit
from configurator.errors import NotWritable, SettingsUnreadable, StoreError

if TYPE_CHECKING:
    import argparse

    from configurator import mail
    from configurator.console import Console
    from configurator.store import Store, Stored


class _ProbePrinter:
    """Prints each candidate's outcome as its probe finishes (probes run in parallel)."""

    def __init__(self, console: Console) -> None:
        import threading

        self._console = console
        self._lock = threading.Lock()
        self._columns = common.terminal_columns()

    def __call__(self, probe: mail.Probe) -> None:
        line = _probe_line(probe)
        if self._columns is not None and len(line) > self._columns:
            # A narrow terminal: what was found goes on a line of its own.
            cut = _VERDICT_WIDTH + _CANDIDATE_WIDTH
            line = f"{line[:cut].rstrip()}\n{'':{_VERDICT_WIDTH}}{line[cut:].strip()}"
        with self._lock:
            self._console.write(line + "\n")


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
        what = textsafe.line(what)
    verdict = probe.verdict.value
    return (
        f"{verdict:<{_VERDICT_WIDTH}}{probe.candidate.label:<{_CANDIDATE_WIDTH}}"
        f"{common.seconds(probe.duration):>{common.TIME_WIDTH}}  {what}"
    )


def run(args: argparse.Namespace, store: Store, console: Console) -> int:
    if args.allow_unencrypted and not args.apply:
        console.err(f"{PROG} detect: --allow-unencrypted only has a meaning with --apply.")
        return Exit.USAGE
    code, stored = common.load_configured(store, console)
    if stored is None:
        return code
    if args.apply:
        try:
            store.require_writable()
        except NotWritable as exc:
            return common.refuse_change(exc, store, args, console)

    from configurator import mail

    login = stored.auth is model.Auth.LOGIN_PLAIN
    token = mail.CancelToken()
    if not args.apply:  # nobody would see the result; with --apply it is stored
        console.when_reader_gone(token.cancel)
    printer: _ProbePrinter | None = None
    # Named explicitly (not left to the default) so that the list is looked up now.
    candidates = mail.candidates_for(stored.port, stored.security, mail.DEFAULT_CANDIDATES)
    if not args.json:
        printer = _ProbePrinter(console)
        with_login = f" with the login of {stored.username}" if login else ""
        tried = ", ".join(candidate.label for candidate in candidates)
        heading = (
            f"Trying {stored.server}{with_login} on the stored port and the usual ones, all at "
            f"once, waiting up to {stored.timeout:g} s per step: {tried}."
        )
        console.write(common.fit(heading) + "\n")
    found = in_background(
        lambda: mail.detect(
            stored.server,
            stored.username if login else "",
            stored.password if login else "",
            stored.timeout,
            stored.ca_file,
            candidates=candidates,
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
    code = _detect_verdict(found, stored, store, args.apply, report)
    applied: dict[str, object] | None = None
    if args.apply:
        code, applied = _apply_detected(found, store, args, console, report)
    if args.json:
        data = found.to_dict()
        if args.apply:
            data["applied"] = applied
        console.out(textsafe.json_text(data))
    return code


def _detect_verdict(
    found: mail.DetectResult,
    stored: model.Settings,
    store: Store,
    applying: bool,
    report: Callable[[str], None],
) -> int:
    """Say what was found and how to use it; return the exit code."""
    import dataclasses

    choice = found.best or found.unencrypted
    if choice is None:
        report(common.fit(textsafe.sentence(found.summary())))
        report(
            "Check Outgoing Mail Server. To see what goes wrong with the stored port, step by "
            f"step, run: {common.command(store, 'test')}"
        )
        return Exit.CHECK_FAILED
    candidate = choice.candidate
    if found.best is None:
        report(f"WARNING: {found.warning}")
        candidate = dataclasses.replace(candidate, security=model.Security.NONE)
    else:
        report(common.fit(f"Best: {found.summary()}"))
    if (stored.port, stored.security) == (candidate.port, candidate.security):
        report("The stored settings already use it.")
    elif not applying:
        intro = "To use it" if found.best is not None else "Only if you accept that"
        command = common.command(
            store, "set", "--port", str(candidate.port), "--security", candidate.security.value
        )
        report(f"{intro}: {command}")
    return Exit.OK if found.best is not None else Exit.CHECK_FAILED


def _apply_detected(
    found: mail.DetectResult,
    store: Store,
    args: argparse.Namespace,
    console: Console,
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
            f"store it anyway. {common.NOTHING_CHANGED}"
        )
        return Exit.CHECK_FAILED, None
    else:
        console.err(f"Not applied: no combination works. {common.NOTHING_CHANGED}")
        return Exit.CHECK_FAILED, None

    def change(current: Stored | None) -> model.Settings | None:
        if current is None:
            return None
        settings = model.build(changes, current.settings)
        return None if settings == current.settings else settings

    try:
        common.check_trail(store)
        # Read, changed and written under the store's lock: a command run at the
        # same time is applied before or after this one, never lost.
        current, saved = store.update(change)
    except SettingsUnreadable as exc:
        return common.report_unreadable(exc, store, console), None
    except model.ValidationError as exc:
        return common.report_invalid(exc, console), None
    except StoreError as exc:
        console.err(f"{PROG}: {exc}")
        return Exit.ERROR, None
    if current is None:
        console.err(f"{PROG}: the settings were reset meanwhile. {common.NOTHING_CHANGED}")
        return Exit.NOT_CONFIGURED, None
    if saved is None:
        return Exit.OK, changes
    settings = saved.settings
    from configurator import audit

    code = common.record_change(
        store,
        console,
        "submit",
        f"the settings were saved (revision {saved.revision})",
        fields=audit.changed_fields(current.settings, settings),
        detail=f"revision {saved.revision}, from detect",
    )
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
    return code, changes
