"""The conversation with the mail server, line by line, fit to copy and share.

Administrators paste transcripts into tickets, so a transcript must never hold
a secret.  Two layers make sure of it: the code that sends a credential says
what to show instead ("AUTH PLAIN [hidden]"), and every line, reply and
message passes through ``redact``, which replaces each registered secret
(the password and the base64 forms in which it crosses the wire) wherever it
turns up.

A server has the password once it has been sent, and may say it back
altered: upper-cased, reversed, cut short ("535 bad password SECRET-PA").
So what the server says also passes ``redact_echo``, which hides any run of
``ECHO_MIN`` or more characters that the password, or the password
reversed, contains -- case ignored.  That can hide an innocent word that
happens to share six letters with the password; hiding too much is the
safe side.
"""

from __future__ import annotations

import base64
import enum
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from configurator import textsafe

HIDDEN = "[hidden]"
#: The shortest part of the password that is hidden when a server echoes it.
ECHO_MIN = 6


class Direction(enum.StrEnum):
    CLIENT = "client"
    SERVER = "server"
    NOTE = "note"

    @property
    def marker(self) -> str:
        return {"client": "C:", "server": "S:", "note": "--"}[self.value]


@dataclass(frozen=True)
class TranscriptLine:
    """One line: seconds since the start, who spoke, and what (already redacted)."""

    time: float
    direction: Direction
    text: str

    def __str__(self) -> str:
        """The line for people: whatever the server sent is shown escaped, never acted on."""
        return f"{self.time:8.3f} {self.direction.marker} {textsafe.line(self.text)}"

    def to_dict(self) -> dict[str, object]:
        return {"time": round(self.time, 3), "direction": self.direction.value, "text": self.text}


def credential_forms(username: str, password: str) -> list[str]:
    """Every form in which a password can appear on the wire with AUTH PLAIN or LOGIN.

    The user name's base64 form is included too: on its own it is harmless,
    but hiding it keeps the AUTH exchange uniformly opaque.
    """
    if not password:
        return []

    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    forms = [password, b64(password), b64(f"\0{username}\0{password}")]
    if username:
        forms.append(b64(username))
    return forms


class Transcript:
    """A thread-safe, redacting record of one conversation (or several probes)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._lines: list[TranscriptLine] = []
        self._secrets: list[str] = []
        self._echoes: set[str] = set()  # every ECHO_MIN-character part of a password, folded

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Register texts that must never appear; register them before anything is sent."""
        with self._lock:
            for secret in secrets:
                if secret and secret not in self._secrets:
                    self._secrets.append(secret)
            # Longest first, so that a secret containing another is hidden whole.
            self._secrets.sort(key=len, reverse=True)

    def add_password(self, password: str) -> None:
        """Register a password: hidden as typed everywhere, and in altered forms in replies."""
        self.add_secrets([password])
        parts: set[str] = set()
        for form in (_fold(password), _fold(password[::-1])):
            parts.update(form[i : i + ECHO_MIN] for i in range(len(form) - ECHO_MIN + 1))
        with self._lock:
            self._echoes |= parts

    def sibling(self) -> Transcript:
        """A transcript that is not kept, hiding the same secrets (for a second connection)."""
        other = Transcript(self._clock)
        with self._lock:
            other._secrets = list(self._secrets)
            other._echoes = set(self._echoes)
        return other

    def redact_echo(self, text: str) -> str:
        """``redact``, and any part of a password the server says back, however altered."""
        text = self.redact(text)
        with self._lock:
            echoes = self._echoes
        if not echoes or len(text) < ECHO_MIN:
            return text
        folded = _fold(text)
        hidden = [False] * len(text)
        for start in range(len(text) - ECHO_MIN + 1):
            if folded[start : start + ECHO_MIN] in echoes:
                hidden[start : start + ECHO_MIN] = [True] * ECHO_MIN
        if not any(hidden):
            return text
        shown: list[str] = []
        for index, char in enumerate(text):
            if not hidden[index]:
                shown.append(char)
            elif index == 0 or not hidden[index - 1]:
                shown.append(HIDDEN)
        return "".join(shown)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = list(self._secrets)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        return text

    def _add(self, direction: Direction, text: str) -> None:
        line = TranscriptLine(self._clock() - self._start, direction, self.redact(text))
        with self._lock:
            self._lines.append(line)

    def client(self, text: str) -> None:
        self._add(Direction.CLIENT, text)

    def server(self, text: str) -> None:
        self._add(Direction.SERVER, text)

    def note(self, text: str) -> None:
        self._add(Direction.NOTE, text)

    def lines(self) -> tuple[TranscriptLine, ...]:
        with self._lock:
            return tuple(self._lines)


def _fold(text: str) -> str:
    """Case-folded character by character, so that positions stay those of ``text``."""
    return "".join(
        folded if len(folded := char.casefold()) == 1 else char.lower()[:1] or char for char in text
    )


def format_transcript(lines: Iterable[TranscriptLine]) -> str:
    """The transcript as plain text, one line each, for copying."""
    return "\n".join(str(line) for line in lines)
