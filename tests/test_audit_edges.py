"""Edges of the audit trail: summaries and JSON word for word, the last change, damaged lines."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import testkeyring

from configurator import audit, fsutil, keys, model
from configurator.audit import Action, Entry

LOG = audit.AUDIT_FILE_NAME


def record(data_dir: Path, action: Action, **kwargs: object) -> None:
    assert audit.record(data_dir, action, **kwargs) is None  # type: ignore[arg-type]


def label(key: str) -> str:
    return model.FIELDS_BY_KEY[key].label


def test_a_summary_names_the_action_the_fields_and_the_detail() -> None:
    entry = Entry(
        seq=4,
        time="2026-01-02T03:04:05+00:00",
        user="alice",
        action="submit",
        fields=("server", "password", "retired_field"),
        detail="from the command line",
        line=4,
        verified=True,
    )
    assert entry.summary() == (
        "2026-01-02T03:04:05+00:00  alice  settings saved: changed "
        f"{label('server')}, {label('password')}, retired_field (from the command line)"
    )
    assert entry.to_dict() == {
        "seq": 4,
        "time": "2026-01-02T03:04:05+00:00",
        "user": "alice",
        "action": "submit",
        "fields_changed": ["server", "password", "retired_field"],
        "detail": "from the command line",
        "line": 4,
        "verified": True,
    }


def test_a_summary_of_an_unknown_action_shows_it_as_written() -> None:
    entry = Entry(
        seq=1, time="t", user="bob", action="archived", fields=(), detail="", line=1, verified=False
    )
    assert entry.summary() == "t  bob  archived"


def test_the_report_as_json_holds_every_entry(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT, fields_changed=("server",))
    record(data_dir, Action.CHECK)
    report = audit.read(data_dir)
    assert report.to_dict() == {
        "path": str(data_dir / LOG),
        "readable": True,
        "intact": True,
        "problem": None,
        "warnings": [],
        "entries": [entry.to_dict() for entry in report.entries],
    }
    first, second = report.entries
    assert (first.seq, first.action, first.fields, first.line) == (1, "submit", ("server",), 1)
    assert (second.seq, second.action, second.detail, second.verified) == (2, "check", "", True)


def test_the_last_change_is_the_latest_of_several(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT, fields_changed=("server",))
    record(data_dir, Action.RESET)
    record(data_dir, Action.CHECK, detail="passed")
    record(data_dir, Action.START_AGAIN, detail="settings.enc.unreadable-x")
    record(data_dir, Action.CHECK, detail="passed again")
    last = audit.last_change(data_dir)
    assert last is not None
    assert (last.seq, last.action, last.detail) == (4, "start_again", "settings.enc.unreadable-x")


def test_the_last_change_is_read_with_the_key_backend_given(
    data_dir: Path, test_keyring: testkeyring.TestKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(data_dir, Action.SUBMIT, detail="kept in the keyring", key_backend="keyring")
    monkeypatch.setenv(keys.BACKEND_ENV, "file")
    last = audit.last_change(data_dir, "keyring")
    assert last is not None
    assert last.verified
    assert last.detail == "kept in the keyring"


def test_several_cut_off_records_are_listed_together(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK)
    path = data_dir / LOG
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    # Two records cut off in turn, then the next writer appends after them.
    path.write_bytes(whole + lines[1][:30] + b"\n" + lines[1][:20])
    record(data_dir, Action.CHECK, detail="after")
    report = audit.read(data_dir)
    assert report.intact, report.problem
    assert report.warnings == (
        f"Line(s) 3, 4 of {LOG} hold the remains of a record cut off by an interruption; "
        "the next record notes it, and the trail continues intact.",
    )


def test_lines_that_are_no_records_are_an_edit(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK)
    path = data_dir / LOG
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + b"an inserted line\n" + second)
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem == (
        f"Line(s) 2 of {LOG} are not records of this trail: the file has been edited."
    )


def test_two_separate_interruptions_are_each_reported(data_dir: Path) -> None:
    path = data_dir / LOG
    record(data_dir, Action.SUBMIT)
    for _ in range(2):
        whole = path.read_bytes()
        last = whole.splitlines(keepends=True)[-1]
        path.write_bytes(whole + last[:25])
        record(data_dir, Action.CHECK)
    report = audit.read(data_dir)
    assert report.intact, report.problem
    assert [entry.seq for entry in report.entries] == [1, 2, 3]
    assert len(report.warnings) == 2
    assert report.warnings[0].startswith("Line(s) 2 of ")
    assert report.warnings[1].startswith("Line(s) 4 of ")


def test_a_record_cut_off_at_the_end_is_reported_as_such(data_dir: Path) -> None:
    for _ in range(3):
        record(data_dir, Action.CHECK)
    path = data_dir / LOG
    path.write_bytes(path.read_bytes()[:-30])
    report = audit.read(data_dir)
    assert report.intact
    assert [entry.seq for entry in report.entries] == [1, 2]
    assert report.warnings == (
        f"The end of {LOG} (line 3) is not a complete record: most likely the program "
        "was interrupted while writing it. The records before it are intact.",
    )


@pytest.mark.parametrize(
    ("removed", "problem"),
    [
        ([1], "Record 2 is missing before line 2 of {log}: removed from the trail."),
        ([1, 2], "Records 2-3 are missing before line 2 of {log}: removed from the trail."),
    ],
)
def test_removed_records_are_named(data_dir: Path, removed: list[int], problem: str) -> None:
    for _ in range(4):
        record(data_dir, Action.CHECK)
    path = data_dir / LOG
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(line for index, line in enumerate(lines) if index not in removed))
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem == problem.format(log=LOG)


def test_records_of_a_lost_audit_key_are_named_by_their_lines(data_dir: Path) -> None:
    for _ in range(3):
        record(data_dir, Action.CHECK)
    (data_dir / audit.AUDIT_KEY_NAME).unlink()
    record(data_dir, Action.SUBMIT)
    report = audit.read(data_dir)
    assert not report.intact
    assert report.problem == (
        "Records on lines 1-3 were sealed with an audit key that no longer exists, "
        "so they cannot be verified."
    )


@pytest.mark.parametrize("edit", ["upper", "not-hex"])
def test_a_mac_written_differently_does_not_verify(data_dir: Path, edit: str) -> None:
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK)
    path = data_dir / LOG
    first, second = path.read_bytes().splitlines(keepends=True)
    mac = json.loads(first)["mac"]
    changed = mac.upper() if edit == "upper" else "zz" + mac[2:]
    path.write_bytes(first.replace(mac.encode(), changed.encode()) + second)
    report = audit.read(data_dir)
    assert not report.intact
    assert not report.entries[0].verified


def test_without_the_key_only_records_that_have_a_detail_show_it_sealed(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK, detail="passed")
    (data_dir / audit.AUDIT_KEY_NAME).unlink()
    report = audit.read(data_dir)
    assert not report.intact
    assert [entry.detail for entry in report.entries] == ["", "(sealed)"]
    assert not any(entry.verified for entry in report.entries)


# -- the record format ----------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        {"v": 2},
        {"seq": True},
        {"seq": 0},
        {"seq": "1"},
        {"mac": "ab" * 31},
        {"mac": 7},
        {"fields": "server"},
        {"fields": [1]},
        {"after_torn": "yes"},
        {"time": 5},
        {"user": None},
        {"action": 1},
        {"detail": 2},
        {"kid": 3},
    ],
    ids=lambda edit: "-".join(f"{key}={value!r}" for key, value in edit.items()),
)
def test_a_record_with_a_field_of_the_wrong_kind_is_no_record(
    data_dir: Path, edit: dict[str, object]
) -> None:
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK)
    path = data_dir / LOG
    first, second = path.read_bytes().splitlines(keepends=True)
    fields = json.loads(first)
    fields.update(edit)
    path.write_bytes(json.dumps(fields).encode() + b"\n" + second)
    report = audit.read(data_dir)
    assert report.problem == (
        f"Line(s) 1 of {LOG} are not records of this trail: the file has been edited."
    )


@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"{]"])
def test_a_line_of_other_json_is_no_record(data_dir: Path, line: bytes) -> None:
    record(data_dir, Action.SUBMIT)
    path = data_dir / LOG
    path.write_bytes(line + b"\n" + path.read_bytes())
    report = audit.read(data_dir)
    assert report.problem == (
        f"Line(s) 1 of {LOG} are not records of this trail: the file has been edited."
    )


def test_the_canonical_form_is_sorted_compact_ascii_json() -> None:
    """Every MAC covers these bytes: changing the form would break every existing trail."""
    assert audit._canonical({"user": "jörg", "seq": 1, "fields": ["a", "b"]}) == (
        b'{"fields":["a","b"],"seq":1,"user":"j\\u00f6rg"}'
    )


def test_the_subkeys_are_hmac_sha256_of_the_purpose() -> None:
    import hashlib
    import hmac

    key = bytes(range(32))
    for purpose in (b"chain", b"detail"):
        expected = hmac.new(key, b"configurator audit " + purpose, hashlib.sha256).digest()
        assert audit._subkey(key, purpose) == expected


def test_the_account_is_recorded_from_the_user_id_not_from_logname(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone can set LOGNAME; the trail names the account the process runs as."""
    monkeypatch.setenv("LOGNAME", "Jo Doe")
    monkeypatch.setenv("USER", "Jo Doe")
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK)
    report = audit.read(data_dir)
    assert report.intact, report.problem
    account = fsutil.account_name(os.getuid())
    assert account != "Jo Doe"
    assert [(entry.seq, entry.user) for entry in report.entries] == [(1, account), (2, account)]


