"""Jobs: blocking work on a pool thread, every report delivered on the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, Slot
from pytestqt.qtbot import QtBot

from configurator.ui import workers
from configurator.ui.workers import Job, Report


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(qtbot: QtBot) -> Iterator[None]:
    yield
    qtbot.waitUntil(lambda: workers.running_jobs() == 0, timeout=5000)


class Recorder(QObject):
    """Receives a job's signals and notes on which thread each arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, object, bool]] = []

    def _note(self, kind: str, value: object) -> None:
        on_gui_thread = threading.current_thread() is threading.main_thread()
        self.events.append((kind, value, on_gui_thread))

    @Slot(object)
    def progressed(self, value: object) -> None:
        self._note("progress", value)

    @Slot(object)
    def succeeded(self, value: object) -> None:
        self._note("result", value)

    @Slot(str)
    def failed(self, text: str) -> None:
        self._note("error", text)

    @Slot()
    def ended(self) -> None:
        self._note("ended", None)

    def listen(self, job: Job) -> None:
        job.progressed.connect(self.progressed)
        job.succeeded.connect(self.succeeded)
        job.failed.connect(self.failed)
        job.ended.connect(self.ended)


def test_reports_arrive_in_order_on_the_gui_thread(qtbot: QtBot) -> None:
    threads: list[threading.Thread] = []

    def work(report: Report) -> object:
        threads.append(threading.current_thread())
        for step in range(3):
            report(step)
        return "done"

    job = Job(work)
    recorder = Recorder()
    recorder.listen(job)

    with qtbot.waitSignal(job.ended, timeout=5000):
        job.start()
        assert job.running

    assert threads[0] is not threading.main_thread()  # the work ran elsewhere
    assert recorder.events == [
        ("progress", 0, True),
        ("progress", 1, True),
        ("progress", 2, True),
        ("result", "done", True),
        ("ended", None, True),
    ]
    assert not job.running
    assert workers.running_jobs() == 0


def test_an_exception_is_reported_without_the_secrets(qtbot: QtBot) -> None:
    def work(report: Report) -> object:
        raise ValueError("cannot use hunter2-secret here")

    job = Job(work, secrets=["hunter2-secret", ""])
    recorder = Recorder()
    recorder.listen(job)

    with qtbot.waitSignal(job.ended, timeout=5000):
        job.start()

    assert recorder.events == [
        ("error", "ValueError: cannot use [hidden] here", True),
        ("ended", None, True),
    ]


def test_cancel_calls_the_cancel_function_once_and_only_while_running(qtbot: QtBot) -> None:
    release = threading.Event()
    calls: list[str] = []

    def cancel() -> None:
        calls.append("cancel")
        release.set()

    def work(report: Report) -> object:
        return release.wait(5)

    job = Job(work, cancel=cancel)
    job.cancel()  # not started: nothing to stop
    assert calls == []

    with qtbot.waitSignal(job.succeeded, timeout=5000) as finished:
        job.start()
        job.cancel()
        job.cancel()
        assert job.cancel_requested

    assert calls == ["cancel"]
    assert finished.args == [True]  # the work saw the cancel and returned early


def test_a_running_job_cannot_be_started_twice(qtbot: QtBot) -> None:
    release = threading.Event()
    job = Job(lambda report: release.wait(5), cancel=release.set)
    with qtbot.waitSignal(job.ended, timeout=5000):
        job.start()
        with pytest.raises(RuntimeError, match="running already"):
            job.start()
        job.cancel()


def test_a_receiver_deleted_while_the_work_runs_gets_nothing_and_nothing_breaks(
    qtbot: QtBot,
) -> None:
    started = threading.Event()
    release = threading.Event()

    def work(report: Report) -> object:
        started.set()
        release.wait(5)
        report("late")
        return "late result"

    job = Job(work)
    recorder = Recorder()
    recorder.listen(job)
    job.start()
    assert started.wait(5)

    recorder.deleteLater()
    qtbot.waitUntil(lambda: not _alive(recorder), timeout=2000)
    release.set()
    with qtbot.waitSignal(job.ended, timeout=5000):
        pass

    assert workers.running_jobs() == 0


def test_a_job_dropped_by_its_owner_still_ends_cleanly(qtbot: QtBot) -> None:
    release = threading.Event()
    seen: list[str] = []

    def work(report: Report) -> object:
        release.wait(5)
        seen.append("finished")
        return None

    Job(work).start()  # no reference kept: the relay holds it until it ends
    assert workers.running_jobs() == 1
    release.set()
    qtbot.waitUntil(lambda: workers.running_jobs() == 0, timeout=5000)
    assert seen == ["finished"]


def _alive(obj: QObject) -> bool:
    try:
        obj.objectName()
    except RuntimeError:
        return False
    return True
