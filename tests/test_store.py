"""The encrypted settings store, exercised on real files in a temporary data directory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from support import accounts, testkeyring

from configurator import fsutil, keys, model, store
from configurator.errors import (
    ConflictError,
    KeyUnavailable,
    NotWritable,
    SettingsUnreadable,
    StoreError,
    Unreadable,
    UnsafePath,
)
from configurator.store import Access, Store

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pässwörd-密码-🔑-Zz9"
POSIX = os.name == "posix"
IS_ROOT = POSIX and os.geteuid() == 0


def full_settings(tmp_path: Path, **overrides: object) -> model.Settings:
    """Settings with every field set to something other than its default."""
    ca = tmp_path / "private-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    values: dict[str, object] = {
        "account_name": "Überwachung Süd",
        "account_email": "alarm@bücher.example",
        "server": "smtp-relay.internal.example",
        "port": 2465,
        "security": "ssl_tls",
        "auth": "login_plain",
        "username": "jörg.müller",
        "password": PASSWORD,
        "ca_file": str(ca),
        "tls_fingerprint": "AB:" * 31 + "CD",
        "timeout": 42.5,
        "test_recipient": "soc-team@example.org",
    }
    values.update(overrides)
    return model.build(values)


@pytest.fixture
def settings(tmp_path: Path) -> model.Settings:
    return full_settings(tmp_path)


@pytest.fixture
def saved(data_dir: Path, settings: model.Settings) -> Store:
    """A store holding one saved revision, its key in the key file."""
    a_store = Store(data_dir)
    a_store.save(settings)
    return a_store


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes in ``directory`` (recursively), to prove nothing changed.

    The empty lock file that serialises writers is not data and is left out.
    """
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and p.name != store.LOCK_FILE_NAME
    }


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{fsutil.TEMP_SUFFIX}"))


# -- round trip and file properties ---------------------------------------------


def test_nothing_stored_yet(data_dir: Path) -> None:
    a_store = Store(data_dir)
    assert a_store.load() is None
    assert not a_store.exists()
    assert not data_dir.exists()


def test_round_trip_of_every_field(data_dir: Path, settings: model.Settings) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stored = Store(data_dir).save(settings)
    loaded = Store(data_dir).load()
    assert loaded == stored
    assert loaded.settings == settings
    assert loaded.settings.password == PASSWORD
    assert loaded.settings.tls_fingerprint == "ab" * 31 + "cd"
    assert loaded.revision == 1
    assert loaded.key_location is keys.KeyLocation.FILE
    assert dt.datetime.fromisoformat(loaded.saved_at) >= before
    assert PASSWORD not in repr(loaded)


def test_round_trip_with_auth_none(data_dir: Path, tmp_path: Path) -> None:
    plain = full_settings(tmp_path, auth="none", security="none", port="25")
    Store(data_dir).save(plain)
    loaded = Store(data_dir).load()
    assert loaded is not None
    assert loaded.settings == plain
    assert loaded.settings.password == ""


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_file_and_directory_modes(saved: Store, data_dir: Path) -> None:
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / keys.KEY_FILE_NAME).stat().st_mode) == 0o600


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_save_tightens_a_loose_data_directory(data_dir: Path, settings: model.Settings) -> None:
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    Store(data_dir).save(settings)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_revision_increments(saved: Store, settings: model.Settings) -> None:
    second = saved.save(dataclasses.replace(settings, port=2525))
    third = saved.save(settings, expected_revision=2)
    assert (second.revision, third.revision) == (2, 3)
    loaded = saved.load()
    assert loaded is not None
    assert loaded.revision == 3
    assert loaded.settings == settings


def test_stale_revision_is_a_conflict_and_writes_nothing(
    saved: Store, settings: model.Settings, data_dir: Path
) -> None:
    before = snapshot(data_dir)
    with pytest.raises(ConflictError) as caught:
        saved.save(dataclasses.replace(settings, port=2525), expected_revision=0)
    assert (caught.value.expected, caught.value.found) == (0, 1)
    assert "revision 1" in str(caught.value)
    assert snapshot(data_dir) == before
    loaded = saved.load()
    assert loaded is not None
    assert loaded.settings.port == settings.port


def test_expected_revision_zero_means_nothing_stored(
    data_dir: Path, settings: model.Settings
) -> None:
    assert Store(data_dir).save(settings, expected_revision=0).revision == 1
    assert Store(data_dir).save(settings, expected_revision=1).revision == 2


