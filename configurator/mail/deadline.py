"""The wall-clock limit of one step, whatever the server does.

A socket timeout limits each ``recv()``: a server that sends one byte every
few seconds would keep a step going for ever without ever tripping it.  So
each step gets a deadline instead, and every blocking call in it -- connect,
send, receive, the TLS handshake -- waits at most for what is left of the
step (``ssl`` applies a socket timeout to a whole handshake or read, not to
each packet).  When nothing is left, ``remaining()`` raises ``TimeoutError``,
which the check reports as the step having timed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    """When the current step must have ended: restarted as each step begins."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def restart(self, seconds: float | None = None) -> None:
        """Allow ``seconds`` (default: the step time) from now."""
        self._end = self._clock() + (self.seconds if seconds is None else seconds)

    def left(self) -> float:
        """Seconds left, 0 once the time is up."""
        return max(self._end - self._clock(), 0.0)

    def remaining(self) -> float:
        """Seconds left for the next blocking call; ``TimeoutError`` once the time is up."""
        left = self._end - self._clock()
        if left <= 0:
            raise TimeoutError("the step's time is up")
        return left
