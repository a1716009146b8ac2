"""Edges of the crash-safe writes: modes and groups, private directories, markers, shredding."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

import pytest

from configurator import fsutil

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
root_only = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0, reason="giving files to others needs root"
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_an_atomic_write_sets_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "settings.enc"
    fsutil.atomic_write(target, b"shared", mode=0o640)
    assert target.read_bytes() == b"shared"
    assert mode_of(target) == 0o640


@root_only
def test_an_atomic_write_gives_the_file_the_group_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "settings.key"
    fsutil.atomic_write(target, b"key", mode=0o640, group=4242)
    info = target.stat()
    assert (info.st_gid, info.st_uid) == (4242, os.geteuid())


def test_the_temporary_file_is_made_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in the system's temporary directory: a rename works only within one file system."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-directory"))
    target = tmp_path / "settings.enc"
    fsutil.atomic_write(target, b"data")
    assert target.read_bytes() == b"data"


@posix_only
@pytest.mark.parametrize(("before", "after"), [(0o650, 0o700), (0o755, 0o700), (0o500, 0o500)])
def test_a_private_directory_loses_only_the_access_of_others(
    tmp_path: Path, before: int, after: int
) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    directory.chmod(before)
    fsutil.ensure_private_dir(directory)
    assert mode_of(directory) == after


def make_shared(directory: Path, marker_mode: int = 0o644) -> Path:
    directory.mkdir(exist_ok=True)
    marker = directory / fsutil.SHARED_MARKER
    marker.write_text("")
    marker.chmod(marker_mode)
    return marker


@posix_only
def test_a_directory_with_a_proper_marker_is_shared_and_stays_open(tmp_path: Path) -> None:
    directory = tmp_path / "system"
    make_shared(directory)
    directory.chmod(0o755)
    assert fsutil.is_shared_dir(directory)
    fsutil.ensure_private_dir(directory)
    assert mode_of(directory) == 0o755


@posix_only
@pytest.mark.parametrize("marker_mode", [0o664, 0o646])
def test_a_marker_others_may_change_does_not_count(tmp_path: Path, marker_mode: int) -> None:
    directory = tmp_path / "system"
    make_shared(directory, marker_mode)
    assert not fsutil.is_shared_dir(directory)


@posix_only
def test_a_marker_that_is_no_regular_file_does_not_count(tmp_path: Path) -> None:
    directory = tmp_path / "system"
    (directory / fsutil.SHARED_MARKER).mkdir(parents=True)
    assert not fsutil.is_shared_dir(directory)


@root_only
def test_a_marker_of_another_account_does_not_count(tmp_path: Path) -> None:
    directory = tmp_path / "system"
    marker = make_shared(directory)
    os.chown(marker, 4242, -1)
    assert not fsutil.is_shared_dir(directory)


def _leftover(directory: Path, name: str, age: float) -> Path:
    path = directory / f".settings.enc.{name}{fsutil.TEMP_SUFFIX}"
    if not path.exists():
        path.write_bytes(b"partial")
    moment = time.time() - age
    os.utime(path, (moment, moment))
    return path


def test_leftovers_older_than_a_minute_go_by_default(tmp_path: Path) -> None:
    old = _leftover(tmp_path, "old", 60.5)
    recent = _leftover(tmp_path, "recent", 30)
    assert fsutil.remove_stale_temp_files(tmp_path, "settings.enc") == [old]
    assert recent.exists()


def test_a_leftover_that_cannot_be_removed_is_skipped(tmp_path: Path) -> None:
    stuck = tmp_path / f".settings.enc.stuck{fsutil.TEMP_SUFFIX}"
    stuck.mkdir()
    (stuck / "inside").write_bytes(b"x")
    _leftover(tmp_path, "stuck", 3600)
    old = _leftover(tmp_path, "old", 3600)
    assert fsutil.remove_stale_temp_files(tmp_path, "settings.enc") == [old]
    assert stuck.is_dir()


def test_shredding_overwrites_the_bytes_in_place_with_the_same_length(tmp_path: Path) -> None:
    """A hard link keeps the inode alive: it shows what the shredding wrote."""
    secret = tmp_path / "settings.key"
    content = b"configurator-data-key-v1 " + b"A" * 44 + b"\n"
    secret.write_bytes(content)
    witness = tmp_path / "witness"
    os.link(secret, witness)
    fsutil.shred(secret, header=b"erased\n")
    assert not secret.exists()
    left = witness.read_bytes()
    assert len(left) == len(content)
    assert left.startswith(b"erased\n")
    assert b"A" * 44 not in left


@posix_only
def test_syncing_a_directory_that_is_gone_is_an_error(tmp_path: Path) -> None:
    """A rename that cannot be made durable must not pass for a durable one."""
    with pytest.raises(FileNotFoundError):
        fsutil.fsync_dir(tmp_path / "gone")
