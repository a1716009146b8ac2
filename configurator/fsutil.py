"""Crash-safe file writes, private directories, and files no one else can plant.

A save interrupted at any instant must leave either the old or the new file:
write a temporary file beside the target, flush it to disk, then rename it
over the target in one step, and flush the directory entry too.  The rename
replaces a symbolic link at the target, never the file it points to.

Every file of a store is opened through ``open_regular``: a symbolic link, a
FIFO, a device or a socket is refused before it is opened for use (``lstat``,
then ``O_NOFOLLOW | O_NONBLOCK`` and an ``fstat`` that must show the same
regular file), a file owned by another account (other than root) or writable
by group or others is refused (POSIX), and a file larger than its limit is
refused without being read.  The limits are far above anything this program
writes: ``MAX_SETTINGS_BYTES`` for settings.enc, ``MAX_KEY_BYTES`` for a key
file, ``MAX_RECORD_BYTES`` for one line of the audit trail.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from configurator.errors import StoreError, UnsafePath

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
_ON_POSIX = os.name == "posix"

# Bounds on what a read may take in (see the module docstring).
MAX_SETTINGS_BYTES = 256 * 1024
MAX_KEY_BYTES = 4 * 1024
MAX_RECORD_BYTES = 16 * 1024

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_EXTRA = _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_OPEN_EXTRA |= getattr(os, "O_BINARY", 0)
_GROUP_OR_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


# -- trust: who owns a file, who may change it ----------------------------------------


def account_name(uid: int) -> str:
    """The login name of ``uid`` ("uid 1234" when it has none; POSIX)."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):  # no pwd on Windows; an id without a name
        return f"uid {uid}"


def current_account() -> str:
    """This process's account, from its real user id: never from ``USER`` or ``LOGNAME``.

    On Windows ``os.getlogin`` asks the system (GetUserNameW) for the
    account the process runs as.
    """
    if _ON_POSIX:
        return account_name(os.getuid())
    try:
        return os.getlogin()
    except OSError:
        return "unknown"


def kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words; ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def trust_problem(
    path: Path, info: os.stat_result, fix_mode: int | None = None
) -> tuple[str, str] | None:
    """Why another account could have chosen what ``path`` holds, and the fix; or ``None``.

    Trusted: owned by this account or by root, and writable by no one else
    (POSIX; elsewhere access control lists are not examined).  ``fix_mode``
    is the mode the fix sets (``chmod go-w`` when not given).
    """
    if not _ON_POSIX:
        return None
    import shlex

    quoted = shlex.quote(str(path))
    if info.st_uid not in (os.geteuid(), 0):
        owner = account_name(info.st_uid)
        me = shlex.quote(account_name(os.geteuid()))
        if stat.S_ISDIR(info.st_mode):
            advice = (
                "Use a folder of your own (--data-dir), or, if you trust its contents, "
                f"take it over with: sudo chown -R {me} {quoted}"
            )
        else:
            advice = (
                f"Check how it got there. Remove it (rm {quoted}), or, if you trust it, "
                f"take it over with: sudo chown {me} {quoted}"
            )
        return (
            f"{path} belongs to {owner}, another account, which may have put anything "
            "there: refused.",
            advice,
        )
    if info.st_mode & _GROUP_OR_OTHERS_WRITE:
        change = f"{fix_mode:o}" if fix_mode is not None else "go-w"
        return (
            f"{path} is refused because other users may change it (permissions "
            f"{stat.filemode(info.st_mode)}).",
            f"Check its contents, then make it safe with: chmod {change} {quoted}",
        )
    return None


def require_trusted(path: Path, info: os.stat_result, fix_mode: int | None = None) -> None:
    """Raise ``UnsafePath`` unless ``trust_problem`` finds nothing."""
    problem = trust_problem(path, info, fix_mode)
    if problem is not None:
        raise UnsafePath(path, *problem)


def check_directory(path: Path) -> None:
    """Refuse a data directory another account could have changed, or one above it.

    ``path`` must exist and be resolved (no symbolic links).  The directory
    itself must be this account's or root's and writable by no one else; a
    folder above it must not belong to another account, and must not be
    writable by everyone unless it has the sticky bit (as /tmp has).
    """
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    require_trusted(path, info, None if is_shared_dir(path) else PRIVATE_DIR_MODE)
    if not _ON_POSIX:
        return
    import shlex

    for parent in path.parents:
        try:
            above = os.stat(parent)
        except OSError:
            continue
        if above.st_uid not in (os.geteuid(), 0):
            raise UnsafePath(
                path,
                f"{path} lies in {parent}, which belongs to {account_name(above.st_uid)}, "
                "another account, which could replace it: refused.",
                "Use a folder of your own (--data-dir), outside folders of other accounts.",
            )
        if above.st_mode & stat.S_IWOTH and not above.st_mode & stat.S_ISVTX:
            raise UnsafePath(
                path,
                f"{path} lies in {parent}, which every account may change (permissions "
                f"{stat.filemode(above.st_mode)}): refused.",
                f"Stop others from changing it with: chmod o-w {shlex.quote(str(parent))}",
            )


