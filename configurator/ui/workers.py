"""Blocking work (talking to a mail server) on a thread pool, reported on the GUI thread.

A ``Job`` wraps one blocking call.  The call runs on a pool thread and must
not touch a widget; what it reports (progress, the result, an unexpected
error) reaches the ``Job``'s signals on the GUI thread, where widgets may be
updated.

The pool thread never holds a reference to a ``Job`` or to anything a window
owns.  It reports through one relay object that lives as long as the
program, naming the job by number; the relay looks the job up on the GUI
thread.  So a window may be closed and deleted while its check is still
unwinding after a cancel: the late report finds no job and is dropped, and
no Qt object is ever destroyed on the wrong thread.  The pool is a
``QThreadPool``, whose threads Qt joins when the application ends (PySide
releases the interpreter lock while it does), so no "QThread: Destroyed
while thread is still running" can happen.  The program itself never waits
for that join: ``app.run`` ends the process as soon as its window has closed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot

log = logging.getLogger("configurator.ui")

#: Enough threads for a check and a detection at once, plus cancelled ones still unwinding.
MAX_THREADS = 8

Report = Callable[[object], None]
Work = Callable[[Report], object]

_PROGRESS = "progress"
_RESULT = "result"
_ERROR = "error"


class Job(QObject):
    """One blocking call on a pool thread; its signals arrive on the GUI thread.

    ``work(report)`` runs on the pool thread and may call ``report(value)``
    any number of times; each value arrives as ``progressed``.  Its return
    value arrives as ``succeeded``; an exception as ``failed`` with a short
    description (any of ``secrets`` in it replaced).  ``ended`` follows
    either.  ``cancel`` is called from the GUI thread to make ``work``
    return early; it must not block.
    """

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    ended = Signal()

    def __init__(
        self,
        work: Work,
        *,
        cancel: Callable[[], None] | None = None,
        secrets: Sequence[str] = (),
        name: str = "job",
    ) -> None:
        # No parent: the job must outlive a dialog that is closed while it runs.
        super().__init__()
        self.setObjectName(name)
        self._work = work
        self._cancel = cancel
        self._secrets = tuple(secret for secret in secrets if secret)
        self.running = False
        self.cancel_requested = False

    def start(self) -> None:
        if self.running:
            raise RuntimeError("the job is running already")
        self.running = True
        self.cancel_requested = False
        _relay().launch(self, self._work, self._secrets)

    def cancel(self) -> None:
        """Ask the work to stop; returns at once (the work ends on its own thread)."""
        if not self.running or self.cancel_requested:
            return
        self.cancel_requested = True
        if self._cancel is not None:
            self._cancel()

    def receive(self, kind: str, payload: object) -> None:
        """Called by the relay on the GUI thread with one report of the work."""
        if kind == _PROGRESS:
            self.progressed.emit(payload)
            return
        self.running = False
        if kind == _RESULT:
            self.succeeded.emit(payload)
        else:
            self.failed.emit(str(payload))
        self.ended.emit()


def _describe(error: BaseException, secrets: Sequence[str]) -> str:
    text = f"{type(error).__name__}: {error}"
    for secret in secrets:
        text = text.replace(secret, "[hidden]")
    return text


class _Relay(QObject):
    """Carries reports from pool threads to the jobs, on the GUI thread."""

    message = Signal(int, str, object)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("jobRelay")
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(MAX_THREADS)
        self.jobs: dict[int, Job] = {}
        self._numbers = itertools.count(1)
        self.message.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def launch(self, job: Job, work: Work, secrets: Sequence[str]) -> None:
        number = next(self._numbers)
        self.jobs[number] = job
        message = self.message

        def send(kind: str, payload: object) -> None:
            # At exit Qt may have deleted the relay already: nobody is listening then.
            with contextlib.suppress(RuntimeError):
                message.emit(number, kind, payload)

        def run() -> None:  # on a pool thread: no widget, no job, only the relay
            try:
                result = work(lambda value: send(_PROGRESS, value))
            except Exception as error:
                log.warning("background work failed: %s", _describe(error, secrets))
                send(_ERROR, _describe(error, secrets))
            else:
                send(_RESULT, result)

        self.pool.start(run)

    @Slot(int, str, object)
    def _deliver(self, number: int, kind: str, payload: Any) -> None:
        job = self.jobs.get(number) if kind == _PROGRESS else self.jobs.pop(number, None)
        if job is not None:
            job.receive(kind, payload)


_RELAY: list[_Relay] = []


def _relay() -> _Relay:
    """The one relay, created on first use (on the GUI thread) and kept until exit."""
    if not _RELAY:
        _RELAY.append(_Relay())
    return _RELAY[0]


def running_jobs() -> int:
    """How many jobs have not reported their end yet (cancelled ones included)."""
    return len(_RELAY[0].jobs) if _RELAY else 0
