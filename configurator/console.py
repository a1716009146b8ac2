"""What every command shares: the program's name, its exit codes and the console.

It lies below ``configurator.cli`` and the modules of ``configurator.commands``,
so that the commands never import the dispatcher that imports them.
"""

from __future__ import annotations

import enum
import io
import sys
from collections.abc import Callable
from typing import TextIO

PROG = "configurator"


class Exit(enum.IntEnum):
    """Exit codes of every call (a contract: scripts depend on them)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_CONFIGURED = 3
    UNREADABLE = 4
    INVALID = 5
    CHECK_FAILED = 6
    # 7 is taken by the outbox ("kept for later").  The change was made but the
    # audit trail could not record it: not 0, since a record is missing that
    # an administrator relies on, and not 1, since the change itself succeeded.
    NOT_RECORDED = 8
    INTERRUPTED = 130  # Ctrl+C, as shells report a SIGINT
    # The reader of the output went away (``configurator audit | head -2``): the
    # status of a Unix tool ended by SIGPIPE, as shells report it (128 + 13).
    READER_GONE = 141


#: What each exit code means, as ``configurator --help`` lists it (lines broken by hand).
EXIT_MEANINGS: dict[Exit, str] = {
    Exit.OK: "success",
    Exit.ERROR: (
        "unexpected error, or this account may not change the settings store\n"
        "(it can read but not write it: ask the administrator who manages it,\n"
        "run as that administrator, or use your own store with --data-dir)"
    ),
    Exit.USAGE: (
        "usage error: unknown command or option, a value that is not one of the\n"
        "choices, an invalid CONFIGURATOR_KEY_BACKEND; reset refused or declined"
    ),
    Exit.NOT_CONFIGURED: "no settings are stored",
    Exit.UNREADABLE: (
        "the stored settings cannot be read: corrupt, tampered, data key missing\n"
        "or wrong, keyring locked, newer format, or no permission to read them;\n"
        "audit: the audit trail is not intact (or cannot be read or verified)"
    ),
    Exit.INVALID: "invalid input: one line per bad field on standard error",
    Exit.CHECK_FAILED: (
        "the mail server check failed (test), or no encrypted combination\nworks (detect)"
    ),
    Exit.NOT_RECORDED: "the change was made, but the audit trail could not record it",
    Exit.INTERRUPTED: "interrupted (Ctrl+C); a running check is cancelled cleanly",
    Exit.READER_GONE: (
        f"the reader of the output went away ({PROG} audit | head -2):\n"
        "the call ends quietly, with the status of a tool ended by SIGPIPE"
    ),
}


def exit_code_table() -> str:
    """The "exit codes:" section of the help, from ``EXIT_MEANINGS``: one table, no copy."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_MEANINGS.items():
        first, *rest = meaning.split("\n")
        label = f"  {code.value}  "
        lines.append(label + first)
        lines.extend(" " * len(label) + line for line in rest)
    return "\n".join(lines) + "\n"


class Console:
    """Writes what the user sees, hiding any secret this call has read.

    Normal output never contains a password; the filter is a second line of
    defence for error messages built from exceptions, whose text is not ours.

    When the reader of the output goes away (``configurator show | head -1``),
    everything after is dropped quietly, on both streams, as if SIGPIPE had
    ended the program; but the command finishes what it changes (a save is
    still recorded in the audit trail), and work that only produces output
    registers to be cancelled (``when_reader_gone``).  ``main`` then exits
    with ``Exit.READER_GONE``, the status of a Unix tool ended by SIGPIPE.
    """

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.reader_gone = False
        self._on_reader_gone: list[Callable[[], object]] = []

    def out(self, text: str = "") -> None:
        self._put(sys.stdout, text + "\n")

    def err(self, text: str) -> None:
        self._put(sys.stderr, self.hide(text) + "\n")

    def write(self, text: str) -> None:
        """Write without adding a line end, and flush: progress must show as it happens."""
        self._put(sys.stdout, text, flush=True)

    def when_reader_gone(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (once) when the output can no longer be read, e.g. to cancel."""
        if self.reader_gone:
            callback()
        else:
            self._on_reader_gone.append(callback)

    def flush(self) -> None:
        """Hand on what is buffered: a reader already gone shows only here for short output."""
        for stream in (sys.stdout, sys.stderr):
            self._put(stream, "", flush=True)

    def lost(self, stream: TextIO) -> None:
        """The reader of ``stream`` went away: send the rest to the null device, quietly.

        The null device takes what is still buffered, so that flushing at exit
        does not fail again (the Python docs' "Note on SIGPIPE").
        """
        import os

        try:
            fd = stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
        except (AttributeError, OSError, ValueError):  # not a file (captured in tests)
            pass
        else:
            os.dup2(devnull, fd)
            os.close(devnull)
        if not self.reader_gone:
            self.reader_gone = True
            callbacks, self._on_reader_gone = self._on_reader_gone, []
            for callback in callbacks:
                callback()

    def _put(self, stream: TextIO | None, text: str, *, flush: bool = False) -> None:
        if stream is None or self.reader_gone:  # no console at all (pythonw); quiet now
            return
        try:
            _write(stream, _printable(text, stream))
            if flush:
                stream.flush()
        except BrokenPipeError:
            self.lost(stream)

    def hide(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "(hidden)")
        return text


# Characters per write on an unbuffered stream: at most 4096 bytes in UTF-8, which
# a pipe takes whole or not at all (PIPE_BUF).
_PIECE = 1024


def _write(stream: TextIO, text: str) -> None:
    """Write ``text`` so that a reader going away is always noticed.

    Unbuffered (``python -u``, ``PYTHONUNBUFFERED``, common in containers),
    one long write to a pipe whose reader leaves is cut short without an
    error, and the text layer drops the rest unnoticed; pieces no longer than
    a pipe's atomic size are taken whole or fail with ``BrokenPipeError``.
    """
    if not isinstance(getattr(stream, "buffer", None), io.RawIOBase):
        stream.write(text)
        return
    for start in range(0, len(text), _PIECE):
        stream.write(text[start : start + _PIECE])


def _printable(text: str, stream: object) -> str:
    """Keep a console's encoding from turning a non-ASCII name into a crash."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)
