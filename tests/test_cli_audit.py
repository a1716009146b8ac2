"""``configurator audit`` and the records every command adds to the audit trail.

The commands run as real subprocesses on a real data directory; the trail is
read back both through ``configurator audit`` and byte by byte from
``audit.log``, to show what is (and what is never) written there.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import secrets
from support.smtp import (
    PASSWORD as SERVER_PASSWORD,
)
from support.smtp import (
    USERNAME,
    Pki,
    Server,
    StartServer,
    free_port,
    make_settings,
)

from configurator import audit, cli, fsutil, keys, mail
from configurator.errors import reason_words
from configurator.mail import Candidate
from configurator.model import Security
from configurator.store import Store

pytest_plugins = ["support.smtp"]

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
PASSWORD = "correct horse battery staple"
SERVER = "relay.audit-test.example.org"
ACCOUNT = "Überwachung Nord"
FULL = {
    "--account-name": ACCOUNT,
    "--account-email": "alerts@audit-test.example.org",
    "--server": SERVER,
    "--port": "2525",
    "--security": "ssl_tls",
    "--auth": "login_plain",
    "--username": "alerts-login-name",
}
# Values that must never reach the trail: it names fields, never what they hold.
# Each is long enough not to turn up by chance in the trail's random hex (MACs, key ids).
VALUES = (PASSWORD, SERVER, ACCOUNT, "alerts-login-name")
# The ports can: "2525" turns up in a 64-digit MAC in some 0.3 % of runs.  They
# are looked for in what is left of each record without its random hex.
PORTS = ("2525", "2526")
RANDOM_FIELDS = ("mac", "kid")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, stdin: bytes = b"") -> Result:
    """Run the command line; no call may end in a traceback or show a password."""
    completed = subprocess.run(
        [*COMMAND, *args], input=stdin, capture_output=True, cwd=REPO, timeout=60, check=False
    )
    result = Result(
        completed.returncode, completed.stdout.decode("utf-8"), completed.stderr.decode("utf-8")
    )
    assert "Traceback" not in result.stderr, result.stderr
    for secret in secrets.active():
        assert secret not in result.stdout + result.stderr
    return result


def set_full() -> None:
    options = [part for option, value in FULL.items() for part in (option, value)]
    result = run_cli("set", *options, "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


def audit_json() -> dict[str, object]:
    result = run_cli("audit", "--json")
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    assert result.returncode == (0 if data["intact"] else 4), result.stderr
    return data


def entries() -> list[dict[str, object]]:
    found = audit_json()["entries"]
    assert isinstance(found, list)
    return found


def actions() -> list[object]:
    return [entry["action"] for entry in entries()]


def table_rows(stdout: str) -> list[list[str]]:
    """The rows of the human table, cut at its column gaps (two or more spaces)."""
    import re

    lines = stdout.splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("Time "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line))
    return rows


# -- the command ---------------------------------------------------------------------


@pytest.mark.parametrize("created", [False, True])
def test_no_trail_yet(data_dir: Path, created: bool) -> None:
    if created:
        data_dir.mkdir(mode=0o700)
    shown = run_cli("audit")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "No audit entries yet.\n"

    data = audit_json()
    assert data["entries"] == []
    assert data["intact"] is True
    assert data["problem"] is None
    assert data["warnings"] == []
    assert not data_dir.exists() or sorted(os.listdir(data_dir)) == []  # reading wrote nothing


def test_json_shape(data_dir: Path) -> None:
    set_full()
    data = audit_json()
    assert set(data) == {"path", "readable", "intact", "problem", "warnings", "entries"}
    assert data["path"] == str(data_dir / audit.AUDIT_FILE_NAME)
    [entry] = data["entries"]  # type: ignore[misc]
    assert set(entry) == {
        "seq",
        "time",
        "user",
        "action",
        "fields_changed",
        "detail",
        "line",
        "verified",
    }
    assert entry["seq"] == 1
    assert entry["line"] == 1
    assert entry["verified"] is True
    assert entry["user"] == getpass.getuser()
    assert entry["action"] == "submit"


# -- what each command records -------------------------------------------------------


def test_set_records_the_keys_of_the_changed_fields_and_never_a_value(data_dir: Path) -> None:
    set_full()
    assert run_cli("set", "--port", "2526").returncode == 0
    again = run_cli("set", "--password-stdin", stdin=b"another-long-secret\n")
    assert again.returncode == 0, again.stderr

    found = entries()
    assert [entry["action"] for entry in found] == ["submit"] * 3
    first = found[0]["fields_changed"]
    assert isinstance(first, list)
    expected = {"account_name", "account_email", "server", "port", "security", "username"}
    assert expected | {"password"} <= set(first)
    assert found[1]["fields_changed"] == ["port"]
    assert found[2]["fields_changed"] == ["password"]
    assert all(entry["verified"] for entry in found)

    shown = run_cli("audit")
    assert shown.returncode == 0, shown.stderr
    rows = table_rows(shown.stdout)
    assert [row[2] for row in rows] == ["settings saved"] * 3
    assert rows[1][3] == "port"
    assert rows[2][3] == "password"
    assert all(row[1] == getpass.getuser() for row in rows)
    assert rows[0][0].endswith(" UTC")
    assert shown.stdout.splitlines()[-1] == "Chain intact: 3 entries"

    on_disk = (data_dir / audit.AUDIT_FILE_NAME).read_bytes()
    without_random = "\n".join(
        json.dumps(
            {key: value for key, value in json.loads(line).items() if key not in RANDOM_FIELDS},
            ensure_ascii=False,
        )
        for line in on_disk.decode("utf-8").splitlines()
    )
    assert len(without_random) > 200  # the records themselves, less only their hex
    for value in (*VALUES, "another-long-secret"):
        assert value.encode() not in on_disk
    for value in (*VALUES, *PORTS, "another-long-secret"):
        assert value not in without_random
        assert value not in shown.stdout
        assert value not in json.dumps(found, ensure_ascii=False)


def test_invalid_input_and_refusals_record_nothing(data_dir: Path) -> None:
    set_full()
    assert run_cli("set", "--port", "0").returncode == 5
    assert run_cli("reset").returncode == 2  # no terminal, no --yes: refused
    assert actions() == ["submit"]


def test_reset_is_recorded_and_the_trail_survives_it(data_dir: Path) -> None:
    set_full()
    assert run_cli("set", "--port", "2526").returncode == 0
    reset = run_cli("reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert not (data_dir / keys.KEY_FILE_NAME).exists()  # the data key is gone ...
    assert (data_dir / audit.AUDIT_KEY_NAME).exists()  # ... the audit key is not

    found = entries()
    assert [entry["action"] for entry in found] == ["submit", "submit", "reset"]
    assert all(entry["verified"] for entry in found)

    set_full()
    shown = run_cli("audit")
    assert shown.returncode == 0
    saved, reset = "settings saved", "settings reset"
    assert [row[2] for row in table_rows(shown.stdout)] == [saved, saved, reset, saved]
    assert shown.stdout.splitlines()[-1] == "Chain intact: 4 entries"


def _edit_a_byte(lines: list[bytes]) -> list[bytes]:
    """Change one digit of the second record's time: still well-formed JSON."""
    line = lines[1]
    at = line.index(b'"time":"') + len(b'"time":"') + 3  # the last digit of the year
    digit = b"1" if line[at : at + 1] != b"1" else b"2"
    lines[1] = line[:at] + digit + line[at + 1 :]
    return lines


