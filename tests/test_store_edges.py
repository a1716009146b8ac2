"""Edges of the settings store: what each unreadable file says, set-aside names, clean-up, scope.

Files are sealed with the store's real key (``store.seal``) so that each
damaged payload passes the seal and reaches the check that must refuse it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from configurator import fsutil, keys, model, store
from configurator.errors import SettingsUnreadable, StoreError, Unreadable, UnsafePath
from configurator.store import Store

RESTORE = "Restore it from a backup, or start again (the file is kept)."


def a_settings() -> model.Settings:
    return model.build(
        {
            "account_name": "Security Monitoring",
            "account_email": "alerts@example.org",
            "server": "smtp.example.org",
            "port": 587,
            "security": "starttls",
            "auth": "none",
        }
    )


@pytest.fixture
def saved(data_dir: Path) -> Store:
    stored = Store(data_dir, key_backend="file")
    stored.save(a_settings())
    return stored


def payload_of(saved: Store) -> dict[str, object]:
    """The payload the store wrote, decrypted with its key."""
    key = keys.FileKeyStore(saved.data_dir, shared=saved.shared).read()
    assert key is not None
    blob = saved.path.read_bytes()
    plaintext = store._decrypt(key, blob[: store.HEADER_SIZE], blob[store.HEADER_SIZE :])
    assert plaintext is not None
    loaded = json.loads(plaintext)
    assert isinstance(loaded, dict)
    return loaded


def reseal(saved: Store, plaintext: bytes) -> None:
    key = keys.FileKeyStore(saved.data_dir).read()
    assert key is not None
    saved.path.write_bytes(store.seal(key, keys.KeyLocation.FILE, plaintext))


def refusal(saved: Store) -> SettingsUnreadable:
    with pytest.raises(SettingsUnreadable) as caught:
        Store(saved.data_dir, key_backend="file").load()
    return caught.value


# -- payloads that pass the seal but cannot be used ---------------------------


@pytest.mark.parametrize(
    ("plaintext", "what"),
    [
        (b"not json", "has a damaged payload"),
        (b"\xff\xfe", "has a damaged payload"),
        (b"[1, 2]", "has a damaged payload"),
        (b"{}", "has no valid schema version"),
        (b'{"schema": 0}', "has no valid schema version"),
        (b'{"schema": true}', "has no valid schema version"),
        (b'{"schema": "1"}', "has no valid schema version"),
    ],
)
def test_a_sealed_payload_that_is_not_settings_is_corrupt(
    saved: Store, plaintext: bytes, what: str
) -> None:
    reseal(saved, plaintext)
    found = refusal(saved)
    assert found.reason is Unreadable.CORRUPT
    assert found.detail == f"The settings file {saved.path} {what}."
    assert found.advice == RESTORE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("revision", True),
        ("revision", "3"),
        ("settings", []),
        ("saved_at", 5),
        ("lineage", None),
    ],
)
def test_a_payload_with_a_field_of_the_wrong_kind_is_damaged(
    saved: Store, field: str, value: object
) -> None:
    payload = payload_of(saved)
    payload[field] = value
    reseal(saved, json.dumps(payload).encode())
    found = refusal(saved)
    assert found.reason is Unreadable.CORRUPT
    assert found.detail == f"The settings file {saved.path} has a damaged payload."


def test_a_payload_without_time_and_lineage_still_loads(saved: Store) -> None:
    payload = payload_of(saved)
    del payload["saved_at"]
    del payload["lineage"]
    reseal(saved, json.dumps(payload).encode())
    loaded = Store(saved.data_dir, key_backend="file").load()
    assert loaded is not None
    assert (loaded.saved_at, loaded.lineage) == ("", "")


def test_settings_this_version_cannot_understand_are_named_so(saved: Store) -> None:
    payload = payload_of(saved)
    payload["settings"] = {"port": "not a number"}
    reseal(saved, json.dumps(payload).encode())
    found = refusal(saved)
    assert found.detail == (
        f"The settings file {saved.path} holds settings this version cannot understand."
    )


def test_a_newer_schema_says_which_and_what_to_do(saved: Store) -> None:
    payload = payload_of(saved)
    payload["schema"] = store.SCHEMA_VERSION + 1
    reseal(saved, json.dumps(payload).encode())
    found = refusal(saved)
    assert found.reason is Unreadable.NEWER_FORMAT
    assert found.detail == (
        f"The settings in {saved.path} were saved by a newer version of the configurator "
        f"(schema {store.SCHEMA_VERSION + 1}; this version reads up to {store.SCHEMA_VERSION})."
    )
    assert found.advice == "Use that newer version, or start again here (the file is kept)."


def test_a_changed_byte_is_tampering_in_plain_words(saved: Store) -> None:
    blob = bytearray(saved.path.read_bytes())
    blob[-1] ^= 0x01
    saved.path.write_bytes(bytes(blob))
    found = refusal(saved)
    assert found.reason is Unreadable.TAMPERED
    assert found.detail == (
        f"The settings file {saved.path} has been changed or damaged since it was "
        "saved: its contents no longer match their seal."
    )
    assert found.advice == RESTORE


# -- setting a file aside ------------------------------------------------------


@pytest.fixture
def far_time_zone() -> Iterator[None]:
    """A local time far from UTC, so that a local time stamp could not pass for UTC."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
    time.tzset()


