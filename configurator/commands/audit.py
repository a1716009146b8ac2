"""``audit``: print the audit trail and say whether its chain is intact.

Exit 0 when intact, 4 when broken or when the trail cannot be read at all
(then the message says why, not "Chain broken").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from configurator.console import Exit

if TYPE_CHECKING:
    import argparse

    from configurator import audit
    from configurator.console import Console
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
    elif not report.readable:
        # Not a verdict on the chain: nothing could be read to give one.
        console.out(report.problem or "The audit trail cannot be checked.")
    else:
        console.out(f"Chain broken: {report.problem}")
    for warning in report.warnings:
        console.out(f"Warning: {warning}")
    return code


def _print_audit_table(entries: Sequence[audit.Entry], console: Console) -> None:
    from configurator import audit
    from configurator.timestamps import local_time

    header = ("Time", "User", "Action", "Fields changed", "Detail")
    rows = [header]
    for entry in entries:
        detail = audit.detail_words(entry.action, entry.detail)
        if not entry.verified:
            detail = f"{detail} [not verified]".lstrip()
        rows.append(
            (
                local_time(entry.time),
                entry.user,
                audit.action_words(entry.action),
                ", ".join(entry.fields) or "-",
                detail or "-",
            )
        )
    cleaned = [tuple(_no_controls(cell) for cell in row) for row in rows]
    widths = [max(len(row[column]) for row in cleaned) for column in range(len(header) - 1)]
    lines = []
    for row in cleaned:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    from configurator.commands import common

    columns = common.terminal_columns()
    if columns is not None and any(len(line) > columns for line in lines):
        _print_audit_entries(cleaned, console)
        return
    for line in lines:
        console.out(line)


def _print_audit_entries(rows: Sequence[tuple[str, ...]], console: Console) -> None:
    """The table one entry at a time, each value on its own line: for a narrow terminal."""
    header, *entries = rows
    for number, entry in enumerate(entries):
        if number:
            console.out()
        console.out(entry[0])
        for label, value in zip(header[1:], entry[1:], strict=True):
            console.out(f"  {label}: {value}")


def _no_controls(text: str) -> str:
    """A record read from disk may hold anything: never hand control characters to a terminal."""
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode()
        for char in text
    )