def _remove_the_first(lines: list[bytes]) -> list[bytes]:
    return lines[1:]


def _swap(lines: list[bytes]) -> list[bytes]:
    return [lines[1], lines[0], *lines[2:]]


def _edit_the_user(lines: list[bytes]) -> list[bytes]:
    """Turn the first record into someone else's: the kind of edit that would hide who did it."""
    user = json.loads(lines[0])["user"].encode()
    lines[0] = lines[0].replace(b'"user":"' + user + b'"', b'"user":"intern"')
    return lines


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_edit_a_byte, "Record 2 (line 2 of audit.log) does not match the chain"),
        (_edit_the_user, "Record 1 (line 1 of audit.log) does not match the chain"),
        (_remove_the_first, "Record 1 is missing before line 1 of audit.log"),
        (_swap, "Record 1 is missing before line 1 of audit.log"),
    ],
)
def test_an_edited_trail_exits_4_naming_the_problem(
    data_dir: Path, edit: object, problem: str
) -> None:
    set_full()
    assert run_cli("set", "--port", "2526").returncode == 0
    assert run_cli("set", "--port", "2527").returncode == 0
    log = data_dir / audit.AUDIT_FILE_NAME
    assert callable(edit)
    log.write_bytes(b"".join(edit(log.read_bytes().splitlines(keepends=True))))

    shown = run_cli("audit")
    assert shown.returncode == 4
    verdict = shown.stdout.splitlines()[-1]
    assert verdict.startswith("Chain broken: ")
    assert problem in verdict
    assert "Chain intact" not in shown.stdout
    assert "[not verified]" in shown.stdout

    data = audit_json()
    assert data["intact"] is False
    assert isinstance(data["problem"], str)
    assert problem in data["problem"]
    found = data["entries"]
    assert isinstance(found, list)
    assert not all(entry["verified"] for entry in found)


def _tamper(data_dir: Path) -> None:
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))


