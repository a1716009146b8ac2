"""Where the data key lives: the key file, the OS keyring, and the choice between them."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import keyring
import pytest
from keyring import backend
from keyring.backends import chainer, fail, null
from keyring.compat import properties
from support import testkeyring

from configurator import keys
from configurator.errors import KeyUnavailable, StoreError, UnsafePath

POSIX = os.name == "posix"


def keyring_file() -> Path:
    return Path(os.environ["TEST_KEYRING_FILE"])


# -- the key itself ---------------------------------------------------------------


def test_new_keys_are_random_256_bit_keys() -> None:
    generated = {keys.new_key() for _ in range(20)}
    assert len(generated) == 20
    assert all(len(key) == keys.KEY_SIZE == 32 for key in generated)


def test_key_id_tells_keys_apart_without_revealing_them() -> None:
    key, other = keys.new_key(), keys.new_key()
    assert keys.key_id(key) == keys.key_id(bytes(key))
    assert len(keys.key_id(key)) == 8
    assert keys.key_id(key) != keys.key_id(other)
    assert keys.key_id(key) not in key


def test_key_id_is_hmac_sha256_as_every_stored_file_has_it() -> None:
    """Files in use carry ids made with ``hmac``/``hashlib``: cryptography must give the same."""
    import hashlib
    import hmac

    for key in (bytes(32), b"\xff" * 32, keys.new_key()):
        expected = hmac.new(key, b"configurator key id", hashlib.sha256).digest()
        assert keys.key_id(key) == expected[:8]
        assert keys.hmac_sha256(key, b"message") == hmac.new(key, b"message", "sha256").digest()


@pytest.mark.parametrize(
    ("location", "words"),
    [(keys.KeyLocation.KEYRING, "the OS keyring"), (keys.KeyLocation.FILE, "the key file")],
)
def test_key_location_description(location: keys.KeyLocation, words: str) -> None:
    assert location.description == words
    assert keys.store_for(location, Path("/nowhere")).location is location


# -- the key file -----------------------------------------------------------------


def test_file_key_store_round_trip(data_dir: Path) -> None:
    key_store = keys.FileKeyStore(data_dir)
    assert key_store.read() is None
    key = keys.new_key()
    key_store.write(key)
    assert key_store.read() == key
    assert keys.FileKeyStore(data_dir).read() == key
    assert str(key_store.path) in key_store.describe()


def test_key_file_holds_the_key_encoded_not_raw(data_dir: Path) -> None:
    key = keys.new_key()
    keys.FileKeyStore(data_dir).write(key)
    raw = (data_dir / keys.KEY_FILE_NAME).read_bytes()
    assert raw.startswith(b"configurator-data-key-v1 ")
    assert key not in raw
    assert base64.b64encode(key) in raw


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_key_file_is_private(data_dir: Path) -> None:
    keys.FileKeyStore(data_dir).write(keys.new_key())
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / keys.KEY_FILE_NAME).stat().st_mode) == 0o600


def test_writing_replaces_the_previous_key(data_dir: Path) -> None:
    key_store = keys.FileKeyStore(data_dir)
    key_store.write(keys.new_key())
    replacement = keys.new_key()
    key_store.write(replacement)
    assert key_store.read() == replacement
    assert sorted(p.name for p in data_dir.iterdir()) == [keys.KEY_FILE_NAME]


def test_destroy_removes_the_key_file(data_dir: Path) -> None:
    key_store = keys.FileKeyStore(data_dir)
    key_store.write(keys.new_key())
    key_store.destroy()
    assert not key_store.path.exists()
    assert key_store.read() is None
    key_store.destroy()  # nothing left: still fine


VALID_KEY_LINE = b"configurator-data-key-v1 " + base64.b64encode(bytes(range(32))) + b"\n"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n",
        VALID_KEY_LINE[1:],
        VALID_KEY_LINE.replace(b"v1", b"v2"),
        base64.b64encode(bytes(range(32))),
        b"configurator-data-key-v1 not*base64!\n",
        b"configurator-data-key-v1 " + base64.b64encode(bytes(31)) + b"\n",
        b"configurator-data-key-v1 " + base64.b64encode(bytes(33)) + b"\n",
        VALID_KEY_LINE[:-12] + b"\n",
    ],
)
def test_damaged_key_file_is_unavailable_not_missing(data_dir: Path, content: bytes) -> None:
    data_dir.mkdir()
    (data_dir / keys.KEY_FILE_NAME).write_bytes(content)
    with pytest.raises(KeyUnavailable, match="is damaged"):
        keys.FileKeyStore(data_dir).read()
    assert (data_dir / keys.KEY_FILE_NAME).read_bytes() == content


def test_key_file_line_is_accepted_with_or_without_newline(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / keys.KEY_FILE_NAME).write_bytes(VALID_KEY_LINE.rstrip())
    (data_dir / keys.KEY_FILE_NAME).chmod(0o600)
    assert keys.FileKeyStore(data_dir).read() == bytes(range(32))


def test_key_file_that_is_a_directory_is_refused(data_dir: Path) -> None:
    (data_dir / keys.KEY_FILE_NAME).mkdir(parents=True)
    with pytest.raises(UnsafePath, match="is a directory, not a regular file"):
        keys.FileKeyStore(data_dir).read()


# -- the keyring ------------------------------------------------------------------


def test_keyring_key_store_round_trip(
    data_dir: Path, test_keyring: testkeyring.TestKeyring
) -> None:
    key_store = keys.KeyringKeyStore(data_dir)
    assert key_store.read() is None
    key = keys.new_key()
    key_store.write(key)
    assert key_store.read() == key
    assert keyring.get_password(keys.KEYRING_SERVICE, str(data_dir.resolve())) == (
        base64.b64encode(key).decode()
    )
    assert key_store.describe() == "the OS keyring"
    assert not data_dir.exists()


def test_keyring_entries_are_per_data_directory(
    tmp_path: Path, test_keyring: testkeyring.TestKeyring
) -> None:
    first, second = keys.KeyringKeyStore(tmp_path / "a"), keys.KeyringKeyStore(tmp_path / "b")
    first.write(keys.new_key())
    assert second.read() is None
    second.write(keys.new_key())
    assert first.read() != second.read()
    first.destroy()
    assert first.read() is None
    assert second.read() is not None


def test_keyring_destroy(data_dir: Path, test_keyring: testkeyring.TestKeyring) -> None:
    key_store = keys.KeyringKeyStore(data_dir)
    key_store.write(keys.new_key())
    key_store.destroy()
    assert key_store.read() is None
    assert keyring_file().read_text(encoding="utf-8") == "{}"
    key_store.destroy()  # already gone: still fine


@pytest.mark.parametrize(
    "value",
    ["not base64!", base64.b64encode(bytes(16)).decode(), base64.b64encode(bytes(64)).decode()],
)
def test_damaged_keyring_entry_is_unavailable(
    data_dir: Path, test_keyring: testkeyring.TestKeyring, value: str
) -> None:
    keyring.set_password(keys.KEYRING_SERVICE, str(data_dir.resolve()), value)
    with pytest.raises(KeyUnavailable, match="damaged"):
        keys.KeyringKeyStore(data_dir).read()


@pytest.mark.parametrize(
    ("state", "words"),
    [("locked", "is locked"), ("broken", r"could not be used \(KeyringError\)")],
)
def test_unusable_keyring_raises_on_every_operation(
    data_dir: Path,
    test_keyring: testkeyring.TestKeyring,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    words: str,
) -> None:
    key_store = keys.KeyringKeyStore(data_dir)
    key_store.write(keys.new_key())
    before = keyring_file().read_bytes()
    monkeypatch.setenv("TEST_KEYRING_STATE", state)
    with pytest.raises(KeyUnavailable, match=words):
        key_store.read()
    with pytest.raises(KeyUnavailable, match=words):
        key_store.write(keys.new_key())
    with pytest.raises(KeyUnavailable, match=words):
        key_store.destroy()
    assert keyring_file().read_bytes() == before


def test_no_keyring_at_all_is_unavailable(data_dir: Path) -> None:
    with pytest.raises(KeyUnavailable, match="No OS keyring"):
        keys.KeyringKeyStore(data_dir).read()
    with pytest.raises(KeyUnavailable, match="No OS keyring"):
        keys.KeyringKeyStore(data_dir).write(keys.new_key())


class BrokenPriority(testkeyring.TestKeyring):
    """A backend whose priority cannot be computed, as some do off their platform."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - a class property
        raise RuntimeError("no D-Bus session")


