"""The audit trail: records on real files, checked link by link; edits, crashes and Reset."""

from __future__ import annotations

import datetime as dt
import errno
import getpass
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import secrets, testkeyring
from support.faultdriver import Driver

from configurator import audit, fsutil, keys, model
from configurator.audit import Action
from configurator.store import Store

REPO = Path(__file__).resolve().parents[1]
LOG = audit.AUDIT_FILE_NAME
PASSWORD = "audit-Passwört-2718"


def sample_settings(**changes: object) -> model.Settings:
    values: dict[str, object] = {
        "account_name": "Überwachung Nord",
        "account_email": "alerts@example.org",
        "server": "relay-7.mail.example.org",
        "port": "2587",
        "security": "starttls",
        "auth": "login_plain",
        "username": "alerts-user",
        "password": PASSWORD,
    }
    values.update(changes)
    return model.build(values)


def record(data_dir: Path, action: Action = Action.SUBMIT, **kwargs: object) -> None:
    assert audit.record(data_dir, action, **kwargs) is None  # type: ignore[arg-type]


def three_records(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT, fields_changed=("server", "port", "password"))
    record(data_dir, Action.CHECK, detail="authentication rejected")
    record(data_dir, Action.RESET)


def lines(data_dir: Path) -> list[bytes]:
    return (data_dir / LOG).read_bytes().splitlines(keepends=True)


def write_lines(data_dir: Path, new: list[bytes]) -> None:
    (data_dir / LOG).write_bytes(b"".join(new))


# -- what is recorded ---------------------------------------------------------------


def test_records_come_back_in_order_with_who_when_and_what(data_dir: Path) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    three_records(data_dir)
    report = audit.read(data_dir)
    assert report.intact
    assert report.problem is None
    assert report.warnings == ()
    assert [e.seq for e in report.entries] == [1, 2, 3]
    assert [e.action for e in report.entries] == ["submit", "check", "reset"]
    assert report.entries[0].fields == ("server", "port", "password")
    assert report.entries[1].detail == "authentication rejected"
    assert all(e.verified for e in report.entries)
    assert {e.user for e in report.entries} == {getpass.getuser()}
    for entry in report.entries:
        when = dt.datetime.fromisoformat(entry.time)
        assert when.utcoffset() == dt.timedelta(0)
        assert before <= when <= dt.datetime.now(dt.UTC)
    assert [e.line for e in report.entries] == [1, 2, 3]


def test_a_summary_names_fields_and_never_a_value(data_dir: Path) -> None:
    old = sample_settings()
    new = sample_settings(port="465", security="ssl_tls", password="another-Secret-1")
    secrets.secret("another-Secret-1")
    secrets.secret(PASSWORD)
    changed = audit.changed_fields(old, new)
    assert changed == ("port", "security", "password")
    record(data_dir, Action.SUBMIT, fields_changed=changed)
    (entry,) = audit.read(data_dir).entries
    summary = entry.summary()
    assert "settings saved: changed Server Port, Connection Security, Password" in summary
    secrets.assert_clean(summary, json.dumps(entry.to_dict()))


def test_changed_fields_of_a_first_save_lists_what_differs_from_the_defaults() -> None:
    first = audit.changed_fields(None, sample_settings())
    assert first[:3] == ("account_name", "account_email", "server")
    assert "password" in first
    assert "security" not in first  # STARTTLS is the default
    assert audit.changed_fields(sample_settings(), sample_settings()) == ()


def test_no_setting_value_reaches_the_disk(data_dir: Path, tmp_path: Path) -> None:
    """Field names and the outcome only; even a detail naming the server is sealed."""
    secrets.secret(PASSWORD)
    settings = sample_settings()
    Store(data_dir).save(settings)
    record(data_dir, Action.SUBMIT, fields_changed=audit.changed_fields(None, settings))
    record(data_dir, Action.CHECK, detail=f"could not connect to {settings.server}:{settings.port}")
    values = [str(v) for v in settings.to_dict(include_password=True).values() if v]
    values = [v for v in values if len(v) >= 6]  # short ones ("starttls") are field words too
    for path in data_dir.iterdir():
        if path.is_file():
            blob = path.read_bytes()
            for value in values:
                assert value.encode() not in blob, (path.name, value)
            secrets.assert_clean(blob)
    assert (
        audit.read(data_dir).entries[1].detail
        == "could not connect to relay-7.mail.example.org:2587"
    )


