"""Appending the main window's changes and checks to the audit trail.

Recording never fails the action it records: a trail that cannot be written
becomes a warning for the status bar.  A reader cannot write the trail, and
changes nothing worth recording, so nothing is recorded for one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configurator import audit
    from configurator.ui.session import EditSession


class AuditRecorder:
    """Records to the trail of ``session``'s store while it may write; then calls ``written``."""

    def __init__(self, session: EditSession, written: Callable[[], None]) -> None:
        self.session = session
        self.written = written

    def record(
        self, action: audit.Action, detail: str = "", fields_changed: tuple[str, ...] = ()
    ) -> str | None:
        """Append to the audit trail; return a warning if that failed (never raises)."""
        from configurator import audit

        store = self.session.store
        if not self.session.writable:
            return None
        warning = audit.record(
            store.data_dir,
            action,
            fields_changed=fields_changed,
            detail=detail,
            key_backend=store.key_backend,
        )
        self.written()
        return warning
