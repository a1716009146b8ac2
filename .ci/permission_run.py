"""Fail unless an unprivileged run of the permission tests really ran them.

Reads the JUnit XML report of ``pytest -m permissions`` run as an account that
is not root (``.ci/run``'s permissions step): at least one test passed and
none was skipped, except those that need root.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.accounts import ONLY_AS_ROOT


def problems(report: Path) -> tuple[str, list[str]]:
    """A one-line count of the run, and what is wrong with it."""
    # Our own pytest's report, not untrusted input.
    cases = ElementTree.parse(report).getroot().iter("testcase")  # noqa: S314
    passed, skipped_for_root, wrong = 0, 0, []
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = [child for child in case if child.tag in ("skipped", "failure", "error")]
        if not outcome:
            passed += 1
        elif outcome[0].tag == "skipped" and ONLY_AS_ROOT in (outcome[0].get("message") or ""):
            skipped_for_root += 1
        else:
            wrong.append(f"{name}: {outcome[0].tag} ({outcome[0].get('message')})")
    if passed == 0:
        wrong.append("no permission test passed")
    summary = f"as an unprivileged account: {passed} passed, {skipped_for_root} skipped (need root)"
    return summary, wrong


def main(argv: list[str]) -> int:
    summary, wrong = problems(Path(argv[1]))
    print(f"Permission tests {summary}.")
    for line in wrong:
        print(f"Did not run as it must: {line}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
