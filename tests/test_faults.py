"""Saves under fire: processes killed mid-write, full and failing disks, writers racing.

Every check reads the store back from the real files, in this process, after
the fault: a save that was interrupted at any moment must leave either the old
or the new settings, readable, and a failed write must say so truthfully.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import accounts, secrets
from support.faultdriver import Driver, settings_for

from configurator import audit, fsutil, keys, model, store
from configurator.errors import NotWritable, SettingsUnreadable, StoreError, Unreadable
from configurator.store import Store

REPO = Path(__file__).resolve().parents[1]
POSIX = os.name == "posix"
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")


@pytest.fixture
def forker(data_dir: Path) -> Iterator[Driver]:
    driver = Driver("forker", data_dir)
    yield driver
    assert driver.close() == ""


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f".*{fsutil.TEMP_SUFFIX}"))


def load_or_reason(a_store: Store) -> store.Stored | Unreadable | None:
    """What a load finds: settings, nothing, or why they cannot be read."""
    try:
        return a_store.load()
    except SettingsUnreadable as exc:
        return exc.reason


def assert_whole_save(found: store.Stored) -> None:
    """The settings found are exactly those one save of that revision wrote."""
    assert found.settings == settings_for(found.revision)


# -- killed at random moments -------------------------------------------------------


MOMENTS = ("at random", "as it writes", "soon after it began")


def new_temp_file(directory: Path, known: set[str]) -> str | None:
    """A temporary settings file that was not there before: a save is writing."""
    for name in os.listdir(directory):
        if name.startswith(f".{store.SETTINGS_FILE_NAME}.") and name not in known:
            return name
    return None


def until_the_moment(moment: str, rng: random.Random, data_dir: Path, known: set[str]) -> None:
    """Let a victim run until ``moment``: a random delay, or timed by its first write.

    Timing by the write keeps the kills inside saves however slowly children
    start on a busy machine.
    """
    if moment == "at random":
        time.sleep(rng.uniform(0.002, 0.02))
        return
    deadline = time.monotonic() + 5.0
    while new_temp_file(data_dir, known) is None and time.monotonic() < deadline:
        pass
    if moment == "soon after it began":
        time.sleep(rng.uniform(0.0, 0.01))


@needs_fork
def test_a_saver_killed_at_any_moment_leaves_the_old_or_the_new_settings(
    data_dir: Path, forker: Driver
) -> None:
    rng = random.Random(20240611)
    Store(data_dir).save(settings_for(1))
    last = 1
    interrupted_writes = 0
    for round_number in range(200):
        known = set(os.listdir(data_dir))
        pid = int(forker.ask("save"))
        until_the_moment(MOMENTS[round_number % 3], rng, data_dir, known)
        os.kill(pid, signal.SIGKILL)
        assert forker.ask(f"reap {pid}") == f"signal {signal.SIGKILL}", round_number
        found = Store(data_dir).load()
        assert found is not None
        assert_whole_save(found)
        assert found.revision >= last
        last = found.revision
        interrupted_writes += bool(temp_names(data_dir) - known)  # a write it left unfinished
    assert last > 50  # the savers were really saving when they were killed
    assert interrupted_writes > 0  # and some were killed in the middle of a write

    removed = Store(data_dir).cleanup()
    assert temp_files(data_dir) == []
    assert len(removed) > 0
    found = Store(data_dir).load()
    assert found is not None
    assert Store(data_dir).save(settings_for(found.revision + 1)).revision == found.revision + 1


def temp_names(directory: Path) -> set[str]:
    return {path.name for path in temp_files(directory)}


@needs_fork
def test_first_saves_and_resets_killed_at_any_moment(data_dir: Path, forker: Driver) -> None:
    """A kill in a first save or a Reset leaves nothing, whole settings, or a keyless file.

    Reset destroys the key before the file, so an interrupted Reset can leave
    only a file that no one can decrypt -- reported as such, never half-read.
    """
    rng = random.Random(4711)
    seen: list[str] = []
    for round_number in range(60):
        known = set(os.listdir(data_dir)) if data_dir.exists() else set()
        pid = int(forker.ask("reset"))
        data_dir.mkdir(mode=0o700, exist_ok=True)
        until_the_moment(MOMENTS[round_number % 3], rng, data_dir, known)
        os.kill(pid, signal.SIGKILL)
        assert forker.ask(f"reap {pid}") == f"signal {signal.SIGKILL}"
        a_store = Store(data_dir)
        found = load_or_reason(a_store)
        if isinstance(found, Unreadable):
            assert found is Unreadable.KEY_MISSING
            seen.append("keyless")  # the key went first, as it should
            assert a_store.reset() == []
        elif found is None:
            seen.append("nothing")
        else:
            assert_whole_save(found)
            seen.append("settings")
    assert "settings" in seen, seen
    assert "nothing" in seen, seen
    Store(data_dir).cleanup()
    assert temp_files(data_dir) == []


def gone(path: Path) -> bool:
    return not path.exists()


def wait_until(child: subprocess.Popen[bytes], condition: Callable[[], object]) -> bool:
    """Poll until ``condition`` holds; ``False`` if the child ended first."""
    while not condition():
        if child.poll() is not None:
            return False
    return True


def test_the_command_line_killed_during_set(data_dir: Path) -> None:
    """Kills at random moments, while the new file is written, and just after the rename."""
    rng = random.Random(1312)
    Store(data_dir).save(settings_for(1))
    previous = settings_for(1).port
    command = [sys.executable, "-m", "configurator", "set", "--port"]
    hits = {"random": 0, "writing": 0, "renamed": 0}
    for round_number in range(15):
        moment = list(hits)[round_number % 3]
        port = 3000 + round_number
        known = set(os.listdir(data_dir))
        child = subprocess.Popen([*command, str(port)], cwd=REPO, stdout=subprocess.DEVNULL)
        if moment == "random":
            time.sleep(rng.uniform(0.0, 0.05))  # a whole `set` takes 0.07-0.3 s here
            hit = child.poll() is None
        else:
            hit = wait_until(child, functools.partial(new_temp_file, data_dir, known))
            temp = new_temp_file(data_dir, known)
            if moment == "renamed" and hit and temp is not None:
                hit = wait_until(child, functools.partial(gone, data_dir / temp))
        child.kill()
        child.wait(timeout=30)
        hits[moment] += hit

        found = Store(data_dir).load()
        assert found is not None
        assert found.settings.port in (previous, port)
        if moment == "renamed" and hit:
            assert found.settings.port == port  # renamed means saved, killed or not
        previous = found.settings.port
    assert hits["random"] > 0
    assert hits["writing"] + hits["renamed"] > 0  # caught in the act at least once
    Store(data_dir).cleanup()
    assert temp_files(data_dir) == []


def test_cleanup_removes_orphans_at_once_but_never_while_someone_saves(data_dir: Path) -> None:
    a_store = Store(data_dir)
    a_store.save(settings_for(1))
    orphans = [
        data_dir / f".{store.SETTINGS_FILE_NAME}.a{fsutil.TEMP_SUFFIX}",
        data_dir / f".{keys.KEY_FILE_NAME}.b{fsutil.TEMP_SUFFIX}",
    ]
    unrelated = data_dir / "notes.tmp"
    for path in [*orphans, unrelated]:
        path.write_bytes(b"partial")

    import filelock

    with filelock.FileLock(data_dir / store.LOCK_FILE_NAME):
        assert Store(data_dir).cleanup() == []  # a save may be writing them right now
    assert all(path.exists() for path in orphans)

    assert sorted(Store(data_dir).cleanup()) == sorted(orphans)
    assert not any(path.exists() for path in orphans)
    assert unrelated.exists()
    assert Store(data_dir / "never-created").cleanup() == []


# -- full and failing disks ---------------------------------------------------------


@pytest.fixture
def saved(data_dir: Path) -> Store:
    a_store = Store(data_dir)
    a_store.save(settings_for(1))
    return a_store


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in directory.iterdir()
        if path.is_file() and path.name != store.LOCK_FILE_NAME
    }


def unchanged(a_store: Store, before: dict[str, bytes]) -> None:
    assert snapshot(a_store.data_dir) == before
    assert temp_files(a_store.data_dir) == []
    found = a_store.load()
    assert found is not None
    assert (found.settings, found.revision) == (settings_for(1), 1)


def temp_files_on_a_full_disk(
    monkeypatch: pytest.MonkeyPatch, target_name: str = store.SETTINGS_FILE_NAME
) -> None:
    """Temporary files for ``target_name`` are written to /dev/full: a real ENOSPC."""
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]
        if Path(name).name.startswith(f".{target_name}."):
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, fd)
            os.close(full)
        return int(fd), str(name)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_keeps_the_old_settings_and_says_so(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(saved.data_dir)
    with monkeypatch.context() as patched:
        temp_files_on_a_full_disk(patched)
        with pytest.raises(StoreError) as caught:
            saved.save(settings_for(2))
    message = str(caught.value)
    assert os.strerror(errno.ENOSPC) in message
    assert "the previous settings are unchanged" in message
    unchanged(saved, before)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_on_the_first_save_stores_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        temp_files_on_a_full_disk(patched, keys.KEY_FILE_NAME)
        with pytest.raises(StoreError) as caught:
            Store(data_dir).save(settings_for(1))
    assert "data key could not be saved" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert snapshot(data_dir) == {}
    assert Store(data_dir).load() is None


def failing(call: str, error: int, *, after: int = 0) -> Callable[..., object]:
    """A replacement for ``os.<call>`` that fails with ``error`` after ``after`` good calls."""
    real = getattr(os, call)
    calls = {"n": 0}

    def fail(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(error, os.strerror(error))
        return real(*args, **kwargs)

    return fail


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("fsync", errno.EIO),  # the disk fails while the new file is flushed
        ("replace", errno.EIO),
        ("replace", errno.EACCES),
        ("replace", errno.EROFS),  # remounted read-only under our feet
    ],
)
def test_a_failing_write_keeps_the_old_settings_and_says_so(
    saved: Store, monkeypatch: pytest.MonkeyPatch, call: str, error: int
) -> None:
    before = snapshot(saved.data_dir)
    with monkeypatch.context() as patched:
        patched.setattr(os, call, failing(call, error))
        with pytest.raises(StoreError) as caught:
            saved.save(settings_for(2))
    assert os.strerror(error) in str(caught.value)
    assert "the previous settings are unchanged" in str(caught.value)
    unchanged(saved, before)


def test_a_temporary_file_that_cannot_be_created_keeps_the_old_settings(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(saved.data_dir)

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    with monkeypatch.context() as patched:
        patched.setattr(tempfile, "mkstemp", read_only)
        with pytest.raises(StoreError, match="the previous settings are unchanged"):
            saved.save(settings_for(2))
    unchanged(saved, before)


def test_a_failure_after_the_rename_does_not_claim_the_old_settings_remain(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flushing the directory comes after the rename: the new settings are in place."""

    def broken_fsync_dir(path: Path) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with monkeypatch.context() as patched:
        patched.setattr(fsutil, "fsync_dir", broken_fsync_dir)
        with pytest.raises(StoreError) as caught:
            saved.save(settings_for(2))
    message = str(caught.value)
    assert "unchanged" not in message
    assert "were written" in message
    assert os.strerror(errno.EIO) in message
    found = saved.load()
    assert found is not None
    assert (found.settings, found.revision) == (settings_for(2), 2)