def _taken_stamps(directory: Path, suffixes: tuple[str, ...]) -> set[str]:
    """Occupy the set-aside names of this second and the next two (UTC)."""
    now = dt.datetime.now(dt.UTC)
    stamps = {(now + dt.timedelta(seconds=n)).strftime("%Y%m%dT%H%M%SZ") for n in range(3)}
    for stamp in stamps:
        for suffix in suffixes:
            (directory / f"settings.enc.unreadable-{stamp}{suffix}").write_bytes(b"older")
    return stamps


@pytest.mark.usefixtures("far_time_zone")
@pytest.mark.parametrize(("taken", "expected"), [(("",), "-2"), (("", "-2"), "-3")])
def test_a_set_aside_name_already_taken_gets_the_next_number(
    saved: Store, taken: tuple[str, ...], expected: str
) -> None:
    stamps = _taken_stamps(saved.data_dir, taken)
    moved = saved.set_aside()
    match = re.fullmatch(r"settings\.enc\.unreadable-(\d{8}T\d{6}Z)(-\d+)", moved.name)
    assert match is not None, moved.name
    assert match.group(1) in stamps
    assert match.group(2) == expected
    key_file = saved.data_dir / (keys.KEY_FILE_NAME + moved.name.removeprefix("settings.enc"))
    assert key_file.exists()


def test_setting_aside_a_file_that_cannot_be_moved_says_why(data_dir: Path) -> None:
    stored = Store(data_dir, key_backend="file")
    stored.save(a_settings())
    stored.path.unlink()
    with pytest.raises(StoreError) as caught:
        stored.set_aside()
    assert str(caught.value) == (
        f"The settings file {stored.path} could not be moved aside (No such file or directory)."
    )


def test_setting_aside_without_a_key_file_moves_the_settings_alone(saved: Store) -> None:
    (saved.data_dir / keys.KEY_FILE_NAME).unlink()
    moved = saved.set_aside()
    assert moved.exists()
    assert not saved.path.exists()


# -- reset ---------------------------------------------------------------------


def test_reset_erases_a_shared_stores_key(data_dir: Path) -> None:
    shared = Store(data_dir, shared=True)
    shared.save(a_settings())
    key_file = data_dir / keys.KEY_FILE_NAME
    assert key_file.exists()
    assert shared.reset() == []
    assert not key_file.exists()
    assert not shared.path.exists()


def test_reset_removes_every_leftover_of_a_save(saved: Store) -> None:
    leftover = saved.data_dir / f".settings.enc.fresh{fsutil.TEMP_SUFFIX}"
    leftover.write_bytes(b"partial")
    assert saved.reset() == []
    assert not leftover.exists()