def test_invalid_settings_are_never_written(data_dir: Path) -> None:
    with pytest.raises(model.ValidationError):
        Store(data_dir).save(model.Settings(account_name="x\r\nBcc: y"))
    assert not data_dir.exists()


def test_no_setting_is_stored_in_clear_text(
    saved: Store, settings: model.Settings, data_dir: Path
) -> None:
    # A second revision, so that both sealing paths (new key, existing key) are covered.
    saved.save(settings)
    secrets = [
        settings.account_name,
        settings.account_email,
        "alarm",
        "bücher",
        "xn--bcher-kva",
        settings.server,
        "smtp-relay",
        settings.username,
        settings.password,
        settings.test_recipient,
        settings.tls_fingerprint,
        "private-ca.pem",
        "ssl_tls",
        "login_plain",
        "2465",
        "42.5",
    ]
    files = snapshot(data_dir)
    assert set(files) == {store.SETTINGS_FILE_NAME, keys.KEY_FILE_NAME}
    for name, blob in files.items():
        for secret in secrets:
            for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le"):
                assert secret.encode(encoding) not in blob, (name, secret, encoding)


def test_every_save_uses_a_fresh_nonce(saved: Store, settings: model.Settings) -> None:
    first = saved.path.read_bytes()
    saved.save(settings)
    second = saved.path.read_bytes()
    assert first[:17] == second[:17]  # same magic, version, key place and key id
    assert first[17:29] != second[17:29]


def test_file_header_layout(saved: Store, data_dir: Path) -> None:
    blob = saved.path.read_bytes()
    key = keys.FileKeyStore(data_dir).read()
    assert key is not None
    assert blob[:6] == store.MAGIC
    assert int.from_bytes(blob[6:8], "big") == store.FORMAT_VERSION
    assert blob[8] == keys.KeyLocation.FILE
    assert blob[9:17] == keys.key_id(key)
    assert store.HEADER_SIZE == 29


# -- files that cannot be read --------------------------------------------------

Mutation = Callable[[Path, Path], None]  # (settings file, data dir)


def set_bytes(blob: bytes) -> Mutation:
    def mutate(path: Path, data_dir: Path) -> None:
        path.write_bytes(blob)

    return mutate


def truncate(length: int) -> Mutation:
    def mutate(path: Path, data_dir: Path) -> None:
        path.write_bytes(path.read_bytes()[:length])

    return mutate


def chop(count: int) -> Mutation:
    def mutate(path: Path, data_dir: Path) -> None:
        path.write_bytes(path.read_bytes()[:-count])

    return mutate


def flip(offset: int, mask: int = 0x01) -> Mutation:
    def mutate(path: Path, data_dir: Path) -> None:
        blob = bytearray(path.read_bytes())
        blob[offset] ^= mask
        path.write_bytes(bytes(blob))

    return mutate


def patch(offset: int, replacement: bytes) -> Mutation:
    def mutate(path: Path, data_dir: Path) -> None:
        blob = bytearray(path.read_bytes())
        blob[offset : offset + len(replacement)] = replacement
        path.write_bytes(bytes(blob))

    return mutate


def reseal(payload: object) -> Mutation:
    """Seal ``payload`` properly with the store's real key: authentic, yet unusable."""

    def mutate(path: Path, data_dir: Path) -> None:
        key = keys.FileKeyStore(data_dir).read()
        assert key is not None
        plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        path.write_bytes(store.seal(key, keys.KeyLocation.FILE, plaintext))

    return mutate


def delete_key(path: Path, data_dir: Path) -> None:
    (data_dir / keys.KEY_FILE_NAME).unlink()


def foreign_key(path: Path, data_dir: Path) -> None:
    other = data_dir.parent / "other-store"
    keys.FileKeyStore(other).write(keys.new_key())
    shutil.copyfile(other / keys.KEY_FILE_NAME, data_dir / keys.KEY_FILE_NAME)


def damage_key(path: Path, data_dir: Path) -> None:
    key_file = data_dir / keys.KEY_FILE_NAME
    key_file.write_bytes(key_file.read_bytes()[:-10] + b"!!!\n")


def key_directory(path: Path, data_dir: Path) -> None:
    delete_key(path, data_dir)
    (data_dir / keys.KEY_FILE_NAME).mkdir()


def good_payload(schema: int = 1, **changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "schema": schema,
        "revision": 1,
        "saved_at": "2024-01-01T00:00:00+00:00",
        "settings": {"account_name": "x", "port": 25},
    }
    payload.update(changes)
    return payload


