"""Load, save and reset ``settings.enc``: versioned, authenticated, atomic.

File layout (all integers big-endian)::

    magic      6 bytes  b"MSCSET"
    version    2 bytes  file format version (FORMAT_VERSION)
    key place  1 byte   keys.KeyLocation: where the data key lives
    key id     8 bytes  keys.key_id(key): tells "wrong key" from "tampered"
    nonce     12 bytes  fresh for every write
    sealed     rest     AES-256-GCM(JSON payload) with the 29 header bytes as
                        associated data, so no header byte can be changed
                        unnoticed

The payload is JSON: ``{"schema": 1, "revision": n, "saved_at": "...",
"settings": {...}}``.  A file that cannot be used raises
``SettingsUnreadable`` and is never modified; only an explicit
``set_aside()`` (moves it within the data directory) or ``reset()`` touches it.

A *shared* store is the system-wide one (``configurator --system``): its
manager (root, the account that owns the directory) writes it, and the
directory's group may read it.  Directory 0755 with the marker
``fsutil.SHARED_MARKER``, ``settings.enc`` 0644 (it is sealed), ``settings.key``
0640 with the directory's group; everyone else is refused with the reason.
The per-user store stays private: directory 0700, files 0600.

Every store, shared or not, is used only if its directory and files belong to
the account using it or to root and no one else may change them, and every
file is opened through ``fsutil.open_regular`` (no links, FIFOs or devices,
bounded size): a store another account could have planted is refused with
``UnsafePath``, naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from configurator import fsutil, keys, model
from configurator.errors import (
    ConflictError,
    KeyUnavailable,
    NotWritable,
    SettingsUnreadable,
    StoreError,
    Unreadable,
    UnsafePath,
)
from configurator.frozen import frozen

SETTINGS_FILE_NAME = "settings.enc"
LOCK_FILE_NAME = "settings.lock"
LOCK_TIMEOUT = 10.0
SHARED_DIR_MODE = 0o755
SHARED_FILE_MODE = 0o644
_SHARED_MARKER_TEXT = (
    b"This folder is the system-wide store of the Mail Server Configurator "
    b"(configurator --system).\nOnly its owner (root) may change it; members of the group "
    b"of settings.key may read the settings.\n"
)
MAGIC = b"MSCSET"
FORMAT_VERSION = 1
SCHEMA_VERSION = 1
_HEADER = struct.Struct(">6sHB8s12s")
HEADER_SIZE = _HEADER.size
_TAG_SIZE = 16


class Access(enum.Enum):
    """What this user may do with the store ("root scope")."""

    NONE = "none"
    READ = "read"
    WRITE = "write"


@frozen
class Stored:
    """Settings as found in the store, with the revision they were saved as."""

    settings: model.Settings
    revision: int
    saved_at: str
    key_location: keys.KeyLocation
    # Random, fixed when a settings file is first written: revisions restart at
    # 1 after a Reset, so (lineage, revision) is what names one saved state.
    lineage: str = ""


class Store:
    """The settings store in one data directory.

    ``shared``: True for the system-wide store, False for a private one,
    ``None`` (the default) to recognise a system-wide store by its marker,
    so that every front end given its directory treats it alike.
    """

    def __init__(
        self, data_dir: Path, key_backend: str | None = None, *, shared: bool | None = None
    ) -> None:
        # Resolved once: a symbolic link given as the data directory is followed
        # here and never again, and the folder it leads to is what is checked.
        self.data_dir = Path(os.path.realpath(data_dir))
        self.path = self.data_dir / SETTINGS_FILE_NAME
        self.shared = fsutil.is_shared_dir(self.data_dir) if shared is None else shared
        choice = keys.backend_choice(key_backend)
        if self.shared and choice == "keyring":
            raise StoreError(
                f"The system-wide store in {self.data_dir} keeps its data key in the file "
                f"{keys.KEY_FILE_NAME}, readable by its group; {keys.BACKEND_ENV}=keyring "
                "cannot be used with it."
            )
        self.key_backend = "file" if self.shared else choice

    # -- reading ---------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Stored | None:
        """Return the stored settings, ``None`` if there are none.

        Raises ``SettingsUnreadable`` (with the reason) for every file that
        exists but cannot be used, ``UnsafePath`` (one of them) for a data
        directory or file another account could have planted or changed.
        """
        if not self.check():
            return None
        try:
            blob = fsutil.read_bounded(self.path, fsutil.MAX_SETTINGS_BYTES, self._file_mode())
        except OSError as exc:
            if self.shared and isinstance(exc, PermissionError):
                raise self._shared_refusal() from None
            raise self._unreadable(
                Unreadable.NO_ACCESS,
                f"The settings file {self.path} cannot be read ({exc.strerror or exc}).",
                "Ask the administrator who manages this store for access, "
                "or use your own store with --data-dir.",
            ) from None
        if blob is None:
            return None
        return self._open(blob)

    def _file_mode(self) -> int:
        return SHARED_FILE_MODE if self.shared else fsutil.PRIVATE_FILE_MODE

    def check(self) -> bool:
        """Whether the data directory exists; raise if it cannot be the store's.

        ``SettingsUnreadable`` for a path that is not a directory or cannot
        be entered, ``UnsafePath`` for one another account could change.
        """
        try:
            fsutil.check_directory(self.data_dir)
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            raise self._unreadable(
                Unreadable.NO_ACCESS,
                f"The data folder {self.data_dir} is a file, not a directory.",
                "Give --data-dir the path of a folder (an existing one, or one to create).",
            ) from None
        except OSError as exc:
            raise self._unreadable(
                Unreadable.NO_ACCESS,
                f"The data folder {self.data_dir} cannot be read by this account "
                f"({exc.strerror or exc}).",
                "Ask the administrator who manages it for access, or use your own "
                "store with --data-dir.",
            ) from None
        return True

    def check_files(self) -> None:
        """Refuse (``UnsafePath``) before a change if a file of the store is not safe to touch."""
        self.check()
        for name, mode in (
            (SETTINGS_FILE_NAME, self._file_mode()),
            (keys.KEY_FILE_NAME, keys.SHARED_KEY_MODE if self.shared else None),
            (LOCK_FILE_NAME, None),
        ):
            fsutil.check_file(self.data_dir / name, mode or fsutil.PRIVATE_FILE_MODE)

    def _shared_refusal(self) -> SettingsUnreadable:
        return self._unreadable(
            Unreadable.NO_ACCESS,
            f"You may not read the system-wide settings in {self.data_dir}: "
            f"{self.readers()} may read them.",
            f"Ask an administrator to add this account to group '{self.reader_group()}' "
            "(it takes effect at the next login), or use your own store with --data-dir.",
        )

    def scope(self) -> str:
        """Who may do what here, in words, for ``show`` and the status bar."""
        if not self.shared:
            return "private to its owner"
        manager = self.manager()
        return (
            f"system-wide: readable by {manager} and group '{self.reader_group()}', "
            f"changeable only by {manager}"
        )

    def readers(self) -> str:
        """Who may read a shared store, in words: "only root and members of group 'adm'"."""
        return f"only {self.manager()} and members of group '{self.reader_group()}'"

    def manager(self) -> str:
        """The account that may change the store: its directory's owner (root when missing)."""
        try:
            uid = self.data_dir.stat().st_uid
        except OSError:
            return "root"
        return _account_name(uid)

    def reader_group(self) -> str:
        """The group that may read the key (the directory's group before there is a key)."""
        for candidate in (self.data_dir / keys.KEY_FILE_NAME, self.data_dir):
            try:
                gid = candidate.stat().st_gid
            except OSError:
                continue
            return _group_name(gid)
        return "root"

    def _open(self, blob: bytes) -> Stored:
        if len(blob) < HEADER_SIZE + _TAG_SIZE:
            if not blob.startswith(MAGIC[: len(blob)]) or len(blob) < len(MAGIC):
                raise self._corrupt("is not a settings file of this program")
            raise self._corrupt("is truncated")
        magic, version, location_byte, file_key_id, nonce = _HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise self._corrupt("is not a settings file of this program")
        if version > FORMAT_VERSION:
            raise self._unreadable(
                Unreadable.NEWER_FORMAT,
                f"The settings file {self.path} was written by a newer version of the "
                f"configurator (file format {version}; this version reads up to {FORMAT_VERSION}).",
                "Use that newer version, or start again here (the file is kept).",
            )
        if version < 1:
            raise self._corrupt("has an unknown format version")
        try:
            location = keys.KeyLocation(location_byte)
        except ValueError:
            raise self._corrupt("has a damaged header") from None

        key = self._key_for_existing(location)
        sealed = blob[HEADER_SIZE:]
        if keys.key_id(key) != file_key_id:
            # If the file opens once our key's id is put back, only the id was
            # changed: that is tampering, not a file sealed with another key.
            repaired = _HEADER.pack(magic, version, location_byte, keys.key_id(key), nonce)
            if _decrypt(key, repaired, sealed) is not None:
                raise self._tampered()
            raise self._unreadable(
                Unreadable.KEY_MISMATCH,
                f"The data key in {location.description} does not match the settings file "
                f"{self.path} (it was sealed with another key, or its header was damaged).",
                "Restore the key that belongs to this file, or start again (the file is kept).",
            )
        plaintext = _decrypt(key, blob[:HEADER_SIZE], sealed)
        if plaintext is None:
            raise self._tampered()
        return self._parse_payload(plaintext, location)

    def _tampered(self) -> SettingsUnreadable:
        return self._unreadable(
            Unreadable.TAMPERED,
            f"The settings file {self.path} has been changed or damaged since it was "
            "saved: its contents no longer match their seal.",
            "Restore it from a backup, or start again (the file is kept).",
        )

    def _key_for_existing(self, location: keys.KeyLocation) -> bytes:
        choice = self.key_backend
        if self.shared and location is keys.KeyLocation.KEYRING:
            raise self._unreadable(
                Unreadable.KEY_UNAVAILABLE,
                f"The system-wide settings file {self.path} is sealed with a key in the OS "
                "keyring of the account that saved it, where its readers cannot reach it.",
                f"Reset the store and save the settings again with {_SYSTEM_OPTION}.",
            )
        if choice != "auto" and choice != location.name.lower():
            raise self._unreadable(
                Unreadable.KEY_UNAVAILABLE,
                f"The settings file {self.path} is sealed with a key kept in "
                f"{location.description}, but {keys.BACKEND_ENV}={choice}.",
                f"Set {keys.BACKEND_ENV}=auto (or {location.name.lower()}) and try again.",
            )
        key_store = keys.store_for(location, self.data_dir, shared=self.shared)
        if (
            self.shared
            and isinstance(key_store, keys.FileKeyStore)
            and key_store.path.exists()
            and not os.access(key_store.path, os.R_OK)
        ):
            raise self._shared_refusal()
        try:
            key = key_store.read()
        except KeyUnavailable as exc:
            raise self._unreadable(
                Unreadable.KEY_UNAVAILABLE,
                f"The data key for {self.path} cannot be read: {exc}",
                "Nothing was changed. Fix that and try again.",
            ) from None
        if key is None:
            raise self._unreadable(
                Unreadable.KEY_MISSING,
                f"The data key for {self.path} is missing from {location.description}, "
                "so the settings cannot be decrypted.",
                "Restore the key (or the keyring) from a backup, or start again "
                "(the file is kept).",
            )
        return key

    def _parse_payload(self, plaintext: bytes, location: keys.KeyLocation) -> Stored:
        try:
            payload = json.loads(plaintext.decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise self._corrupt("has a damaged payload") from None
        if not isinstance(payload, dict):
            raise self._corrupt("has a damaged payload")
        schema = payload.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
            raise self._corrupt("has no valid schema version")
        if schema > SCHEMA_VERSION:
            raise self._unreadable(
                Unreadable.NEWER_FORMAT,
                f"The settings in {self.path} were saved by a newer version of the configurator "
                f"(schema {schema}; this version reads up to {SCHEMA_VERSION}).",
                "Use that newer version, or start again here (the file is kept).",
            )
        payload = migrate(payload)
        revision = payload.get("revision")
        saved_at = payload.get("saved_at", "")
        lineage = payload.get("lineage", "")
        values = payload.get("settings")
        if (
            not isinstance(revision, int)
            or isinstance(revision, bool)
            or not isinstance(values, dict)
            or not isinstance(saved_at, str)
            or not isinstance(lineage, str)
        ):
            raise self._corrupt("has a damaged payload")
        try:
            settings = model.from_payload(values)
        except (TypeError, ValueError):
            raise self._corrupt("holds settings this version cannot understand") from None
        return Stored(settings, revision, saved_at, location, lineage)

    def _corrupt(self, what: str) -> SettingsUnreadable:
        return self._unreadable(
            Unreadable.CORRUPT,
            f"The settings file {self.path} {what}.",
            "Restore it from a backup, or start again (the file is kept).",
        )

    def _unreadable(self, reason: Unreadable, detail: str, advice: str) -> SettingsUnreadable:
        return SettingsUnreadable(reason, self.path, detail, advice)

    # -- permissions -----------------------------------------------------

    def access(self) -> Access:
        """What this user may do here: read and write, only read, or nothing."""
        directory = self.data_dir
        if not directory.exists():
            parent = next((p for p in directory.parents if p.exists()), None)
            creatable = parent is not None and os.access(parent, os.W_OK | os.X_OK)
            return Access.WRITE if creatable else Access.NONE
        if not directory.is_dir() or not os.access(directory, os.R_OK | os.X_OK):
            return Access.NONE
        try:
            self.check()
        except SettingsUnreadable:
            return Access.NONE
        existing = [p for p in (self.path, self.data_dir / keys.KEY_FILE_NAME) if p.exists()]
        if not all(os.access(p, os.R_OK) for p in existing):
            return Access.NONE
        if os.access(directory, os.W_OK) and all(os.access(p, os.W_OK) for p in existing):
            return Access.WRITE
        return Access.READ

    def refusal(self) -> str:
        """Why this account may not read the store, in words (for ``Access.NONE``)."""
        try:
            self.check()
        except SettingsUnreadable as exc:
            return f"{exc.detail} {exc.advice}"
        if self.shared:
            return self._shared_refusal().detail
        return (
            f"This account has no permission to read the settings in {self.data_dir}. "
            "Ask the administrator who manages them for access, or use a store of your "
            "own with --data-dir."
        )

    def require_writable(self) -> None:
        """Raise ``NotWritable`` unless this account may change the store.

        A data directory that cannot be the store's raises its own
        ``SettingsUnreadable`` (not a directory, unsafe) first.
        """
        self.check()
        if self.access() is Access.WRITE:
            return
        if self.shared:
            raise NotWritable(
                self.data_dir,
                f"You may not change the system-wide settings in {self.data_dir}: only "
                f"administrators can change them ({self.manager()}). Run the "
                "command as root, for instance with sudo.",
            )
        raise NotWritable(
            self.data_dir,
            f"You may not change the settings in {self.data_dir}: this account has no "
            "write permission there. Ask the administrator who manages it, or run as them.",
        )

    # -- writing ---------------------------------------------------------

    def update(
        self, change: Callable[[Stored | None], model.Settings | None]
    ) -> tuple[Stored | None, Stored | None]:
        """Read, change and write the settings as one step, under the writers' lock.

        ``change`` gets what is stored now (``None``: nothing) and returns
        the settings to store, or ``None`` to store nothing; exceptions it
        raises (``model.ValidationError``) leave the store as it was.  Writers
        that call this at the same time take turns, each changing the latest
        revision, so none of them meets a conflict.  Returns what was stored
        before and what was stored now (``None`` if nothing was written).
        """
        self.require_writable()
        self._create_directory()
        with self._lock():
            current = self.load()
            settings = change(current)
            if settings is None:
                return current, None
            errors = model.validate(settings)
            if errors:
                raise model.ValidationError(errors)
            saved = self._save_locked(
                settings,
                current.revision if current else 0,
                current.lineage if current else None,
            )
            return current, saved

    def save(
        self,
        settings: model.Settings,
        expected_revision: int | None = None,
        *,
        expected_lineage: str | None = None,
    ) -> Stored:
        """Encrypt and store ``settings`` atomically; return what was stored.

        ``expected_revision`` is the revision the caller started editing from
        (0 for "nothing was stored"); if the file has moved on since, nothing
        is written and ``ConflictError`` is raised.  ``expected_lineage`` (the
        loaded ``Stored.lineage``) also catches a file that was reset and
        saved afresh elsewhere, whose revisions start again at 1.  An existing
        file that cannot be read is never overwritten: ``SettingsUnreadable``
        is raised.
        """
        errors = model.validate(settings)
        if errors:
            raise model.ValidationError(errors)
        self.require_writable()
        self._create_directory()
        with self._lock():
            return self._save_locked(settings, expected_revision, expected_lineage)

    def _create_directory(self) -> None:
        try:
            self.ensure_directory()
        except OSError as exc:
            raise NotWritable(
                self.data_dir, f"The folder {self.data_dir} cannot be created: {exc.strerror}."
            ) from None

    def ensure_directory(self) -> None:
        """Create the data directory with the permissions this kind of store needs.

        A shared store's directory is 0755 (never writable by others) and
        carries the marker that tells every front end it is shared.  An
        existing directory that others may change is refused (``UnsafePath``),
        not repaired.
        """
        if not self.shared:
            fsutil.ensure_private_dir(self.data_dir)
            return
        if not self.data_dir.is_dir():
            self.data_dir.mkdir(mode=SHARED_DIR_MODE, parents=True, exist_ok=True)
            if os.name == "posix":
                self.data_dir.chmod(SHARED_DIR_MODE)  # mkdir's mode is cut by the umask
        fsutil.check_directory(self.data_dir)
        if not fsutil.is_shared_dir(self.data_dir):
            fsutil.atomic_write(
                self.data_dir / fsutil.SHARED_MARKER, _SHARED_MARKER_TEXT, mode=SHARED_FILE_MODE
            )

    def _save_locked(
        self,
        settings: model.Settings,
        expected_revision: int | None,
        expected_lineage: str | None,
    ) -> Stored:
        fsutil.remove_stale_temp_files(self.data_dir, SETTINGS_FILE_NAME)
        current = self.load()
        found = current.revision if current else 0
        if expected_revision is not None and expected_revision != found:
            raise ConflictError(expected_revision, found)
        if (
            expected_lineage is not None
            and current is not None
            and current.lineage != expected_lineage
        ):
            # Reset and saved afresh elsewhere: the same revision number, but
            # not the settings the caller started from.
            raise ConflictError(found, found)
        if current is not None:
            key_store = keys.store_for(current.key_location, self.data_dir, shared=self.shared)
            key = key_store.read()
            assert key is not None  # load() succeeded with this very key
        else:
            # A new settings file always gets a new key, replacing any key left
            # behind (by an interrupted first save, or a Reset that could not
            # reach the keyring), so that no older copy shares it.
            key_store = keys.store_for_new_key(self.data_dir, self.key_backend, shared=self.shared)
            key = keys.new_key()
            try:
                key_store.write(key)
            except OSError as exc:
                raise StoreError(
                    f"The data key could not be saved to {key_store.describe()} "
                    f"({exc.strerror or exc}); nothing was changed."
                ) from None

        import datetime as dt  # imported by saves only: reading must start fast
        import secrets

        stored = Stored(
            settings,
            found + 1,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            key_store.location,
            current.lineage if current is not None and current.lineage else secrets.token_hex(8),
        )
        payload = {
            "schema": SCHEMA_VERSION,
            "revision": stored.revision,
            "saved_at": stored.saved_at,
            "lineage": stored.lineage,
            "settings": settings.to_dict(include_password=True),
        }
        plaintext = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        try:
            fsutil.atomic_write(
                self.path,
                seal(key, key_store.location, plaintext),
                mode=self._file_mode(),
            )
        except OSError as exc:
            raise StoreError(self._write_failure(exc, stored.revision)) from None
        return stored

    def _write_failure(self, exc: OSError, revision: int) -> str:
        """Say truthfully what a failed write left behind: old settings, or new ones.

        The rename is the last step that can change the file; a failure after
        it (flushing the directory) leaves the new settings in place, only
        not certainly on disk yet.
        """
        reason = exc.strerror or str(exc)
        try:
            current = self.load()
        except SettingsUnreadable:
            current = None
        if current is not None and current.revision == revision:
            return (
                f"The settings were written to {self.path}, but the system reported a "
                f"problem making the change permanent ({reason}): check the disk, then "
                "look at the stored settings again."
            )
        return (
            f"The settings could not be saved to {self.path} ({reason}); "
            "the previous settings are unchanged."
        )

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise writers across processes; the OS releases it if the holder dies."""
        with fsutil.locked(
            self.data_dir / LOCK_FILE_NAME,
            LOCK_TIMEOUT,
            f"Another program is saving the settings in {self.data_dir} right now; "
            "nothing was changed. Try again in a moment.",
        ):
            yield

    def cleanup(self) -> list[Path]:
        """Remove temporary files that saves killed part-way left behind.

        Meant for start-up.  Every save writes its temporary files while it
        holds the writers' lock, so with the lock held any that exist are
        orphans, whatever their age.  Never raises and never waits: if another
        program is saving right now, or this user may not write here, nothing
        is removed.
        """
        if not has_leftovers(self.data_dir) or self.access() is not Access.WRITE:
            return []
        try:
            with fsutil.locked(self.data_dir / LOCK_FILE_NAME, 0, "busy"):
                removed: list[Path] = []
                for name in _SAVED_FILES:
                    removed += fsutil.remove_stale_temp_files(self.data_dir, name, older_than=0)
                return removed
        except (OSError, StoreError):
            return []

    def set_aside(self) -> Path:
        """Move an unusable settings file aside (kept in the data directory).

        A key file goes along with it (``settings.key.unreadable-…``), and a
        key in the keyring is copied to an entry named after the moved file,
        so that the pair stays together: a new save then starts with a new key.
        """
        self.require_writable()
        with self._lock():
            return self._set_aside_locked()

    def _set_aside_locked(self) -> Path:
        import datetime as dt

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.data_dir / f"{SETTINGS_FILE_NAME}.unreadable-{stamp}"
        counter = 1
        while target.exists():
            counter += 1
            target = self.data_dir / f"{SETTINGS_FILE_NAME}.unreadable-{stamp}-{counter}"
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise StoreError(
                f"The settings file {self.path} could not be moved aside ({exc.strerror or exc})."
            ) from None
        self._set_key_aside(target)
        fsutil.fsync_dir(self.data_dir)
        return target

    def _set_key_aside(self, moved: Path) -> None:
        """Keep the moved file's key beside it; best effort (the key may be unreadable)."""
        suffix = moved.name.removeprefix(SETTINGS_FILE_NAME)
        key_file = keys.FileKeyStore(self.data_dir).path
        if key_file.exists():
            with contextlib.suppress(OSError):
                os.replace(key_file, key_file.with_name(key_file.name + suffix))
        if self._sealed_location(moved) is keys.KeyLocation.KEYRING:
            with contextlib.suppress(KeyUnavailable):
                key = keys.KeyringKeyStore(self.data_dir).read()
                if key is not None:
                    keys.KeyringKeyStore(self.data_dir, entry=moved.name).write(key)

    def reset(self) -> list[str]:
        """Delete the settings and destroy the data key (crypto-erase).

        The key goes first: if this is interrupted, what is left is a file no
        one can decrypt, never a readable one.  Returns warnings for anything
        that could not be erased.
        """
        if not self.check():
            return []
        self.require_writable()
        self.check_files()
        with self._lock():
            return self._reset_locked()

    def _reset_locked(self) -> list[str]:
        warnings: list[str] = []
        sealed_with = self._sealed_location()
        for key_store in (
            keys.FileKeyStore(self.data_dir, shared=self.shared),
            keys.KeyringKeyStore(self.data_dir),
        ):
            if key_store.location is keys.KeyLocation.KEYRING and not keys.keyring_usable():
                # Skipping is harmless only if the file's key was never there.
                if sealed_with is keys.KeyLocation.KEYRING:
                    warnings.append(
                        f"The data key in {key_store.describe()} was not erased: "
                        "no usable OS keyring is available in this session."
                    )
                continue
            try:
                key_store.destroy()
            except (KeyUnavailable, OSError, UnsafePath) as exc:
                warnings.append(f"The data key in {key_store.describe()} was not erased: {exc}")
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            warnings.append(f"{self.path} is a directory and was left in place.")
        except OSError as exc:
            warnings.append(
                f"The settings file {self.path} was not deleted ({exc.strerror or exc})."
            )
        else:
            fsutil.fsync_dir(self.data_dir)
        fsutil.remove_stale_temp_files(self.data_dir, SETTINGS_FILE_NAME, older_than=0)
        return warnings

    def _sealed_location(self, path: Path | None = None) -> keys.KeyLocation | None:
        """Where a settings file says its key is, or ``None`` if it cannot tell."""
        try:
            fd = fsutil.open_regular(path or self.path, None, fix_mode=self._file_mode())
        except (OSError, StoreError):
            return None
        try:
            header = fsutil.read_at_most(fd, HEADER_SIZE)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(header) < HEADER_SIZE:
            return None
        magic, _version, location_byte, _key_id, _nonce = _HEADER.unpack(header)
        if magic != MAGIC:
            return None
        try:
            return keys.KeyLocation(location_byte)
        except ValueError:
            return None

    def describe(self) -> str:
        """Where the settings live, for the status bar and ``show``."""
        return str(self.path)


_SYSTEM_OPTION = "--system"
# The files written by atomic replacement, whose temporary files a killed save leaves.
_SAVED_FILES = (SETTINGS_FILE_NAME, keys.KEY_FILE_NAME, fsutil.SHARED_MARKER)


def has_leftovers(data_dir: Path) -> bool:
    """Whether temporary files of saves lie in ``data_dir`` (in use, or left by a killed save).

    A listing of the directory, without the lock: ``Store.cleanup`` takes
    the lock only when this finds something.
    """
    return fsutil.has_temp_files(data_dir, _SAVED_FILES)


def _account_name(uid: int) -> str:
    return fsutil.account_name(uid)


def _group_name(gid: int) -> str:
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def _decrypt(key: bytes, header: bytes, sealed: bytes) -> bytes | None:
    """The plaintext, or ``None`` when the seal does not match key and header."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(header[-12:], sealed, header)
    except InvalidTag:
        return None


def seal(key: bytes, location: keys.KeyLocation, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` into the settings file format."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = _HEADER.pack(MAGIC, FORMAT_VERSION, location, keys.key_id(key), os.urandom(12))
    return header + AESGCM(key).encrypt(header[-12:], plaintext, header)


Payload = dict[str, object]

# Numbered schema migrations: MIGRATIONS[n] turns a schema-n payload into n+1.
# Each is a named, tested function; none is needed while SCHEMA_VERSION is 1.
MIGRATIONS: dict[int, Callable[[Payload], Payload]] = {}


def migrate(payload: Mapping[str, object]) -> Payload:
    """Bring an older payload up to SCHEMA_VERSION, one named step at a time."""
    current = dict(payload)
    schema = current["schema"]
    assert isinstance(schema, int)
    while schema < SCHEMA_VERSION:
        current = MIGRATIONS[schema](current)
        schema += 1
        current["schema"] = schema
    return current