def test_reset_refuses_a_directory_in_place_of_the_settings_file(data_dir: Path) -> None:
    """Nothing is erased while a file of the store is not what it should be."""
    stored = Store(data_dir, key_backend="file")
    stored.save(a_settings())
    stored.path.unlink()
    stored.path.mkdir()
    (stored.path / "inside").write_bytes(b"x")
    with pytest.raises(UnsafePath) as caught:
        stored.reset()
    assert str(caught.value) == (
        f"{stored.path} is a directory, not a regular file: refused (it was not read or "
        "changed). Move it out of the way, then try again."
    )
    assert (stored.path / "inside").read_bytes() == b"x"
    assert (data_dir / "settings.key").exists()


# -- start-up clean-up ----------------------------------------------------------


def test_cleanup_removes_leftovers_of_every_saved_file_whatever_their_age(saved: Store) -> None:
    names = [
        f".{store.SETTINGS_FILE_NAME}.a{fsutil.TEMP_SUFFIX}",
        f".{keys.KEY_FILE_NAME}.b{fsutil.TEMP_SUFFIX}",
        f".{fsutil.SHARED_MARKER}.c{fsutil.TEMP_SUFFIX}",
    ]
    for name in names:
        (saved.data_dir / name).write_bytes(b"partial")
    unrelated = saved.data_dir / f".notes.d{fsutil.TEMP_SUFFIX}"
    unrelated.write_bytes(b"keep")
    assert store.has_leftovers(saved.data_dir)
    removed = saved.cleanup()
    assert sorted(path.name for path in removed) == sorted(names)
    assert unrelated.exists()
    assert not store.has_leftovers(saved.data_dir)
    assert saved.cleanup() == []


def test_cleanup_leaves_the_leftovers_of_a_save_in_progress(saved: Store) -> None:
    import filelock

    leftover = saved.data_dir / f".{store.SETTINGS_FILE_NAME}.x{fsutil.TEMP_SUFFIX}"
    leftover.write_bytes(b"partial")
    with filelock.FileLock(saved.data_dir / store.LOCK_FILE_NAME, timeout=1):
        assert saved.cleanup() == []
    assert leftover.exists()


def test_cleanup_without_a_directory_does_nothing(data_dir: Path) -> None:
    assert not data_dir.exists()
    assert Store(data_dir).cleanup() == []
    assert not store.has_leftovers(data_dir)


# -- who may do what -------------------------------------------------------------


def test_a_private_store_says_so(saved: Store) -> None:
    assert saved.scope() == "private to its owner"
    assert saved.describe() == str(saved.path)


@pytest.mark.skipif(os.name != "posix", reason="owners and groups are POSIX")
def test_a_shared_store_names_its_manager_and_readers(data_dir: Path) -> None:
    import grp
    import pwd

    shared = Store(data_dir, shared=True)
    shared.save(a_settings())
    owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
    group = grp.getgrgid((data_dir / keys.KEY_FILE_NAME).stat().st_gid).gr_name
    assert shared.manager() == owner
    assert shared.reader_group() == group
    assert shared.readers() == f"only {owner} and members of group '{group}'"
    assert shared.scope() == (
        f"system-wide: readable by {owner} and group '{group}', changeable only by {owner}"
    )


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root")
def test_ids_without_names_are_shown_as_numbers(data_dir: Path) -> None:
    shared = Store(data_dir, shared=True)
    shared.save(a_settings())
    os.chown(data_dir, 4242, 4243)
    os.chown(data_dir / keys.KEY_FILE_NAME, -1, 4244)
    assert shared.manager() == "uid 4242"
    assert shared.reader_group() == "4244"
    (data_dir / keys.KEY_FILE_NAME).unlink()
    assert shared.reader_group() == "4243"


