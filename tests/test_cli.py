"""The command line, driven as administrators and scripts drive it: real subprocesses.

Every call runs ``python -m configurator`` against a real encrypted store in
this test's data directory; what was stored is checked by decrypting the file
with ``Store``, not by trusting the command's own output.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import accounts, asuser

from configurator import __version__, cli, keys, model
from configurator.store import Store

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "Sehr-Geheim-42!"
COMMAND = [sys.executable, "-m", "configurator"]

FULL_OPTIONS = {
    "--account-name": "Security Monitoring",
    "--account-email": "alerts@example.com",
    "--server": "smtp.example.com",
    "--port": "2525",
    "--security": "ssl_tls",
    "--auth": "login_plain",
    "--username": "alerts@example.com",
}
FULL_JSON = {
    "account_name": "Security Monitoring",
    "account_email": "alerts@example.com",
    "server": "smtp.example.com",
    "port": 2525,
    "security": "ssl_tls",
    "auth": "login_plain",
    "username": "alerts@example.com",
    "password_set": True,
}


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] = (PASSWORD,),
) -> Result:
    """Run the command line; no call may end in a traceback or show a password."""
    completed = subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=dict(env) if env is not None else None,
        timeout=60,
        check=False,
    )
    result = Result(
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8"),
    )
    assert "Traceback" not in result.stderr, result.stderr
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr
    return result


def options(values: Mapping[str, str]) -> list[str]:
    return [part for option, value in values.items() for part in (option, value)]


def set_full(password: str = PASSWORD) -> Result:
    result = run_cli(
        "set",
        *options(FULL_OPTIONS),
        "--password-stdin",
        stdin=f"{password}\n".encode(),
        secrets=(password,),
    )
    assert result.returncode == 0, result.stderr
    return result


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry under ``directory`` with its bytes (None for a directory)."""
    found: dict[str, bytes | None] = {}
    if not directory.exists():
        return found
    for path in sorted(directory.rglob("*")):
        relative = str(path.relative_to(directory))
        found[relative] = None if path.is_dir() else path.read_bytes()
    return found


def stored_settings(data_dir: Path) -> model.Settings:
    stored = Store(data_dir).load()
    assert stored is not None
    return stored.settings


