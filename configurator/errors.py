"""Errors of the settings store, each carrying a message a person can act on.

They live apart from the store so that front ends can catch them without
importing the cryptography it uses.
"""

from __future__ import annotations

import enum
from pathlib import Path


class Unreadable(enum.StrEnum):
    """Why a stored settings file cannot be used."""

    CORRUPT = "corrupt"  # truncated, not a settings file, or a broken payload
    TAMPERED = "tampered"  # the right key, but the contents were changed
    KEY_MISSING = "key_missing"  # the data key is gone
    KEY_UNAVAILABLE = "key_unavailable"  # the keyring is locked or cannot be reached
    KEY_MISMATCH = "key_mismatch"  # a key exists, but not the one this file was sealed with
    NEWER_FORMAT = "newer_format"  # written by a newer version of the configurator
    NO_ACCESS = "no_access"  # the operating system refused to read it
    UNSAFE = "unsafe"  # not a regular file, or another account could have changed it


# The reasons that mean "the settings could not be unlocked": recorded in the
# audit trail as failed unlocks (the reason's value is the record's detail).
UNLOCK_FAILURES = frozenset(
    {
        Unreadable.KEY_MISSING,
        Unreadable.KEY_MISMATCH,
        Unreadable.KEY_UNAVAILABLE,
        Unreadable.TAMPERED,
    }
)

_REASON_WORDS = {
    Unreadable.CORRUPT: "the settings file is damaged or not a settings file",
    Unreadable.TAMPERED: "the settings file was changed after it was saved",
    Unreadable.KEY_MISSING: "the data key is missing",
    Unreadable.KEY_UNAVAILABLE: "the data key could not be read",
    Unreadable.KEY_MISMATCH: "the data key does not belong to the settings file",
    Unreadable.NEWER_FORMAT: "the settings were saved by a newer version",
    Unreadable.NO_ACCESS: "the settings file cannot be read by this account",
    Unreadable.UNSAFE: "a file or folder of the store is not safe to use",
}


def reason_words(code: str) -> str:
    """A reason's code in words, for texts that keep only the code (an audit record's detail).

    Anything that is not a known code is returned as it is.
    """
    try:
        return _REASON_WORDS.get(Unreadable(code), code)
    except ValueError:
        return code


class StoreError(Exception):
    """Base of every error the store raises; ``str()`` is fit to show a user."""


class SettingsUnreadable(StoreError):
    """The settings file exists but cannot be used. It is left untouched."""

    def __init__(self, reason: Unreadable, path: Path, detail: str, advice: str) -> None:
        self.reason = reason
        self.path = path
        self.detail = detail
        self.advice = advice
        super().__init__(f"{detail} {advice}")


class UnsafePath(SettingsUnreadable):
    """A file or folder of the store that another account could have planted or changed.

    A symbolic link, a FIFO, a device, a file too large to be one of ours,
    or one that another account owns or may write: it is refused before it is
    read, and never written, truncated or followed.  ``detail`` names the file
    and what was found, ``advice`` the command that fixes it.
    """

    def __init__(self, path: Path, detail: str, advice: str) -> None:
        super().__init__(Unreadable.UNSAFE, path, detail, advice)


class KeyUnavailable(StoreError):
    """The data key exists (or may exist) but cannot be read right now."""


class NotWritable(StoreError):
    """This user may not change the settings store (see "root scope")."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(detail)


class ConflictError(StoreError):
    """Someone else saved the settings since they were loaded."""

    def __init__(self, expected: int, found: int) -> None:
        self.expected = expected
        self.found = found
        super().__init__(
            f"The settings were changed elsewhere (revision {found}, expected {expected})."
        )