def test_a_shared_store_not_yet_created_is_managed_by_root(tmp_path: Path) -> None:
    missing = Store(tmp_path / "not-yet", shared=True)
    assert missing.manager() == "root"
    assert missing.reader_group() == "root"


# -- finding the key of an existing file ------------------------------------------


def test_a_shared_store_reads_back_what_it_saved(data_dir: Path) -> None:
    shared = Store(data_dir, shared=True)
    shared.save(a_settings())
    loaded = Store(data_dir, shared=True).load()
    assert loaded is not None
    assert loaded.settings == a_settings()


def test_a_shared_file_sealed_with_a_keyring_key_is_refused_with_the_way_out(
    data_dir: Path,
) -> None:
    shared = Store(data_dir, shared=True)
    shared.save(a_settings())
    key = keys.FileKeyStore(data_dir, shared=True).read()
    assert key is not None
    payload = payload_of(shared)
    shared.path.write_bytes(store.seal(key, keys.KeyLocation.KEYRING, json.dumps(payload).encode()))
    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir, shared=True).load()
    found = caught.value
    assert found.reason is Unreadable.KEY_UNAVAILABLE
    assert found.detail == (
        f"The system-wide settings file {shared.path} is sealed with a key in the OS "
        "keyring of the account that saved it, where its readers cannot reach it."
    )
    assert found.advice == "Reset the store and save the settings again with --system."


def test_a_file_whose_key_lives_elsewhere_than_the_backend_asked_for_says_so(
    saved: Store,
) -> None:
    with pytest.raises(SettingsUnreadable) as caught:
        Store(saved.data_dir, key_backend="keyring").load()
    found = caught.value
    assert found.reason is Unreadable.KEY_UNAVAILABLE
    assert found.detail == (
        f"The settings file {saved.path} is sealed with a key kept in the key file, "
        f"but {keys.BACKEND_ENV}=keyring."
    )
    assert found.advice == f"Set {keys.BACKEND_ENV}=auto (or file) and try again."


def test_a_damaged_key_file_is_quoted_and_nothing_changes(saved: Store) -> None:
    key_file = saved.data_dir / keys.KEY_FILE_NAME
    key_file.write_bytes(b"not a key file\n")
    before = saved.path.read_bytes()
    with pytest.raises(SettingsUnreadable) as caught:
        Store(saved.data_dir, key_backend="file").load()
    found = caught.value
    assert found.reason is Unreadable.KEY_UNAVAILABLE
    assert found.detail == (
        f"The data key for {saved.path} cannot be read: The key file {key_file} is damaged."
    )
    assert found.advice == "Nothing was changed. Fix that and try again."
    assert saved.path.read_bytes() == before


def test_reset_says_when_the_keyring_holding_the_key_cannot_be_reached(
    data_dir: Path, test_keyring: object
) -> None:
    import keyring
    from keyring.backends import fail

    stored = Store(data_dir, key_backend="keyring")
    stored.save(a_settings())
    keyring.set_keyring(fail.Keyring())
    assert Store(data_dir).reset() == [
        "The data key in the OS keyring was not erased: "
        "no usable OS keyring is available in this session."
    ]


@pytest.mark.skipif(os.name != "posix", reason="file size limits are POSIX")
def test_a_save_the_disk_refuses_keeps_the_old_settings_and_says_why(saved: Store) -> None:
    """RLIMIT_FSIZE makes the kernel refuse to write the new file past a few bytes."""
    import resource
    import signal

    before = saved.path.read_bytes()
    changed = model.build({**a_settings().to_dict(include_password=True), "port": 2525})
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, hard))
    try:
        with pytest.raises(StoreError) as caught:
            saved.save(changed)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert str(caught.value) == (
        f"The settings could not be saved to {saved.path} (File too large); "
        "the previous settings are unchanged."
    )
    assert saved.path.read_bytes() == before


# -- headers and keys that do not fit ------------------------------------------------