def show_json() -> dict[str, object]:
    result = run_cli("show", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


# -- show ------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_show_with_nothing_stored_exits_3(data_dir: Path, extra: list[str]) -> None:
    result = run_cli("show", *extra)
    assert result.returncode == 3
    assert result.stdout == ""
    assert "No mail server settings are stored" in result.stderr
    assert not data_dir.exists()


def test_show_prints_aligned_labels_and_where_the_settings_live(data_dir: Path) -> None:
    set_full()
    result = run_cli("show")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    expected = {
        "Account Name": "Security Monitoring",
        "Account E-mail Address": "alerts@example.com",
        "Outgoing Mail Server": "smtp.example.com",
        "Server Port": "2525",
        "Connection Security": "SSL/TLS",
        "Authentication Method": "Login/Plain",
        "User Name": "alerts@example.com",
        "Password": "(set)",
        "Stored in": str(data_dir / "settings.enc"),
        "Data key": f"key file {data_dir / 'settings.key'}",
    }
    by_label = {}
    value_columns = set()
    for line in lines:
        if not line:
            continue
        label, _, rest = line.partition(":")
        by_label[label] = rest.strip()
        value_columns.add(len(line) - len(rest.lstrip()))
    for label, value in expected.items():
        assert by_label[label] == value
    assert by_label["Revision"].startswith("1, saved ")
    assert len(value_columns) == 1, "values are not aligned"
    assert "Timeout" not in by_label  # advanced settings only when changed


# The calls answered without building the parser, with what argparse makes of them.
QUICK_CALLS: dict[tuple[str, ...], dict[str, object]] = {
    (): {"self_test": False, "data_dir": None, "system": False, "command": None},
    ("show",): {
        "self_test": False,
        "data_dir": None,
        "system": False,
        "command": "show",
        "json": False,
    },
    ("show", "--json"): {
        "self_test": False,
        "data_dir": None,
        "system": False,
        "command": "show",
        "json": True,
    },
}


def test_the_calls_answered_without_the_parser_mean_what_argparse_says() -> None:
    assert set(cli._QUICK_CALLS) == set(QUICK_CALLS)
    for words, meaning in QUICK_CALLS.items():
        assert vars(cli.build_parser().parse_args(list(words))) == meaning


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_show_answers_alike_with_and_without_the_parser(data_dir: Path, extra: list[str]) -> None:
    set_full()
    quick = run_cli("show", *extra)
    parsed = run_cli("--data-dir", str(data_dir), "show", *extra)
    assert quick.returncode == parsed.returncode == 0
    assert quick.stdout == parsed.stdout
    assert quick.stderr == parsed.stderr == ""


def test_show_marks_a_missing_password_as_not_set() -> None:
    result = run_cli(
        "set",
        "--account-name",
        "Alerts",
        "--account-email",
        "alerts@example.com",
        "--server",
        "192.0.2.10",
        "--security",
        "none",
        "--port",
        "25",
        "--auth",
        "none",
    )
    assert result.returncode == 0, result.stderr
    shown = run_cli("show")
    assert "(not set)" in shown.stdout
    assert show_json()["password_set"] is False


# -- set -------------------------------------------------------------------


def test_set_everything_then_show_json_is_exactly_what_was_set(data_dir: Path) -> None:
    result = set_full()
    assert "revision 1" in result.stdout
    assert show_json() == FULL_JSON
    settings = stored_settings(data_dir)
    assert settings.password == PASSWORD
    assert settings.port == 2525
    assert settings.security is model.Security.SSL_TLS
    assert {p.name for p in data_dir.iterdir()} - {"settings.lock", "audit.lock"} == {
        "settings.enc",
        "settings.key",
        "audit.log",  # the save is recorded, and the trail has its own key
        "audit.key",
    }
    assert PASSWORD.encode() not in (data_dir / "settings.enc").read_bytes()


def test_advanced_settings_appear_in_json_only_when_changed(tmp_path: Path) -> None:
    set_full()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    fingerprint = "AB:" * 31 + "AB"
    result = run_cli(
        "set",
        "--ca-file",
        str(ca_file),
        "--timeout",
        "30",
        "--tls-fingerprint",
        fingerprint,
        "--test-recipient",
        "soc@example.com",
    )
    assert result.returncode == 0, result.stderr
    assert show_json() == {
        **FULL_JSON,
        "ca_file": str(ca_file),
        "tls_fingerprint": "ab" * 32,
        "timeout": 30.0,
        "test_recipient": "soc@example.com",
    }
    shown = run_cli("show").stdout
    assert "Timeout:" in shown
    assert "30 seconds" in shown
    assert "Trusted CA File:" in shown

    cleared = run_cli("set", "--timeout", "15", "--ca-file", "", "--tls-fingerprint", "")
    assert cleared.returncode == 0, cleared.stderr
    assert show_json() == {**FULL_JSON, "test_recipient": "soc@example.com"}


def test_set_one_option_keeps_the_others(data_dir: Path) -> None:
    set_full()
    result = run_cli("set", "--server", "mail.example.org")
    assert result.returncode == 0, result.stderr
    assert "revision 2" in result.stdout
    assert show_json() == {**FULL_JSON, "server": "mail.example.org"}
    assert stored_settings(data_dir).password == PASSWORD


def test_set_new_password_only(data_dir: Path) -> None:
    set_full()
    result = run_cli("set", "--password-stdin", stdin=b"another secret\n", secrets=("another",))
    assert result.returncode == 0, result.stderr
    assert stored_settings(data_dir).password == "another secret"
    assert show_json() == FULL_JSON


def test_set_empty_value_means_empty(data_dir: Path) -> None:
    set_full()
    result = run_cli("set", "--auth", "none", "--username", "")
    assert result.returncode == 0, result.stderr
    assert show_json() == {**FULL_JSON, "auth": "none", "username": "", "password_set": False}
    settings = stored_settings(data_dir)
    assert settings.username == ""
    assert settings.password == ""


def test_set_empty_required_value_is_invalid(data_dir: Path) -> None:
    set_full()
    before = snapshot(data_dir)
    result = run_cli("set", "--username", "")
    assert result.returncode == 5
    assert result.stderr.splitlines() == ["User Name: is required"]
    assert snapshot(data_dir) == before


def test_set_with_no_option_is_a_usage_error(data_dir: Path) -> None:
    result = run_cli("set")
    assert result.returncode == 2
    assert "at least one option" in result.stderr
    assert not data_dir.exists()


def test_set_security_without_port_keeps_the_port_and_says_so() -> None:
    set_full()
    result = run_cli("set", "--security", "starttls")
    assert result.returncode == 0, result.stderr
    assert show_json()["port"] == 2525
    assert "usually uses 587" in result.stderr


def test_login_plain_without_encryption_warns() -> None:
    set_full()
    result = run_cli("set", "--security", "none", "--port", "25")
    assert result.returncode == 0, result.stderr
    assert "unencrypted" in result.stderr


INVALID_CASES = [
    pytest.param({"--port": "0"}, ["Server Port: must be from 1 to 65535"], id="port-0"),
    pytest.param({"--port": "70000"}, ["Server Port: must be from 1 to 65535"], id="port-70000"),
    pytest.param(
        {"--port": "abc"}, ["Server Port: must be a whole number from 1 to 65535"], id="port-abc"
    ),
    pytest.param(
        {"--account-email": "alerts.example.com"}, ["Account E-mail Address: "], id="email"
    ),
    pytest.param(
        {"--server": "smtp://mail.example.com"},
        ["Outgoing Mail Server: enter only the server's name, without a scheme"],
        id="server-scheme",
    ),
    pytest.param(
        {"--account-name": "Alerts\x07Bell"},
        ["Account Name: must not contain the invisible character U+0007"],
        id="name-control-character",
    ),
    pytest.param(
        {"--timeout": "0"}, ["Timeout: must be a number of seconds from 1 to 300"], id="timeout"
    ),
    pytest.param(
        {"--port": "0", "--server": "bad host", "--account-email": "a@@b"},
        ["Account E-mail Address: ", "Outgoing Mail Server: ", "Server Port: "],
        id="three-fields-at-once",
    ),
]


@pytest.mark.parametrize(("given", "expected"), INVALID_CASES)
def test_invalid_values_exit_5_with_one_line_per_field_and_nothing_written(
    data_dir: Path, given: dict[str, str], expected: list[str]
) -> None:
    set_full()
    before = snapshot(data_dir)
    result = run_cli("set", *options(given))
    assert result.returncode == 5
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start)
    assert result.stdout == ""
    assert snapshot(data_dir) == before


