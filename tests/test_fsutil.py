"""Crash-safe writes, private directories and temporary-file clean-up, on real files."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest
from support import accounts

from configurator import fsutil
from configurator.errors import UnsafePath

POSIX = os.name == "posix"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(fsutil.TEMP_SUFFIX))


class Interrupted(OSError):
    """Stands for a disk error or a crash at one step of a write."""


def interrupt(*args: object) -> None:
    raise Interrupted(5, "Input/output error")


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "settings.enc"
    fsutil.atomic_write(target, b"first")
    assert target.read_bytes() == b"first"
    fsutil.atomic_write(target, b"second, longer than the first")
    assert target.read_bytes() == b"second, longer than the first"
    fsutil.atomic_write(target, b"")
    assert target.read_bytes() == b""
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_atomic_write_makes_the_file_private(tmp_path: Path) -> None:
    target = tmp_path / "settings.enc"
    target.write_bytes(b"old")
    target.chmod(0o644)
    fsutil.atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("step", ["fsync", "replace"])
@pytest.mark.parametrize("existed", [True, False])
def test_interrupted_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, existed: bool
) -> None:
    target = tmp_path / "settings.enc"
    if existed:
        target.write_bytes(b"old settings")
    with monkeypatch.context() as patched:
        patched.setattr(os, step, interrupt)
        with pytest.raises(Interrupted):
            fsutil.atomic_write(target, b"new settings")
    if existed:
        assert target.read_bytes() == b"old settings"
    else:
        assert not target.exists()
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == (["settings.enc"] if existed else [])


def test_write_failure_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.enc"
    target.write_bytes(b"old settings")
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self.handle = real_fdopen(fd, mode)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            self.handle.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fdopen", FullDisk)
        with pytest.raises(OSError, match="No space left"):
            fsutil.atomic_write(target, b"new settings")
    assert target.read_bytes() == b"old settings"
    assert leftovers(tmp_path) == []


def test_even_an_interrupt_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.enc"
    target.write_bytes(b"old")

    def keyboard_interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", keyboard_interrupt)
        with pytest.raises(KeyboardInterrupt):
            fsutil.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_atomic_write_into_a_missing_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fsutil.atomic_write(tmp_path / "missing" / "settings.enc", b"x")


def test_replace_retries_a_sharing_violation_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.enc"
    target.write_bytes(b"old")
    real_replace = os.replace
    attempts: list[int] = []

    def held_by_scanner(source: str, destination: str) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            error = PermissionError(13, "The process cannot access the file")
            error.winerror = 32  # type: ignore[attr-defined]
            raise error
        real_replace(source, destination)

    with monkeypatch.context() as patched:
        patched.setattr(fsutil, "_ON_WINDOWS", True)
        patched.setattr(os, "replace", held_by_scanner)
        fsutil.atomic_write(target, b"new")
    assert len(attempts) == 3
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize(
    ("on_windows", "winerror", "retried"),
    [(True, 5, True), (True, 33, True), (False, 32, False), (True, None, False), (True, 2, False)],
)
def test_replace_gives_up(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    on_windows: bool,
    winerror: int | None,
    retried: bool,
) -> None:
    target = tmp_path / "settings.enc"
    target.write_bytes(b"old")
    attempts: list[int] = []

    def always_held(source: str, destination: str) -> None:
        attempts.append(1)
        error = PermissionError(13, "Access is denied")
        if winerror is not None:
            error.winerror = winerror  # type: ignore[attr-defined]
        raise error

    with monkeypatch.context() as patched:
        patched.setattr(fsutil, "_ON_WINDOWS", on_windows)
        patched.setattr(fsutil, "_REPLACE_RETRY_SECONDS", 0.2)
        patched.setattr(os, "replace", always_held)
        with pytest.raises(PermissionError):
            fsutil.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []
    # Only a sharing violation on Windows is worth waiting for, and only for a while.
    assert (len(attempts) > 1) is retried
    assert len(attempts) < 20


# -- private directories --------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_ensure_private_dir_creates_it_private(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data"
    fsutil.ensure_private_dir(target)
    assert target.is_dir()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701, 0o700])
def test_ensure_private_dir_tightens_its_own_directory(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "data"
    target.mkdir()
    target.chmod(mode)
    (target / "kept").write_bytes(b"x")
    fsutil.ensure_private_dir(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert (target / "kept").read_bytes() == b"x"


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722, 0o1777])
def test_ensure_private_dir_refuses_a_directory_others_may_change(
    tmp_path: Path, mode: int
) -> None:
    """Refused with the fix, never chmod-ed behind the user's back."""
    target = tmp_path / "data"
    target.mkdir()
    target.chmod(mode)
    with pytest.raises(UnsafePath) as caught:
        fsutil.ensure_private_dir(target)
    assert "other users may change it" in str(caught.value)
    assert f"chmod 700 {target}" in str(caught.value)
    assert stat.S_IMODE(target.stat().st_mode) == mode