def _header(key: bytes, *, version: int = store.FORMAT_VERSION, location: int = 2) -> bytes:
    return store._HEADER.pack(store.MAGIC, version, location, keys.key_id(key), bytes(12))


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "is not a settings file of this program"),
        (b"MSC", "is not a settings file of this program"),
        (b"PK\x03\x04 a zip archive, not settings", "is not a settings file of this program"),
        (b"MSCSEX" + bytes(60), "is not a settings file of this program"),
        (b"MSCSET", "is truncated"),
        (b"MSCSET" + bytes(10), "is truncated"),
    ],
)
def test_a_file_that_is_no_settings_file_or_is_cut_short_says_which(
    saved: Store, content: bytes, what: str
) -> None:
    saved.path.write_bytes(content)
    found = refusal(saved)
    assert found.reason is Unreadable.CORRUPT
    assert found.detail == f"The settings file {saved.path} {what}."


def test_the_shortest_possible_sealed_file_is_not_truncated(saved: Store) -> None:
    reseal(saved, b"")
    assert len(saved.path.read_bytes()) == store.HEADER_SIZE + store._TAG_SIZE
    assert refusal(saved).detail == f"The settings file {saved.path} has a damaged payload."


@pytest.mark.parametrize(
    ("version", "location", "what"),
    [(0, 2, "has an unknown format version"), (1, 9, "has a damaged header")],
)
def test_a_damaged_header_is_named(saved: Store, version: int, location: int, what: str) -> None:
    key = keys.FileKeyStore(saved.data_dir).read()
    assert key is not None
    saved.path.write_bytes(_header(key, version=version, location=location) + bytes(40))
    assert refusal(saved).detail == f"The settings file {saved.path} {what}."


def test_a_newer_file_format_says_which(saved: Store) -> None:
    key = keys.FileKeyStore(saved.data_dir).read()
    assert key is not None
    newer = store.FORMAT_VERSION + 1
    saved.path.write_bytes(_header(key, version=newer) + bytes(40))
    found = refusal(saved)
    assert found.reason is Unreadable.NEWER_FORMAT
    assert found.detail == (
        f"The settings file {saved.path} was written by a newer version of the configurator "
        f"(file format {newer}; this version reads up to {store.FORMAT_VERSION})."
    )
    assert found.advice == "Use that newer version, or start again here (the file is kept)."


def test_a_file_sealed_with_another_key_says_so(saved: Store) -> None:
    other = keys.new_key()
    saved.path.write_bytes(store.seal(other, keys.KeyLocation.FILE, b"{}"))
    found = refusal(saved)
    assert found.reason is Unreadable.KEY_MISMATCH
    assert found.detail == (
        f"The data key in the key file does not match the settings file {saved.path} "
        "(it was sealed with another key, or its header was damaged)."
    )
    assert found.advice == (
        "Restore the key that belongs to this file, or start again (the file is kept)."
    )


def test_a_missing_key_says_where_it_was_expected(saved: Store) -> None:
    (saved.data_dir / keys.KEY_FILE_NAME).unlink()
    found = refusal(saved)
    assert found.reason is Unreadable.KEY_MISSING
    assert found.detail == (
        f"The data key for {saved.path} is missing from the key file, so the settings "
        "cannot be decrypted."
    )
    assert found.advice == (
        "Restore the key (or the keyring) from a backup, or start again (the file is kept)."
    )


# -- the directory of a shared store ---------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="modes are POSIX")
def test_a_new_shared_store_is_open_to_read_whatever_the_umask(tmp_path: Path) -> None:
    directory = tmp_path / "etc" / "configurator"
    previous = os.umask(0o077)
    try:
        Store(directory, shared=True).save(a_settings())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(directory.stat().st_mode) == store.SHARED_DIR_MODE
    assert fsutil.is_shared_dir(directory)
    assert stat.S_IMODE((directory / fsutil.SHARED_MARKER).stat().st_mode) == 0o644
    assert stat.S_IMODE((directory / store.SETTINGS_FILE_NAME).stat().st_mode) == 0o644
    assert stat.S_IMODE((directory / keys.KEY_FILE_NAME).stat().st_mode) == 0o640


