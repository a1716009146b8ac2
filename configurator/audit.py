"""The audit trail: who changed or checked the mail server settings, and when.

Administrators of a security platform must be able to answer "who pointed the
alerts at another server, and when?" -- also after a Reset, and also when
someone has tried to tidy the answer away.  So:

- ``audit.log`` in the data directory holds one JSON record per line, only
  ever appended to and flushed to disk (fsync) before ``record`` returns.  A
  crash can cut off at most the record being written; ``read`` reports that
  remnant and the records before it stay verifiable.
- Each record is chained to the one before it by HMAC-SHA256 over the
  previous record's MAC and this record, so a record that is changed,
  removed, reordered or inserted is detected.  Records cut off the end (or
  the whole file deleted) cannot be detected this way; SECURITY.md says so.
- A record holds the time (UTC), the OS user, the action, the keys of the
  fields that changed (the password only as "changed", never its value) and
  a short detail phrase.  No setting value is kept: the trail outlives Reset,
  and a history of values would undo what Reset promises.  The detail is
  sealed (AES-256-GCM) all the same, so that no text a caller passes sits on
  disk in clear.
- The MAC key is not the settings' data key, which Reset destroys: it is a
  separate audit key in ``audit.key`` (0600) or in the OS keyring entry
  ``<data dir>/audit.key``, placed by the same ``CONFIGURATOR_KEY_BACKEND``
  rule as the data key.  Reset leaves it, and the log, alone.

The API for the window, the command line (``configurator audit [--json]``:
exit 0 when ``intact``, 4 when not) and a system-wide store alike:

``record(data_dir, action, *, fields_changed=(), detail="")``
    Append one record; return ``None``, or a warning to show when it could not
    be written.  It never raises for I/O, lock or key problems: an audit
    failure must not block a save, but must be visible.  Call it after every
    Submit (``fields_changed=changed_fields(old, new)``), Reset, failed
    unlock (a store that could not be read), mail check (detail: the result
    in plain words) and start-again (a file set aside).
``read(data_dir) -> AuditReport``
    Every record, oldest first, whether the chain is intact, the first
    ``problem`` found and ``warnings`` (such as a record cut off by a crash).
``changed_fields(old, new)``
    The keys of the fields that differ, in form order.
``last_change(data_dir)``
    The latest submit, reset or start-again: for the dialog that tells a user
    someone else saved the settings meanwhile.

The window imports this module at every start, to show the last change: the
clock and the login name are imported where they are needed, not here, and
the MACs are computed by cryptography (``keys.hmac_sha256``), already loaded
to decrypt, rather than by ``hmac``, which would load OpenSSL a second time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from configurator import fsutil, keys, model
from configurator.errors import KeyUnavailable, StoreError, UnsafePath, reason_words
from configurator.frozen import frozen

AUDIT_FILE_NAME = "audit.log"
AUDIT_KEY_NAME = "audit.key"
LOCK_FILE_NAME = "audit.lock"
LOCK_TIMEOUT = 10.0  # as long as the store's: twenty writers at once take turns here too
RECORD_VERSION = 1
MAX_DETAIL = 500
_GENESIS = bytes(32)
_AUDIT_COMMAND = "configurator audit"
_NONCE_SIZE = 12


class Action(enum.StrEnum):
    """What happened."""

    SUBMIT = "submit"
    RESET = "reset"
    UNLOCK_FAILED = "unlock_failed"
    CHECK = "check"
    START_AGAIN = "start_again"

    @property
    def label(self) -> str:
        return {
            "submit": "settings saved",
            "reset": "settings reset",
            "unlock_failed": "stored settings could not be opened",
            "check": "mail server checked",
            "start_again": "unreadable settings set aside",
        }[self.value]


def action_words(action: str) -> str:
    """What an action did, in words ("settings saved"); an unknown one as recorded."""
    try:
        return Action(action).label
    except ValueError:
        return action


def detail_words(action: str, detail: str) -> str:
    """A record's detail in words: a failed unlock keeps its reason's code, shown here in words."""
    if action == Action.UNLOCK_FAILED:
        return reason_words(detail)
    return detail


# The actions that change what is stored (for ``last_change``).
SETTINGS_CHANGES = frozenset({Action.SUBMIT, Action.RESET, Action.START_AGAIN})


@frozen
class Entry:
    """One record of the trail, as read back."""

    seq: int
    time: str
    user: str
    action: str
    fields: tuple[str, ...]
    detail: str
    line: int
    verified: bool

    def summary(self) -> str:
        """One line for a history list: the password only ever as "changed"."""
        try:
            what = Action(self.action).label
        except ValueError:
            what = self.action
        text = f"{self.time}  {self.user}  {what}"
        if self.fields:
            labels = [
                model.FIELDS_BY_KEY[key].label if key in model.FIELDS_BY_KEY else key
                for key in self.fields
            ]
            text += ": changed " + ", ".join(labels)
        if self.detail:
            text += f" ({self.detail})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time": self.time,
            "user": self.user,
            "action": self.action,
            "fields_changed": list(self.fields),
            "detail": self.detail,
            "line": self.line,
            "verified": self.verified,
        }


@frozen
class AuditReport:
    """The whole trail and what its chain says about it.

    ``readable`` is False when the trail could not be read at all (no
    permission, not a regular file, a data folder that is a file): then
    ``problem`` says why, and nothing is said about the chain.
    """

    path: Path
    entries: tuple[Entry, ...]
    intact: bool
    problem: str | None
    warnings: tuple[str, ...] = ()
    readable: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "readable": self.readable,
            "intact": self.intact,
            "problem": self.problem,
            "warnings": list(self.warnings),
            "entries": [entry.to_dict() for entry in self.entries],
        }


def changed_fields(old: model.Settings | None, new: model.Settings) -> tuple[str, ...]:
    """The keys of the fields ``new`` changes, in form order (all set ones when ``old`` is None)."""
    base = old if old is not None else model.Settings()
    return tuple(
        spec.key for spec in model.FIELDS if getattr(base, spec.key) != getattr(new, spec.key)
    )


# -- writing ----------------------------------------------------------------------


def record(
    data_dir: Path,
    action: Action | str,
    *,
    fields_changed: Iterable[str] = (),
    detail: str = "",
    key_backend: str | None = None,
) -> str | None:
    """Append one record; return ``None``, or a warning saying why it was not recorded.

    An unknown action or field key is a programming error and raises
    ``ValueError``; nothing the disk, the lock or the keyring does raises.
    """
    chosen = Action(action)
    fields = tuple(fields_changed)
    unknown = [key for key in fields if key not in model.FIELDS_BY_KEY]
    if unknown:
        raise ValueError(f"unknown field key(s): {', '.join(unknown)}")
    data_dir = Path(data_dir)
    try:
        with _locked(data_dir):
            _append(data_dir, chosen, fields, detail[:MAX_DETAIL], key_backend)
    except (OSError, StoreError, MemoryError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return (
            f"The audit trail in {data_dir} could not be updated ({reason}); "
            f"this event ({chosen.label}) is not recorded there."
        )
    return None


class _LockBusy(StoreError):
    """Another writer held the trail's lock for longer than ``LOCK_TIMEOUT``."""


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One writer at a time; a separate lock, so recording inside a store save cannot deadlock."""
    if not fsutil.is_shared_dir(data_dir):
        fsutil.ensure_private_dir(data_dir)
    else:
        fsutil.check_directory(data_dir)
    try:
        with fsutil.locked(data_dir / LOCK_FILE_NAME, LOCK_TIMEOUT, "busy"):
            yield
    except StoreError as exc:
        if str(exc) == "busy":
            raise _LockBusy("another program kept it locked") from None
        raise


def check_files(data_dir: Path) -> None:
    """Refuse (``UnsafePath``) before a change if a file of the trail is not safe to touch.

    A change whose record could not be appended would leave the trail
    silent; this catches the planted files (links, FIFOs, devices, files of
    other accounts) before anything is saved.
    """
    for name in (AUDIT_FILE_NAME, AUDIT_KEY_NAME, LOCK_FILE_NAME):
        fsutil.check_file(Path(data_dir) / name)


def _append(
    data_dir: Path, action: Action, fields: tuple[str, ...], detail: str, backend: str | None
) -> None:
    import datetime as dt  # only writing needs it: the window reads the trail at start

    key = _audit_key(data_dir, backend, create=True)
    assert key is not None
    path = data_dir / AUDIT_FILE_NAME
    # Never through a symbolic link, never into a FIFO or device, never a file of another account.
    fd = fsutil.open_regular(path, None, append=True, create=True)
    try:
        existing, size = _read_tail(fd, path)
        last, torn = _last_record(existing)
        seq = last.seq + 1 if last is not None else 1
        body: dict[str, object] = {
            "v": RECORD_VERSION,
            "seq": seq,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "user": _os_user(),
            "action": action.value,
            "fields": list(fields),
            "detail": _seal_detail(key, seq, detail),
            "kid": keys.key_id(key).hex(),
        }
        if torn:
            body["after_torn"] = True
        previous = bytes.fromhex(last.mac) if last is not None else _GENESIS
        body["mac"] = _mac(key, previous, body)
        line = _canonical(body) + b"\n"
        if existing and not existing.endswith(b"\n"):
            line = b"\n" + line  # close the cut-off remnant, so it stays a line of its own
        _write_all(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if not size:
        fsutil.fsync_dir(data_dir)


# The end of the trail read to find the record to chain onto: a cut-off
# remnant and the last whole record fit in it, whatever the file's length.
_TAIL_BYTES = 2 * fsutil.MAX_RECORD_BYTES + 2


def _read_tail(fd: int, path: Path) -> tuple[bytes, int]:
    """The last whole lines of the file (at most ``_TAIL_BYTES``) and its size.

    With O_APPEND the writes still go to the end.  Raises ``StoreError``
    when the tail holds no record though the file is longer: whatever is
    there is no trail of this program, and chaining onto nothing would
    silently start a new one.
    """
    size = os.fstat(fd).st_size
    start = max(0, size - _TAIL_BYTES)
    os.lseek(fd, start, os.SEEK_SET)
    tail = fsutil.read_at_most(fd, _TAIL_BYTES)
    if start > 0:
        cut = tail.find(b"\n")
        tail = tail[cut + 1 :] if cut >= 0 else b""
        if _last_record(tail)[0] is None:
            raise StoreError(
                f"the end of {path} holds no record of the trail (it has been overwritten); "
                f"'{_AUDIT_COMMAND}' shows what is wrong"
            )
    return tail, size


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@frozen
class _Raw:
    """A well-formed record as stored: ``body`` is what its MAC covers."""

    seq: int
    mac: str
    time: str
    user: str
    action: str
    fields: tuple[str, ...]
    detail: str
    kid: str
    after_torn: bool
    body: dict[str, object]


def _last_record(blob: bytes) -> tuple[_Raw | None, bool]:
    """The last record to chain onto, and whether something else follows it (a remnant)."""
    lines = blob.split(b"\n")
    torn = False
    for raw in reversed(lines):
        if not raw.strip():
            continue
        parsed = _parse(raw)
        if parsed is not None:
            return parsed, torn
        torn = True
    return None, torn


def _os_user() -> str:
    """The account from the process's real user id, never from ``USER`` or ``LOGNAME``."""
    return fsutil.current_account()