def test_files_are_private(data_dir: Path) -> None:
    record(data_dir)
    if os.name == "posix":
        for name in (LOG, audit.AUDIT_KEY_NAME):
            assert (data_dir / name).stat().st_mode & 0o777 == 0o600, name
        assert data_dir.stat().st_mode & 0o777 == 0o700


def test_one_json_record_per_line(data_dir: Path) -> None:
    three_records(data_dir)
    raw = (data_dir / LOG).read_bytes()
    assert raw.endswith(b"\n")
    parsed = [json.loads(line) for line in raw.splitlines()]
    assert [record["seq"] for record in parsed] == [1, 2, 3]
    assert all(len(record["mac"]) == 64 for record in parsed)
    assert parsed[1]["detail"] != "authentication rejected"  # sealed


def test_a_long_detail_is_cut_short(data_dir: Path) -> None:
    record(data_dir, Action.CHECK, detail="x" * 5000)
    assert audit.read(data_dir).entries[0].detail == "x" * audit.MAX_DETAIL


def test_a_line_break_in_a_detail_cannot_forge_a_record(data_dir: Path) -> None:
    record(data_dir, Action.CHECK, detail='ok"}\n{"v":1,"seq":99}\n')
    assert len(lines(data_dir)) == 1
    assert audit.read(data_dir).entries[0].detail == 'ok"}\n{"v":1,"seq":99}\n'


def test_nothing_recorded_yet(data_dir: Path) -> None:
    report = audit.read(data_dir)
    assert (report.entries, report.intact, report.problem) == ((), True, None)
    assert audit.last_change(data_dir) is None


def test_last_change_skips_checks_and_failed_unlocks(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT, fields_changed=["port"])
    record(data_dir, Action.START_AGAIN)
    record(data_dir, Action.CHECK, detail="passed")
    record(data_dir, Action.UNLOCK_FAILED, detail="tampered")
    last = audit.last_change(data_dir)
    assert last is not None
    assert (last.seq, last.action) == (2, "start_again")


def test_report_as_json(data_dir: Path) -> None:
    three_records(data_dir)
    data = json.loads(json.dumps(audit.read(data_dir).to_dict()))
    assert data["intact"] is True
    assert data["path"] == str(data_dir / LOG)
    assert [e["action"] for e in data["entries"]] == ["submit", "check", "reset"]
    assert data["entries"][0]["fields_changed"] == ["server", "port", "password"]


@pytest.mark.parametrize(
    ("action", "fields"),
    [("saved", ()), ("", ()), (Action.SUBMIT, ("port", "colour"))],
)
def test_a_wrong_action_or_field_is_a_programming_error(
    data_dir: Path, action: str, fields: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=r"colour|is not a valid Action"):
        audit.record(data_dir, action, fields_changed=fields)
    assert not (data_dir / LOG).exists()


# -- surviving Reset -----------------------------------------------------------------


def test_the_trail_survives_reset(data_dir: Path) -> None:
    a_store = Store(data_dir)
    a_store.save(sample_settings())
    record(data_dir, Action.SUBMIT, fields_changed=["port"])
    assert a_store.reset() == []
    record(data_dir, Action.RESET)
    assert not (data_dir / keys.KEY_FILE_NAME).exists()
    assert (data_dir / audit.AUDIT_KEY_NAME).exists()
    report = audit.read(data_dir)
    assert report.intact
    assert [e.action for e in report.entries] == ["submit", "reset"]


def test_the_trail_survives_reset_with_the_key_in_the_keyring(
    data_dir: Path, test_keyring: testkeyring.TestKeyring
) -> None:
    a_store = Store(data_dir)
    a_store.save(sample_settings())
    record(data_dir, Action.SUBMIT)
    assert not (data_dir / audit.AUDIT_KEY_NAME).exists()  # it went to the keyring too
    assert keys.KeyringKeyStore(data_dir, entry=audit.AUDIT_KEY_NAME).read() is not None
    a_store.reset()
    assert keys.KeyringKeyStore(data_dir).read() is None
    record(data_dir, Action.RESET)
    report = audit.read(data_dir)
    assert report.intact
    assert len(report.entries) == 2


