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
    from configurator.store import Store


class AuditRecorder:
    """Records to ``store``'s trail while ``may_write()``; calls ``written`` after each entry."""

    def __init__(
        self, store: Store, may_write: Callable[[], bool], written: Callable[[], None]
    ) -> None:
        self.store = store
        self.may_write = may_write
        self.written = written

    def record(
        self, action: audit.Action, detail: str = "", fields_changed: tuple[str, ...] = ()
    ) -> str | None:
        """Append to the audit trail; return a warning if that failed (never raises)."""
        from configurator import audit

        if not self.may_write():
            return None
        warning = audit.record(
            self.store.data_dir,
            action,
            fields_changed=fields_changed,
            detail=detail,
            key_backend=self.store.key_backend,
        )
        self.written()
        return warning
