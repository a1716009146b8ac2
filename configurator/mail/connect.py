"""Finding the server and reaching it: the work of the resolve and connect steps.

The name is resolved with the timeout (the resolver itself has none), then
the first address that answers is used, each address getting its share of
the step's time.  Only the form's host names are accepted, again here:
stored settings may predate the rule.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from configurator import syntax
from configurator.mail.cancel import CancelToken
from configurator.mail.classify import UNREACHABLE_ERRNOS, Explainer, seconds
from configurator.mail.deadline import Deadline
from configurator.mail.errors import MailError, Problem
from configurator.mail.steps import StepRecord
from configurator.mail.transcript import Transcript
from configurator.model import Settings

MAX_ADDRESSES = 4  # each address may cost a full timeout

T = TypeVar("T")
Address = tuple[socket.AddressFamily, tuple[object, ...]]


class Background(Generic[T]):
    """Runs a blocking function in a daemon thread so that waiting for it can time out."""

    def __init__(self, function: Callable[[], T], name: str) -> None:
        self._function = function
        self._wake = threading.Event()
        self._finished = False
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as exc:  # handed to the waiting thread
            self._error = exc
        finally:
            self._finished = True
            self._wake.set()

    def wait(self, timeout: float, cancel: CancelToken) -> bool:
        """Wait until done, the timeout passes or the token is cancelled."""
        with cancel.on_cancel(self._wake.set):
            self._wake.wait(max(timeout, 0.0))
        cancel.check()
        return self._finished

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        assert self._finished
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True)
class Peer:
    """The address that answered, the name its certificate must carry, and ours to greet it."""

    family: socket.AddressFamily
    address: tuple[object, ...]
    tls_name: str
    ehlo_name: str


class Dialer:
    """Resolves the server's name, then connects to the first of its addresses that answers."""

    def __init__(
        self,
        settings: Settings,
        *,
        explainer: Explainer,
        deadline: Deadline,
        cancel: CancelToken,
        transcript: Transcript,
    ) -> None:
        self._server = settings.server
        self._port = settings.port
        self._timeout = float(settings.timeout)
        self._explain = explainer.explain
        self._deadline = deadline
        self._cancel = cancel
        self._transcript = transcript
        self._addresses: list[Address] = []
        self._tls_name = settings.server

    def resolve(self, step: StepRecord) -> None:
        """The server's addresses, looked up within the step's time."""
        server, port = self._server, self._port
        # The form's rule, again: the resolver would take forms the form refuses
        # ("0x7f.1", "::1%lo"), and stored settings may predate the rule.
        problem = syntax.check_hostname(server)
        if problem is not None:
            raise self._explain(Problem.SERVER_NAME_INVALID, detail=problem)
        if syntax.is_ip_address(server):
            infos = socket.getaddrinfo(
                server, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
            step.detail = f"{server} is an IP address: nothing to look up"
        else:
            try:
                name = syntax.to_ascii_hostname(server)
            except ValueError as exc:
                raise self._explain(Problem.NAME_NOT_FOUND, detail=str(exc)) from None
            self._tls_name = name
            lookup = Background(
                lambda: socket.getaddrinfo(name, port, type=socket.SOCK_STREAM),
                "configurator-resolve",
            )
            if not lookup.wait(self._deadline.left(), self._cancel):
                raise self._explain(
                    Problem.DNS_FAILED, detail=f"no answer within {seconds(self._timeout)}"
                )
            try:
                infos = lookup.result()
            except socket.gaierror as exc:
                raise self._lookup_error(exc) from None
        seen: set[object] = set()
        for family, _type, _proto, _name, sockaddr in infos:
            if sockaddr[0] not in seen:
                seen.add(sockaddr[0])
                self._addresses.append((family, tuple(sockaddr)))
        if not self._addresses:
            raise self._explain(Problem.NAME_NOT_FOUND)
        if not step.detail:
            found = ", ".join(str(address[0]) for _family, address in self._addresses)
            step.detail = f"{server} has the address(es) {found}"
            self._transcript.note(step.detail)

    def _lookup_error(self, exc: socket.gaierror) -> MailError:
        not_found = {
            getattr(socket, name)
            for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
            if hasattr(socket, name)
        }
        if exc.errno in not_found:
            return self._explain(Problem.NAME_NOT_FOUND)
        return self._explain(Problem.DNS_FAILED, detail=exc.strerror or str(exc))

    def connect(self, step: StepRecord) -> tuple[socket.socket, Peer]:
        """A connected socket to the first address that answers, and who answered."""
        failures: list[tuple[tuple[object, ...], OSError]] = []
        addresses = self._addresses[:MAX_ADDRESSES]
        for index, (family, sockaddr) in enumerate(addresses):
            self._transcript.note(f"connecting to {sockaddr[0]} port {sockaddr[1]}")
            # The step's time is shared: each address gets its part of what is left.
            share = self._deadline.remaining() / (len(addresses) - index)
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(share)
                with self._cancel.watch(sock):
                    sock.connect(sockaddr)
                self._cancel.check()
            except OSError as exc:
                sock.close()
                self._cancel.check()
                self._transcript.note(f"{sockaddr[0]}: {_os_reason(exc)}")
                failures.append((sockaddr, exc))
                continue
            except BaseException:
                sock.close()
                raise
            local = sock.getsockname()[0]
            step.detail = f"connected to {sockaddr[0]} port {sockaddr[1]} from {local}"
            self._transcript.note(f"connected from {local}")
            for address, failure in failures:
                step.notes.append(f"{address[0]} failed first: {_os_reason(failure)}")
            return sock, Peer(family, sockaddr, self._tls_name, _ehlo_name(sock))
        raise _most_telling(failures)


def open_socket(peer: Peer, timeout: float, cancel: CancelToken) -> socket.socket:
    """Another connection to the address that answered, within ``timeout``."""
    sock = socket.socket(peer.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with cancel.watch(sock):
            sock.connect(peer.address)
    except BaseException:
        sock.close()
        raise
    return sock


def _ehlo_name(sock: socket.socket) -> str:
    """The name to introduce ourselves with: a full host name, or our address literal."""
    name = socket.gethostname()
    if "." in name and name.isascii() and syntax.check_hostname(name) is None:
        return name
    address = str(sock.getsockname()[0]).split("%")[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _most_telling(failures: list[tuple[tuple[object, ...], OSError]]) -> OSError:
    """Of several addresses' failures, the one that says most about the server."""
    if not failures:
        return ConnectionRefusedError(errno.ECONNREFUSED, "no address to connect to")
    for _address, exc in failures:
        if exc.errno not in UNREACHABLE_ERRNOS:
            return exc
    return failures[0][1]