class EmptyChainer(chainer.ChainerBackend):
    """The chainer keyring picks when it finds no backend to chain."""

    backends = ()


@pytest.mark.parametrize(
    ("ring", "usable"),
    [
        (fail.Keyring(), False),
        (null.Keyring(), False),
        (EmptyChainer(), False),
        (BrokenPriority(), False),
        (testkeyring.TestKeyring(), True),
    ],
)
def test_keyring_usable(ring: backend.KeyringBackend, usable: bool) -> None:
    keyring.set_keyring(ring)
    assert keys.keyring_usable() is usable


def test_keyring_usable_survives_a_chainer_that_cannot_list_its_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keep the class out of keyring's registry of backends once this test is over.
    monkeypatch.setattr(backend.KeyringBackend, "_classes", set(backend.KeyringBackend._classes))

    class FailingChainer(chainer.ChainerBackend):
        @properties.classproperty
        def backends(cls) -> list[backend.KeyringBackend]:  # noqa: N805 - a class property
            raise RuntimeError("a keyring plugin failed to load")

    keyring.set_keyring(FailingChainer())
    assert keys.keyring_usable() is False


def test_keyring_usable_with_the_test_fixture(test_keyring: testkeyring.TestKeyring) -> None:
    assert keys.keyring_usable()


