"""``audit``: print the audit trail and say whether its chain is intact."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from configurator.cli import Exit

if TYPE_CHECKING:
    import argparse

    from configurator import audit
    from configurator.cli import Console
    from configurator.store import Store


def run(args: argparse.Namespace, store: Store, console: Console) -> int:
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


def _print_audit_table(entries: Sequence[audit.Entry], console: Console) -> None:
    from configurator.timestamps import local_time

    header = ("Time", "User", "Action", "Fields changed", "Detail")
    rows = [header]
    for entry in entries:
        detail = entry.detail if entry.verified else f"{entry.detail} [not verified]".lstrip()
        rows.append(
            (
                local_time(entry.time),
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


def _no_controls(text: str) -> str:
    """A record read from disk may hold anything: never hand control characters to a terminal."""
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode()
        for char in text
    )