@pytest.mark.skipif(os.name != "posix", reason="modes are POSIX")
@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_shared_stores_directory_others_may_write_is_refused_not_changed(
    tmp_path: Path, mode: int
) -> None:
    """Another account could have planted files there: it is not silently made safe."""
    directory = tmp_path / "system"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(UnsafePath) as caught:
        Store(directory, shared=True).save(a_settings())
    assert caught.value.detail == (
        f"{directory} is refused because other users may change it (permissions "
        f"{stat.filemode(stat.S_IFDIR | mode)})."
    )
    assert stat.S_IMODE(directory.stat().st_mode) == mode
    assert list(directory.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="modes are POSIX")
def test_a_shared_stores_directory_only_its_group_may_read_keeps_its_mode(tmp_path: Path) -> None:
    directory = tmp_path / "system"
    directory.mkdir()
    directory.chmod(0o750)
    Store(directory, shared=True).save(a_settings())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root")
def test_an_account_outside_the_group_is_told_who_may_read(tmp_path: Path) -> None:
    """A real second account (uid 4242, in no group of the store) opens the shared store."""
    top = Path(tempfile.mkdtemp(prefix="shared-store-"))  # pytest's directories are root's only
    try:
        top.chmod(0o755)
        directory = top / "system"
        shared = Store(directory, shared=True)
        shared.save(a_settings())
        # The same code in this process, where root may read everything.
        assert Store(directory, shared=True).load() is not None
        expected = shared._shared_refusal()
        code = (
            "import os, sys, grp, pwd, json, shlex, fcntl\n"  # the lazy imports, while readable
            "from pathlib import Path\n"
            "from configurator.store import Store\n"
            "from configurator.errors import SettingsUnreadable\n"
            "store = Store(Path(sys.argv[1]), shared=True)\n"
            "store.scope()\n"
            "os.setgid(4242)\n"
            "os.setgroups([])\n"
            "os.setuid(4242)\n"
            "try:\n"
            "    store.load()\n"
            "except SettingsUnreadable as exc:\n"
            "    print(json.dumps([exc.reason.name, exc.detail, exc.advice]))\n"
        )
        completed = subprocess.run(
            [sys.executable, "-c", code, str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(top)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == [
        "NO_ACCESS",
        f"You may not read the system-wide settings in {directory}: "
        "only root and members of group 'root' may read them.",
        "Ask an administrator to add this account to group 'root' (it takes effect at the "
        "next login), or use your own store with --data-dir.",
    ]
    assert [expected.detail, expected.advice] == json.loads(completed.stdout)[1:]


# -- reading and writing failures ------------------------------------------------------


def test_a_settings_path_that_is_a_directory_says_what_to_do(data_dir: Path) -> None:
    stored = Store(data_dir, key_backend="file")
    stored.path.mkdir(parents=True)
    with pytest.raises(SettingsUnreadable) as caught:
        stored.load()
    assert caught.value.reason is Unreadable.UNSAFE
    assert caught.value.detail == (
        f"{stored.path} is a directory, not a regular file: refused (it was not read or changed)."
    )
    assert caught.value.advice == "Move it out of the way, then try again."


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
@pytest.mark.parametrize("shared", [False, True])
def test_a_settings_file_that_is_a_symbolic_link_is_refused(data_dir: Path, shared: bool) -> None:
    data_dir.mkdir()
    stored = Store(data_dir, shared=shared)
    stored.path.symlink_to(stored.path.name)  # a link to itself: never followed
    with pytest.raises(SettingsUnreadable) as caught:
        stored.load()
    assert caught.value.reason is Unreadable.UNSAFE
    assert caught.value.detail == (
        f"{stored.path} is a symbolic link, not a regular file: refused (it was not read or "
        "changed)."
    )
    assert caught.value.advice == f"Check what it is, then remove it: rm {stored.path}"


def test_a_shared_store_saves_again_with_its_group_key(data_dir: Path) -> None:
    shared = Store(data_dir, shared=True)
    shared.save(a_settings())
    again = Store(data_dir, shared=True).save(a_settings(), expected_revision=1)
    assert again.revision == 2


def test_a_conflict_after_a_fresh_start_elsewhere_names_the_revisions(saved: Store) -> None:
    from configurator.errors import ConflictError

    lineage = Store(saved.data_dir, key_backend="file").load()
    assert lineage is not None
    saved.reset()
    Store(saved.data_dir, key_backend="file").save(a_settings())
    with pytest.raises(ConflictError) as caught:
        saved.save(a_settings(), expected_revision=1, expected_lineage=lineage.lineage)
    assert (caught.value.expected, caught.value.found) == (1, 1)


@pytest.mark.skipif(os.name != "posix", reason="file size limits are POSIX")
def test_a_key_the_disk_refuses_is_reported_and_nothing_is_saved(data_dir: Path) -> None:
    import resource
    import signal

    stored = Store(data_dir, key_backend="file")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16, hard))
    try:
        with pytest.raises(StoreError) as caught:
            stored.save(a_settings())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    key_file = data_dir / keys.KEY_FILE_NAME
    assert str(caught.value) == (
        f"The data key could not be saved to key file {key_file} (File too large); "
        "nothing was changed."
    )
    assert not stored.path.exists()