def test_invalid_values_on_a_first_set_write_nothing(data_dir: Path) -> None:
    result = run_cli("set", "--server", "smtp.example.com", "--port", "0")
    assert result.returncode == 5
    assert "Server Port: must be from 1 to 65535" in result.stderr.splitlines()
    assert "Account Name: is required" in result.stderr.splitlines()
    assert not (data_dir / "settings.enc").exists()
    assert not (data_dir / "settings.key").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--security", "tls"), ("--security", "STARTTLS"), ("--auth", "cram_md5")],
)
def test_a_value_not_among_the_choices_is_a_usage_error(
    data_dir: Path, option: str, value: str
) -> None:
    set_full()
    before = snapshot(data_dir)
    result = run_cli("set", option, value)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert snapshot(data_dir) == before


@pytest.mark.parametrize("stdin", [b"\n", b"\r\n", b""], ids=["empty-line", "empty-crlf", "eof"])
def test_password_stdin_empty_is_invalid(data_dir: Path, stdin: bytes) -> None:
    set_full()
    before = snapshot(data_dir)
    result = run_cli("set", "--password-stdin", stdin=stdin)
    assert result.returncode == 5
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Password: must not be empty")
    assert snapshot(data_dir) == before


def test_password_stdin_is_reported_together_with_other_bad_fields(data_dir: Path) -> None:
    result = run_cli(
        "set", *options({**FULL_OPTIONS, "--port": "0"}), "--password-stdin", stdin=b"\n"
    )
    assert result.returncode == 5
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "Server Port",
        "Password",
    ]
    assert not data_dir.exists()