@accounts.root_only
def test_ensure_private_dir_refuses_someone_elses_directory(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    target.mkdir()
    target.chmod(0o755)
    os.chown(target, 65534, 65534)
    with pytest.raises(UnsafePath, match="belongs to nobody, another account"):
        fsutil.ensure_private_dir(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_new_data_dir_is_0700_and_its_parents_are_left_alone(tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(0o755)
    target = parent / "data"
    fsutil.ensure_private_dir(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE(parent.stat().st_mode) == 0o755


def test_ensure_private_dir_refuses_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(FileExistsError):
        fsutil.ensure_private_dir(blocker)


@pytest.mark.skipif(not POSIX, reason="directories are flushed on POSIX only")
def test_fsync_dir_flushes_the_directory_itself_and_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[tuple[int, int, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        flushed.append((fd, info.st_dev, info.st_ino))
        real_fsync(fd)

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", spy)
        fsutil.fsync_dir(tmp_path)
    directory = tmp_path.stat()
    [(fd, device, inode)] = flushed
    assert (device, inode) == (directory.st_dev, directory.st_ino)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # closed again: no descriptor leaks per save


# -- stale temporary files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "age", "removed"),
    [
        (".settings.enc.abc123.tmp", 120, True),
        (".settings.enc.abc123.tmp", 61, True),
        (".settings.enc.abc123.tmp", 5, False),
        (".settings.enc.abc123.tmp", 0, False),
        (".settings.key.abc123.tmp", 120, False),
        ("settings.enc.abc123.tmp", 120, False),
        (".settings.enc.abc123", 120, False),
        ("settings.enc", 120, False),
        ("notes.tmp", 120, False),
    ],
)
def test_remove_stale_temp_files(tmp_path: Path, name: str, age: float, removed: bool) -> None:
    candidate = tmp_path / name
    candidate.write_bytes(b"partial")
    when = time.time() - age
    os.utime(candidate, (when, when))
    result = fsutil.remove_stale_temp_files(tmp_path, "settings.enc")
    assert result == ([candidate] if removed else [])
    assert candidate.exists() is not removed


def test_remove_stale_temp_files_of_a_missing_directory(tmp_path: Path) -> None:
    assert fsutil.remove_stale_temp_files(tmp_path / "missing", "settings.enc") == []


@pytest.mark.parametrize(
    "name",
    [
        ".settings.enc.abc123.tmp",
        ".settings.enc..tmp",
        ".settings.key.abc123.tmp",
        "settings.enc.abc123.tmp",
        ".settings.enc.abc123",
        ".settings.enc.tmp",
        "settings.enc",
        "notes.tmp",
    ],
)
def test_the_quick_look_for_temp_files_finds_what_the_clean_up_removes(
    tmp_path: Path, name: str
) -> None:
    """``has_temp_files`` decides at every start whether the clean-up runs at all."""
    candidate = tmp_path / name
    candidate.write_bytes(b"partial")
    long_ago = time.time() - 3600
    os.utime(candidate, (long_ago, long_ago))
    found = fsutil.has_temp_files(tmp_path, ["settings.enc"])
    assert found == bool(fsutil.remove_stale_temp_files(tmp_path, "settings.enc"))


def test_the_quick_look_for_temp_files_of_a_missing_directory(tmp_path: Path) -> None:
    assert not fsutil.has_temp_files(tmp_path / "missing", ["settings.enc"])
    (tmp_path / "file").write_bytes(b"")
    assert not fsutil.has_temp_files(tmp_path / "file", ["settings.enc"])


def test_a_temp_file_of_a_real_write_matches_the_clean_up_pattern(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.enc"
    seen: list[str] = []
    real_replace = os.replace

    def spy(source: str, destination: str) -> None:
        seen.append(Path(source).name)
        real_replace(source, destination)

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", spy)
        fsutil.atomic_write(target, b"x")
    (stale,) = seen
    (tmp_path / stale).write_bytes(b"left by a crash")
    long_ago = time.time() - 3600
    os.utime(tmp_path / stale, (long_ago, long_ago))
    assert fsutil.remove_stale_temp_files(tmp_path, "settings.enc") == [tmp_path / stale]


# -- shredding --------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"k", b"configurator-data-key-v1 " + b"A" * 44])
def test_shred_overwrites_then_removes(
    tmp_path: Path, content: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Random bytes may equal a one-byte original by chance; these cannot.
    monkeypatch.setattr(os, "urandom", lambda size: bytes([0xFF]) * size)
    secret = tmp_path / "settings.key"
    secret.write_bytes(content)
    witness = tmp_path / "witness"
    os.link(secret, witness)  # a second name for the same data shows what shred wrote
    fsutil.shred(secret)
    assert not secret.exists()
    overwritten = witness.read_bytes()
    assert overwritten == bytes([0xFF]) * max(len(content), 1)


def test_shred_of_a_missing_file_is_quiet_and_touches_nothing(tmp_path: Path) -> None:
    neighbour = tmp_path / "settings.enc"
    neighbour.write_bytes(b"kept")
    fsutil.shred(tmp_path / "missing")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["settings.enc"]
    assert neighbour.read_bytes() == b"kept"


# -- files no one else can plant ----------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX links, FIFOs and devices")
def test_open_regular_refuses_every_kind_of_file_but_a_regular_one(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to("/dev/zero")
    refusals = {
        "fifo": "is a FIFO (named pipe)",
        "folder": "is a directory",
        "link": "is a symbolic link",
    }
    for name, words in refusals.items():
        with pytest.raises(UnsafePath, match=re.escape(words)):
            fsutil.open_regular(tmp_path / name, 1024)
    with pytest.raises(UnsafePath, match="is a device"):
        fsutil.open_regular(Path("/dev/null"), 1024)
    with pytest.raises(FileNotFoundError):
        fsutil.open_regular(tmp_path / "missing", 1024)


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_read_bounded_refuses_a_file_over_its_limit_and_one_others_may_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "settings.enc"
    path.write_bytes(b"x" * 101)
    path.chmod(0o600)
    assert fsutil.read_bounded(path, 101) == b"x" * 101
    with pytest.raises(UnsafePath, match="101 bytes long, more than such a file can be"):
        fsutil.read_bounded(path, 100)
    path.chmod(0o620)
    with pytest.raises(UnsafePath, match="other users may change it") as caught:
        fsutil.read_bounded(path, 1000)
    assert f"chmod 600 {path}" in str(caught.value)
    assert fsutil.read_bounded(tmp_path / "missing", 10) is None


@pytest.mark.skipif(not POSIX, reason="POSIX links")
def test_atomic_write_replaces_a_link_at_the_target_never_its_target(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_bytes(b"someone else's")
    target = tmp_path / "settings.enc"
    target.symlink_to(precious)
    fsutil.atomic_write(target, b"new")
    assert not target.is_symlink()
    assert target.read_bytes() == b"new"
    assert precious.read_bytes() == b"someone else's"


@pytest.mark.skipif(not POSIX, reason="POSIX links")
def test_shred_refuses_a_link_and_leaves_its_target_alone(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_bytes(b"someone else's")
    key = tmp_path / "settings.key"
    key.symlink_to(precious)
    with pytest.raises(UnsafePath, match="is a symbolic link"):
        fsutil.shred(key)
    assert precious.read_bytes() == b"someone else's"
    assert key.is_symlink()


@pytest.mark.skipif(not POSIX, reason="POSIX links and flock")
def test_a_lock_file_is_never_a_link_and_excludes_a_second_holder(tmp_path: Path) -> None:
    from configurator.errors import StoreError

    lock = tmp_path / "settings.lock"
    with (
        fsutil.locked(lock, 1, "busy"),
        pytest.raises(StoreError, match="busy"),
        fsutil.locked(lock, 0.1, "busy"),
    ):
        pass
    with fsutil.locked(lock, 0, "busy"):
        pass  # released when the first holder left
    lock.unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"untouched")
    lock.symlink_to(elsewhere)
    with pytest.raises(UnsafePath, match="is a symbolic link"), fsutil.locked(lock, 1, "busy"):
        pass
    assert elsewhere.read_bytes() == b"untouched"


def test_the_account_comes_from_the_real_user_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    if POSIX:
        import pwd

        assert fsutil.current_account() == pwd.getpwuid(os.getuid()).pw_name
    assert fsutil.current_account() != "mallory"
