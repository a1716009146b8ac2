"""Per-user preferences: the remembered Test Recipient, kept by the rules of the settings' files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from configurator import preferences

ADDRESS = "soc-team@example.org"


def test_nothing_is_remembered_at_first(preferences_file: Path) -> None:
    assert preferences.remembered_recipient() == ""
    assert not preferences_file.exists()


def test_a_remembered_recipient_is_kept_privately(preferences_file: Path) -> None:
    path = preferences.remember_recipient(ADDRESS)

    assert path == preferences_file
    assert preferences.remembered_recipient() == ADDRESS
    assert json.loads(path.read_text()) == {"test_recipient": ADDRESS}
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_other_preferences_in_the_file_are_kept(preferences_file: Path) -> None:
    preferences.remember_recipient(ADDRESS)
    data = json.loads(preferences_file.read_text())
    preferences_file.write_text(json.dumps({**data, "later": 1}))

    preferences.remember_recipient("other@example.org")

    assert json.loads(preferences_file.read_text()) == {
        "later": 1,
        "test_recipient": "other@example.org",
    }


@pytest.mark.parametrize("address", ["soc(at)example.org", "a@b.example\n", " soc@example.org"])
def test_an_invalid_address_is_never_remembered(preferences_file: Path, address: str) -> None:
    with pytest.raises(preferences.PreferenceError):
        preferences.remember_recipient(address)
    assert not preferences_file.exists()


def test_a_symbolic_link_is_not_followed(preferences_file: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"test_recipient": "planted@example.org"}))
    elsewhere.chmod(0o600)
    preferences_file.parent.mkdir(parents=True, mode=0o700)
    preferences_file.symlink_to(elsewhere)

    assert preferences.remembered_recipient() == ""
    preferences.remember_recipient(ADDRESS)

    # The link itself was replaced by a private file; its target is untouched.
    assert not preferences_file.is_symlink()
    assert json.loads(elsewhere.read_text()) == {"test_recipient": "planted@example.org"}
    assert preferences.remembered_recipient() == ADDRESS


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_file_others_may_change_is_not_believed(preferences_file: Path) -> None:
    preferences.remember_recipient(ADDRESS)
    preferences_file.chmod(0o666)
    assert preferences.remembered_recipient() == ""


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[1, 2]",
        b'{"test_recipient": 42}',
        b'{"test_recipient": "bad\\u0007@example.org"}',
        b'{"test_recipient": "' + b"a" * preferences.MAX_SIZE + b'@example.org"}',
        b"\xff\xfe",
    ],
)
def test_a_damaged_or_odd_file_means_nothing_remembered(
    preferences_file: Path, content: bytes
) -> None:
    preferences_file.parent.mkdir(parents=True, mode=0o700)
    preferences_file.write_bytes(content)
    preferences_file.chmod(0o600)
    assert preferences.remembered_recipient() == ""


def test_a_directory_in_the_way_is_said_in_plain_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))

    with pytest.raises(preferences.PreferenceError, match="cannot be written"):
        preferences.remember_recipient(ADDRESS)
    assert preferences.remembered_recipient() == ""