@pytest.mark.parametrize("shared", [False, True])
def test_a_data_directory_that_is_a_file_cannot_be_used(tmp_path: Path, shared: bool) -> None:

    not_a_directory = tmp_path / "data"
    not_a_directory.write_text("a file")
    stored = Store(not_a_directory, shared=shared)
    assert stored.access() is store.Access.NONE
    with pytest.raises(SettingsUnreadable) as caught:
        stored.require_writable()
    assert caught.value.reason is Unreadable.NO_ACCESS
    assert str(caught.value) == (
        f"The data folder {not_a_directory} is a file, not a directory. Give --data-dir the "
        "path of a folder (an existing one, or one to create)."
    )


# -- choosing what kind of store it is --------------------------------------------------


def test_a_directory_with_the_marker_is_taken_for_a_shared_store(data_dir: Path) -> None:
    Store(data_dir, shared=True).save(a_settings())
    found = Store(data_dir)
    assert found.shared is True
    assert found.key_backend == "file"
    assert Store(data_dir, shared=False).shared is False
    assert Store(data_dir.parent / "private").shared is False


def test_a_shared_store_refuses_the_keyring(data_dir: Path) -> None:
    with pytest.raises(StoreError) as caught:
        Store(data_dir, shared=True, key_backend="keyring")
    assert str(caught.value) == (
        f"The system-wide store in {data_dir} keeps its data key in the file "
        f"{keys.KEY_FILE_NAME}, readable by its group; {keys.BACKEND_ENV}=keyring "
        "cannot be used with it."
    )
    assert Store(data_dir, shared=False, key_backend="keyring").key_backend == "keyring"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_folder_under_a_file_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    blocker.chmod(0o755)
    data_dir = blocker / "data"
    with pytest.raises(SettingsUnreadable) as caught:
        Store(data_dir, key_backend="file").save(a_settings())
    assert caught.value.reason is Unreadable.NO_ACCESS
    assert caught.value.detail == f"The data folder {data_dir} is a file, not a directory."
    assert blocker.read_text() == "a file where a folder should be"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_cleanup_makes_its_lock_file_private(saved: Store) -> None:
    (saved.data_dir / store.LOCK_FILE_NAME).unlink(missing_ok=True)
    leftover = saved.data_dir / f".{store.SETTINGS_FILE_NAME}.x{fsutil.TEMP_SUFFIX}"
    leftover.write_bytes(b"partial")
    assert saved.cleanup() == [leftover]
    lock = saved.data_dir / store.LOCK_FILE_NAME
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_cleanup_does_not_wait_for_a_save_in_progress(saved: Store) -> None:
    import filelock

    (saved.data_dir / f".{store.SETTINGS_FILE_NAME}.x{fsutil.TEMP_SUFFIX}").write_bytes(b"p")
    with filelock.FileLock(saved.data_dir / store.LOCK_FILE_NAME, timeout=1):
        started = time.monotonic()
        assert saved.cleanup() == []
        assert time.monotonic() - started < 0.9


