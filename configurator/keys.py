"""Where the data key that seals ``settings.enc`` lives: the OS keyring or a key file.

The key is 32 random bytes.  In the OS keyring it is guarded by the user's
login; in ``settings.key`` (mode 0600, directory 0700) only by file
permissions.  Destroying the key is what makes Reset final: any copy of an old
``settings.enc`` can no longer be decrypted (crypto-erase).

A keyring that is locked or cannot be reached is *not* "no key": reporting it
as missing would make the store create a new key and orphan the settings.
"""

from __future__ import annotations

import abc
import binascii
import enum
import os
import stat
from pathlib import Path

from configurator import fsutil
from configurator.errors import KeyUnavailable, StoreError

KEY_FILE_NAME = "settings.key"
# The key of a system-wide store: its owner writes it, its group may read it.
SHARED_KEY_MODE = 0o640
KEY_SIZE = 32
KEYRING_SERVICE = "mail-server-configurator"
BACKEND_ENV = "CONFIGURATOR_KEY_BACKEND"
BACKEND_CHOICES = ("auto", "keyring", "file")
_KEY_FILE_PREFIX = b"configurator-data-key-v1 "
# What an erased key file starts with, should the erasure be cut short before the unlink.
_ERASED_PREFIX = b"configurator-erased-key\n"


def _b64encode(data: bytes) -> bytes:
    """``base64.b64encode``: binascii does the same without importing base64 (start-up time)."""
    return binascii.b2a_base64(data, newline=False)


class KeyLocation(enum.IntEnum):
    """Recorded in each settings file's header, so a load knows where to look."""

    KEYRING = 1
    FILE = 2

    @property
    def description(self) -> str:
        return "the OS keyring" if self is KeyLocation.KEYRING else "the key file"


def new_key() -> bytes:
    import secrets

    return secrets.token_bytes(KEY_SIZE)


