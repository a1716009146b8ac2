"""The data key's edges: exposed key files word for word, shared keys, damaged entries.

Real key files in a temporary data directory, real modes, a real group id on
the shared key; the keyring is the file-backed test keyring.
"""

from __future__ import annotations

import base64
import os
import shlex
import stat
from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer
from support import testkeyring

from configurator import keys
from configurator.errors import KeyUnavailable, UnsafePath

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A data directory whose name needs quoting in a shell command."""
    directory = tmp_path / "data dir"
    directory.mkdir(mode=0o700)
    return directory


def written(key_dir: Path, mode: int, *, shared: bool = False) -> keys.FileKeyStore:
    store = keys.FileKeyStore(key_dir, shared=shared)
    store.write(keys.new_key())
    store.path.chmod(mode)
    return store


@posix_only
@pytest.mark.parametrize(
    ("mode", "shared", "exposure", "advice"),
    [
        (0o640, False, "other users may read it", "Make it private with: chmod 600"),
        (0o604, False, "other users may read it", "Make it private with: chmod 600"),
        (0o644, True, "every user may read it", "Limit it to its group with: chmod 640"),
    ],
)
def test_an_exposed_key_file_is_refused_with_the_command_that_fixes_it(
    key_dir: Path, mode: int, shared: bool, exposure: str, advice: str
) -> None:
    store = written(key_dir, mode, shared=shared)
    with pytest.raises(KeyUnavailable) as caught:
        store.read()
    permissions = stat.filemode(stat.S_IFREG | mode)
    assert str(caught.value) == (
        f"The key file {store.path} is not used because {exposure} (permissions "
        f"{permissions}). {advice} {shlex.quote(str(store.path))}"
    )


@posix_only
@pytest.mark.parametrize(
    ("mode", "shared", "fix"),
    [(0o620, False, "600"), (0o602, False, "600"), (0o660, True, "640")],
)
def test_a_key_file_others_may_change_is_refused_before_it_is_read(
    key_dir: Path, mode: int, shared: bool, fix: str
) -> None:
    """A key others could have replaced is not trusted, whoever reads it."""
    store = written(key_dir, mode, shared=shared)
    with pytest.raises(UnsafePath) as caught:
        store.read()
    permissions = stat.filemode(stat.S_IFREG | mode)
    assert str(caught.value) == (
        f"{store.path} is refused because other users may change it (permissions "
        f"{permissions}). Check its contents, then make it safe with: chmod {fix} "
        f"{shlex.quote(str(store.path))}"
    )


@posix_only
@pytest.mark.parametrize(("mode", "shared"), [(0o600, False), (0o400, False), (0o640, True)])
def test_a_key_file_open_only_as_intended_is_used(key_dir: Path, mode: int, shared: bool) -> None:
    store = written(key_dir, mode, shared=shared)
    assert store.read() is not None


@posix_only
def test_a_shared_key_belongs_to_the_directorys_group(key_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file another group needs root")
    os.chown(key_dir, -1, 4242)
    store = keys.FileKeyStore(key_dir, shared=True)
    key = keys.new_key()
    store.write(key)
    info = store.path.stat()
    assert info.st_gid == 4242
    assert stat.S_IMODE(info.st_mode) == keys.SHARED_KEY_MODE
    assert store.read() == key


def test_the_key_store_for_a_location_keeps_the_shared_flag(key_dir: Path) -> None:
    shared = keys.store_for(keys.KeyLocation.FILE, key_dir, shared=True)
    private = keys.store_for(keys.KeyLocation.FILE, key_dir)
    assert isinstance(shared, keys.FileKeyStore)
    assert isinstance(private, keys.FileKeyStore)
    assert (shared.shared, private.shared) == (True, False)
    new = keys.store_for_new_key(key_dir, "file", shared=True)
    assert isinstance(new, keys.FileKeyStore)
    assert new.shared is True
    assert isinstance(keys.store_for(keys.KeyLocation.KEYRING, key_dir), keys.KeyringKeyStore)


def test_a_key_file_that_is_a_directory_names_the_reason(key_dir: Path) -> None:
    store = keys.FileKeyStore(key_dir)
    store.path.mkdir()
    with pytest.raises(UnsafePath) as caught:
        store.read()
    assert str(caught.value) == (
        f"{store.path} is a directory, not a regular file: refused (it was not read "
        "or changed). Move it out of the way, then try again."
    )


def test_destroying_a_key_file_leaves_its_other_names_erased(key_dir: Path) -> None:
    """A hard link shares the bytes: it shows what the erasure wrote over the key."""
    store = keys.FileKeyStore(key_dir)
    key = keys.new_key()
    store.write(key)
    other_name = key_dir / "link-to-key"
    os.link(store.path, other_name)
    store.destroy()
    assert not store.path.exists()
    left = other_name.read_bytes()
    assert left.startswith(b"configurator-erased-key\n")
    assert base64.b64encode(key) not in left
    assert keys.FileKeyStore(key_dir, "link-to-key").read() is None


def test_a_keyring_entry_for_a_moved_file_is_named_after_it(key_dir: Path) -> None:
    assert keys.KeyringKeyStore(key_dir).account == str(key_dir.resolve())
    moved = keys.KeyringKeyStore(key_dir, "settings.enc.moved")
    assert moved.account == f"{key_dir.resolve()}{os.sep}settings.enc.moved"


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(bytes(range(32))).decode()[:10]
        + "!"
        + base64.b64encode(bytes(range(32))).decode()[10:],
        base64.b64encode(bytes(16)).decode(),
    ],
    ids=["stray-character", "short"],
)
def test_a_damaged_keyring_entry_says_so(
    key_dir: Path, test_keyring: testkeyring.TestKeyring, value: str
) -> None:
    keyring.set_password(keys.KEYRING_SERVICE, str(key_dir.resolve()), value)
    with pytest.raises(KeyUnavailable) as caught:
        keys.KeyringKeyStore(key_dir).read()
    assert str(caught.value) == "The data key in the OS keyring is damaged."


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "locked",
            "The OS keyring is locked: unlock it (log in to the desktop session) and try again.",
        ),
        ("broken", "The OS keyring could not be used (KeyringError)."),
    ],
)
def test_an_unusable_keyring_is_explained(
    key_dir: Path,
    test_keyring: testkeyring.TestKeyring,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    message: str,
) -> None:
    monkeypatch.setenv("TEST_KEYRING_STATE", state)
    with pytest.raises(KeyUnavailable) as caught:
        keys.KeyringKeyStore(key_dir).read()
    assert str(caught.value) == message


def test_no_keyring_is_explained(key_dir: Path) -> None:
    with pytest.raises(KeyUnavailable) as caught:
        keys.KeyringKeyStore(key_dir).read()
    assert str(caught.value) == "No OS keyring is available in this session."


class ZeroPriority(testkeyring.TestKeyring):
    priority = 0  # type: ignore[assignment]


def test_a_keyring_of_priority_zero_is_not_usable() -> None:
    keyring.set_keyring(ZeroPriority())
    assert keys.keyring_usable() is False


class TwoChainer(chainer.ChainerBackend):
    """The chainer keyring with real backends to chain."""

    backends = (testkeyring.TestKeyring(), testkeyring.TestKeyring())


def test_a_chainer_with_backends_is_usable() -> None:
    keyring.set_keyring(TwoChainer())
    assert keys.keyring_usable() is True