def _delete_key(data_dir: Path) -> None:
    (data_dir / keys.KEY_FILE_NAME).unlink()


def _key_of_another_store(data_dir: Path) -> None:
    keys.FileKeyStore(data_dir).write(keys.new_key())


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(_tamper, "tampered"), (_delete_key, "key_missing"), (_key_of_another_store, "key_mismatch")],
)
def test_a_failed_unlock_is_recorded_with_its_reason(
    data_dir: Path, damage: object, reason: str
) -> None:
    set_full()
    assert callable(damage)
    damage(data_dir)
    shown = run_cli("show")
    assert shown.returncode == 4
    assert reason not in shown.stderr
    assert "Warning" not in shown.stderr

    found = entries()  # JSON keeps the codes, for programs
    assert [entry["action"] for entry in found] == ["submit", "unlock_failed"]
    assert found[1]["detail"] == reason
    assert found[1]["fields_changed"] == []
    # The table says it in words.
    rows = table_rows(run_cli("audit").stdout)
    assert rows[1][2] == "stored settings could not be opened"
    assert rows[1][-1] == reason_words(reason)
    assert reason not in rows[1][-1]


def test_a_damaged_file_that_is_not_a_key_problem_is_not_an_unlock_failure(
    data_dir: Path,
) -> None:
    set_full()
    path = data_dir / "settings.enc"
    path.write_bytes(path.read_bytes()[:10])  # cut short: corrupt, not a wrong key
    shown = run_cli("show")
    assert shown.returncode == 4
    assert "corrupt" not in shown.stderr
    assert "is truncated" in shown.stderr
    assert actions() == ["submit"]