def test_non_ascii_password_with_crlf_round_trips(data_dir: Path) -> None:
    password = "pässwörd-密码-🔑 with spaces"
    result = run_cli(
        "set",
        *options(FULL_OPTIONS),
        "--password-stdin",
        stdin=f"{password}\r\nsecond line is ignored\n".encode(),
        secrets=(password,),
    )
    assert result.returncode == 0, result.stderr
    assert stored_settings(data_dir).password == password


def test_password_stdin_reads_only_the_first_line(data_dir: Path) -> None:
    result = run_cli("set", *options(FULL_OPTIONS), "--password-stdin", stdin=b"first\nsecond\n")
    assert result.returncode == 0, result.stderr
    assert stored_settings(data_dir).password == "first"


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_password_as_an_argument_is_refused_without_echoing_it(data_dir: Path, form: str) -> None:
    args = ["--password", PASSWORD] if form == "separate" else [f"--password={PASSWORD}"]
    result = run_cli("set", *options(FULL_OPTIONS), *args)
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr
    assert not data_dir.exists()


def test_set_refuses_to_overwrite_an_unreadable_file(data_dir: Path) -> None:
    set_full()
    settings_file = data_dir / "settings.enc"
    settings_file.write_bytes(settings_file.read_bytes()[:40])
    before = snapshot(data_dir)
    result = run_cli("set", *options(FULL_OPTIONS), "--password-stdin", stdin=b"new one\n")
    assert result.returncode == 4
    assert "truncated" in result.stderr
    assert snapshot(data_dir) == before


# -- reset -----------------------------------------------------------------


def test_reset_yes_deletes_the_settings_and_destroys_the_key(data_dir: Path) -> None:
    set_full()
    old_copy = (data_dir / "settings.enc").read_bytes()
    result = run_cli("reset", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Reset done" in result.stdout
    assert not (data_dir / "settings.enc").exists()
    assert not (data_dir / "settings.key").exists()
    assert run_cli("show").returncode == 3

    # Crypto-erase: a copy of the old file can no longer be read.
    (data_dir / "settings.enc").write_bytes(old_copy)
    shown = run_cli("show")
    assert shown.returncode == 4
    assert "missing" in shown.stderr


def test_reset_with_nothing_stored_says_so(data_dir: Path) -> None:
    result = run_cli("reset")
    assert result.returncode == 0
    assert "nothing to reset" in result.stdout
    data_dir.mkdir()
    again = run_cli("reset", "--yes")
    assert again.returncode == 0
    assert "nothing to reset" in again.stdout


def test_reset_without_yes_and_without_a_terminal_refuses(data_dir: Path) -> None:
    set_full()
    before = snapshot(data_dir)
    result = run_cli("reset", stdin=b"y\n")
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert snapshot(data_dir) == before


def test_reset_clears_an_unreadable_store(data_dir: Path) -> None:
    set_full()
    (data_dir / "settings.key").unlink()
    assert run_cli("show").returncode == 4
    result = run_cli("reset", "--yes")
    assert result.returncode == 0, result.stderr
    assert not (data_dir / "settings.enc").exists()
    assert run_cli("set", *options(FULL_OPTIONS), "--password-stdin", stdin=b"x\n").returncode == 0


def run_on_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the command line with a pseudo-terminal as its stdin, stdout and stderr."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [*COMMAND, *args], stdin=slave, stdout=slave, stderr=slave, cwd=REPO
        )
    finally:
        os.close(slave)
    output = b""
    try:
        output += read_terminal(master, until=b"[y/N]")
        assert b"[y/N]" in output, output
        os.write(master, answer)
        output += read_terminal(master, until=None)
        returncode = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return returncode, output.decode("utf-8", "replace")


