"""Every single-bit change of a real settings file, and every truncation, is detected.

The file is written by a real save; each damaged copy is opened by the same
code ``Store.load`` uses (``Store._open``, reading the real key file each
time), so nothing but the bytes differs from a load of a damaged file on disk.
A sample is also written to disk and loaded from there, to show the shortcut
changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import secrets

from configurator import keys, model
from configurator.errors import SettingsUnreadable, Unreadable
from configurator.store import HEADER_SIZE, Store, Stored

PASSWORD = "bit-Flip-Geheimnis-314"

# What each header byte may be mistaken for; everything after the header is sealed.
MAGIC = range(0, 6)
VERSION = range(6, 8)
KEY_PLACE = range(8, 9)
KEY_ID = range(9, 17)
NONCE = range(17, HEADER_SIZE)


def expected_reasons(offset: int) -> set[Unreadable]:
    if offset in MAGIC or offset in KEY_PLACE:
        return {Unreadable.CORRUPT}
    if offset in VERSION:
        return {Unreadable.CORRUPT, Unreadable.NEWER_FORMAT}  # 0 is no version; >1 is newer
    return {Unreadable.TAMPERED}  # key id, nonce, ciphertext and tag are all authenticated


@pytest.fixture
def saved(data_dir: Path) -> tuple[Store, bytes]:
    secrets.secret(PASSWORD)  # no output of these tests may show it
    settings = model.build(
        {
            "account_name": "Überwachung",
            "account_email": "alerts@example.org",
            "server": "smtp.example.org",
            "port": "587",
            "security": "starttls",
            "auth": "login_plain",
            "username": "alerts@example.org",
            "password": PASSWORD,
        }
    )
    a_store = Store(data_dir)
    a_store.save(settings)
    return a_store, a_store.path.read_bytes()


def test_every_single_bit_flip_is_detected(saved: tuple[Store, bytes]) -> None:
    a_store, blob = saved
    assert a_store._open(blob).revision == 1  # the unflipped file opens
    reasons: dict[Unreadable, int] = {}
    for offset in range(len(blob)):
        for bit in range(8):
            damaged = bytearray(blob)
            damaged[offset] ^= 1 << bit
            with pytest.raises(SettingsUnreadable) as caught:
                a_store._open(bytes(damaged))
            error = caught.value
            assert error.reason in expected_reasons(offset), (offset, bit, error.reason)
            reasons[error.reason] = reasons.get(error.reason, 0) + 1
            assert PASSWORD not in str(error)
    assert sum(reasons.values()) == 8 * len(blob)
    assert reasons[Unreadable.TAMPERED] >= 8 * (len(blob) - HEADER_SIZE)
    assert a_store.path.read_bytes() == blob  # nothing was written meanwhile


def test_every_truncation_is_detected(saved: tuple[Store, bytes]) -> None:
    a_store, blob = saved
    for length in range(len(blob)):
        with pytest.raises(SettingsUnreadable) as caught:
            a_store._open(blob[:length])
        assert caught.value.reason in (Unreadable.CORRUPT, Unreadable.TAMPERED), length
    for extra in (b"\0", b"\n", blob[-16:]):
        with pytest.raises(SettingsUnreadable) as caught:
            a_store._open(blob + extra)
        assert caught.value.reason is Unreadable.TAMPERED


@pytest.mark.parametrize("offset", [0, 7, 8, 12, 20, HEADER_SIZE, HEADER_SIZE + 50, -1])
def test_a_flipped_file_on_disk_is_reported_and_kept(
    saved: tuple[Store, bytes], offset: int
) -> None:
    a_store, blob = saved
    damaged = bytearray(blob)
    damaged[offset] ^= 0x10
    a_store.path.write_bytes(bytes(damaged))
    with pytest.raises(SettingsUnreadable) as caught:
        Store(a_store.data_dir).load()
    assert caught.value.reason in expected_reasons(offset % len(blob))
    with pytest.raises(SettingsUnreadable):
        Store(a_store.data_dir).save(a_store._open(blob).settings)
    assert a_store.path.read_bytes() == bytes(damaged)


def load_or_error(a_store: Store) -> Stored | SettingsUnreadable | None:
    try:
        return a_store.load()
    except SettingsUnreadable as exc:
        return exc


def test_every_single_bit_flip_of_the_key_file_is_detected(saved: tuple[Store, bytes]) -> None:
    """A changed key never opens the settings; only a change the key does not depend on may."""
    a_store, _ = saved
    key_file = a_store.data_dir / keys.KEY_FILE_NAME
    original = key_file.read_bytes()
    expected = a_store.load()
    harmless = 0
    for offset in range(len(original)):
        for bit in range(8):
            damaged = bytearray(original)
            damaged[offset] ^= 1 << bit
            key_file.write_bytes(bytes(damaged))
            found = load_or_error(Store(a_store.data_dir))
            if isinstance(found, SettingsUnreadable):
                assert found.reason in (Unreadable.KEY_UNAVAILABLE, Unreadable.KEY_MISMATCH)
                assert PASSWORD not in str(found)
            else:
                # Only the line end can change into other white space the reader ignores.
                assert offset == len(original) - 1, (offset, bit)
                assert found == expected
                harmless += 1
    assert harmless <= 1  # "\n" turned into "\v": the same key, on a line of its own