# -- choosing the backend -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "environment", "choice"),
    [
        (None, None, "auto"),
        (None, "", "auto"),
        (None, "auto", "auto"),
        (None, "file", "file"),
        (None, " KEYRING ", "keyring"),
        ("", "file", "auto"),
        ("File", "keyring", "file"),
        ("keyring", None, "keyring"),
    ],
)
def test_backend_choice(
    monkeypatch: pytest.MonkeyPatch, argument: str | None, environment: str | None, choice: str
) -> None:
    if environment is None:
        monkeypatch.delenv(keys.BACKEND_ENV, raising=False)
    else:
        monkeypatch.setenv(keys.BACKEND_ENV, environment)
    assert keys.backend_choice(argument) == choice


@pytest.mark.parametrize("value", ["vault", "files", "keyring,file", "0"])
def test_invalid_backend_choice(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(StoreError, match=f"{keys.BACKEND_ENV} must be one of auto, keyring, file"):
        keys.backend_choice(value)
    monkeypatch.setenv(keys.BACKEND_ENV, value)
    with pytest.raises(StoreError, match=repr(value.lower())):
        keys.backend_choice()


def test_new_key_goes_to_the_file_without_a_keyring(data_dir: Path) -> None:
    assert isinstance(keys.store_for_new_key(data_dir, "auto"), keys.FileKeyStore)
    assert isinstance(keys.store_for_new_key(data_dir, "file"), keys.FileKeyStore)
    with pytest.raises(KeyUnavailable, match="no usable OS keyring"):
        keys.store_for_new_key(data_dir, "keyring")


def test_new_key_goes_to_a_usable_keyring(
    data_dir: Path, test_keyring: testkeyring.TestKeyring
) -> None:
    assert isinstance(keys.store_for_new_key(data_dir, "auto"), keys.KeyringKeyStore)
    assert isinstance(keys.store_for_new_key(data_dir, "keyring"), keys.KeyringKeyStore)
    assert isinstance(keys.store_for_new_key(data_dir, "file"), keys.FileKeyStore)


def test_auto_keeps_an_existing_key_file(
    data_dir: Path, test_keyring: testkeyring.TestKeyring
) -> None:
    keys.FileKeyStore(data_dir).write(keys.new_key())
    assert isinstance(keys.store_for_new_key(data_dir, "auto"), keys.FileKeyStore)


# -- shredding ----------------------------------------------------------------------


def test_destroying_the_key_file_overwrites_it_before_removing_it(data_dir: Path) -> None:
    key_store = keys.FileKeyStore(data_dir)
    key_store.write(keys.new_key())
    original = key_store.path.read_bytes()
    # A second name for the same file shows what was written before the unlink.
    witness = data_dir / "witness"
    os.link(key_store.path, witness)
    key_store.destroy()
    assert not key_store.path.exists()
    overwritten = witness.read_bytes()
    assert len(overwritten) == len(original)
    assert overwritten != original
    assert b"configurator-data-key" not in overwritten
