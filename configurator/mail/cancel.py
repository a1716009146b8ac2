"""Cancelling a check that is blocked on the network.

A thread blocked in ``recv()`` does not notice a flag; it must be woken.
``CancelToken.cancel()`` therefore shuts down every socket the check has
registered, which makes the blocked call return at once, and the check then
ends with the "cancelled" outcome.  ``shutdown()`` rather than ``close()``:
closing a descriptor another thread is using does not wake it on Linux, and
the owning thread still closes its socket itself.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Callable, Iterator

from configurator.mail.errors import cancelled


class CancelToken:
    """Shared between the thread running a check and whoever may cancel it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the check: callable from any thread, any number of times."""
        with self._lock:
            self._cancelled = True
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            callback()

    def check(self) -> None:
        """Raise the "cancelled" ``MailError`` if ``cancel()`` was called."""
        if self._cancelled:
            raise cancelled()

    @contextlib.contextmanager
    def on_cancel(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call ``callback`` if the token is cancelled while the block runs (or before)."""
        with self._lock:
            key = next(self._ids)
            run_now = self._cancelled
            if not run_now:
                self._callbacks[key] = callback
        if run_now:
            callback()
        try:
            yield
        finally:
            with self._lock:
                self._callbacks.pop(key, None)

    def watch(self, sock: socket.socket) -> contextlib.AbstractContextManager[None]:
        """Shut ``sock`` down if the token is cancelled while the block runs."""
        return self.on_cancel(lambda: _shutdown(sock))


def _shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not the SSL override: it only has to wake the
    # reader, and must not touch the TLS state another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
