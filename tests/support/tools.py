"""Programs some tests need, and the rule that CI never skips for want of one.

A test that needs a program which is not installed skips, so that the
README's test command works on any machine.  Its reason starts with
``MISSING``: ``conftest.py`` turns such a skip into a failure when the
environment variable ``CI`` is set, because ``.ci/run`` installs every one of
these programs, and a test that quietly stopped running would prove nothing.
"""

from __future__ import annotations

import os
import shutil

import pytest

MISSING = "needs a program that is not installed:"


def in_ci() -> bool:
    """Whether this run is CI's (``CI`` set to anything but empty, 0, false or no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(*programs: str) -> list[str]:
    return [program for program in programs if shutil.which(program) is None]


def missing_reason(absent: list[str], packages: str) -> str:
    return f"{MISSING} {', '.join(absent)} (Debian: apt-get install {packages})"


def needs(*programs: str, packages: str) -> pytest.MarkDecorator:
    """Skip the test unless every one of ``programs`` is on PATH (a failure in CI)."""
    absent = missing(*programs)
    return pytest.mark.skipif(bool(absent), reason=missing_reason(absent, packages))


def require(*programs: str, packages: str) -> None:
    """Inside a test or fixture: skip unless every one of ``programs`` is on PATH."""
    absent = missing(*programs)
    if absent:
        pytest.skip(missing_reason(absent, packages))
