"""Hostile peers on 127.0.0.1: raw socket servers that do what a real mail server would not.

``RawServer`` runs a script for every connection it accepts, each in its own
thread: a server that drips its greeting one byte at a time, one whose
replies carry terminal escapes, one that echoes the password back.  The
scripts use ``Peer``, which reads the client's lines and writes raw bytes.
``self_signed`` builds a certificate whose subject and names say whatever a
test wants, control characters included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path


class Peer:
    """One accepted connection, from the server's side."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self._buffer = b""
        sock.settimeout(0.2)

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode("utf-8") if isinstance(data, str) else data)

    def drip(self, data: bytes | str, every: float) -> None:
        """Send ``data`` one byte at a time, ``every`` seconds apart, until stopped."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        for byte in raw:
            if self.stop.wait(every):
                return
            self.sock.sendall(bytes([byte]))

    def read_line(self) -> str:
        """The client's next line (without CRLF); ``ConnectionError`` when it is gone."""
        while b"\n" not in self._buffer:
            if self.stop.is_set():
                raise ConnectionError("server stopped")
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("client closed")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def read_raw(self, size: int = 4096) -> bytes:
        while not self.stop.is_set():
            try:
                return self.sock.recv(size)
            except TimeoutError:
                continue
        return b""

    def hold(self) -> None:
        """Keep the connection open, silent, until the client leaves or the server stops."""
        while not self.stop.is_set():
            try:
                if not self.sock.recv(4096):
                    return
            except TimeoutError:
                continue


Script = Callable[[Peer], None]


class RawServer:
    """Accepts connections on 127.0.0.1 and runs ``script`` for each; counts them."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.stop = threading.Event()
        self.connections = 0
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, name="raw-server", daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                self.script(Peer(sock, self.stop))
            except OSError:  # the client left, or refused the TLS handshake
                pass
            except BaseException as exc:  # shown by the test that owns the server
                self.errors.append(exc)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in self._threads:
            thread.join(5)


def smtp_dialogue(
    peer: Peer, replies: dict[str, str], *, greeting: str = "220 hostile.test ESMTP\r\n"
) -> None:
    """Greet, then answer each command by its verb (``replies["EHLO"]``, ...); 250 otherwise."""
    peer.send(greeting)
    while True:
        line = peer.read_line()
        verb = line.split(" ", 1)[0].upper()
        if verb == "QUIT":
            peer.send("221 bye\r\n")
            return
        peer.send(replies.get(verb, "250 ok\r\n"))


def self_signed(
    directory: Path,
    *,
    common_name: str,
    organization: str = "",
    dns_names: tuple[str, ...] = ("localhost",),
) -> tuple[Path, Path, bytes]:
    """A self-signed server certificate (for 127.0.0.1 too): certificate file, key file, DER."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    name = x509.Name(attributes)
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(value) for value in dns_names]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "hostile-cert.pem"
    key_file = directory / "hostile-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, certificate.public_bytes(serialization.Encoding.DER)


def tls_server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


def implicit_tls(context: ssl.SSLContext, then: Script) -> Script:
    """A script that does the TLS handshake first (port 465 style), then runs ``then``."""

    def script(peer: Peer) -> None:
        peer.sock.settimeout(5)
        with context.wrap_socket(peer.sock, server_side=True) as tls:
            then(Peer(tls, peer.stop))

    return script
