"""``test``: check the stored settings step by step against the server, optionally sending mail."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from configurator import model, textsafe
from configurator.commands import common
from configurator.commands.background import in_background
from configurator.console import PROG, Exit

if TYPE_CHECKING:
    import argparse

    from configurator import mail
    from configurator.console import Console
    from configurator.store import Store


def _on_terminal() -> bool:
    """Rewrite progress lines in place only on a terminal; pipes and logs get plain lines."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _first_line(reply: str) -> str:
    """The first line of a (possibly multi-line) reply, as "250 name" rather than "250-name"."""
    first = reply.splitlines()[0] if reply else ""
    if len(reply.splitlines()) > 1 and first[3:4] == "-":
        first = f"{first[:3]} {first[4:]}"
    return first


# Columns of a step line: outcome, step, time (``common.TIME_WIDTH``), then the reply.
_OUTCOME_WIDTH = 10
_TITLE_WIDTH = 25
_INDENT = " " * _OUTCOME_WIDTH


class _StepPrinter:
    """Prints each step when it starts and again when it ends.

    Piped output is plain lines: a "running" line when a step starts (so that
    a hang shows where it is), a result line when it ends.  On a terminal the
    "running" line is overwritten by the result.
    """

    def __init__(self, console: Console, *, terminal: bool) -> None:
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
    timing = "" if step.outcome is Outcome.SKIPPED else common.seconds(step.duration)
    # The reply, the detail and the notes carry the server's words: shown escaped.
    reply = textsafe.line(_first_line(step.reply))
    detail = textsafe.sentence(step.detail)
    if not reply:
        reply, detail = detail, ""
    elif detail and step.detail in step.reply:
        detail = ""
    head = f"{word:<{_OUTCOME_WIDTH}}{step.title:<{_TITLE_WIDTH}}{timing:>{common.TIME_WIDTH}}"
    lines = [f"{head}  {reply}".rstrip()]
    if detail:
        lines.append(f"{_INDENT}{detail}")
    lines.extend(f"{_INDENT}Warning: {textsafe.line(note)}" for note in step.notes)
    return lines


def _with_run_options(settings: model.Settings, changes: dict[str, object]) -> model.Settings:
    """``settings`` with this run's options, each checked by the model's rule for its field.

    Raises ``model.ValidationError`` naming the bad fields, as ``set`` does.
    """
    import dataclasses

    if not changes:
        return settings
    return dataclasses.replace(settings, **model.parse_each(changes))  # type: ignore[arg-type]


def run(args: argparse.Namespace, store: Store, console: Console) -> int:
    code, stored = common.load_configured(store, console)
    if stored is None:
        return code

    changes: dict[str, object] = {}
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    recipient: str | None = None
    if args.to is not None:
        from configurator import preferences

        recipient = args.to or preferences.remembered_recipient() or stored.test_recipient
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
        return common.report_invalid(exc, console)

    from configurator import mail

    token = mail.CancelToken()
    console.when_reader_gone(token.cancel)  # nobody would see the result
    printer: _StepPrinter | None = None
    if not args.json:
        printer = _StepPrinter(console, terminal=_on_terminal())
        console.write(_check_heading(settings, recipient) + "\n")
    result = in_background(
        lambda: mail.run_check(settings, recipient=recipient, on_step=printer, cancel=token),
        token,
        "configurator-test",
    )

    if args.json:
        console.out(result.to_json())
    else:
        _print_outcome(result, store, console)
        if args.transcript:
            console.out()
            console.out("Transcript (passwords hidden):")
            console.out(result.transcript_text() or "(nothing was exchanged)")

    if common.may_write(store):
        common.record(store, console, "check", detail=_check_detail(result))
    if args.to and not result.cancelled:
        _remember_recipient(result, console, quiet=args.json)
    if result.passed:
        return Exit.OK
    if result.cancelled:
        console.err(f"{PROG}: interrupted; the check was cancelled.")
        return Exit.INTERRUPTED
    return Exit.CHECK_FAILED


def _check_detail(result: mail.CheckResult) -> str:
    """The result in plain words for the audit trail, worded as the window words it."""
    return result.summary()


def _check_heading(settings: model.Settings, recipient: str | None) -> str:
    login = (
        f", logging in as {settings.username}" if settings.auth is model.Auth.LOGIN_PLAIN else ""
    )
    text = (
        f"Checking {settings.server} port {settings.port} with "
        f"{settings.security.phrase}{login} (waiting up to {settings.timeout:g} s per step)"
    )
    if recipient:
        text += f"; a test e-mail goes to {recipient}"
    return text + ":"


def _print_outcome(result: mail.CheckResult, store: Store, console: Console) -> None:
    """After the steps: the verdict, and for a failure what it means and what to do."""
    from configurator.mail import Problem

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
    # The texts quote the server and the certificate: every line is shown escaped.
    console.out(f'FAILED at "{step.title}": {textsafe.line(failure.summary)}.')
    console.out(f"Cause: {textsafe.sentence(failure.cause)}")
    console.out(f"Fix:   {textsafe.sentence(failure.fix)}")
    if failure.reply:
        console.out(f"Server reply: {textsafe.lines(failure.reply)}")
    certificate = result.certificate
    if certificate is None or not failure.problem.is_certificate:
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
        # One row each, whatever the certificate holds: no field can add a line of its own.
        console.out(f"  {label + ':':<9} {textsafe.line(value)}")
    if not failure.problem.pinnable:
        return
    console.out()
    pin = common.command(store, "set", "--tls-fingerprint", certificate.fingerprint)
    confirmed = "after confirming its fingerprint with the mail administrator"
    if failure.problem is Problem.CERT_UNTRUSTED:
        console.out("To trust it, either:")
        console.out("- trust the authority that issued it (its certificate as a PEM file):")
        console.out(f"    {common.command(store, 'set', '--ca-file', '/path/to/ca.pem')}")
        console.out(f"- or pin exactly this certificate, {confirmed}:")
    else:
        # Wrong host or a different certificate than the pinned one: no authority to add.
        console.out(f"To trust it anyway, pin exactly this certificate, {confirmed}:")
    console.out(f"    {pin}")


def _date(moment: object) -> str:
    return f"{moment:%Y-%m-%d}" if moment is not None else "unknown"


def _remember_recipient(result: mail.CheckResult, console: Console, *, quiet: bool) -> None:
    """Keep the Test Recipient for next time, as this user's preference.

    Never in the settings: a check only looks at them (no new revision, no
    change in the audit trail).  A failure to remember never fails the test.
    """
    from configurator import preferences
    from configurator.mail import Problem

    recipient = result.recipient
    if not recipient:
        return
    if result.failure is not None and result.failure.problem is Problem.RECIPIENT_REFUSED:
        console.err(f"Note: {recipient} was not remembered, since the server refused it.")
        return
    label = model.FIELDS_BY_KEY["test_recipient"].label
    if preferences.remembered_recipient() == recipient:
        return
    try:
        path = preferences.remember_recipient(recipient)
    except preferences.PreferenceError as exc:
        console.err(f"Note: {recipient} was not remembered as your {label}: {exc}")
        return
    if not quiet:
        console.out(f"Remembered {recipient} as your {label} (in {path}).")