def read_terminal(master: int, until: bytes | None, timeout: float = 30.0) -> bytes:
    """Read what the program wrote, up to ``until`` or (None) until it closes the terminal."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every process has closed the terminal
            break
        if not chunk:
            break
        data += chunk
        if until is not None and until in data:
            break
    return data


def test_reset_on_a_terminal_answered_yes(data_dir: Path) -> None:
    set_full()
    returncode, output = run_on_terminal(["reset"], b"y\n")
    assert returncode == 0, output
    assert "destroy their data key" in output
    assert "Reset done" in output
    assert not (data_dir / "settings.enc").exists()
    assert not (data_dir / "settings.key").exists()


@pytest.mark.parametrize("answer", [b"\n", b"n\n", b"no thanks\n", b"\x04"])
def test_reset_on_a_terminal_answered_otherwise_changes_nothing(
    data_dir: Path, answer: bytes
) -> None:
    set_full()
    before = snapshot(data_dir)
    returncode, output = run_on_terminal(["reset"], answer)
    assert returncode == 2, output
    assert "Nothing was changed" in output
    assert snapshot(data_dir) == before


# -- unreadable stores -------------------------------------------------------


def _truncate(data_dir: Path) -> None:
    path = data_dir / "settings.enc"
    path.write_bytes(path.read_bytes()[:30])


def _flip_a_bit(data_dir: Path) -> None:
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0x01
    path.write_bytes(bytes(blob))


def _delete_key(data_dir: Path) -> None:
    (data_dir / "settings.key").unlink()


def _key_of_another_store(data_dir: Path) -> None:
    other = data_dir.parent / "other"
    Store(other).save(stored_settings(data_dir))
    shutil.copyfile(other / "settings.key", data_dir / "settings.key")


def _newer_format(data_dir: Path) -> None:
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[6:8] = (2).to_bytes(2, "big")
    path.write_bytes(bytes(blob))


def _directory_instead(data_dir: Path) -> None:
    (data_dir / "settings.enc").unlink()
    (data_dir / "settings.enc").mkdir()


UNREADABLE = [
    pytest.param(_truncate, "corrupt", "truncated", id="truncated"),
    pytest.param(_flip_a_bit, "tampered", "changed or damaged", id="bit-flipped"),
    pytest.param(_delete_key, "key_missing", "missing", id="key-deleted"),
    pytest.param(_key_of_another_store, "key_mismatch", "does not match", id="other-key"),
    pytest.param(_newer_format, "newer_format", "newer version", id="newer-format"),
    pytest.param(_directory_instead, "unsafe", "is a directory", id="directory"),
]


@pytest.mark.parametrize(("damage", "reason", "words"), UNREADABLE)
@pytest.mark.parametrize("command", [["show"], ["show", "--json"], ["set", "--port", "25"]])
def test_unreadable_store_exits_4_naming_the_problem_and_keeps_the_file(
    data_dir: Path, damage: Callable[[Path], None], reason: str, words: str, command: list[str]
) -> None:
    set_full()
    damage(data_dir)
    before = snapshot(data_dir)
    result = run_cli(*command)
    assert result.returncode == 4
    assert f"({reason})" not in result.stderr  # the reason's code is for programs, not people
    if reason != "unsafe":  # "unsafe" may be a plain word of the message
        assert reason not in result.stderr
    assert words in result.stderr
    assert result.stdout == ""
    # Only the audit trail may grow (a failed unlock is recorded): the settings stay as found.
    after = snapshot(data_dir)
    after.pop("audit.log")
    before.pop("audit.log")
    assert after == before


# -- where the key lives -----------------------------------------------------


def test_keyring_backend_round_trip_writes_no_key_file(
    data_dir: Path, test_keyring: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIGURATOR_KEY_BACKEND", "keyring")
    set_full()
    assert show_json() == FULL_JSON
    assert not (data_dir / "settings.key").exists()
    keyring_file = Path(os.environ["TEST_KEYRING_FILE"])
    assert keys.KEYRING_SERVICE in keyring_file.read_text(encoding="utf-8")
    assert "OS keyring" in run_cli("show").stdout
    assert stored_settings(data_dir).password == PASSWORD


def test_locked_keyring_is_not_a_missing_key(
    data_dir: Path, test_keyring: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_full()  # auto: the usable test keyring holds the key
    assert not (data_dir / "settings.key").exists()
    keyring_file = Path(os.environ["TEST_KEYRING_FILE"])
    keyring_before = keyring_file.read_bytes()
    before = snapshot(data_dir)

    monkeypatch.setenv("TEST_KEYRING_STATE", "locked")
    shown = run_cli("show")
    assert shown.returncode == 4
    assert "locked" in shown.stderr
    changed = run_cli("set", "--port", "465", "--password-stdin", stdin=b"new\n")
    assert changed.returncode == 4
    assert "locked" in changed.stderr
    assert snapshot(data_dir) == before
    assert keyring_file.read_bytes() == keyring_before

    monkeypatch.setenv("TEST_KEYRING_STATE", "")
    assert show_json() == FULL_JSON


def test_keyring_backend_without_a_keyring_fails_clearly(data_dir: Path) -> None:
    result = run_cli(
        "set",
        *options(FULL_OPTIONS),
        "--password-stdin",
        stdin=f"{PASSWORD}\n".encode(),
        env={**os.environ, "CONFIGURATOR_KEY_BACKEND": "keyring"},
    )
    assert result.returncode == 1
    assert "no usable OS keyring" in result.stderr
    assert not (data_dir / "settings.enc").exists()


@pytest.mark.parametrize("command", [["show"], ["reset", "--yes"], []])
def test_invalid_key_backend_is_a_usage_error(data_dir: Path, command: list[str]) -> None:
    result = run_cli(*command, env={**os.environ, "CONFIGURATOR_KEY_BACKEND": "vault"})
    assert result.returncode == 2
    assert "CONFIGURATOR_KEY_BACKEND must be one of auto, keyring, file" in result.stderr


# -- common options ----------------------------------------------------------


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"configurator {__version__}"


@pytest.mark.parametrize("position", ["before", "after", "environment"])
def test_data_dir_before_or_after_the_command_or_from_the_environment(
    tmp_path: Path, data_dir: Path, position: str
) -> None:
    chosen = tmp_path / "chosen"
    env = dict(os.environ)
    if position == "environment":
        env["CONFIGURATOR_DATA_DIR"] = str(chosen)
        before: list[str] = []
        after: list[str] = []
    elif position == "before":
        before, after = ["--data-dir", str(chosen)], []
    else:
        before, after = [], ["--data-dir", str(chosen)]
    stored = run_cli(
        *before,
        "set",
        *options(FULL_OPTIONS),
        "--password-stdin",
        *after,
        stdin=f"{PASSWORD}\n".encode(),
        env=env,
    )
    assert stored.returncode == 0, stored.stderr
    assert (chosen / "settings.enc").exists()
    if position != "environment":
        assert not data_dir.exists()
    shown = run_cli(*before, "show", "--json", *after, env=env)
    assert json.loads(shown.stdout) == FULL_JSON


def test_data_dir_after_the_command_wins(tmp_path: Path, data_dir: Path) -> None:
    set_full()
    result = run_cli("--data-dir", str(tmp_path / "empty"), "show", "--data-dir", str(data_dir))
    assert result.returncode == 0


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["show", "--bogus"], ["test", "--bogus"], ["audit", "--bogus"], ["--nope"]],
)
def test_unknown_commands_and_options_are_usage_errors(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_self_test_cannot_be_combined_with_a_command() -> None:
    result = run_cli("--self-test", "show")
    assert result.returncode == 2
    assert "--self-test" in result.stderr


def test_help_lists_exit_codes_and_environment() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for text in ("exit codes:", "5  invalid input", "CONFIGURATOR_DATA_DIR", "--data-dir"):
        assert text in result.stdout
    assert "CONFIGURATOR_KEY_BACKEND" in result.stdout
    assert "141" in result.stdout


COMMANDS = ["show", "set", "reset", "test", "detect", "audit"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_s_help_is_about_the_command(command: str) -> None:
    """Store options, environment and the exit code table are in the top-level help only."""
    result = run_cli(command, "--help", env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0
    text = result.stdout
    for global_text in (
        "CONFIGURATOR_KEY_BACKEND",
        "system-wide store",
        "exit codes:\n",
        "5  invalid input",
        "--data-dir PATH",
        "--self-test",
    ):
        assert global_text not in text
    # One line points to the rest.
    assert text.endswith("\n\nStore options, environment and exit codes: configurator --help\n")
    # Only what this command adds: "show" fits in a dozen lines.
    if command == "show":
        assert len(text.splitlines()) <= 12


@pytest.mark.parametrize("command", COMMANDS)
def test_store_options_still_follow_any_command(command: str, data_dir: Path) -> None:
    """Not described in the command's help, --data-dir and --system are still accepted there."""
    result = run_cli(command, "--data-dir", str(data_dir), "--help")
    assert result.returncode == 0
    system = run_cli(command, "--system", "--data-dir", str(data_dir))
    assert system.returncode == 2
    assert "--system and --data-dir cannot be combined" in system.stderr


