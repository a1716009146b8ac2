"""A raw SMTP server on 127.0.0.1 that answers from a script.

aiosmtpd is a correct server; many failures a check must recognise come from
servers that are not: a refusal in the greeting, a reply that is not SMTP,
data injected after STARTTLS, silence or a hang-up after EHLO, a TLS stack
limited to old versions.  This server speaks just enough SMTP to get there,
answers each command from a table the test gives, and records every command
line and whether a TLS handshake completed, so that tests can prove what a
client did *not* send.

Used as a pytest plugin (``pytest_plugins = ["support.scripted"]``) for the
``scripted_server`` fixture.  Test modules import helpers from here before
pytest loads it as a plugin, too late for assertion rewriting:
PYTEST_DONT_REWRITE says so.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import pytest

CLOSE = "<close>"  # instead of a reply: hang up
SILENCE = "<silence>"  # instead of a reply: say nothing more until the client hangs up
NAME = "scripted.test.invalid"
IDLE_LIMIT = 10.0  # a connection the client forgets does not keep the test waiting longer


@dataclass(frozen=True)
class Script:
    """What the server says: the greeting, the EHLO keywords, and replies by command verb.

    A reply may hold several lines separated by CRLF; all of it goes out in
    one write.  ``starttls`` is the context for STARTTLS (which it then
    offers); ``implicit`` makes the server start TLS before the greeting.
    ``end_of_data`` answers the message after DATA was accepted.
    """

    greeting: str = f"220 {NAME} ESMTP"
    capabilities: tuple[str, ...] = ("PIPELINING", "8BITMIME")
    replies: Mapping[str, str] = field(default_factory=dict)
    starttls: ssl.SSLContext | None = None
    implicit: ssl.SSLContext | None = None
    end_of_data: str = "250 2.0.0 Ok: queued as SCRIPTED1"


@dataclass
class Conversation:
    """One connection as the server saw it."""

    lines: list[str] = field(default_factory=list)
    tls: bool = False
    tls_version: str | None = None

    @property
    def verbs(self) -> list[str]:
        return [line.split(" ", 1)[0].upper() for line in self.lines]


class _Peer:
    """One accepted connection: a line reader over a socket that may turn into TLS."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def read_line(self) -> str | None:
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def wait_for_hang_up(self) -> None:
        with contextlib.suppress(OSError):
            while self.sock.recv(4096):
                pass


class ScriptedServer:
    """Listens on 127.0.0.1 and plays the script on every connection, each in its own thread."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.conversations: list[Conversation] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        accept = threading.Thread(target=self._accept, name="scripted-accept", daemon=True)
        self._threads.append(accept)
        accept.start()

    @property
    def first(self) -> Conversation:
        """The first connection: the check's own (later ones only fetch or probe)."""
        return self.conversations[0]

    def _accept(self) -> None:
        while True:
            try:
                sock, _address = self._listener.accept()
            except OSError:
                return
            conversation = Conversation()
            with self._lock:
                self.conversations.append(conversation)
                self._sockets.append(sock)
            worker = threading.Thread(
                target=self._serve, args=(sock, conversation), name="scripted-peer", daemon=True
            )
            with self._lock:
                self._threads.append(worker)
            worker.start()

    def _serve(self, sock: socket.socket, conversation: Conversation) -> None:
        sock.settimeout(IDLE_LIMIT)
        peer = _Peer(sock)
        try:
            if self.script.implicit is not None:
                peer.sock = self._handshake(self.script.implicit, sock, conversation)
            self._converse(peer, conversation)
        except (OSError, ValueError):
            pass  # the client hung up, or the handshake failed: the record says how far it got
        finally:
            with contextlib.suppress(OSError):
                peer.sock.close()

    def _handshake(
        self, context: ssl.SSLContext, sock: socket.socket, conversation: Conversation
    ) -> ssl.SSLSocket:
        tls_sock = context.wrap_socket(sock, server_side=True)
        conversation.tls = True
        conversation.tls_version = tls_sock.version()
        with self._lock:
            self._sockets.append(tls_sock)
        return tls_sock

    def _converse(self, peer: _Peer, conversation: Conversation) -> None:
        if not self._answer(peer, self.script.greeting):
            return
        while (line := peer.read_line()) is not None:
            conversation.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            reply = self.script.replies.get(verb) or self._default(verb, conversation)
            if not self._answer(peer, reply):
                return
            if verb == "STARTTLS" and reply.startswith("220") and self.script.starttls:
                peer.sock = self._handshake(self.script.starttls, peer.sock, conversation)
            elif verb == "DATA" and reply.startswith("354"):
                while peer.read_line() not in (".", None):
                    pass
                if not self._answer(peer, self.script.end_of_data):
                    return
            elif verb == "QUIT":
                return

    @staticmethod
    def _answer(peer: _Peer, reply: str) -> bool:
        """Send ``reply``; False when the script says to stop talking."""
        if reply == CLOSE:
            return False
        if reply == SILENCE:
            peer.wait_for_hang_up()
            return False
        peer.send(reply)
        return True

    def _default(self, verb: str, conversation: Conversation) -> str:
        if verb == "EHLO":
            keywords = [NAME, *self.script.capabilities]
            if self.script.starttls is not None and not conversation.tls:
                keywords.append("STARTTLS")
            return "\r\n".join(
                f"250{' ' if index == len(keywords) - 1 else '-'}{keyword}"
                for index, keyword in enumerate(keywords)
            )
        if verb == "STARTTLS" and self.script.starttls is not None:
            return "220 2.0.0 Ready to start TLS"
        return _DEFAULTS.get(verb, "502 5.5.2 Error: command not recognized")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)


_DEFAULTS: dict[str, str] = {
    "HELO": f"250 {NAME}",
    "STARTTLS": "502 5.5.1 STARTTLS not available",
    "AUTH": "235 2.7.0 Authentication successful",
    "MAIL": "250 2.1.0 Ok",
    "RCPT": "250 2.1.5 Ok",
    "DATA": "354 End data with <CR><LF>.<CR><LF>",
    "RSET": "250 2.0.0 Ok",
    "NOOP": "250 2.0.0 Ok",
    "QUIT": "221 2.0.0 Bye",
}

StartScripted = Callable[[Script], ScriptedServer]


@pytest.fixture
def scripted_server() -> Iterator[StartScripted]:
    """Start scripted servers on demand; all are stopped when the test ends."""
    running: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose connection attempts are never answered, though something listens.

    The listener's accept queue (backlog 0: one connection) is full and
    nothing accepts, so Linux drops further SYNs: connecting times out as it
    does behind a firewall that drops packets, without leaving 127.0.0.1.
    """
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = int(listener.getsockname()[1])
        filler = socket.create_connection(("127.0.0.1", port), timeout=5)
        with filler:
            yield port