# -- keys and seals -----------------------------------------------------------------


def _audit_key(data_dir: Path, backend: str | None, *, create: bool) -> bytes | None:
    """The audit key, found like the data key; created only when there certainly is none.

    A locked or unreachable keyring raises ``KeyUnavailable``: making a new
    key then would leave every earlier record unverifiable.  The keyring is
    asked about only when the key file holds no key: importing keyring and
    finding its backend take longer than the window needs to open.
    """
    choice = keys.backend_choice(backend)
    in_file = keys.FileKeyStore(data_dir, AUDIT_KEY_NAME)
    if choice in ("auto", "file"):
        key = in_file.read()
        if key is not None:
            return key
    use_keyring = choice == "keyring" or (choice == "auto" and keys.keyring_usable())
    in_keyring = keys.KeyringKeyStore(data_dir, entry=AUDIT_KEY_NAME)
    if use_keyring:
        key = in_keyring.read()
        if key is not None:
            return key
    if not create:
        return None
    if choice == "keyring" and not keys.keyring_usable():
        raise KeyUnavailable(f"{keys.BACKEND_ENV}=keyring, but no usable OS keyring is available")
    key = keys.new_key()
    (in_keyring if use_keyring else in_file).write(key)
    return key


def _subkey(key: bytes, purpose: bytes) -> bytes:
    return keys.hmac_sha256(key, b"configurator audit " + purpose)