def test_set_help_offers_every_field_and_no_password_argument() -> None:
    text = run_cli("set", "--help").stdout
    for spec in model.FIELDS:
        option = f"{spec.cli_option}-stdin" if spec.secret else spec.cli_option
        assert option in text
    assert "--password " not in text
    assert "--password\n" not in text


# -- in-process: the window launch and the last-resort error path -------------


class FakeApp(types.ModuleType):
    """Stands in for ``configurator.app`` to see what the command line hands it."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("configurator.app")
        self.exit_code = exit_code
        self.calls: list[tuple[Path, bool]] = []

    def run(self, data_dir: Path, *, self_test: bool = False) -> int:
        self.calls.append((data_dir, self_test))
        return self.exit_code


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> FakeApp:
    app = FakeApp(exit_code=0)
    monkeypatch.setitem(sys.modules, "configurator.app", app)
    return app


def test_no_command_opens_the_window(fake_app: FakeApp, data_dir: Path) -> None:
    assert cli.main([]) == 0
    assert fake_app.calls == [(data_dir, False)]


def test_self_test_goes_to_the_window_and_returns_its_exit_code(
    fake_app: FakeApp, tmp_path: Path
) -> None:
    fake_app.exit_code = 7
    assert cli.main(["--self-test", "--data-dir", str(tmp_path / "elsewhere")]) == 7
    assert fake_app.calls == [(tmp_path / "elsewhere", True)]


def test_unexpected_error_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_update(self: Store, change: Callable[..., model.Settings]) -> None:
        settings = change(None)
        raise RuntimeError(f"disk on fire while writing {settings.password}")

    monkeypatch.setattr(Store, "update", broken_update)
    stdin = io.TextIOWrapper(io.BytesIO(f"{PASSWORD}\n".encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code = cli.main(["set", *options(FULL_OPTIONS), "--password-stdin"])
    stdin.close()
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1
    assert "unexpected error (RuntimeError): disk on fire" in captured.err
    assert PASSWORD not in captured.err + captured.out


# -- root scope: a user who may read but not write the store -------------------


def _scope_user() -> tuple[int, int] | None:
    """The account the scope tests act as: ``nobody`` when running as root."""
    if os.geteuid() != 0:
        return None
    return asuser.nobody()


def run_as_scope_user(*args: str, stdin: bytes = b"") -> Result:
    user = _scope_user()
    if user is None:
        return run_cli(*args, stdin=stdin)
    completed = asuser.run_as(*user, *args, stdin=stdin)
    result = Result(
        completed.returncode, completed.stdout.decode("utf-8"), completed.stderr.decode("utf-8")
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result


@pytest.fixture
def shared_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store with settings, in a directory other users may enter."""
    parent = Path(tempfile.mkdtemp(prefix="configurator-scope-"))
    parent.chmod(0o755)
    data_dir = parent / "data"
    monkeypatch.setenv("CONFIGURATOR_DATA_DIR", str(data_dir))
    Store(data_dir).save(model.build({**_full_changes(), "password": PASSWORD}))
    yield data_dir
    for path in [parent, *parent.rglob("*")]:
        if path.is_dir():
            path.chmod(stat.S_IRWXU)
    shutil.rmtree(parent)


