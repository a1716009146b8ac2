"""Crash-safe file writes and private directories.

A save interrupted at any instant must leave either the old or the new file:
write a temporary file beside the target, flush it to disk, then rename it
over the target in one step, and flush the directory entry too.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
TEMP_SUFFIX = ".tmp"
# A system-wide store ("--system") is shared read-only with a group: its
# directory must stay 0755, so it carries this marker and is not made private.
SHARED_MARKER = "system-store"

# On Windows an antivirus scanner or the search indexer may hold the target
# open for a moment; os.replace then fails with a sharing violation.
_REPLACE_RETRY_SECONDS = 2.0
_WINDOWS_SHARING_ERRORS = {5, 32, 33}
_ON_WINDOWS = sys.platform == "win32"


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as a directory only its owner may enter."""
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if os.name == "posix":
        info = path.stat()
        if info.st_uid == os.geteuid() and info.st_mode & 0o077 and not is_shared_dir(path):
            path.chmod(PRIVATE_DIR_MODE)


def is_shared_dir(path: Path) -> bool:
    """True for the directory of a system-wide store: it holds ``SHARED_MARKER``.

    The marker counts only as a regular file of the directory's owner that no
    one else may change, so no other account can declare a store shared.
    """
    try:
        marker = os.lstat(path / SHARED_MARKER)
        directory = os.stat(path)
    except OSError:
        return False
    return (
        stat.S_ISREG(marker.st_mode)
        and marker.st_uid == directory.st_uid
        and not marker.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def atomic_write(
    path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE, group: int | None = None
) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new bytes.

    ``mode`` and ``group`` (POSIX) are set on the temporary file before the
    rename, so the file never appears with other permissions.
    """
    import tempfile  # only saves need it: reading the settings must start fast

    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "posix":
            if group is not None:
                os.chown(temp, -1, group)
            temp.chmod(mode)
        _replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)


def _replace(source: Path, target: Path) -> None:
    deadline = time.monotonic() + _REPLACE_RETRY_SECONDS
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError as exc:
            winerror = getattr(exc, "winerror", None)
            if (
                not _ON_WINDOWS
                or winerror not in _WINDOWS_SHARING_ERRORS
                or time.monotonic() > deadline
            ):
                raise
            time.sleep(0.05)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def has_temp_files(directory: Path, target_names: Iterable[str]) -> bool:
    """Whether ``directory`` holds a temporary file of a save of one of ``target_names``.

    One listing of the directory, cheap enough for every start; the same
    names ``remove_stale_temp_files`` would look at.
    """
    patterns = [f".{name}.*{TEMP_SUFFIX}" for name in target_names]
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    return any(fnmatch.fnmatch(name, pattern) for name in names for pattern in patterns)


def remove_stale_temp_files(
    directory: Path, target_name: str, older_than: float = 60.0
) -> list[Path]:
    """Delete temporary files a crashed save of ``target_name`` left behind.

    Only files older than ``older_than`` seconds go, so that a save running
    in another process at this moment keeps its temporary file.
    """
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    cutoff = time.time() - older_than
    for candidate in directory.glob(f".{target_name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed.append(candidate)
    return removed


def shred(path: Path, header: bytes = b"") -> None:
    """Overwrite a small secret file with random bytes, then delete it.

    ``header`` goes before the random bytes, so that a file left behind by an
    interruption between the two steps can be recognised as erased.  On
    journalling file systems and SSDs the old blocks may survive, which is
    why the data key (not just the settings file) is what Reset destroys.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    with open(path, "r+b") as handle:
        handle.write(header + os.urandom(max(size - len(header), 1)))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    fsync_dir(path.parent)