def test_a_trail_longer_than_one_read_is_continued_after_its_last_record(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT)
    path = data_dir / LOG
    first = path.read_bytes()
    # The last record straddles the 64 KiB boundary of the reads.
    path.write_bytes(b"x" * (65536 - 100) + b"\n" + first)
    record(data_dir, Action.CHECK)
    assert [entry.seq for entry in audit.read(data_dir).entries] == [1, 2]


def test_a_missing_trail_is_an_empty_intact_one(data_dir: Path) -> None:
    report = audit.read(data_dir)
    assert report == audit.AuditReport(data_dir / LOG, (), True, None)


def test_a_trail_that_cannot_be_read_says_why(data_dir: Path) -> None:
    (data_dir / LOG).mkdir(parents=True)
    report = audit.read(data_dir)
    path = data_dir / LOG
    assert report == audit.AuditReport(
        path,
        (),
        False,
        f"The audit trail cannot be checked: {path} is a directory, not a regular file: "
        "refused (it was not read or changed). Move it out of the way, then try again.",
        readable=False,
    )


def test_the_trail_is_read_with_the_key_backend_given(
    data_dir: Path, test_keyring: testkeyring.TestKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(data_dir, Action.CHECK, key_backend="keyring")
    monkeypatch.setenv(keys.BACKEND_ENV, "file")
    assert audit.read(data_dir, "keyring").intact
    assert not audit.read(data_dir).intact


@pytest.mark.skipif(not hasattr(os, "setuid") or os.geteuid() != 0, reason="needs root")
def test_an_account_without_a_name_is_recorded_by_its_number(tmp_path: Path) -> None:
    record(tmp_path / "warm-up", Action.CHECK)  # the same code, in this process
    # Outside pytest's temporary directories, which only root may enter.
    # A folder others may write is refused: this one belongs to the nameless account.
    shared = Path(tempfile.mkdtemp(prefix="audit-nameless-"))
    os.chown(shared, 4242, 4242)
    code = (
        "import os, sys, getpass, pwd\n"
        "from pathlib import Path\n"
        "from configurator import audit\n"
        # Everything the record imports lazily, while the standard library is readable.
        "audit.record(Path(sys.argv[2]), 'check')\n"
        "audit.read(Path(sys.argv[2]))\n"
        "for name in ('LOGNAME', 'USER', 'LNAME', 'USERNAME'):\n"
        "    os.environ.pop(name, None)\n"
        "os.setgid(4242)\n"
        "os.setuid(4242)\n"
        "print(audit.record(Path(sys.argv[1]), 'check') or '', file=sys.stderr)\n"
        "print(audit.read(Path(sys.argv[1])).entries[-1].user)\n"
    )
    try:
        completed = subprocess.run(
            [sys.executable, "-c", code, str(shared), str(tmp_path / "warm-up-too")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(shared)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "uid 4242"


def test_a_changed_record_is_named_with_its_line(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT)
    record(data_dir, Action.CHECK)
    path = data_dir / LOG
    first, second = path.read_bytes().splitlines(keepends=True)
    fields = json.loads(first)
    fields["action"] = "reset"
    path.write_bytes(audit._canonical(fields) + b"\n" + second)
    report = audit.read(data_dir)
    assert report.problem == (
        f"Record 1 (line 1 of {LOG}) does not match the chain: it was changed, or records "
        "around it were removed, inserted or reordered."
    )


def test_a_detail_that_cannot_be_opened_under_a_valid_mac_is_damaged(data_dir: Path) -> None:
    """Only a holder of the audit key can do this; the reader still refuses the detail."""
    record(data_dir, Action.CHECK, detail="passed")
    key = keys.FileKeyStore(data_dir, audit.AUDIT_KEY_NAME).read()
    assert key is not None
    path = data_dir / LOG
    fields = json.loads(path.read_bytes())
    del fields["mac"]
    fields["detail"] = base64.b64encode(bytes(40)).decode()
    fields["mac"] = audit._mac(key, bytes(32), fields)
    path.write_bytes(audit._canonical(fields) + b"\n")
    report = audit.read(data_dir)
    assert report.problem == "The detail of record 1 (line 1) cannot be opened."
    entry = report.entries[0]
    assert (entry.detail, entry.verified) == ("(damaged)", False)


def test_a_detail_with_text_that_is_no_unicode_is_kept_with_a_replacement(
    data_dir: Path,
) -> None:
    record(data_dir, Action.CHECK, detail="before\ud800after")
    assert audit.read(data_dir).entries[0].detail == "before?after"


def test_unknown_field_keys_are_named_all(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown field key") as caught:
        audit.record(data_dir, Action.SUBMIT, fields_changed=("server", "colour", "flavour"))
    assert str(caught.value) == "unknown field key(s): colour, flavour"


def test_a_trail_that_cannot_be_written_names_the_reason(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "data"
    not_a_directory.write_text("a file")
    warning = audit.record(not_a_directory, Action.CHECK)
    assert warning == (
        f"The audit trail in {not_a_directory} could not be updated (File exists); "
        "this event (mail server checked) is not recorded there."
    )


def test_a_trail_without_its_key_says_so(data_dir: Path) -> None:
    record(data_dir, Action.CHECK)
    (data_dir / audit.AUDIT_KEY_NAME).unlink()
    report = audit.read(data_dir)
    assert report.problem == "The audit trail cannot be verified: its key (audit.key) is missing."


def test_records_go_where_the_key_backend_given_says(
    data_dir: Path, test_keyring: testkeyring.TestKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(keys.BACKEND_ENV, "file")
    record(data_dir, Action.CHECK, key_backend="keyring")
    record(data_dir, Action.CHECK, key_backend="keyring")
    assert not (data_dir / audit.AUDIT_KEY_NAME).exists()
    assert audit.read(data_dir, "keyring").intact


def test_records_with_the_key_file_keep_one_key(data_dir: Path) -> None:
    record(data_dir, Action.SUBMIT, key_backend="file")
    key_before = (data_dir / audit.AUDIT_KEY_NAME).read_bytes()
    record(data_dir, Action.CHECK, key_backend="file")
    assert (data_dir / audit.AUDIT_KEY_NAME).read_bytes() == key_before
    report = audit.read(data_dir, "file")
    assert report.intact
    assert all(entry.verified for entry in report.entries)


def test_asking_for_a_keyring_that_is_not_there_is_reported(data_dir: Path) -> None:
    """The null keyring answers "no such key" to every question but stores nothing."""
    import keyring
    from keyring.backends import null

    keyring.set_keyring(null.Keyring())
    warning = audit.record(data_dir, Action.CHECK, key_backend="keyring")
    assert warning == (
        f"The audit trail in {data_dir} could not be updated ({keys.BACKEND_ENV}=keyring, "
        "but no usable OS keyring is available); this event (mail server checked) is not "
        "recorded there."
    )


def test_the_detail_of_a_record_that_does_not_verify_stays_sealed(data_dir: Path) -> None:
    record(data_dir, Action.CHECK, detail="first")
    record(data_dir, Action.CHECK, detail="second")
    path = data_dir / LOG
    second = path.read_bytes().splitlines(keepends=True)[1]
    path.write_bytes(second)  # the first record removed: the second no longer chains
    report = audit.read(data_dir)
    assert not report.intact
    entry = report.entries[0]
    assert (entry.seq, entry.verified, entry.detail) == (2, False, "(sealed)")