def _full_changes() -> dict[str, object]:
    return {option[2:].replace("-", "_"): value for option, value in FULL_OPTIONS.items()}


def _make_read_only(data_dir: Path) -> None:
    for path in data_dir.iterdir():
        path.chmod(0o444)
    data_dir.chmod(0o555)


@accounts.permissions
def test_a_reader_can_show_but_not_change(shared_store: Path) -> None:
    _make_read_only(shared_store)
    before = snapshot(shared_store)

    shown = run_as_scope_user("show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == FULL_JSON

    changed = run_as_scope_user("set", "--port", "25", "--password-stdin", stdin=b"other\n")
    assert changed.returncode == 1
    assert "may not change the settings" in changed.stderr
    assert "no write permission" in changed.stderr
    assert "Nothing was changed" in changed.stderr
    if _scope_user() is not None:
        # As root, who manages it; sudo clears CONFIGURATOR_DATA_DIR, so the store is named.
        hint = f"sudo configurator --data-dir {shared_store} set --port 25 --password-stdin"
        assert f"To run it as the account that manages the store: {hint}\n" in changed.stderr

    reset = run_as_scope_user("reset", "--yes")
    assert reset.returncode == 1
    assert "may not change the settings" in reset.stderr
    assert snapshot(shared_store) == before


@accounts.permissions
def test_a_user_who_cannot_read_the_store_is_refused(shared_store: Path) -> None:
    if _scope_user() is None:
        shared_store.chmod(0)  # the owner shuts itself out
    else:
        assert stat.S_IMODE(shared_store.stat().st_mode) == 0o700  # root's private store
    for command in (["show"], ["set", "--port", "25"]):
        result = run_as_scope_user(*command)
        assert result.returncode == 4
        assert "no_access" not in result.stderr
        assert "cannot be read" in result.stderr
    reset = run_as_scope_user("reset", "--yes")
    assert reset.returncode == 1
    assert "may not change the settings" in reset.stderr
    shared_store.chmod(0o700)
    assert Store(shared_store).load() is not None


def test_help_lists_every_exit_code_from_the_one_table() -> None:
    """The help's table is generated from ``Exit``: a new code cannot be left out."""
    from configurator.console import Exit

    result = run_cli("--help")
    for code in Exit:
        assert f"\n  {code.value}  " in result.stdout