def test_a_trail_with_something_planted_in_its_way_stops_the_save_before_it_happens(
    data_dir: Path,
) -> None:
    data_dir.mkdir(mode=0o700)
    (data_dir / audit.AUDIT_FILE_NAME).mkdir()  # something in its way
    options = [part for option, value in FULL.items() for part in (option, value)]
    result = run_cli("set", *options, "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert result.returncode == 4
    assert f"{data_dir / audit.AUDIT_FILE_NAME} is a directory" in result.stderr
    assert result.stdout == ""
    assert Store(data_dir).load() is None


def test_a_save_the_trail_cannot_record_exits_8_saying_what_was_saved(data_dir: Path) -> None:
    """Saved, then the record failed: never "exit 1, unexpected error"."""
    set_full()
    (data_dir / audit.AUDIT_KEY_NAME).write_bytes(b"not a key\n")  # damaged
    result = run_cli("set", "--port", "2526")
    assert result.returncode == cli.Exit.NOT_RECORDED == 8
    assert "Saved the mail server settings" in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("configurator: the settings were saved (revision 2), but the audit")
    assert "(settings saved) is not recorded there" in line
    assert "unexpected" not in result.stderr
    loaded = Store(data_dir).load()
    assert loaded is not None
    assert loaded.settings.port == 2526


# -- checks ---------------------------------------------------------------------------


@pytest.fixture
def starttls(smtp_server: StartServer) -> Server:
    return smtp_server(tls="starttls", users={USERNAME: SERVER_PASSWORD})


def test_a_passed_check_is_recorded(data_dir: Path, starttls: Server, pki: Pki) -> None:
    Store(data_dir).save(make_settings(starttls.port, ca_file=str(pki.ca_file)))
    assert run_cli("test").returncode == 0
    found = entries()
    assert [entry["action"] for entry in found] == ["check"]
    assert found[0]["detail"] == "passed"
    assert found[0]["fields_changed"] == []


def test_a_failed_check_is_recorded_with_the_step_and_the_problem(
    data_dir: Path, starttls: Server, pki: Pki
) -> None:
    wrong = secrets.secret("Wr0ng-but-Secret-7")
    Store(data_dir).save(make_settings(starttls.port, ca_file=str(pki.ca_file), password=wrong))
    assert run_cli("test").returncode == 6
    assert run_cli("test", "--json").returncode == 6
    found = entries()
    assert [entry["detail"] for entry in found] == [
        "failed at Authentication: authentication rejected"
    ] * 2
    assert wrong.encode() not in (data_dir / audit.AUDIT_FILE_NAME).read_bytes()


def test_a_check_with_a_test_email_records_only_the_check(
    data_dir: Path, starttls: Server, pki: Pki
) -> None:
    """The recipient is remembered as a preference: the settings, and their trail, stay."""
    Store(data_dir).save(make_settings(starttls.port, ca_file=str(pki.ca_file)))
    recipient = "soc-team@recipients.example.net"
    result = run_cli("test", "--to", recipient)
    assert result.returncode == 0, result.stdout + result.stderr
    found = entries()
    assert [(entry["action"], entry["fields_changed"]) for entry in found] == [("check", [])]
    assert found[0]["detail"] == "passed; the server accepted the test e-mail"
    assert recipient.encode() not in (data_dir / audit.AUDIT_FILE_NAME).read_bytes()


def test_a_check_of_nothing_stored_records_nothing(data_dir: Path) -> None:
    assert run_cli("test").returncode == 3
    assert entries() == []


def test_detect_apply_records_the_fields_it_changed(
    data_dir: Path,
    smtp_server: StartServer,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    implicit = smtp_server(tls="implicit", users={USERNAME: SERVER_PASSWORD})
    # detect probes the standard ports; point it at the test server instead.
    monkeypatch.setattr(mail, "DEFAULT_CANDIDATES", [Candidate(implicit.port, Security.SSL_TLS)])
    settings = make_settings(free_port(), ca_file=str(pki.ca_file))
    Store(data_dir).save(settings)

    assert cli.main(["detect"]) == 0  # only proposes: nothing saved, nothing recorded
    assert audit.read(data_dir).entries == ()
    assert cli.main(["detect", "--apply"]) == 0
    captured = capsys.readouterr()
    assert "Stored Server Port" in captured.out
    assert "Warning" not in captured.err

    report = audit.read(data_dir)
    assert report.intact
    [entry] = report.entries
    assert (entry.action, entry.fields) == ("submit", ("port", "security"))
    assert entry.detail == "revision 2, from detect"
    stored = Store(data_dir).load()
    assert stored is not None
    assert stored.settings == dataclasses.replace(
        settings, port=implicit.port, security=Security.SSL_TLS
    )


# -- start-up cleanup and start-up speed ----------------------------------------------


def _orphan(data_dir: Path, target: str) -> Path:
    """A temporary file as a save killed before its rename leaves it (fresh, so not stale)."""
    orphan = data_dir / f".{target}.k1ll3d{fsutil.TEMP_SUFFIX}"
    orphan.write_bytes(b"half a save")
    return orphan


@pytest.mark.parametrize(
    "command",
    [
        ["set", "--port", "2526"],
        ["reset", "--yes"],
    ],
)
def test_writing_calls_remove_what_killed_saves_left_behind(
    data_dir: Path, command: list[str]
) -> None:
    set_full()
    orphans = [_orphan(data_dir, "settings.enc"), _orphan(data_dir, keys.KEY_FILE_NAME)]

    assert run_cli("show").returncode == 0
    assert run_cli("audit").returncode == 0
    assert all(orphan.exists() for orphan in orphans)  # reading calls leave them alone

    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    assert not any(orphan.exists() for orphan in orphans)


def test_a_check_without_a_test_email_does_not_clean_up(data_dir: Path) -> None:
    Store(data_dir).save(make_settings(free_port()))  # nothing listens: it fails at once
    orphan = _orphan(data_dir, "settings.enc")
    assert run_cli("test").returncode == 6
    assert orphan.exists()


SHOW_DRIVER = """
import json, runpy, sys
sys.argv = ["configurator", *sys.argv[1:]]
try:
    runpy.run_module("configurator", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize(
    ("args", "code"),
    [(["show"], 0), (["set", "--port", "2526"], 0), (["audit"], 0), (["reset", "--yes"], 0)],
)
def test_only_writing_calls_load_the_lock_and_the_trail(
    data_dir: Path, args: list[str], code: int
) -> None:
    set_full()
    completed = subprocess.run(
        [sys.executable, "-c", SHOW_DRIVER, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["code"] == code, completed.stderr
    loaded = set(report["modules"])
    if args == ["show"]:
        assert "filelock" not in loaded
        assert "configurator.audit" not in loaded
    else:
        assert "configurator.audit" in loaded
        # The locks are taken by fsutil (flock, without following links), not filelock.
        assert ("filelock" in loaded) == (os.name != "posix" and args[0] != "audit")


# -- alike in the window and here ------------------------------------------------------


def test_saves_name_their_revision_as_the_window_does(data_dir: Path) -> None:
    set_full()
    assert run_cli("set", "--port", "2526").returncode == 0
    assert [entry["detail"] for entry in entries()] == ["revision 1", "revision 2"]
    rows = table_rows(run_cli("audit").stdout)
    assert [row[4] for row in rows] == ["revision 1", "revision 2"]


def test_times_are_local_with_their_zone(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    set_full()
    monkeypatch.setenv("TZ", "Europe/Berlin")
    [row] = table_rows(run_cli("audit").stdout)
    [entry] = entries()
    assert isinstance(entry["time"], str)
    local = dt.datetime.fromisoformat(entry["time"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert row[0] == f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
    assert row[0].endswith((" CET", " CEST"))
    assert entry["time"].endswith("+00:00")  # JSON keeps the time as recorded, in UTC
