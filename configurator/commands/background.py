"""The cancellable background runner of ``test`` and ``detect``.

The network work runs on a worker thread while the main thread waits, so
that Ctrl+C reaches the main thread at once, cancels the work through its
``CancelToken`` and ends with exit code 130 instead of a traceback from the
middle of a socket call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from configurator import mail

T = TypeVar("T")

# How long a cancelled check may take to wind down before the program stops waiting.
_CANCEL_GRACE = 5.0


def in_background(work: Callable[[], T], token: mail.CancelToken, name: str) -> T:
    """Run ``work`` on a worker thread; Ctrl+C cancels it through ``token``.

    While the work runs, Ctrl+C does not raise ``KeyboardInterrupt`` (which
    could land anywhere in the waiting loop, even before it starts): a signal
    handler cancels the token, and the result of the cancelled work -- which
    reports the cancelled step -- is returned.  If the work does not end
    within ``_CANCEL_GRACE`` seconds, or Ctrl+C comes again,
    ``KeyboardInterrupt`` is raised.
    """
    import signal
    import threading

    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()
    deadline: list[float] = []

    def target() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # handed to the main thread, which reports it
            errors.append(exc)
        finally:
            done.set()

    def interrupted(signum: int, frame: object) -> None:
        if deadline:
            raise KeyboardInterrupt
        deadline.append(time.monotonic() + _CANCEL_GRACE)
        token.cancel()

    # Signal handlers can only be set from the main thread; elsewhere (an
    # embedding program) Ctrl+C is that program's business.
    handled = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupted) if handled else None
    try:
        # A daemon thread: a second Ctrl+C must be able to end the program at once.
        # The wait is on an Event, not Thread.join(): an interrupted join() can
        # leave the thread looking finished before it is (CPython issue 90882).
        threading.Thread(target=target, name=name, daemon=True).start()
        while not done.wait(0.1):
            if deadline and time.monotonic() > deadline[0]:
                raise KeyboardInterrupt
    finally:
        if handled:
            signal.signal(
                signal.SIGINT, previous if previous is not None else signal.default_int_handler
            )
    if errors:
        raise errors[0]
    return results[0]