def key_id(key: bytes) -> bytes:
    """A short tag that tells keys apart without revealing them."""
    return hmac_sha256(key, b"configurator key id")[:8]


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key``, computed by cryptography.

    cryptography is loaded anyway to decrypt the settings; ``hmac`` and
    ``hashlib`` would load a second copy of OpenSSL, at every start.
    """
    from cryptography.hazmat.primitives import hashes, hmac

    tag = hmac.HMAC(key, hashes.SHA256())
    tag.update(message)
    return tag.finalize()


class KeyStore(abc.ABC):
    """One place a data key can live."""

    location: KeyLocation

    @abc.abstractmethod
    def read(self) -> bytes | None:
        """Return the key, ``None`` if there certainly is none; raise ``KeyUnavailable``."""

    @abc.abstractmethod
    def write(self, key: bytes) -> None:
        """Store ``key``, replacing any previous one."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Erase the key; succeed quietly if there is none."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the key is, for the status bar and the README."""


class FileKeyStore(KeyStore):
    """A key in a file of the data directory (``name``: ``settings.key`` unless told).

    Like ssh with a private key, a key file open to other users is refused,
    with the command that fixes it:

    - one that others may change, or that another account (not root) owns,
      always: whoever can replace the key can replace the settings (and send
      the alerts elsewhere); so is a symbolic link, a FIFO, a device or a file
      larger than ``fsutil.MAX_KEY_BYTES`` (``fsutil.open_regular``);
    - one that others may read, when this user manages the store (owns the
      key and may write the directory): it was opened by accident, and
      using it would hide that.  A reader of a store that its manager shares
      read-only ("root scope") is let through: the modes are the manager's
      decision, and the reader could not change them.

    ``shared`` is for the key of a system-wide store, which its manager
    deliberately shares with the directory's group (``SHARED_KEY_MODE``,
    0640): there only a key that every user may read is refused.  It is a
    property of the store, never inferred from the file's own modes.
    """

    location = KeyLocation.FILE

    def __init__(self, data_dir: Path, name: str = KEY_FILE_NAME, *, shared: bool = False) -> None:
        self.path = data_dir / name
        self.shared = shared

    def read(self) -> bytes | None:
        # A symbolic link, FIFO or device, a file of another account, one others
        # may change or one too large for a key: UnsafePath, before it is read.
        fix_mode = SHARED_KEY_MODE if self.shared else fsutil.PRIVATE_FILE_MODE
        try:
            fd = fsutil.open_regular(self.path, fsutil.MAX_KEY_BYTES, fix_mode=fix_mode)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyUnavailable(
                f"The key file {self.path} cannot be read ({exc.strerror or exc})."
            ) from None
        try:
            info = os.fstat(fd)
            raw = fsutil.read_at_most(fd, fsutil.MAX_KEY_BYTES)
        except OSError as exc:
            raise KeyUnavailable(
                f"The key file {self.path} cannot be read ({exc.strerror or exc})."
            ) from None
        finally:
            os.close(fd)
        if raw.startswith(_ERASED_PREFIX):
            return None  # a Reset erased it and was stopped before it could delete it
        if not raw.startswith(_KEY_FILE_PREFIX):
            raise KeyUnavailable(f"The key file {self.path} is damaged.")
        try:
            encoded = raw[len(_KEY_FILE_PREFIX) :].strip()
            key = binascii.a2b_base64(encoded, strict_mode=True)
        except (binascii.Error, ValueError):
            raise KeyUnavailable(f"The key file {self.path} is damaged.") from None
        # a2b_base64 ignores the unused low bits of the last character: a changed
        # file that decodes to the same key is damaged all the same.
        if len(key) != KEY_SIZE or _b64encode(key) != encoded:
            raise KeyUnavailable(f"The key file {self.path} is damaged.")
        if os.name == "posix":
            self._refuse_if_exposed(info)
        return key

    def _refuse_if_exposed(self, info: os.stat_result) -> None:
        # One that others may change never gets here: fsutil.open_regular refuses it.
        readable_by_others = stat.S_IROTH if self.shared else stat.S_IRGRP | stat.S_IROTH
        if (
            info.st_mode & readable_by_others
            and info.st_uid == os.geteuid()
            and os.access(self.path.parent, os.W_OK)
        ):
            exposure = "every user may read it" if self.shared else "other users may read it"
        else:
            return
        import shlex

        fix = f"chmod {'640' if self.shared else '600'} {shlex.quote(str(self.path))}"
        advice = "Limit it to its group with" if self.shared else "Make it private with"
        raise KeyUnavailable(
            f"The key file {self.path} is not used because {exposure} (permissions "
            f"{stat.filemode(info.st_mode)}). {advice}: {fix}"
        )

    def write(self, key: bytes) -> None:
        content = _KEY_FILE_PREFIX + _b64encode(key) + b"\n"
        if self.shared:
            # The directory's group is the group that may read the settings.
            group = self.path.parent.stat().st_gid if os.name == "posix" else None
            fsutil.atomic_write(self.path, content, mode=SHARED_KEY_MODE, group=group)
            return
        fsutil.ensure_private_dir(self.path.parent)
        fsutil.atomic_write(self.path, content)

    def destroy(self) -> None:
        fsutil.shred(self.path, header=_ERASED_PREFIX)

    def describe(self) -> str:
        return f"key file {self.path}"


class KeyringKeyStore(KeyStore):
    """The key in the OS keyring, one entry per data directory.

    ``entry`` names a further key of the same directory: the key of a
    settings file that was moved aside.
    """

    location = KeyLocation.KEYRING

    def __init__(self, data_dir: Path, entry: str | None = None) -> None:
        account = str(data_dir.resolve())
        self.account = f"{account}{os.sep}{entry}" if entry else account

    def read(self) -> bytes | None:
        import keyring

        try:
            value = keyring.get_password(KEYRING_SERVICE, self.account)
        except Exception as exc:  # keyring backends raise many kinds; all mean "can't tell"
            raise KeyUnavailable(_keyring_problem(exc)) from None
        if value is None:
            return None
        try:
            key = binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise KeyUnavailable("The data key in the OS keyring is damaged.") from None
        if len(key) != KEY_SIZE:
            raise KeyUnavailable("The data key in the OS keyring is damaged.")
        return key

    def write(self, key: bytes) -> None:
        import keyring

        try:
            keyring.set_password(KEYRING_SERVICE, self.account, _b64encode(key).decode())
        except Exception as exc:
            raise KeyUnavailable(_keyring_problem(exc)) from None

    def destroy(self) -> None:
        import keyring
        import keyring.errors

        try:
            keyring.delete_password(KEYRING_SERVICE, self.account)
        except keyring.errors.PasswordDeleteError:
            return  # nothing stored: already destroyed
        except Exception as exc:
            raise KeyUnavailable(_keyring_problem(exc)) from None

    def describe(self) -> str:
        return "the OS keyring"


def _keyring_problem(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "KeyringLocked":
        return "The OS keyring is locked: unlock it (log in to the desktop session) and try again."
    if name == "NoKeyringError":
        return "No OS keyring is available in this session."
    return f"The OS keyring could not be used ({name})."


def keyring_usable() -> bool:
    """True when the OS keyring has a real backend (not the 'fail' or 'null' one)."""
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring):
            return False
        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
            return False
        priority = float(backend.priority)
    except Exception:  # a backend that cannot even say how usable it is, is not
        return False
    return priority > 0


def backend_choice(value: str | None = None) -> str:
    """The key backend asked for (argument, else environment, else ``auto``)."""
    choice = (value if value is not None else os.environ.get(BACKEND_ENV, "auto")).strip()
    choice = choice.lower() or "auto"
    if choice not in BACKEND_CHOICES:
        raise StoreError(
            f"{BACKEND_ENV} must be one of {', '.join(BACKEND_CHOICES)}, not {choice!r}."
        )
    return choice


def store_for(location: KeyLocation, data_dir: Path, *, shared: bool = False) -> KeyStore:
    if location is KeyLocation.KEYRING:
        return KeyringKeyStore(data_dir)
    return FileKeyStore(data_dir, shared=shared)


def store_for_new_key(data_dir: Path, choice: str, *, shared: bool = False) -> KeyStore:
    """Where a new settings file's key should live, following ``choice``.

    ``auto`` keeps using an existing key file (a first save may have been
    interrupted after writing it), else prefers a usable OS keyring.  A
    shared (system-wide) store always uses the key file: a keyring belongs
    to one account, and the store's group must be able to read the key.
    """
    if choice == "file" or shared:
        return FileKeyStore(data_dir, shared=shared)
    if choice == "keyring":
        if not keyring_usable():
            raise KeyUnavailable(
                f"{BACKEND_ENV}=keyring, but no usable OS keyring is available. "
                f"Unset it (or set it to 'file') to keep the key in a file instead."
            )
        return KeyringKeyStore(data_dir)
    file_store = FileKeyStore(data_dir)
    if file_store.path.exists() or not keyring_usable():
        return file_store
    return KeyringKeyStore(data_dir)