def check_file(path: Path, fix_mode: int | None = PRIVATE_FILE_MODE) -> None:
    """Refuse (``UnsafePath``) an existing ``path`` that ``open_regular`` would refuse.

    Without opening it: for a change (Reset) that must stop before it starts.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    _refuse_kind(path, info.st_mode)
    require_trusted(path, info, fix_mode)


def open_regular(
    path: Path,
    limit: int | None,
    *,
    write: bool = False,
    create: bool = False,
    append: bool = False,
    mode: int = PRIVATE_FILE_MODE,
    fix_mode: int | None = PRIVATE_FILE_MODE,
) -> int:
    """Open ``path`` only if it is a trusted regular file of at most ``limit`` bytes.

    Returns a blocking file descriptor.  Raises ``FileNotFoundError`` when
    there is no such file (and ``create`` is false), ``UnsafePath`` for a
    symbolic link, FIFO, device, socket or directory, a file another account
    owns or may change, or one larger than ``limit``: none of them is read,
    written or truncated.
    """
    try:
        before: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        before = None
    if before is not None:
        _refuse_kind(path, before.st_mode)
    flags = (os.O_RDWR if write or append else os.O_RDONLY) | _OPEN_EXTRA | _NONBLOCK
    if create:
        flags |= os.O_CREAT
    if append:
        flags |= os.O_APPEND
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO):
            # O_NOFOLLOW met a link (Linux: ELOOP, BSD: EMLINK), or a FIFO swapped in.
            _refuse_kind(path, os.lstat(path).st_mode)
        raise
    try:
        info = os.fstat(fd)
        _refuse_kind(path, info.st_mode)
        # POSIX only: there the two always agree; Windows fills them from other calls.
        if (
            _ON_POSIX
            and before is not None
            and (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino)
        ):
            raise UnsafePath(
                path,
                f"{path} was replaced while it was being opened: refused.",
                "Find out which program changes it, then try again.",
            )
        require_trusted(path, info, fix_mode)
        if limit is not None and info.st_size > limit:
            raise UnsafePath(
                path,
                f"{path} is {info.st_size} bytes long, more than such a file can be "
                f"({limit} bytes): refused without reading it.",
                "Move it out of the way (it is not a file of this program), then try again.",
            )
        if _NONBLOCK:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_kind(path: Path, mode: int) -> None:
    kind = kind_of(mode)
    if kind is None:
        return
    import shlex

    raise UnsafePath(
        path,
        f"{path} is {kind}, not a regular file: refused (it was not read or changed).",
        f"Check what it is, then remove it: rm {shlex.quote(str(path))}"
        if kind != "a directory"
        else "Move it out of the way, then try again.",
    )


def read_bounded(path: Path, limit: int, fix_mode: int | None = PRIVATE_FILE_MODE) -> bytes | None:
    """The bytes of a trusted regular file of at most ``limit`` bytes, ``None`` if missing."""
    try:
        fd = open_regular(path, limit, fix_mode=fix_mode)
    except FileNotFoundError:
        return None
    try:
        data = read_at_most(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after it was opened
        raise UnsafePath(
            path,
            f"{path} is more than {limit} bytes long: refused.",
            "Move it out of the way (it is not a file of this program), then try again.",
        )
    return data


def read_trusted_input(path: Path, limit: int) -> bytes:
    """The bytes of a file the user chose (a CA file), read within ``limit``.

    Unlike the store's own files it may be reached through a link (system CA
    bundles are links), but what it leads to must be a regular file that no
    other account may change: whoever can change a CA file decides whom the
    check trusts.  A FIFO or a device could hang the read or never end.
    Raises ``ValueError`` with the reason in a few words (without the path),
    ``OSError`` when it cannot be read.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        kind = kind_of(info.st_mode)
        if kind is not None:
            raise ValueError(f"it is {kind}, not a regular file")
        if _ON_POSIX and info.st_uid not in (os.geteuid(), 0):
            raise ValueError(f"it belongs to {account_name(info.st_uid)}, another account")
        if _ON_POSIX and info.st_mode & _GROUP_OR_OTHERS_WRITE:
            raise ValueError(
                f"other users may change it (permissions {stat.filemode(info.st_mode)})"
            )
        data = read_at_most(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"it is larger than {limit // 1024} KiB, more than a CA file holds")
    return data


def read_at_most(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from the current position of ``fd``."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def locked(path: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path``; the OS releases it if the holder dies.

    POSIX: the lock file is opened like every other file (no symbolic link,
    a regular file of this account) and locked with ``flock``, as filelock
    does, so the two exclude each other.  Elsewhere filelock does the work.
    ``busy`` is the message of the ``StoreError`` raised after ``timeout`` seconds.
    """
    if not _ON_POSIX:
        import filelock

        lock = filelock.FileLock(path, timeout=timeout, mode=PRIVATE_FILE_MODE)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StoreError(busy) from None
        try:
            yield
        finally:
            lock.release()
        return
    import fcntl

    fd = open_regular(path, MAX_KEY_BYTES, write=True, create=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(busy) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` as a directory only its owner may enter, or check the existing one.

    A new directory is created 0700; folders above it that are missing are
    created as ``mkdir -p`` would, and existing ones are left as they are.
    An existing directory that others may change, or that another account
    owns, is refused (``UnsafePath``), never repaired behind the user's back;
    one that others may only read is made private.
    """
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    check_directory(path)
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
        if os.name == "posix":
            if group is not None:
                os.fchown(fd, -1, group)
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # A rename replaces a symbolic link at ``path`` itself, never its target.
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
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
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
        fd = open_regular(path, MAX_KEY_BYTES, write=True)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "r+b") as handle:
        size = os.fstat(fd).st_size
        handle.write(header + os.urandom(max(size - len(header), 1)))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    fsync_dir(path.parent)