TAG_END = -1
CIPHERTEXT = store.HEADER_SIZE + 3
NONCE = 20
KEY_ID = 12

UNREADABLE_CASES: list[tuple[str, Mutation, Unreadable]] = [
    ("empty file", set_bytes(b""), Unreadable.CORRUPT),
    ("truncated to 3 bytes", truncate(3), Unreadable.CORRUPT),
    ("truncated to the magic", truncate(6), Unreadable.CORRUPT),
    ("truncated in the header", truncate(20), Unreadable.CORRUPT),
    ("truncated to the header", truncate(store.HEADER_SIZE), Unreadable.CORRUPT),
    ("truncated in the tag", truncate(store.HEADER_SIZE + 15), Unreadable.CORRUPT),
    # Past the header AES-GCM cannot tell a cut-off end from a change: both break the seal.
    ("truncated in the ciphertext", truncate(store.HEADER_SIZE + 40), Unreadable.TAMPERED),
    ("last byte missing", chop(1), Unreadable.TAMPERED),
    ("not a settings file", set_bytes(b"{'server': 'smtp.example.com'}" * 3), Unreadable.CORRUPT),
    ("wrong magic", patch(0, b"XXXXXX"), Unreadable.CORRUPT),
    ("magic bit flip", flip(2), Unreadable.CORRUPT),
    ("newer format version", patch(6, (2).to_bytes(2, "big")), Unreadable.NEWER_FORMAT),
    ("far newer format", patch(6, b"\xff\xff"), Unreadable.NEWER_FORMAT),
    ("format version zero", patch(6, b"\0\0"), Unreadable.CORRUPT),
    ("unknown key place", patch(8, b"\x07"), Unreadable.CORRUPT),
    ("newer schema, sealed", reseal(good_payload(schema=2)), Unreadable.NEWER_FORMAT),
    ("no schema, sealed", reseal({"revision": 1, "settings": {}}), Unreadable.CORRUPT),
    ("schema zero, sealed", reseal(good_payload(schema=0)), Unreadable.CORRUPT),
    ("not JSON, sealed", reseal(b"\xff\xfe not json"), Unreadable.CORRUPT),
    ("JSON list, sealed", reseal([1, 2, 3]), Unreadable.CORRUPT),
    ("bad revision, sealed", reseal(good_payload(revision="1")), Unreadable.CORRUPT),
    ("bad settings, sealed", reseal(good_payload(settings={"port": "25"})), Unreadable.CORRUPT),
    ("bad choice, sealed", reseal(good_payload(settings={"auth": "x"})), Unreadable.CORRUPT),
    ("bit flip in ciphertext", flip(CIPHERTEXT), Unreadable.TAMPERED),
    ("bit flip in tag", flip(TAG_END, 0x80), Unreadable.TAMPERED),
    ("bit flip in nonce", flip(NONCE), Unreadable.TAMPERED),
    ("bit flip in key id", flip(KEY_ID), Unreadable.TAMPERED),
    ("key file deleted", delete_key, Unreadable.KEY_MISSING),
    ("key file of another store", foreign_key, Unreadable.KEY_MISMATCH),
    ("damaged key file", damage_key, Unreadable.KEY_UNAVAILABLE),
    ("key file is a directory", key_directory, Unreadable.UNSAFE),
]


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [case[1:] for case in UNREADABLE_CASES],
    ids=[case[0] for case in UNREADABLE_CASES],
)
def test_unreadable_file_is_reported_kept_and_never_overwritten(
    saved: Store, settings: model.Settings, data_dir: Path, mutation: Mutation, reason: Unreadable
) -> None:
    mutation(saved.path, data_dir)
    before = snapshot(data_dir)
    key_file_existed = (data_dir / keys.KEY_FILE_NAME).exists()

    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir).load()
    error = caught.value
    assert error.reason is reason
    # An unsafe file is named itself: here the key file.
    named = data_dir / keys.KEY_FILE_NAME if reason is Unreadable.UNSAFE else saved.path
    assert error.path == named
    assert str(named) in str(error)
    assert error.advice in str(error)
    assert PASSWORD not in str(error)
    assert snapshot(data_dir) == before

    with pytest.raises(SettingsUnreadable) as again:
        Store(data_dir).save(settings)
    assert again.value.reason is reason
    assert snapshot(data_dir) == before
    assert (data_dir / keys.KEY_FILE_NAME).exists() == key_file_existed
    assert temp_files(data_dir) == []


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (Unreadable.CORRUPT, "not a settings file"),
        (Unreadable.NEWER_FORMAT, "newer version"),
        (Unreadable.TAMPERED, "changed or damaged"),
        (Unreadable.KEY_MISSING, "missing"),
        (Unreadable.KEY_MISMATCH, "does not match"),
        (Unreadable.KEY_UNAVAILABLE, "damaged"),
    ],
)
def test_each_reason_says_which_case_it_is(
    saved: Store, data_dir: Path, reason: Unreadable, words: str
) -> None:
    mutation = next(m for name, m, r in UNREADABLE_CASES if r is reason)
    mutation(saved.path, data_dir)
    with pytest.raises(SettingsUnreadable, match=words):
        saved.load()


