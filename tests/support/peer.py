"""A raw SMTP peer on 127.0.0.1 that answers each command from a script.

aiosmtpd speaks correct SMTP; the corners of the protocol -- a server that
asks for more than the mechanism has, refuses STARTTLS with an odd code,
answers 538 to AUTH -- need a peer that says exactly what a test wants.  The
peer reads command lines, records them, and sends whatever the test's
``answer`` function returns for each; ``STARTTLS_NOW`` as an answer sends the
220 and then runs the TLS handshake with the given context.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STARTTLS_NOW = b"220 2.0.0 Ready to start TLS\r\n"

Answer = Callable[[str], bytes | None]


class ScriptedServer:
    """Serves each connection in its own thread; ``lines`` holds every command received.

    ``max_connections``: refuse connections after this many; ``answer_first``:
    only the first so many connections get the greeting and answers, later
    ones are accepted and left in silence.
    """

    def __init__(
        self,
        answer: Answer,
        *,
        greeting: bytes = b"220 scripted.example.org ESMTP\r\n",
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        max_connections: int | None = None,
        answer_first: int | None = None,
    ) -> None:
        self.answer = answer
        self.greeting = greeting
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.max_connections = max_connections
        self.answer_first = answer_first
        self.lines: list[str] = []
        self.server_names: list[str | None] = []
        if tls is not None:
            tls.sni_callback = self._note_server_name
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _note_server_name(
        self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext
    ) -> None:
        self.server_names.append(name)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.connections == self.max_connections:
                self._listener.close()  # later connections are refused
            silent = self.answer_first is not None and self.connections > self.answer_first
            thread = threading.Thread(target=self._handle, args=(sock, silent), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, sock: socket.socket, silent: bool) -> None:
        try:
            if silent:
                sock.settimeout(0.2)
                while not self._stop.is_set():
                    try:
                        if not sock.recv(4096):
                            return
                    except TimeoutError:
                        continue
            else:
                self._converse(sock)
        except (OSError, ssl.SSLError):
            pass
        finally:
            sock.close()

    def _converse(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        opened: list[socket.socket] = []
        try:
            self._exchange(raw, opened)
        finally:
            for sock in opened:
                sock.close()

    def _exchange(self, sock: socket.socket, opened: list[socket.socket]) -> None:
        """Talk until the client or the script ends; TLS sockets go to ``opened``."""
        if self.implicit_tls and self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
            opened.append(sock)
        sock.sendall(self.greeting)
        buffer = b""
        while not self._stop.is_set():
            while b"\n" not in buffer:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            raw, _, buffer = buffer.partition(b"\n")
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            self.lines.append(line)
            reply = self.answer(line)
            if reply is None:
                return
            sock.sendall(reply)
            if reply is STARTTLS_NOW and self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                opened.append(sock)
                buffer = b""

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)
        for thread in self._threads:
            thread.join(5)


def by_command(script: dict[str, bytes | list[bytes]], default: bytes = b"250 OK\r\n") -> Answer:
    """Answer by the command's first word (or the whole line when the script names it).

    A list answers the same command differently each time it comes, in turn.
    """
    remaining = {
        key: list(value) if isinstance(value, list) else value for key, value in script.items()
    }

    def answer(line: str) -> bytes | None:
        word = line.split(" ", 1)[0].upper()
        for key in (line, word):
            if key in remaining:
                value = remaining[key]
                if isinstance(value, list):
                    return value.pop(0) if value else default
                return value
        if word == "QUIT":
            return None
        return default

    return answer


@contextmanager
def scripted(answer: Answer, **options: object) -> Iterator[ScriptedServer]:
    server = ScriptedServer(answer, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.close()


def in_turn(*replies: bytes) -> Answer:
    """Answer the first command with the first reply, and so on; then close."""
    remaining = list(replies)

    def answer(line: str) -> bytes | None:
        return remaining.pop(0) if remaining else None

    return answer
