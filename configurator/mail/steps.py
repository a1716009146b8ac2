"""The named steps of talking to a mail server, and the tracker that times them.

A check is a fixed sequence of steps (resolve, connect, greeting, ...).  The
tracker runs each one, measures it, turns whatever went wrong into a
``MailError`` naming the step, and reports every change to an observer as it
happens, so that a window or a terminal can show progress live.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from configurator import textsafe
from configurator.mail.errors import MailError, Problem
from configurator.mail.stepids import StepId

log = logging.getLogger("configurator.mail")


class Outcome(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (Outcome.PENDING, Outcome.RUNNING)


@dataclass(frozen=True)
class Step:
    """The state of one step: what happened, how long it took, what the server said."""

    id: StepId
    outcome: Outcome = Outcome.PENDING
    duration: float = 0.0
    reply: str = ""
    detail: str = ""
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.id.label

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id.value,
            "title": self.title,
            "outcome": self.outcome.value,
            "duration": round(self.duration, 3),
            "reply": self.reply,
            "detail": self.detail,
            "notes": list(self.notes),
        }


@dataclass
class StepRecord:
    """What the code running a step found out; becomes the finished ``Step``."""

    reply: str = ""
    detail: str = ""
    notes: list[str] = field(default_factory=list)


StepObserver = Callable[[Step], None]
Classifier = Callable[[Exception, StepId], MailError]


class StepTracker:
    """Runs steps in order and keeps their outcomes.

    ``plan`` fixes which steps exist and in what order; a planned step that
    never ran is reported as skipped.  ``redact`` is applied to every text a
    step records, so that no secret reaches the observer or the result.
    ``on_start`` is called as each step begins (the connection restarts the
    step's deadline there).
    """

    def __init__(
        self,
        plan: Sequence[StepId],
        *,
        classify: Classifier,
        redact: Callable[[str], str],
        on_step: StepObserver | None = None,
        on_start: Callable[[StepId], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plan = list(plan)
        self._on_start = on_start
        self._classify = classify
        self._redact = redact
        self._on_step = on_step
        self._clock = clock
        self._steps: dict[StepId, Step] = {}
        self._stopped_by: StepId | None = None
        self._cancelled = False

    def _emit(self, step: Step) -> None:
        if step.id not in self._plan:
            self._plan.append(step.id)
        self._steps[step.id] = step
        if step.outcome.finished:
            log.debug(
                "step %s %s in %.3f s: %s %s",
                step.id,
                step.outcome,
                step.duration,
                textsafe.sentence(step.detail),  # the server's words: no escape reaches a log
                textsafe.line(step.reply),
            )
        if self._on_step is not None:
            self._on_step(step)

    def _finish(
        self, step_id: StepId, outcome: Outcome, started: float, record: StepRecord
    ) -> None:
        self._emit(
            Step(
                step_id,
                outcome,
                duration=self._clock() - started,
                reply=self._redact(record.reply),
                detail=self._redact(record.detail),
                notes=tuple(self._redact(note) for note in record.notes),
            )
        )

    @contextmanager
    def run(self, step_id: StepId) -> Iterator[StepRecord]:
        """Run the body as ``step_id``; any exception leaves as a ``MailError``."""
        record = StepRecord()
        started = self._clock()
        if self._on_start is not None:
            self._on_start(step_id)
        self._emit(Step(step_id, Outcome.RUNNING))
        try:
            yield record
        except Exception as exc:
            error = self._classify(exc, step_id).at_step(step_id)
            failure = error.failure
            record.reply = record.reply or failure.reply
            record.detail = failure.summary
            outcome = Outcome.CANCELLED if error.problem is Problem.CANCELLED else Outcome.FAILED
            self._stopped_by = step_id
            self._cancelled = outcome is Outcome.CANCELLED
            self._finish(step_id, outcome, started, record)
            if error is exc:
                raise
            raise error from exc
        self._finish(step_id, Outcome.PASSED, started, record)

    def skip(self, step_id: StepId, why: str) -> None:
        self._emit(Step(step_id, Outcome.SKIPPED, detail=self._redact(why)))

    def _not_run(self, step_id: StepId) -> Step:
        why = "not run"
        if self._cancelled:
            why = "not run: the check was cancelled"
        elif self._stopped_by is not None:
            why = f"not run: {self._stopped_by.label} did not succeed"
        return Step(step_id, Outcome.SKIPPED, detail=why)

    def finish(self) -> tuple[Step, ...]:
        """Report every planned step that never ran as skipped; return all steps."""
        for step_id in list(self._plan):
            step = self._steps.get(step_id)
            if step is None or not step.outcome.finished:
                self._emit(self._not_run(step_id))
        return self.steps()

    def steps(self) -> tuple[Step, ...]:
        """Every planned step in order; those that never ran say why."""
        result: list[Step] = []
        for step_id in self._plan:
            step = self._steps.get(step_id)
            if step is None or not step.outcome.finished:
                step = self._not_run(step_id)
            result.append(step)
        return tuple(result)