def test_setting_aside_a_keyring_file_while_the_keyring_is_locked_still_moves_it(
    data_dir: Path, test_keyring: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = Store(data_dir, key_backend="keyring")
    stored.save(a_settings())
    monkeypatch.setenv("TEST_KEYRING_STATE", "locked")
    moved = stored.set_aside()
    assert moved.exists()
    assert not stored.path.exists()


@pytest.mark.usefixtures("far_time_zone")
def test_setting_aside_when_the_key_cannot_follow_still_moves_the_settings(
    saved: Store,
) -> None:
    now = dt.datetime.now(dt.UTC)
    for seconds in range(3):
        stamp = (now + dt.timedelta(seconds=seconds)).strftime("%Y%m%dT%H%M%SZ")
        taken = saved.data_dir / f"{keys.KEY_FILE_NAME}.unreadable-{stamp}"
        taken.mkdir()
        (taken / "occupied").write_bytes(b"x")
    moved = saved.set_aside()
    assert moved.exists()
    assert (saved.data_dir / keys.KEY_FILE_NAME).exists()  # it could not be moved


def test_a_store_sealed_with_a_keyring_key_saves_again_with_it(
    data_dir: Path, test_keyring: object
) -> None:
    stored = Store(data_dir, key_backend="keyring")
    stored.save(a_settings())
    again = Store(data_dir).save(a_settings(), expected_revision=1)
    assert again.revision == 2
    assert again.key_location is keys.KeyLocation.KEYRING
    assert not (data_dir / keys.KEY_FILE_NAME).exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root")
def test_what_another_account_may_do_in_stores_it_does_not_own(tmp_path: Path) -> None:
    """uid 4242 looks at folders of root: ones it may read, one it may not, one to create."""
    top = Path(tempfile.mkdtemp(prefix="store-access-"))  # pytest's directories are root's only
    try:
        top.chmod(0o755)
        readable = top / "readable"
        Store(readable, key_backend="file").save(a_settings())
        readable.chmod(0o755)
        (readable / store.SETTINGS_FILE_NAME).chmod(0o644)
        (readable / keys.KEY_FILE_NAME).chmod(0o644)
        files_open = top / "files-open"
        Store(files_open, key_backend="file").save(a_settings())
        files_open.chmod(0o755)
        (files_open / store.SETTINGS_FILE_NAME).chmod(0o666)
        (files_open / keys.KEY_FILE_NAME).chmod(0o666)
        closed = top / "closed"
        closed.mkdir(mode=0o700)
        below_closed = top / "locked-parent" / "data"
        below_closed.parent.mkdir(mode=0o755)
        # The same code in this process, where root may do everything.
        assert Store(readable).access() is store.Access.WRITE
        assert Store(below_closed).access() is store.Access.WRITE
        code = (
            "import os, sys\n"
            "from pathlib import Path\n"
            "from configurator.store import Store\n"
            "import fcntl, shlex  # loaded lazily; uid 4242 cannot read them afterwards\n"
            "stores = [Store(Path(p), key_backend='file') for p in sys.argv[1:]]\n"
            "os.setgid(4242)\n"
            "os.setgroups([])\n"
            "os.setuid(4242)\n"
            "print(' '.join(s.access().name for s in stores))\n"
        )
        completed = subprocess.run(
            [sys.executable, "-c", code, *map(str, (readable, files_open, closed, below_closed))],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(top)
    assert completed.returncode == 0, completed.stderr
    # Files others may write do not make a folder they may not write theirs.
    assert completed.stdout.split() == ["READ", "READ", "NONE", "NONE"]
