"""Times shown to people: local time with its zone, whatever the zone calls itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from configurator.timestamps import local_time


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set TZ for this process (``time.tzset``), and put it back afterwards."""
    with monkeypatch.context() as patch:
        yield patch
    time.tzset()


@pytest.mark.parametrize(
    ("tz", "stamp", "shown"),
    [
        ("UTC", "2026-05-09T12:00:00+00:00", "2026-05-09 12:00:00 UTC"),
        ("Europe/Berlin", "2026-05-09T12:00:00+00:00", "2026-05-09 14:00:00 CEST"),
        ("Europe/Berlin", "2026-12-03T12:00:00+00:00", "2026-12-03 13:00:00 CET"),
        ("America/Sao_Paulo", "2026-05-09T12:00:00+00:00", "2026-05-09 09:00:00 UTC-03:00"),
        ("<+0530>-5:30", "2026-05-09T12:00:00+00:00", "2026-05-09 17:30:00 UTC+05:30"),
        ("Europe/Berlin", "2026-05-09T12:00:00", "2026-05-09 14:00:00 CEST"),  # taken as UTC
        ("UTC", "not a time", "not a time"),
    ],
)
def test_local_time_with_its_zone(
    zone: pytest.MonkeyPatch, tz: str, stamp: str, shown: str
) -> None:
    zone.setenv("TZ", tz)
    time.tzset()
    assert local_time(stamp) == shown
