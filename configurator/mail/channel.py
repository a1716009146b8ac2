"""SMTP lines over one socket: commands out, replies in, every line in the transcript.

The standard library's smtplib is not used: it hides the exact lines a
transcript needs, can only print them (credentials included) through its
debug output, reads through a buffer that hides data injected after STARTTLS,
and encodes AUTH credentials as ASCII.  The protocol itself is small; this
module is all of it that the configurator needs.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
from dataclasses import dataclass

from configurator.mail.cancel import CancelToken
from configurator.mail.deadline import Deadline
from configurator.mail.transcript import Transcript

MAX_LINE = 8192  # RFC 5321 allows 512; real servers send longer EHLO lines
MAX_REPLY_LINES = 200
_LEADING_DOT = re.compile(rb"(?m)^\.")


class ServerClosed(ConnectionError):
    """The server ended the connection (end of file) while a reply was awaited."""


class BadReply(Exception):
    """The peer sent something that is not an SMTP reply."""


@dataclass(frozen=True)
class Reply:
    """A complete (possibly multi-line) SMTP reply."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(line for line in self.lines if line)

    def __str__(self) -> str:
        last = len(self.lines) - 1
        return "\n".join(
            f"{self.code}{' ' if index == last else '-'}{line}".rstrip()
            for index, line in enumerate(self.lines)
        )


class Channel:
    """One SMTP conversation: blocking, each socket operation bounded by the step's deadline.

    Without a ``deadline`` shared with the caller, the whole conversation
    gets ``timeout`` seconds from its start.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        transcript: Transcript,
        cancel: CancelToken,
        timeout: float,
        deadline: Deadline | None = None,
    ) -> None:
        self._transcript = transcript
        self._cancel = cancel
        self._timeout = timeout
        self._deadline = deadline if deadline is not None else Deadline(timeout)
        self._buffer = bytearray()
        self._watch = contextlib.ExitStack()
        self._sock = sock
        sock.settimeout(timeout)
        self._watch.enter_context(cancel.watch(sock))

    @property
    def sock(self) -> socket.socket:
        return self._sock

    @property
    def has_unread_data(self) -> bool:
        return bool(self._buffer)

    def replace_socket(self, sock: socket.socket) -> None:
        """Continue over ``sock`` (the TLS socket after a handshake has been set up)."""
        self._watch.close()
        self._buffer.clear()
        self._sock = sock
        sock.settimeout(self._timeout)
        self._watch = contextlib.ExitStack()
        self._watch.enter_context(self._cancel.watch(sock))

    def set_timeout(self, seconds: float) -> None:
        """Allow ``seconds`` from now for what follows (a last QUIT, say)."""
        self._deadline.restart(seconds)

    def _arm(self) -> None:
        """Let the next blocking call wait only for what is left of the step."""
        self._sock.settimeout(self._deadline.remaining())

    def wait_readable(self, seconds: float) -> bool:
        """Whether the server sends something (or hangs up) within ``seconds``; reads nothing."""
        if self._buffer:
            return True
        self._cancel.check()
        # A selector, not select.select(): that fails for descriptors above 1023.
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            ready = selector.select(min(max(seconds, 0.0), self._deadline.left()))
        self._cancel.check()
        return bool(ready)

    def send_line(self, line: str, *, shown: str | None = None, utf8: bool = False) -> None:
        """Send one command line; the transcript shows ``shown`` instead when given."""
        if "\r" in line or "\n" in line:
            raise ValueError("an SMTP command cannot contain a line break")
        data = (line + "\r\n").encode("utf-8" if utf8 else "ascii")
        self._transcript.client(line if shown is None else shown)
        self._sendall(data)

    def command(self, line: str, *, shown: str | None = None, utf8: bool = False) -> Reply:
        self.send_line(line, shown=shown, utf8=utf8)
        return self.read_reply()

    def send_data(self, content: bytes) -> Reply:
        """Send a message after DATA was accepted: dot-stuffed and terminated."""
        if not content.endswith(b"\r\n"):
            content += b"\r\n"
        payload = _LEADING_DOT.sub(b"..", content) + b".\r\n"
        self._transcript.client(f"[message: {len(content)} bytes]")
        self._transcript.client(".")
        self._sendall(payload)
        return self.read_reply()

    def _sendall(self, data: bytes) -> None:
        self._cancel.check()
        self._arm()  # since Python 3.5 the timeout bounds the whole sendall()
        try:
            self._sock.sendall(data)
        except OSError:
            self._cancel.check()
            raise

    def read_reply(self) -> Reply:
        code: int | None = None
        lines: list[str] = []
        while True:
            raw = self._read_line().decode("utf-8", "replace").rstrip("\r\n")
            # The server may say the password back, altered: hidden before anything keeps it.
            text = self._transcript.redact_echo(raw)
            self._transcript.server(text)
            if len(text) < 3 or not text[:3].isdigit() or text[3:4] not in ("", " ", "-"):
                raise BadReply(f"the server sent {text[:80]!r}, which is not an SMTP reply")
            line_code = int(text[:3])
            if code is not None and line_code != code:
                raise BadReply("the server changed the reply code within one reply")
            code = line_code
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(code, tuple(lines))
            if len(lines) >= MAX_REPLY_LINES:
                raise BadReply("the server's reply has too many lines")

    def _read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > MAX_LINE:
                raise BadReply("the server sent a line longer than 8192 bytes")
            self._cancel.check()
            self._arm()
            try:
                chunk = self._sock.recv(4096)
            except OSError:
                self._cancel.check()
                raise
            if not chunk:
                self._cancel.check()
                raise ServerClosed("the server closed the connection")
            self._buffer += chunk

    def close(self) -> None:
        self._watch.close()
        self._sock.close()