def _canonical(fields: dict[str, object]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, previous: bytes, body: dict[str, object]) -> str:
    """HMAC-SHA256 of the previous record's MAC and this record (all of it but its MAC)."""
    return keys.hmac_sha256(_subkey(key, b"chain"), previous + _canonical(body)).hex()


def _mac_matches(key: bytes, previous: bytes, body: dict[str, object], mac: str) -> bool:
    """Whether ``mac`` is the record's MAC as ``_mac`` writes it (lowercase hex).

    cryptography compares in constant time; ``hmac.compare_digest`` would load
    OpenSSL a second time, at every start that reads the trail.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, hmac

    try:
        given = bytes.fromhex(mac)
    except ValueError:  # not hex at all (an edited record)
        return False
    if given.hex() != mac:
        return False
    tag = hmac.HMAC(_subkey(key, b"chain"), hashes.SHA256())
    tag.update(previous + _canonical(body))
    try:
        tag.verify(given)
    except InvalidSignature:
        return False
    return True


def _seal_detail(key: bytes, seq: int, detail: str) -> str:
    if not detail:
        return ""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE_SIZE)
    sealed = AESGCM(_subkey(key, b"detail")).encrypt(
        nonce, detail.encode("utf-8", "replace"), str(seq).encode()
    )
    return base64.b64encode(nonce + sealed).decode("ascii")


def _open_detail(key: bytes, seq: int, sealed: str) -> str | None:
    if not sealed:
        return ""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        blob = base64.b64decode(sealed, validate=True)
        plain = AESGCM(_subkey(key, b"detail")).decrypt(
            blob[:_NONCE_SIZE], blob[_NONCE_SIZE:], str(seq).encode()
        )
        return plain.decode("utf-8")
    except (binascii.Error, ValueError, InvalidTag):
        return None


# -- reading ------------------------------------------------------------------------


def _parse(raw: bytes) -> _Raw | None:
    """A well-formed record, or ``None`` for anything else (a remnant, an edit, junk)."""
    try:
        fields = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict) or fields.get("v") != RECORD_VERSION:
        return None
    seq, mac, changed = fields.get("seq"), fields.get("mac"), fields.get("fields")
    texts = [fields.get(name) for name in ("time", "user", "action", "detail", "kid")]
    after_torn = fields.get("after_torn", False)
    if (
        not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 1
        or not isinstance(mac, str)
        or len(mac) != 64
        or not isinstance(changed, list)
        or not all(isinstance(key, str) for key in changed)
        or not isinstance(after_torn, bool)
    ):
        return None
    time, user, action, detail, kid = texts
    if not (
        isinstance(time, str)
        and isinstance(user, str)
        and isinstance(action, str)
        and isinstance(detail, str)
        and isinstance(kid, str)
    ):
        return None
    try:
        bytes.fromhex(mac)
    except ValueError:
        return None
    body = {name: value for name, value in fields.items() if name != "mac"}
    return _Raw(seq, mac, time, user, action, tuple(changed), detail, kid, after_torn, body)


def read(data_dir: Path, key_backend: str | None = None) -> AuditReport:
    """Every record, oldest first, checked link by link against the audit key.

    The file is read line by line, each line at most ``fsutil.MAX_RECORD_BYTES``
    (a longer one is not a record, and is skipped without being kept), so a
    trail of any length is read in bounded memory.
    """
    data_dir = Path(data_dir)
    path = data_dir / AUDIT_FILE_NAME
    try:
        if data_dir.exists():
            fsutil.check_directory(data_dir)
        fd = fsutil.open_regular(path, None)
    except FileNotFoundError:
        return AuditReport(path, (), True, None)
    except NotADirectoryError:
        return _unreadable(path, f"the data folder {data_dir} is a file, not a directory")
    except PermissionError:
        return _unreadable(path, f"{path} cannot be read by this account (no permission)")
    except OSError as exc:
        return _unreadable(path, f"{path} cannot be read ({exc.strerror or exc})")
    except UnsafePath as exc:
        return _unreadable(path, f"{exc.detail} {exc.advice}", end="")
    try:
        key = _audit_key(data_dir, key_backend, create=False)
        key_problem = None if key is not None else "its key (audit.key) is missing"
    except StoreError as exc:
        key, key_problem = None, str(exc)
    try:
        with os.fdopen(fd, "rb") as handle:
            return _Verifier(path, key, key_problem).run(_lines(handle))
    except OSError as exc:
        return _unreadable(path, f"{path} cannot be read ({exc.strerror or exc})")


def _unreadable(path: Path, why: str, end: str = ".") -> AuditReport:
    return AuditReport(
        path, (), False, f"The audit trail cannot be checked: {why}{end}", readable=False
    )


_TOO_LONG = b"\0(longer than any record)"


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """Each line without its line end; one longer than a record becomes ``_TOO_LONG``."""
    while True:
        line = handle.readline(fsutil.MAX_RECORD_BYTES + 1)
        if not line:
            return
        if len(line) > fsutil.MAX_RECORD_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest, keeping nothing
                line = handle.readline(1 << 16)
            yield _TOO_LONG
            continue
        yield line.removesuffix(b"\n")


class _Verifier:
    """Walks the lines once, keeping the first problem and every warning."""

    def __init__(self, path: Path, key: bytes | None, key_problem: str | None) -> None:
        self.path = path
        self.key = key
        self.key_id = keys.key_id(key).hex() if key is not None else None
        self.problem: str | None = None
        if key_problem is not None:
            self.problem = f"The audit trail cannot be verified: {key_problem}."
        self.warnings: list[str] = []
        self.entries: list[Entry] = []

    def fail(self, text: str) -> None:
        if self.problem is None:
            self.problem = text

    def run(self, lines: Iterable[bytes]) -> AuditReport:
        previous = _GENESIS
        expected = 1
        remnants: list[int] = []
        foreign: list[int] = []
        for number, raw in enumerate(lines, start=1):
            if raw is _TOO_LONG:  # no interruption leaves more than one record's worth
                self.fail(
                    f"Line {number} of {self.path.name} is longer than any record (over "
                    f"{fsutil.MAX_RECORD_BYTES} bytes): it is not part of this trail."
                )
                continue
            parsed = _parse(raw)
            if parsed is None:
                if raw.strip():
                    remnants.append(number)
                continue
            if remnants:
                self._judge_remnants(remnants, parsed)
                remnants = []
            verified = self._check_link(parsed, previous, expected, number, foreign)
            self.entries.append(self._entry(parsed, number, verified))
            previous = bytes.fromhex(parsed.mac)
            expected = parsed.seq + 1
        if foreign:
            self.fail(
                f"Records on lines {foreign[0]}-{foreign[-1]} were sealed with an audit key "
                "that no longer exists, so they cannot be verified."
            )
        if remnants:
            self.warnings.append(
                f"The end of {self.path.name} (line {remnants[0]}) is not a complete record: "
                "most likely the program was interrupted while writing it. The records "
                "before it are intact."
            )
        return AuditReport(
            self.path, tuple(self.entries), self.problem is None, self.problem, tuple(self.warnings)
        )

    def _judge_remnants(self, remnants: list[int], following: _Raw) -> None:
        where = ", ".join(str(number) for number in remnants)
        if following.after_torn:
            self.warnings.append(
                f"Line(s) {where} of {self.path.name} hold the remains of a record cut off "
                "by an interruption; the next record notes it, and the trail continues intact."
            )
        else:
            self.fail(
                f"Line(s) {where} of {self.path.name} are not records of this trail: the "
                "file has been edited."
            )

    def _check_link(
        self, parsed: _Raw, previous: bytes, expected: int, number: int, foreign: list[int]
    ) -> bool:
        if self.key is None:
            return False
        if parsed.kid != self.key_id:
            foreign.append(number)
            return False
        if not _mac_matches(self.key, previous, parsed.body, parsed.mac):
            if parsed.seq > expected:
                gone = (
                    f"Record {expected} is"
                    if parsed.seq == expected + 1
                    else f"Records {expected}-{parsed.seq - 1} are"
                )
                self.fail(
                    f"{gone} missing before line {number} of {self.path.name}: "
                    "removed from the trail."
                )
            else:
                self.fail(
                    f"Record {parsed.seq} (line {number} of {self.path.name}) does not match "
                    "the chain: it was changed, or records around it were removed, inserted "
                    "or reordered."
                )
            return False
        return True

    def _entry(self, parsed: _Raw, number: int, verified: bool) -> Entry:
        detail: str | None = "(sealed)" if parsed.detail else ""
        if verified and self.key is not None:
            detail = _open_detail(self.key, parsed.seq, parsed.detail)
            if detail is None:
                self.fail(f"The detail of record {parsed.seq} (line {number}) cannot be opened.")
                detail, verified = "(damaged)", False
        return Entry(
            seq=parsed.seq,
            time=parsed.time,
            user=parsed.user,
            action=parsed.action,
            fields=parsed.fields,
            detail=detail or "",
            line=number,
            verified=verified,
        )


def last_change(data_dir: Path, key_backend: str | None = None) -> Entry | None:
    """The latest record that changed the settings (submit, reset, start again)."""
    changes = [e for e in read(data_dir, key_backend).entries if e.action in SETTINGS_CHANGES]
    return changes[-1] if changes else None
