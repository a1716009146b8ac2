"""The passwords tests use, and the search for them in everything a test made visible.

A password must never reach a log record, standard output or error, an
exception message or a subprocess's output -- not as typed, not escaped and
not base64-encoded as AUTH PLAIN or AUTH LOGIN put it on the wire.  The
suite-wide fixture in ``conftest.py`` searches all of that for every secret
known here: the well-known passwords of the test modules and whatever a test
registers with ``secret()``.

Base64 is found wherever the password sits inside the encoded text: the
encoding of a password depends only on its position modulo three, so the part
of each of the three encodings that the surrounding bytes cannot change is
searched for.  That covers ``b64(password)`` (LOGIN) as well as
``b64("\\0user\\0password")`` and ``b64("authzid\\0user\\0password")`` (PLAIN)
for any user name.  Secrets are therefore at least ``MIN_BYTES`` long: a
shorter one would be found by chance in unrelated text.

A server that has been sent the password can say it back altered, so the
search also finds it case-folded, reversed, and in part: any ``PART``
characters in a row of the password or of its reverse, case ignored.  A part
made only of letters, spaces and hyphens ("secret" and "-secre" of
"hunter2-secret", "ery st" of "battery staple") is left out: such words turn
up in ordinary text -- a temporary path, "every step", another test's
password -- by chance.  A part with a digit or another symbol counts.  Forms as
typed are searched first, so that a leak is named by its plainest form.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse

MIN_BYTES = 8
PART = 6  # the shortest part of a password that counts as showing it

# The passwords the test modules use (and the shared SMTP fixtures): always searched for.
WELL_KNOWN: frozenset[str] = frozenset(
    {
        "Sehr-Geheim-42!",
        "launch-secret",
        "hunter2-secret",
        "correct horse battery staple",
        "s3cr3t-Pässwörd-🔑",
        "pässwörd-密码-🔑-Zz9",
        "s3cret-Pässwörd✓",
        "S3cret-Pa55word!",
        "pässwörd✓",
    }
)

_registered: set[str] = set()


def secret(value: str) -> str:
    """Register ``value`` as a secret of the running test and return it."""
    if len(value.encode("utf-8")) < MIN_BYTES:
        raise ValueError(f"a test secret needs at least {MIN_BYTES} bytes to be searched for")
    _registered.add(value)
    return value


def forget_registered() -> None:
    """Start a test with only the well-known secrets."""
    _registered.clear()


def active() -> frozenset[str]:
    return WELL_KNOWN | _registered


def _base64_cores(value: str) -> list[str]:
    """The parts of ``value``'s base64 form that do not depend on what surrounds it."""
    raw = value.encode("utf-8")
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start = 4 if offset else 0
        whole_groups = (offset + len(raw)) // 3
        cores.append(encoded[start : whole_groups * 4])
    return cores


def forms(value: str) -> list[tuple[str, str]]:
    """Each way ``value`` can appear in text, with a name for the failure message."""
    found = [
        ("as typed", value),
        ("JSON-escaped", json.dumps(value)[1:-1]),
        ("Python repr", repr(value)[1:-1]),
        ("as UTF-8 bytes repr", repr(value.encode("utf-8"))[2:-1]),
        ("URL-encoded", urllib.parse.quote(value, safe="")),
    ]
    found += [("base64, as AUTH PLAIN/LOGIN send it", core) for core in _base64_cores(value)]
    return [(name, text) for name, text in found if text]


def altered_forms(value: str) -> list[tuple[str, str]]:
    """Each case-folded part of ``value`` a server could say back, with a name; longest first."""
    found: list[tuple[str, str]] = []
    for name, text in (("case-folded", value), ("reversed", value[::-1])):
        folded = text.casefold()
        found.append((name, folded))
        parts = (folded[start : start + PART] for start in range(len(folded) - PART + 1))
        words = (part for part in parts if not all(c.isalpha() or c in " -" for c in part))
        found += [(f"{PART} characters in a row, {name}", part) for part in words]
    return found


def find(text: str | bytes, extra: tuple[str, ...] = ()) -> str | None:
    """Describe the first secret found in ``text`` (without repeating it), or ``None``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    folded = text.casefold()
    values = list(enumerate(sorted(active() | set(extra)), start=1))
    for number, value in values:
        for name, form in forms(value):
            if form in text:
                return _described(number, value, name)
    for number, value in values:
        for name, form in altered_forms(value):
            if form in folded:
                return _described(number, value, name)
    return None


def _described(number: int, value: str, form: str) -> str:
    hint = value[:2] + "…" if len(value) > 4 else "…"
    return f"test secret #{number} ({hint}, {len(value)} characters) {form}"


def assert_clean(*outputs: str | bytes | None, extra: tuple[str, ...] = ()) -> None:
    """Fail if any secret shows up in ``outputs`` (say, a subprocess's stdout and stderr)."""
    for index, output in enumerate(outputs):
        if output is None:
            continue
        leak = find(output, extra)
        assert leak is None, f"output {index} shows {leak}"


class Watch:
    """What one test made visible -- log records, read output, subprocess output."""

    def __init__(self, ignored_loggers: tuple[str, ...] = ()) -> None:
        self.seen: list[tuple[str, str]] = []
        self.ignored_loggers = ignored_loggers

    def add(self, where: str, text: str | bytes | None) -> None:
        if text:
            self.seen.append(
                (where, text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
            )

    def log_handler(self) -> logging.Handler:
        return _LogWitness(self)

    def leaks(self) -> list[str]:
        found = []
        for where, text in self.seen:
            leak = find(text)
            if leak is not None:
                found.append(f"{where} shows {leak}")
        return found


class _LogWitness(logging.Handler):
    """Keeps every record as it would be printed, traceback included."""

    def __init__(self, watch: Watch) -> None:
        super().__init__(logging.NOTSET)
        self.watch = watch
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.watch.ignored_loggers):
            return
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted still shows its parts
            text = f"{record.msg!r} {record.args!r}"
        self.watch.add(f"log record of {record.name!r}", text)