def test_settings_path_that_is_a_directory_is_refused(
    data_dir: Path, settings: model.Settings
) -> None:
    (data_dir / store.SETTINGS_FILE_NAME).mkdir(parents=True)
    a_store = Store(data_dir)
    with pytest.raises(SettingsUnreadable) as caught:
        a_store.load()
    assert caught.value.reason is Unreadable.UNSAFE
    assert "is a directory" in str(caught.value)
    with pytest.raises(SettingsUnreadable):
        a_store.save(settings)
    assert a_store.path.is_dir()
    assert not (data_dir / keys.KEY_FILE_NAME).exists()


@accounts.not_root
def test_unreadable_permissions_are_no_access(saved: Store) -> None:
    saved.path.chmod(0)
    with pytest.raises(SettingsUnreadable) as caught:
        saved.load()
    assert caught.value.reason is Unreadable.NO_ACCESS
    assert saved.access() is Access.NONE


def test_key_backend_that_does_not_match_the_file(saved: Store) -> None:
    with pytest.raises(SettingsUnreadable) as caught:
        Store(saved.data_dir, key_backend="keyring").load()
    assert caught.value.reason is Unreadable.KEY_UNAVAILABLE
    message = str(caught.value)
    assert "key file" in message
    assert f"{keys.BACKEND_ENV}=keyring" in message
    assert f"{keys.BACKEND_ENV}=auto" in message


def test_key_backend_from_the_environment_is_honoured(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(keys.BACKEND_ENV, "keyring")
    with pytest.raises(SettingsUnreadable, match=keys.BACKEND_ENV):
        Store(saved.data_dir).load()
    monkeypatch.setenv(keys.BACKEND_ENV, "file")
    assert Store(saved.data_dir).load() is not None


def test_invalid_key_backend_is_a_store_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreError, match="must be one of auto, keyring, file"):
        Store(data_dir, key_backend="vault")
    monkeypatch.setenv(keys.BACKEND_ENV, "tpm")
    with pytest.raises(StoreError, match="tpm"):
        Store(data_dir)


# -- the keyring ------------------------------------------------------------------


