"""Tests whose outcome depends on the account that runs them: root or not.

As root every permission check passes, so a test of "this account may not
write here" needs an ordinary account; a test that hands a file to another
account needs root.  Tests of both kinds, and tests that run on both sides
but differently (as root they act as ``nobody``), carry the ``permissions``
marker: CI runs the whole suite as root, then ``-m permissions`` again as an
unprivileged account (``.ci/run``), so that both sides run on every change.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import pytest

POSIX = os.name == "posix"
IS_ROOT = POSIX and os.geteuid() == 0
# The two reasons to skip that the unprivileged run in CI tells apart.
NOT_AS_ROOT = "needs POSIX permissions that bind: an account that is not root"
ONLY_AS_ROOT = "needs root, to act as or hand files to another account"

Test = TypeVar("Test", bound=Callable[..., object])

permissions = pytest.mark.permissions


def not_root(test: Test) -> Test:
    """Run ``test`` only where permission bits bind this account (skipped as root)."""
    return permissions(pytest.mark.skipif(not POSIX or IS_ROOT, reason=NOT_AS_ROOT)(test))


def root_only(test: Test) -> Test:
    """Run ``test`` only as root (skipped for an ordinary account)."""
    return permissions(pytest.mark.skipif(not IS_ROOT, reason=ONLY_AS_ROOT)(test))