def test_a_locked_keyring_is_reported_and_no_new_key_is_made(
    data_dir: Path, test_keyring: testkeyring.TestKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(data_dir)
    key = keys.KeyringKeyStore(data_dir, entry=audit.AUDIT_KEY_NAME).read()
    monkeypatch.setenv("TEST_KEYRING_STATE", "locked")
    warning = audit.record(data_dir, Action.CHECK)
    assert warning is not None
    assert "locked" in warning
    assert "not recorded" in warning
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem is not None
    assert "cannot be verified" in report.problem
    assert [e.verified for e in report.entries] == [False]
    monkeypatch.setenv("TEST_KEYRING_STATE", "")
    assert keys.KeyringKeyStore(data_dir, entry=audit.AUDIT_KEY_NAME).read() == key
    assert audit.read(data_dir).intact
    assert not (data_dir / audit.AUDIT_KEY_NAME).exists()


# -- tampering ------------------------------------------------------------------------

Edit = Callable[[list[bytes]], list[bytes]]


def replace_in(index: int, old: bytes, new: bytes) -> Edit:
    def edit(found: list[bytes]) -> list[bytes]:
        assert old in found[index]
        changed = list(found)
        changed[index] = found[index].replace(old, new, 1)
        return changed

    return edit


def drop(index: int) -> Edit:
    return lambda found: found[:index] + found[index + 1 :]


def swap(found: list[bytes]) -> list[bytes]:
    return [found[1], found[0], *found[2:]]


def duplicate(index: int) -> Edit:
    return lambda found: [*found[: index + 1], found[index], *found[index + 1 :]]


def insert_junk(found: list[bytes]) -> list[bytes]:
    return [found[0], b"not a record\n", *found[1:]]


def flip_mac(found: list[bytes]) -> list[bytes]:
    record_ = json.loads(found[0])
    record_["mac"] = ("1" if record_["mac"][0] == "0" else "0") + record_["mac"][1:]
    return [json.dumps(record_).encode() + b"\n", *found[1:]]


def mac_made(transform: Callable[[str], str]) -> Edit:
    def edit(found: list[bytes]) -> list[bytes]:
        record_ = json.loads(found[0])
        record_["mac"] = transform(record_["mac"])
        return [json.dumps(record_).encode() + b"\n", *found[1:]]

    return edit


def recompute_mac_without_key(found: list[bytes]) -> list[bytes]:
    """An editor who knows the format but not the key: a plain SHA-256 in place of the MAC."""
    import hashlib

    record_ = json.loads(found[1])
    record_["user"] = "someone-else"
    body = {k: v for k, v in record_.items() if k != "mac"}
    record_["mac"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return [found[0], json.dumps(record_).encode() + b"\n", found[2]]


TAMPERING: list[tuple[str, Edit, str]] = [
    ("user changed", replace_in(1, b'"user":"', b'"user":"x'), "Record 2 (line 2"),
    ("action changed", replace_in(1, b'"check"', b'"reset"'), "Record 2 (line 2"),
    ("fields changed", replace_in(0, b'"password"', b'"username"'), "Record 1 (line 1"),
    ("time changed", replace_in(2, b'"time":"2', b'"time":"1'), "Record 3 (line 3"),
    ("MAC changed", flip_mac, "Record 1 (line 1"),
    ("MAC in capitals", mac_made(str.upper), "Record 1 (line 1"),
    ("middle record removed", drop(1), "Record 2 is missing before line 2"),
    ("first record removed", drop(0), "Record 1 is missing before line 1"),
    ("records swapped", swap, "line 1"),
    ("record repeated", duplicate(0), "line 2"),
    ("junk line inserted", insert_junk, "Line(s) 2 of audit.log are not records"),
    ("MAC forged without the key", recompute_mac_without_key, "Record 2 (line 2"),
]


@pytest.mark.parametrize(
    ("edit", "where"), [case[1:] for case in TAMPERING], ids=[case[0] for case in TAMPERING]
)
def test_every_edit_of_the_trail_is_detected(data_dir: Path, edit: Edit, where: str) -> None:
    three_records(data_dir)
    write_lines(data_dir, edit(lines(data_dir)))
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem is not None
    assert where in report.problem
    if "not records" not in where:  # a junk line is no record: every real one still verifies
        assert not all(entry.verified for entry in report.entries)


def test_reading_the_trail_asks_no_keyring_when_the_key_file_holds_the_key(
    data_dir: Path,
) -> None:
    """The window reads the trail at every start; importing keyring would double its time."""
    three_records(data_dir)
    assert (data_dir / audit.AUDIT_KEY_NAME).exists()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from configurator import audit\n"
        "report = audit.read(Path(sys.argv[1]), 'auto')\n"
        "print(report.intact, len(report.entries), 'keyring' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert completed.stdout.split() == ["True", "3", "False"]


def test_records_before_an_edit_stay_verified_and_later_ones_too(data_dir: Path) -> None:
    for _ in range(5):
        record(data_dir, Action.CHECK, detail="passed")
    write_lines(data_dir, replace_in(2, b'"check"', b'"reset"')(lines(data_dir)))
    report = audit.read(data_dir)
    assert [e.verified for e in report.entries] == [True, True, False, True, True]
    assert report.problem is not None
    assert "Record 3 (line 3" in report.problem


def test_a_replaced_audit_key_is_reported_and_new_records_verify(data_dir: Path) -> None:
    record(data_dir)
    record(data_dir)
    (data_dir / audit.AUDIT_KEY_NAME).unlink()
    missing = audit.read(data_dir)
    assert not missing.intact
    assert missing.problem is not None
    assert "missing" in missing.problem

    record(data_dir, Action.CHECK)  # a new key: the trail goes on, the break stays visible
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem is not None
    assert "lines 1-2" in report.problem
    assert [e.verified for e in report.entries] == [False, False, True]


def test_an_audit_key_open_to_others_is_refused(data_dir: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    record(data_dir)
    (data_dir / audit.AUDIT_KEY_NAME).chmod(0o644)
    warning = audit.record(data_dir, Action.CHECK)
    assert warning is not None
    assert "chmod 600" in warning
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem is not None
    assert "chmod 600" in report.problem
    assert len(lines(data_dir)) == 1


# -- crashes ----------------------------------------------------------------------------


def test_every_cut_through_the_last_record_leaves_the_earlier_ones_intact(
    data_dir: Path,
) -> None:
    three_records(data_dir)
    whole = (data_dir / LOG).read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start + 1, len(whole) - 1):
        (data_dir / LOG).write_bytes(whole[:cut])
        report = audit.read(data_dir)
        assert report.intact, cut
        assert [e.seq for e in report.entries] == [1, 2], cut
        assert all(e.verified for e in report.entries)
        assert len(report.warnings) == 1
        assert "interrupted" in report.warnings[0]


def test_after_a_cut_off_record_the_trail_goes_on_and_keeps_the_remnant(data_dir: Path) -> None:
    three_records(data_dir)
    whole = (data_dir / LOG).read_bytes()
    remnant = whole[: len(whole) - 40]
    (data_dir / LOG).write_bytes(remnant)
    record(data_dir, Action.CHECK, detail="passed")
    assert (data_dir / LOG).read_bytes().startswith(remnant + b"\n")  # appended, not rewritten
    report = audit.read(data_dir)
    assert report.intact
    assert [e.seq for e in report.entries] == [1, 2, 3]
    assert report.entries[-1].detail == "passed"
    assert len(report.warnings) == 1
    assert "Line(s) 3" in report.warnings[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_writer_killed_at_any_moment_never_damages_earlier_records(data_dir: Path) -> None:
    import random

    record(data_dir)
    rng = random.Random(99)
    driver = Driver("forker", data_dir)
    kills = 0
    try:
        # At least 40 kills, and on until more than 10 writers got a record in before
        # theirs: on a busy machine a writer needs longer, so the waits grow each round.
        while kills < 40 or len(audit.read(data_dir).entries) <= 10:
            assert kills < 400, "the writers never got a record written"
            pid = int(driver.ask("audit"))
            time.sleep(rng.uniform(0.002, 0.02) * (1 + kills // 40))
            os.kill(pid, signal.SIGKILL)
            kills += 1
            assert driver.ask(f"reap {pid}") == f"signal {signal.SIGKILL}"
            report = audit.read(data_dir)
            assert report.intact, report.problem
            assert [e.seq for e in report.entries] == list(range(1, len(report.entries) + 1))
    finally:
        assert driver.close() == ""


def test_two_writers_at_once_interleave_whole_records(data_dir: Path) -> None:
    script = (
        "import sys\nfrom pathlib import Path\nfrom configurator import audit\n"
        "for _ in range(40):\n"
        "    assert audit.record(Path(sys.argv[1]), 'check', detail=sys.argv[2]) is None\n"
    )
    record(data_dir)
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(data_dir), name], cwd=REPO)
        for name in ("first", "second")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    report = audit.read(data_dir)
    assert report.intact
    assert [e.seq for e in report.entries] == list(range(1, 82))
    details = [e.detail for e in report.entries[1:]]
    assert sorted(details) == ["first"] * 40 + ["second"] * 40


# -- failures never raise ------------------------------------------------------------


def test_a_data_dir_that_is_a_file_gives_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory", encoding="utf-8")
    warning = audit.record(blocker, Action.UNLOCK_FAILED)
    assert warning is not None
    assert "stored settings could not be opened" in warning
    assert "not recorded" in warning


@pytest.mark.parametrize(("call", "error"), [("fsync", errno.EIO), ("open", errno.EROFS)])
def test_a_failing_disk_gives_a_warning(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, call: str, error: int
) -> None:
    record(data_dir)
    real = getattr(os, call)

    def fail(path_or_fd: object, *args: object, **kwargs: object) -> object:
        if call == "open" and not str(path_or_fd).endswith(LOG):
            return real(path_or_fd, *args, **kwargs)
        raise OSError(error, os.strerror(error))

    with monkeypatch.context() as patched:
        patched.setattr(os, call, fail)
        warning = audit.record(data_dir, Action.CHECK)
    assert warning is not None
    assert os.strerror(error) in warning


def test_a_busy_lock_gives_a_warning(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import filelock

    record(data_dir)
    monkeypatch.setattr(audit, "LOCK_TIMEOUT", 0.2)
    with filelock.FileLock(data_dir / audit.LOCK_FILE_NAME):
        warning = audit.record(data_dir, Action.CHECK)
    assert warning is not None
    assert "locked" in warning
    assert len(audit.read(data_dir).entries) == 1


def test_a_missing_keyring_with_the_keyring_backend_gives_a_warning(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(keys.BACKEND_ENV, "keyring")
    warning = audit.record(data_dir, Action.CHECK)
    assert warning is not None
    assert "keyring" in warning
    assert not (data_dir / LOG).exists()


def test_a_line_longer_than_any_record_is_reported_and_not_kept(data_dir: Path) -> None:
    assert audit.record(data_dir, audit.Action.SUBMIT, fields_changed=("port",)) is None
    with open(data_dir / audit.AUDIT_FILE_NAME, "ab") as handle:
        handle.write(b"x" * (3 * fsutil.MAX_RECORD_BYTES) + b"\n")
    report = audit.read(data_dir)
    assert not report.intact
    assert report.readable
    assert report.problem is not None
    assert "Line 2 of audit.log is longer than any record" in report.problem
    assert [entry.seq for entry in report.entries] == [1]


def test_appending_reads_only_the_end_of_a_long_trail(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        assert audit.record(data_dir, audit.Action.CHECK, detail="x" * 400) is None
    with open(data_dir / audit.AUDIT_FILE_NAME, "r+b") as handle:
        records = handle.read()
    # Many records before: the append must not read them (bounded, whatever the length).
    many = records * 40
    (data_dir / audit.AUDIT_FILE_NAME).write_bytes(many)
    read_sizes: list[int] = []
    real_read = os.read

    def counting_read(fd: int, size: int) -> bytes:
        data = real_read(fd, size)
        read_sizes.append(len(data))
        return data

    with monkeypatch.context() as patch:
        patch.setattr(os, "read", counting_read)
        audit.record(data_dir, audit.Action.CHECK)
    assert len(many) > 4 * fsutil.MAX_RECORD_BYTES
    assert sum(read_sizes) <= 2 * fsutil.MAX_RECORD_BYTES + 2 + 4096
