"""Times as people read them: this computer's local time, always with its zone.

The audit trail and the settings file keep times in UTC (ISO 8601).  The
window and ``configurator audit`` show them the same way -- local time to the
second, followed by the zone -- so that a time read in one can be compared
with the other, and with the clock on the wall.
"""

from __future__ import annotations

import datetime as dt


def zone_name(moment: dt.datetime) -> str:
    """The zone's short name ("CEST", "UTC"), or its offset ("UTC+05:30") when it has none."""
    name = moment.tzname() or ""
    if name.isalpha() and name.isupper() and len(name) <= 5:
        return name
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}" if hours or minutes else "UTC"


def local_time(stamp: str) -> str:
    """An ISO time ("2026-05-09T12:00:00+00:00") as "2026-05-09 14:00:00 CEST".

    A time without a zone is taken as UTC, as the program writes them; text
    that is not a time at all is returned as it is.
    """
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_name(local)}"