def keyring_entries(test_keyring: testkeyring.TestKeyring) -> dict[str, str]:
    path = Path(os.environ["TEST_KEYRING_FILE"])
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def test_auto_uses_a_usable_keyring_and_writes_no_key_file(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    stored = Store(data_dir).save(settings)
    assert stored.key_location is keys.KeyLocation.KEYRING
    assert not (data_dir / keys.KEY_FILE_NAME).exists()
    assert list(keyring_entries(test_keyring)) == [f"{keys.KEYRING_SERVICE}\0{data_dir.resolve()}"]
    assert Store(data_dir).load() == stored
    assert Store(data_dir, key_backend="keyring").load() == stored
    with pytest.raises(SettingsUnreadable, match=f"{keys.BACKEND_ENV}=file") as caught:
        Store(data_dir, key_backend="file").load()
    assert caught.value.reason is Unreadable.KEY_UNAVAILABLE
    assert (data_dir / store.SETTINGS_FILE_NAME).read_bytes()[8] == keys.KeyLocation.KEYRING


def test_auto_falls_back_to_the_key_file_without_a_keyring(
    data_dir: Path, settings: model.Settings
) -> None:
    assert not keys.keyring_usable()
    stored = Store(data_dir).save(settings)
    assert stored.key_location is keys.KeyLocation.FILE
    assert (data_dir / keys.KEY_FILE_NAME).is_file()


def test_file_backend_ignores_a_usable_keyring(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    stored = Store(data_dir, key_backend="file").save(settings)
    assert stored.key_location is keys.KeyLocation.FILE
    assert keyring_entries(test_keyring) == {}


def test_keyring_backend_without_a_keyring_writes_nothing(
    data_dir: Path, settings: model.Settings
) -> None:
    with pytest.raises(KeyUnavailable, match="no usable OS keyring"):
        Store(data_dir, key_backend="keyring").save(settings)
    assert snapshot(data_dir) == {}


@pytest.mark.parametrize("state", ["locked", "broken"])
def test_unavailable_keyring_is_not_a_missing_key(
    data_dir: Path,
    settings: model.Settings,
    test_keyring: testkeyring.TestKeyring,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
) -> None:
    Store(data_dir).save(settings)
    keyring_file = Path(os.environ["TEST_KEYRING_FILE"])
    before = (snapshot(data_dir), keyring_file.read_bytes())
    monkeypatch.setenv("TEST_KEYRING_STATE", state)

    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir).load()
    assert caught.value.reason is Unreadable.KEY_UNAVAILABLE
    assert ("locked" in str(caught.value)) is (state == "locked")
    with pytest.raises(SettingsUnreadable):
        Store(data_dir).save(dataclasses.replace(settings, port=2525))
    assert (snapshot(data_dir), keyring_file.read_bytes()) == before

    monkeypatch.setenv("TEST_KEYRING_STATE", "")
    loaded = Store(data_dir).load()
    assert loaded is not None
    assert loaded.settings == settings


def test_first_save_with_a_locked_keyring_creates_no_key(
    data_dir: Path,
    settings: model.Settings,
    test_keyring: testkeyring.TestKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_KEYRING_STATE", "locked")
    with pytest.raises(KeyUnavailable, match="locked"):
        Store(data_dir).save(settings)
    assert not Path(os.environ["TEST_KEYRING_FILE"]).exists()
    assert snapshot(data_dir) == {}


def test_keyring_gone_is_unavailable_not_missing(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    Store(data_dir).save(settings)
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir).load()
    assert caught.value.reason is Unreadable.KEY_UNAVAILABLE
    assert "No OS keyring" in str(caught.value)


def test_keyring_entry_deleted_is_key_missing(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    Store(data_dir).save(settings)
    keys.KeyringKeyStore(data_dir).destroy()
    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir).load()
    assert caught.value.reason is Unreadable.KEY_MISSING
    assert "OS keyring" in str(caught.value)


def test_another_process_reads_the_keyring_sealed_settings(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    Store(data_dir).save(settings)
    code = (
        "import os, pathlib\n"
        "from configurator.store import Store\n"
        "s = Store(pathlib.Path(os.environ['CONFIGURATOR_DATA_DIR'])).load()\n"
        "print(s.settings.account_name, s.key_location.name, s.revision)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{settings.account_name} KEYRING 1"
    assert PASSWORD not in result.stdout + result.stderr


# -- set aside ------------------------------------------------------------------


def test_set_aside_moves_the_file_within_the_data_dir(
    saved: Store, data_dir: Path, settings: model.Settings
) -> None:
    flip(CIPHERTEXT)(saved.path, data_dir)
    damaged = saved.path.read_bytes()
    first = saved.set_aside()
    assert first.parent == data_dir
    assert first.name.startswith(f"{store.SETTINGS_FILE_NAME}.unreadable-")
    assert first.read_bytes() == damaged
    assert not saved.path.exists()
    assert saved.load() is None

    saved.path.write_bytes(damaged)
    second = saved.set_aside()
    assert second != first
    assert second.read_bytes() == damaged == first.read_bytes()

    # The key goes aside with the first file; the next save starts a new key.
    first_key_file = data_dir / (keys.KEY_FILE_NAME + first.name.removeprefix("settings.enc"))
    assert first_key_file.exists()
    assert not (data_dir / keys.KEY_FILE_NAME).exists()
    assert saved.save(settings).revision == 1
    assert keys.FileKeyStore(data_dir).read() != first_key_file.read_bytes()


def test_set_aside_of_a_good_file_can_be_restored(
    saved: Store, settings: model.Settings, data_dir: Path
) -> None:
    aside = saved.set_aside()
    aside_key = data_dir / (keys.KEY_FILE_NAME + aside.name.removeprefix("settings.enc"))
    saved.save(dataclasses.replace(settings, port=2525))
    os.replace(aside, saved.path)
    os.replace(aside_key, data_dir / keys.KEY_FILE_NAME)
    loaded = saved.load()
    assert loaded is not None
    assert loaded.settings == settings


def test_set_aside_with_nothing_to_move_is_a_store_error(data_dir: Path) -> None:
    data_dir.mkdir()
    with pytest.raises(StoreError, match="could not be moved aside"):
        Store(data_dir).set_aside()
    assert snapshot(data_dir) == {}


# -- reset ----------------------------------------------------------------------


def test_reset_erases_settings_and_key(saved: Store, data_dir: Path, tmp_path: Path) -> None:
    old_copy = tmp_path / "backup-settings.enc"
    shutil.copyfile(saved.path, old_copy)
    old_key = keys.FileKeyStore(data_dir).read()

    assert saved.reset() == []
    assert snapshot(data_dir) == {}
    assert saved.load() is None

    # Even after a new save (with a new key), the old copy cannot be decrypted.
    saved.save(full_settings(tmp_path, account_name="New"))
    new_key = keys.FileKeyStore(data_dir).read()
    assert new_key is not None
    assert new_key != old_key
    shutil.copyfile(old_copy, saved.path)
    with pytest.raises(SettingsUnreadable) as caught:
        saved.load()
    assert caught.value.reason is Unreadable.KEY_MISMATCH


def test_reset_destroys_the_key_before_the_file(
    saved: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[str] = []
    real_unlink = os.unlink

    def spy(path: str | Path, *args: object, **kwargs: object) -> None:
        removed.append(Path(path).name)
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", spy)
    assert saved.reset() == []
    assert removed == [keys.KEY_FILE_NAME, store.SETTINGS_FILE_NAME]


def test_reset_with_keyring_deletes_the_entry(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring, tmp_path: Path
) -> None:
    a_store = Store(data_dir)
    a_store.save(settings)
    old_copy = tmp_path / "backup-settings.enc"
    shutil.copyfile(a_store.path, old_copy)
    assert keyring_entries(test_keyring) != {}

    assert a_store.reset() == []
    assert keyring_entries(test_keyring) == {}
    assert not a_store.path.exists()

    a_store.save(settings)
    shutil.copyfile(old_copy, a_store.path)
    with pytest.raises(SettingsUnreadable) as caught:
        a_store.load()
    assert caught.value.reason is Unreadable.KEY_MISMATCH


def test_reset_with_nothing_stored(data_dir: Path) -> None:
    assert Store(data_dir).reset() == []


def test_reset_with_a_locked_keyring_warns(
    data_dir: Path,
    settings: model.Settings,
    test_keyring: testkeyring.TestKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_store = Store(data_dir)
    a_store.save(settings)
    monkeypatch.setenv("TEST_KEYRING_STATE", "locked")
    warnings = a_store.reset()
    assert len(warnings) == 1
    assert "OS keyring" in warnings[0]
    assert "locked" in warnings[0]


def test_reset_warns_when_the_keyring_holding_the_key_is_gone(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    a_store = Store(data_dir)
    a_store.save(settings)
    keyring.set_keyring(fail.Keyring())
    warnings = a_store.reset()
    assert len(warnings) == 1
    assert "OS keyring" in warnings[0]
    assert not a_store.path.exists()


def test_reset_of_a_directory_is_refused_before_anything_is_erased(
    saved: Store, data_dir: Path
) -> None:
    saved.path.unlink()
    (data_dir / store.SETTINGS_FILE_NAME).mkdir()
    with pytest.raises(UnsafePath, match="is a directory"):
        Store(data_dir).reset()
    assert (data_dir / keys.KEY_FILE_NAME).exists()


def test_reset_that_cannot_delete_the_file_still_destroys_the_key(
    saved: Store, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_unlink = os.unlink

    def refuse_settings(path: str | Path, *args: object, **kwargs: object) -> None:
        if Path(path).name == store.SETTINGS_FILE_NAME:
            raise PermissionError(13, "Permission denied")
        real_unlink(path)

    with monkeypatch.context() as patched:
        patched.setattr(os, "unlink", refuse_settings)
        warnings = saved.reset()
    assert len(warnings) == 1
    assert "Permission denied" in warnings[0]
    assert not (data_dir / keys.KEY_FILE_NAME).exists()
    with pytest.raises(SettingsUnreadable) as caught:
        saved.load()
    assert caught.value.reason is Unreadable.KEY_MISSING


def test_reset_removes_temporary_files(saved: Store, data_dir: Path) -> None:
    leftover = data_dir / f".{store.SETTINGS_FILE_NAME}.abc123{fsutil.TEMP_SUFFIX}"
    leftover.write_bytes(b"partial")
    past = time.time() - 1
    os.utime(leftover, (past, past))
    saved.reset()
    assert not leftover.exists()


# -- interrupted saves and temporary files --------------------------------------


def test_interrupted_save_keeps_the_old_file(
    saved: Store, settings: model.Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(data_dir)

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", refuse)
        with pytest.raises(StoreError, match="previous settings are unchanged"):
            saved.save(dataclasses.replace(settings, port=2525))
    assert snapshot(data_dir) == before
    assert temp_files(data_dir) == []
    loaded = saved.load()
    assert loaded is not None
    assert (loaded.settings, loaded.revision) == (settings, 1)


def test_interrupted_first_save_then_success(
    data_dir: Path, settings: model.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def refuse_settings(source: str | Path, target: str | Path) -> None:
        if Path(target).name == store.SETTINGS_FILE_NAME:
            raise OSError(5, "Input/output error")
        real_replace(source, target)

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", refuse_settings)
        with pytest.raises(StoreError):
            Store(data_dir).save(settings)
    assert not (data_dir / store.SETTINGS_FILE_NAME).exists()
    assert temp_files(data_dir) == []
    leftover = keys.FileKeyStore(data_dir).read()

    stored = Store(data_dir).save(settings)
    assert stored.revision == 1
    # A new settings file never inherits a key left behind.
    assert keys.FileKeyStore(data_dir).read() != leftover
    assert Store(data_dir).load() == stored


def test_first_save_that_cannot_write_anything_is_a_store_error(
    data_dir: Path, settings: model.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", refuse)
        with pytest.raises(StoreError, match="No space left on device"):
            Store(data_dir).save(settings)
    assert snapshot(data_dir) == {}


def test_stale_temp_file_removed_fresh_one_kept(saved: Store, settings: model.Settings) -> None:
    stale = saved.data_dir / f".{store.SETTINGS_FILE_NAME}.old{fsutil.TEMP_SUFFIX}"
    fresh = saved.data_dir / f".{store.SETTINGS_FILE_NAME}.new{fsutil.TEMP_SUFFIX}"
    unrelated = saved.data_dir / "notes.tmp"
    for path in (stale, fresh, unrelated):
        path.write_bytes(b"partial")
    long_ago = time.time() - 120
    os.utime(stale, (long_ago, long_ago))
    os.utime(unrelated, (long_ago, long_ago))

    saved.save(settings)
    assert not stale.exists()
    assert fresh.exists()
    assert unrelated.exists()


# -- access -----------------------------------------------------------------------


def test_access_of_a_new_or_own_store(data_dir: Path, saved: Store) -> None:
    assert saved.access() is Access.WRITE
    assert Store(data_dir / "not-yet" / "deeper").access() is Access.WRITE
    saved.require_writable()


def test_a_data_dir_that_is_a_file_is_not_writable(
    tmp_path: Path, settings: model.Settings
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory", encoding="utf-8")
    a_store = Store(blocker)
    assert a_store.access() is Access.NONE
    assert "is a file, not a directory" in a_store.refusal()
    for attempt in (a_store.load, lambda: a_store.save(settings), a_store.reset):
        with pytest.raises(SettingsUnreadable, match="is a file, not a directory") as caught:
            attempt()
        assert "permission" not in str(caught.value)
    assert blocker.read_text(encoding="utf-8") == "not a directory"


@accounts.not_root
def test_read_only_store(saved: Store, settings: model.Settings) -> None:
    saved.path.chmod(0o400)
    (saved.data_dir / keys.KEY_FILE_NAME).chmod(0o400)
    saved.data_dir.chmod(0o500)
    try:
        assert saved.access() is Access.READ
        assert saved.load() is not None
        with pytest.raises(NotWritable):
            saved.save(settings)
    finally:
        saved.data_dir.chmod(0o700)


# -- schema migration -----------------------------------------------------------


def test_migrate_current_schema_is_identity() -> None:
    payload = good_payload(schema=store.SCHEMA_VERSION)
    migrated = store.migrate(payload)
    assert migrated == payload
    assert migrated is not payload


def test_migration_steps_run_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    def rename_field(payload: store.Payload) -> store.Payload:
        payload = dict(payload)
        settings = dict(payload.pop("old_settings"))  # type: ignore[call-overload]
        payload["settings"] = settings
        return payload

    monkeypatch.setattr(store, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(store, "MIGRATIONS", {1: rename_field})
    migrated = store.migrate({"schema": 1, "old_settings": {"port": 25}})
    assert migrated == {"schema": 2, "settings": {"port": 25}}


# -- keys set aside and writers serialised ---------------------------------------


def test_set_aside_copies_a_keyring_key_to_an_entry_named_after_the_file(
    data_dir: Path, settings: model.Settings, test_keyring: testkeyring.TestKeyring
) -> None:
    saved = Store(data_dir)
    saved.save(settings)
    key = keys.KeyringKeyStore(data_dir).read()
    assert key is not None
    aside = saved.set_aside()
    assert keys.KeyringKeyStore(data_dir, entry=aside.name).read() == key

    saved.save(settings)
    assert keys.KeyringKeyStore(data_dir).read() != key
    # The copy still opens the file that was set aside.
    os.replace(aside, saved.path)
    keys.KeyringKeyStore(data_dir).write(key)
    loaded = saved.load()
    assert loaded is not None
    assert loaded.settings == settings


def test_a_writer_waits_for_the_lock_and_gives_up_clearly(
    saved: Store, settings: model.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filelock

    monkeypatch.setattr(store, "LOCK_TIMEOUT", 0.2)
    before = snapshot(saved.data_dir)
    with filelock.FileLock(saved.data_dir / store.LOCK_FILE_NAME):
        with pytest.raises(StoreError, match="Another program is saving"):
            saved.save(dataclasses.replace(settings, port=2525))
        with pytest.raises(StoreError, match="Another program is saving"):
            saved.reset()
    assert snapshot(saved.data_dir) == before
    assert saved.save(dataclasses.replace(settings, port=2525)).revision == 2


# -- a key file open to other users ------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize(
    ("mode", "exposure"),
    [
        (0o640, "other users may read it"),
        (0o604, "other users may read it"),
        (0o644, "other users may read it"),
        (0o620, "other users may change it"),
        (0o602, "other users may change it"),
        (0o666, "other users may change it"),
    ],
)
def test_a_key_file_open_to_others_is_refused_with_the_fix(
    saved: Store, settings: model.Settings, data_dir: Path, mode: int, exposure: str
) -> None:
    key_file = data_dir / keys.KEY_FILE_NAME
    key_file.chmod(mode)
    before = snapshot(data_dir)
    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir).load()
    assert caught.value.reason is (
        Unreadable.UNSAFE if "change" in exposure else Unreadable.KEY_UNAVAILABLE
    )
    assert exposure in str(caught.value)
    assert f"chmod 600 {key_file}" in str(caught.value)
    with pytest.raises(SettingsUnreadable):
        Store(data_dir).save(settings)
    assert snapshot(data_dir) == before
    assert stat.S_IMODE(key_file.stat().st_mode) == mode  # reported, not silently "fixed"

    result = subprocess.run(
        [sys.executable, "-m", "configurator", "show"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4
    assert f"chmod 600 {key_file}" in result.stderr

    key_file.chmod(0o600)
    loaded = Store(data_dir).load()
    assert loaded is not None
    assert loaded.settings == settings


@accounts.permissions
@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_reader_of_a_store_shared_read_only_may_use_its_readable_key(
    saved: Store, settings: model.Settings, data_dir: Path
) -> None:
    """The manager's decision to share: the reader owns nothing here and can write nothing."""
    key_file = data_dir / keys.KEY_FILE_NAME
    key_file.chmod(0o644)
    data_dir.chmod(0o500)  # this user cannot change the store
    try:
        if not IS_ROOT:
            loaded = Store(data_dir).load()
            assert loaded is not None
            assert loaded.settings == settings
        key_file.chmod(0o664)  # but a key others may replace is never used
        with pytest.raises(SettingsUnreadable, match="other users may change it"):
            Store(data_dir).load()
    finally:
        data_dir.chmod(0o700)


def test_a_store_reset_and_saved_afresh_elsewhere_is_a_conflict(
    saved: Store, settings: model.Settings
) -> None:
    """Revisions restart at 1 after a Reset; the lineage tells the two files apart."""
    started_from = saved.load()
    assert started_from is not None
    assert started_from.revision == 1
    other = Store(saved.data_dir)
    other.reset()
    other.save(dataclasses.replace(settings, port=2525))
    before = snapshot(saved.data_dir)
    with pytest.raises(ConflictError):
        saved.save(
            dataclasses.replace(settings, port=26),
            expected_revision=started_from.revision,
            expected_lineage=started_from.lineage,
        )
    assert snapshot(saved.data_dir) == before


def test_the_lineage_is_kept_across_saves_and_renewed_by_reset(
    saved: Store, settings: model.Settings
) -> None:
    first = saved.load()
    assert first is not None
    assert len(first.lineage) == 16
    second = saved.save(dataclasses.replace(settings, port=2525), expected_lineage=first.lineage)
    assert second.lineage == first.lineage
    saved.reset()
    assert saved.save(settings).lineage != first.lineage