@accounts.not_root
def test_a_read_only_directory_keeps_the_old_settings(saved: Store) -> None:
    before = snapshot(saved.data_dir)
    saved.data_dir.chmod(0o500)
    try:
        with pytest.raises(NotWritable, match="no write permission"):
            saved.save(settings_for(2))
    finally:
        saved.data_dir.chmod(0o700)
    unchanged(saved, before)


def test_a_full_disk_does_not_stop_a_save_but_the_audit_says_it_missed_it(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert audit.record(saved.data_dir, audit.Action.SUBMIT, fields_changed=["port"]) is None
    with monkeypatch.context() as patched:
        patched.setattr(os, "write", failing("write", errno.ENOSPC))
        warning = audit.record(saved.data_dir, audit.Action.SUBMIT, fields_changed=["port"])
    assert warning is not None
    assert os.strerror(errno.ENOSPC) in warning
    assert "not recorded" in warning
    assert saved.save(settings_for(2)).revision == 2
    report = audit.read(saved.data_dir)
    assert report.intact
    assert [entry.seq for entry in report.entries] == [1]


# -- writers racing -----------------------------------------------------------------


@pytest.fixture
def racers(data_dir: Path) -> Iterator[tuple[Driver, Driver]]:
    pair = (Driver("racer", data_dir), Driver("racer", data_dir))
    yield pair
    for driver in pair:
        assert driver.close() == ""


def test_two_writers_from_the_same_revision_one_wins_one_hears_of_the_conflict(
    data_dir: Path, racers: tuple[Driver, Driver]
) -> None:
    Store(data_dir).save(settings_for(1))
    first, second = racers
    for round_number in range(30):
        start = Store(data_dir).load()
        assert start is not None
        assert first.ask("load") == second.ask("load") == f"ready {start.revision}"
        first.send("save first")
        second.send("save second")
        outcomes = {"first": first.answer(), "second": second.answer()}
        winners = [name for name, reply in outcomes.items() if reply.startswith("saved")]
        assert len(winners) == 1, (round_number, outcomes)
        loser = "second" if winners == ["first"] else "first"
        new = start.revision + 1
        assert outcomes[winners[0]] == f"saved {new}"
        assert outcomes[loser] == f"conflict {start.revision} {new}"
        found = Store(data_dir).load()
        assert found is not None
        assert found.revision == new
        assert found.settings.account_name == winners[0]


def test_two_blind_writers_are_serialised_and_both_land(
    data_dir: Path, racers: tuple[Driver, Driver]
) -> None:
    Store(data_dir).save(settings_for(1))
    first, second = racers
    for _ in range(10):
        start = Store(data_dir).load()
        assert start is not None
        first.ask("load")
        second.ask("load")
        first.send("save-blind first")
        second.send("save-blind second")
        revisions = {first.answer(), second.answer()}
        assert revisions == {f"saved {start.revision + 1}", f"saved {start.revision + 2}"}
        found = Store(data_dir).load()
        assert found is not None
        assert found.revision == start.revision + 2
        assert found.settings.account_name in ("first", "second")


def test_two_command_lines_at_once_leave_one_result_and_name_the_conflict(data_dir: Path) -> None:
    Store(data_dir).save(settings_for(1))
    command = [sys.executable, "-m", "configurator", "set", "--port"]
    for round_number in range(4):
        ports = (5000 + 2 * round_number, 5001 + 2 * round_number)
        start = Store(data_dir).load()
        assert start is not None
        children = [
            subprocess.Popen(
                [*command, str(port)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for port in ports
        ]
        results = [(child.communicate(timeout=60), child.returncode) for child in children]
        successes = [port for port, (_, code) in zip(ports, results, strict=True) if code == 0]
        for (_, err), code in results:
            assert code in (0, 1), err
            if code == 1:
                assert "changed elsewhere" in err
                assert "Nothing was saved" in err
        found = Store(data_dir).load()
        assert found is not None
        assert found.revision == start.revision + len(successes)
        assert found.settings.port in successes


@needs_fork
def test_a_lock_left_by_a_killed_writer_does_not_block(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, filelock\n"
            "lock = filelock.FileLock(sys.argv[1]); lock.acquire()\n"
            "print('locked', flush=True); time.sleep(60)",
            str(saved.data_dir / store.LOCK_FILE_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    monkeypatch.setattr(store, "LOCK_TIMEOUT", 0.3)
    with pytest.raises(StoreError, match="Another program is saving"):
        saved.save(settings_for(2))
    holder.kill()
    holder.wait(timeout=30)
    holder.stdout.close()
    monkeypatch.setattr(store, "LOCK_TIMEOUT", 5.0)
    started = time.monotonic()
    assert saved.save(settings_for(2)).revision == 2
    assert time.monotonic() - started < 2.0


def test_a_secret_in_a_failing_save_never_reaches_the_error(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = secrets.secret("fault-Pässwort-7781")
    with_password = dataclasses.replace(
        settings_for(2), auth=model.Auth.LOGIN_PLAIN, username="alerts", password=password
    )
    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", failing("replace", errno.EIO))
        with pytest.raises(StoreError) as caught:
            saved.save(with_password)
    secrets.assert_clean(str(caught.value), repr(caught.value))
