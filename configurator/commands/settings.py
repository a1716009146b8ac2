"""``set``: validate and store settings exactly as the window's Submit does.

Both fronts go through ``model.build`` then the store, so they accept and
refuse the same values with the same words.  The change is applied by
``Store.update``: read, changed and written under the store's lock as one
step, so that commands run at the same time by scripts take turns and each
changes the latest revision (only the window, whose user edited a snapshot,
meets conflicts).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from configurator import model
from configurator.commands import common
from configurator.console import PROG, Exit
from configurator.errors import NotWritable, SettingsUnreadable, StoreError

if TYPE_CHECKING:
    import argparse

    from configurator.console import Console
    from configurator.store import Store


def run(args: argparse.Namespace, store: Store, console: Console) -> int:
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
        store.require_writable()
        common.check_trail(store)
    except SettingsUnreadable as exc:
        return common.report_unreadable(exc, store, console)
    except NotWritable as exc:
        return common.refuse_change(exc, store, args, console)

    errors: list[model.FieldError] = []
    for spec in secrets:
        value, problem = _read_secret(spec)
        if problem is not None:
            errors.append(model.FieldError(spec.key, problem))
        else:
            console.secrets.append(value)
            changes[spec.key] = value
    try:
        # A first look, so that every bad field (secrets included) is named at once.
        model.build(changes, stored.settings if stored else None)
    except model.ValidationError as exc:
        already = {error.key for error in errors}
        errors.extend(error for error in exc.errors if error.key not in already)
    if errors:
        return common.report_invalid(model.ValidationError(errors), console)

    try:
        # Applied to what is stored when the lock is held, which another
        # command may have changed since the first look.
        before, saved = store.update(
            lambda current: model.build(changes, current.settings if current else None)
        )
    except SettingsUnreadable as exc:
        return common.report_unreadable(exc, store, console)
    except model.ValidationError as exc:
        return common.report_invalid(exc, console)
    except StoreError as exc:
        console.err(f"{PROG}: {exc}")
        return Exit.ERROR
    assert saved is not None
    settings = saved.settings
    console.out(f"Saved the mail server settings to {store.path} (revision {saved.revision}).")
    from configurator import audit

    old = before.settings if before else None
    code = common.record_change(
        store,
        console,
        "submit",
        f"the settings were saved (revision {saved.revision})",
        fields=audit.changed_fields(old, settings),
        detail=f"revision {saved.revision}",
    )
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
    return code


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
