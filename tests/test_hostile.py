"""A hostile neighbour, a hostile file: what another account can plant in a store.

Each test drives the real command line in a subprocess, against real files:
folders others may write, files of another account (``nobody``, when the
suite runs as root), symbolic links, FIFOs, links to ``/dev/zero``, sparse
files of 1 GiB, and twenty writers at once.  Every run has a time limit, so
a command that hangs on a FIFO fails its test instead of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import asuser

from configurator import audit, keys, store
from configurator.store import Store

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
PASSWORD = "hostile-neighbour-pässwörd"
POSIX = os.name == "posix"
AS_ROOT = POSIX and os.geteuid() == 0
needs_posix = pytest.mark.skipif(not POSIX, reason="POSIX owners, modes, FIFOs and links")
needs_root = pytest.mark.skipif(not AS_ROOT, reason="giving files to another account needs root")
# Generous for a loaded machine, far below "hangs forever".
LIMIT = 30
FULL = [
    "--account-name", "Security Monitoring",
    "--account-email", "alerts@example.com",
    "--server", "smtp.example.com",
    "--port", "2525",
    "--security", "ssl_tls",
    "--auth", "login_plain",
    "--username", "alerts@example.com",
]  # fmt: skip


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
    """The command line, in its own process, stopped (and the test failed) after ``LIMIT`` s."""
    completed = subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=LIMIT,
        check=False,
    )
    result = Result(
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "unexpected error" not in result.stderr, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result


def set_full(*extra: str) -> None:
    result = run(*extra, "set", *FULL, "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert result.returncode == 0, result.stderr


def port_of(data_dir: Path) -> int:
    stored = Store(data_dir).load()
    assert stored is not None
    return stored.settings.port


def nobody() -> tuple[int, int]:
    return asuser.nobody()


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A folder every account may enter (not write), outside root's private tmp folder."""
    parent = Path(tempfile.mkdtemp(prefix="configurator-hostile-"))
    parent.chmod(0o755)
    yield parent
    for path in [parent, *parent.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IRWXU)
    shutil.rmtree(parent)


# -- 1. another account that can write the data directory ---------------------------------


@needs_posix
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777, 0o722])
def test_a_data_directory_others_may_write_is_refused_and_not_repaired(
    tmp_path: Path, mode: int
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    result = run("--data-dir", str(shared), "set", *FULL, "--password-stdin", stdin=b"pw\n")
    assert result.returncode == 4
    assert f"{shared} is refused because other users may change it" in result.stderr
    assert stat.filemode(stat.S_IFDIR | mode) in result.stderr
    assert f"chmod 700 {shared}" in result.stderr
    assert os.listdir(shared) == []
    assert stat.S_IMODE(shared.stat().st_mode) == mode


@needs_posix
def test_ones_own_store_made_world_writable_is_refused_by_every_command(data_dir: Path) -> None:
    set_full()
    data_dir.chmod(0o777)
    for command in (["show"], ["set", "--port", "25"], ["reset", "--yes"], ["test"]):
        result = run(*command)
        assert result.returncode == 4, (command, result)
        assert f"chmod 700 {data_dir}" in result.stderr
    audited = run("audit")
    assert audited.returncode == 4
    assert "Chain" not in audited.stdout
    assert f"chmod 700 {data_dir}" in audited.stdout
    data_dir.chmod(0o700)
    assert port_of(data_dir) == 2525


@needs_root
def test_settings_moved_in_by_another_account_are_refused_not_used(
    open_parent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reproduction: A builds a store with USER/LOGNAME of the victim and moves it in."""
    victim = open_parent / "victim"
    set_full("--data-dir", str(victim))
    attacker = open_parent / "attacker"
    attacker.mkdir()
    os.chown(attacker, *nobody())
    monkeypatch.setenv("USER", "root")
    monkeypatch.setenv("LOGNAME", "root")
    built = asuser.run_as(
        *nobody(),
        "--data-dir", str(attacker), "set", *FULL[:4], "--server", "attacker.example.net",
        "--port", "2525", "--security", "ssl_tls", "--auth", "none",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    names = ("settings.enc", "settings.key", "audit.log", "audit.key")
    for name in names:
        (attacker / name).chmod(0o644)
        os.replace(attacker / name, victim / name)
    assert (victim / "settings.enc").stat().st_uid == nobody()[0]

    for command in (["show"], ["test"], ["set", "--port", "465"]):
        result = run("--data-dir", str(victim), *command)
        assert result.returncode == 4, (command, result)
        assert "attacker.example.net" not in result.stdout + result.stderr
        assert "belongs to nobody, another account" in result.stderr
    audited = run("--data-dir", str(victim), "audit")
    assert audited.returncode == 4
    assert "Chain intact" not in audited.stdout
    assert "belongs to nobody, another account" in audited.stdout


@needs_root
def test_a_data_directory_of_another_account_is_refused(open_parent: Path) -> None:
    theirs = open_parent / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, *nobody())
    result = run("--data-dir", str(theirs), "set", *FULL, "--password-stdin", stdin=b"pw\n")
    assert result.returncode == 4
    assert f"{theirs} belongs to nobody, another account" in result.stderr
    assert f"sudo chown -R root {theirs}" in result.stderr
    assert os.listdir(theirs) == []


@needs_posix
def test_the_trail_names_the_account_of_the_real_user_id_not_USER_or_LOGNAME(
    data_dir: Path,
) -> None:
    import pwd

    env = {**os.environ, "USER": "mallory", "LOGNAME": "mallory", "USERNAME": "mallory"}
    result = run("set", *FULL, "--password-stdin", stdin=f"{PASSWORD}\n".encode(), env=env)
    assert result.returncode == 0, result.stderr
    [entry] = audit.read(data_dir).entries
    assert entry.user == pwd.getpwuid(os.getuid()).pw_name != "mallory"


# -- 2. links, FIFOs, devices and giant files -----------------------------------------


def _fifo_instead(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


@needs_posix
@pytest.mark.parametrize("name", ["settings.enc", "settings.key"])
@pytest.mark.parametrize("command", [["show"], ["set", "--port", "465"], ["reset", "--yes"]])
def test_a_fifo_in_place_of_a_store_file_is_refused_at_once(
    data_dir: Path, name: str, command: list[str]
) -> None:
    set_full()
    _fifo_instead(data_dir / name)
    started = time.monotonic()
    result = run(*command)
    assert time.monotonic() - started < LIMIT
    assert result.returncode == 4
    assert f"{data_dir / name} is a FIFO (named pipe), not a regular file: refused" in result.stderr
    assert stat.S_ISFIFO(os.lstat(data_dir / name).st_mode)


@needs_posix
def test_a_fifo_in_place_of_the_audit_trail_stops_no_command_and_is_named(
    data_dir: Path,
) -> None:
    set_full()
    _fifo_instead(data_dir / audit.AUDIT_FILE_NAME)
    audited = run("audit")
    assert audited.returncode == 4
    assert "is a FIFO" in audited.stdout
    assert "Chain broken" not in audited.stdout
    changed = run("set", "--port", "465")
    assert changed.returncode == 4
    assert "audit.log is a FIFO" in changed.stderr
    assert port_of(data_dir) == 2525  # nothing saved that the trail could not record


@needs_posix
@pytest.mark.parametrize("name", ["settings.enc", "settings.key"])
def test_a_link_to_dev_zero_is_refused_never_read(data_dir: Path, name: str) -> None:
    set_full()
    (data_dir / name).unlink()
    (data_dir / name).symlink_to("/dev/zero")
    result = run("show")
    assert result.returncode == 4
    assert f"{data_dir / name} is a symbolic link, not a regular file: refused" in result.stderr
    assert f"rm {data_dir / name}" in result.stderr


@needs_posix
def test_an_audit_trail_linked_to_dev_zero_does_not_let_set_save_and_then_fail(
    data_dir: Path,
) -> None:
    set_full()
    (data_dir / audit.AUDIT_FILE_NAME).unlink()
    (data_dir / audit.AUDIT_FILE_NAME).symlink_to("/dev/zero")
    result = run("set", "--port", "465")
    assert result.returncode == 4
    assert "audit.log is a symbolic link" in result.stderr
    assert "Nothing" in result.stderr or result.stdout == ""
    assert port_of(data_dir) == 2525
    audited = run("audit")
    assert audited.returncode == 4
    assert "is a symbolic link" in audited.stdout


@needs_posix
@pytest.mark.parametrize("plant", ["fifo", "dev-zero"])
def test_the_window_opens_and_explains_over_a_planted_settings_file(
    data_dir: Path, plant: str
) -> None:
    """Neither the load nor the watcher of on-disk changes may read it."""
    set_full()
    (data_dir / "settings.enc").unlink()
    if plant == "fifo":
        os.mkfifo(data_dir / "settings.enc")
    else:
        (data_dir / "settings.enc").symlink_to("/dev/zero")
    result = run("--self-test", env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert "window shown (Settings unreadable)" in result.stdout


@needs_posix
@pytest.mark.parametrize(
    ("name", "limit"), [("settings.enc", 256 * 1024), ("settings.key", 4 * 1024)]
)
def test_a_giant_sparse_file_is_refused_without_being_read(
    data_dir: Path, name: str, limit: int
) -> None:
    set_full()
    with open(data_dir / name, "r+b") as handle:
        handle.truncate(1 << 30)  # 1 GiB, sparse: costs no disk
    started = time.monotonic()
    result = run("show")
    assert time.monotonic() - started < LIMIT
    assert result.returncode == 4
    assert f"{data_dir / name} is {1 << 30} bytes long" in result.stderr
    assert f"({limit} bytes): refused without reading it" in result.stderr


@needs_posix
def test_a_giant_audit_trail_is_not_read_whole_and_the_save_says_what_happened(
    data_dir: Path,
) -> None:
    set_full()
    with open(data_dir / audit.AUDIT_FILE_NAME, "r+b") as handle:
        handle.truncate(1 << 30)  # 1 GiB of zero bytes after its records
    result = run("set", "--port", "465")
    assert result.returncode == 8
    assert "the settings were saved (revision 2), but the audit trail" in result.stderr
    assert "holds no record of the trail" in result.stderr
    assert port_of(data_dir) == 465
    audited = run("audit")
    assert audited.returncode == 4
    assert "is longer than any record" in audited.stdout


@needs_posix
def test_reset_with_the_key_file_a_link_leaves_the_target_alone(
    data_dir: Path, tmp_path: Path
) -> None:
    set_full()
    target = tmp_path / "precious.txt"
    target.write_bytes(b"someone else's file\n")
    (data_dir / keys.KEY_FILE_NAME).unlink()
    (data_dir / keys.KEY_FILE_NAME).symlink_to(target)
    result = run("reset", "--yes")
    assert result.returncode == 4
    assert "settings.key is a symbolic link" in result.stderr
    assert target.read_bytes() == b"someone else's file\n"
    assert (data_dir / "settings.enc").exists()  # nothing erased: refused before the start


@needs_posix
def test_set_with_the_audit_trail_a_link_appends_nothing_to_the_target(
    data_dir: Path, tmp_path: Path
) -> None:
    set_full()
    target = tmp_path / "elsewhere.log"
    shutil.copy(data_dir / audit.AUDIT_FILE_NAME, target)
    before = target.read_bytes()
    (data_dir / audit.AUDIT_FILE_NAME).unlink()
    (data_dir / audit.AUDIT_FILE_NAME).symlink_to(target)
    result = run("set", "--port", "465")
    assert result.returncode == 4
    assert "audit.log is a symbolic link" in result.stderr
    assert target.read_bytes() == before
    assert port_of(data_dir) == 2525


@needs_root
def test_a_data_dir_link_planted_by_another_account_is_not_followed_into_its_folder(
    open_parent: Path,
) -> None:
    target = open_parent / "target"
    target.mkdir(mode=0o755)
    os.chown(target, *nobody())
    link = open_parent / "link"
    link.symlink_to(target)
    result = run("--data-dir", str(link), "set", *FULL, "--password-stdin", stdin=b"pw\n")
    assert result.returncode == 4
    assert f"{target} belongs to nobody, another account" in result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # not chmod-ed
    assert os.listdir(target) == []  # nothing written there


@needs_posix
def test_a_data_dir_given_as_a_link_to_ones_own_folder_is_resolved_once(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    set_full("--data-dir", str(link))
    assert (real / "settings.enc").is_file()
    shown = run("--data-dir", str(link), "show")
    assert shown.returncode == 0
    assert f"{real / 'settings.enc'}" in shown.stdout


@needs_posix
@pytest.mark.parametrize("name", [store.LOCK_FILE_NAME, audit.LOCK_FILE_NAME])
def test_a_lock_file_that_is_a_link_is_refused_by_name(
    data_dir: Path, tmp_path: Path, name: str
) -> None:
    set_full()
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    (data_dir / name).unlink(missing_ok=True)
    (data_dir / name).symlink_to(target)
    result = run("set", "--port", "465")
    assert result.returncode == 4
    assert f"{data_dir / name} is a symbolic link" in result.stderr
    assert target.read_bytes() == b"untouched"
    assert port_of(data_dir) == 2525


@needs_posix
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_ca_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        ca = tmp_path / "ca.pem"
        os.mkfifo(ca)
        words = "is a FIFO (named pipe), not a regular file"
    else:
        ca = Path("/dev/zero")
        words = "is a device, not a regular file"
    result = run("set", *FULL, "--ca-file", str(ca), "--password-stdin", stdin=b"pw\n")
    assert result.returncode == 5
    assert f"CA File: {words}" in result.stderr


@needs_posix
def test_a_ca_file_another_account_may_change_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    ca.chmod(0o666)
    result = run("set", *FULL, "--ca-file", str(ca), "--password-stdin", stdin=b"pw\n")
    assert result.returncode == 5
    assert "may be changed by other accounts (permissions -rw-rw-rw-)" in result.stderr
    assert f"chmod go-w {ca}" in result.stderr
    if AS_ROOT:
        ca.chmod(0o644)
        os.chown(ca, *nobody())
        result = run("set", *FULL, "--ca-file", str(ca), "--password-stdin", stdin=b"pw\n")
        assert result.returncode == 5
        assert "belongs to nobody, another account" in result.stderr


# -- 4. many writers at once ----------------------------------------------------------


def test_twenty_writers_at_once_all_succeed_each_on_the_latest_revision(data_dir: Path) -> None:
    set_full()
    writers = []
    for number in range(20):
        # Even writers change the port, odd ones the account name: each change must
        # land on top of all those before it.
        change = (
            ["--port", str(3000 + number)]
            if number % 2 == 0
            else ["--account-name", f"Writer {number}"]
        )
        writers.append(
            (
                number,
                subprocess.Popen(
                    [*COMMAND, "set", *change],
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ),
            )
        )
    revisions: dict[int, int] = {}
    for number, process in writers:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        assert b"changed elsewhere" not in err
        text = out.decode()
        revisions[int(text.rsplit("(revision ", 1)[1].split(")")[0])] = number
    assert sorted(revisions) == list(range(2, 22))

    stored = Store(data_dir).load()
    assert stored is not None
    assert stored.revision == 21
    last_port_writer = revisions[max(r for r, n in revisions.items() if n % 2 == 0)]
    last_name_writer = revisions[max(r for r, n in revisions.items() if n % 2 == 1)]
    assert stored.settings.port == 3000 + last_port_writer
    assert stored.settings.account_name == f"Writer {last_name_writer}"
    assert stored.settings.server == "smtp.example.com"  # the first save survives them all

    report = audit.read(data_dir)
    assert report.intact, report.problem
    assert len(report.entries) == 21
    assert all(entry.action == "submit" and entry.verified for entry in report.entries)


# -- issue 9: a data folder that is a file, a trail this account cannot read ------------


def test_a_data_dir_that_is_a_file_is_named_as_such_by_every_command(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder\n", encoding="utf-8")
    for command in (["show"], ["set", "--port", "25"], ["reset", "--yes"]):
        result = run("--data-dir", str(blocker), *command)
        assert result.returncode == 4, (command, result)
        assert f"{blocker} is a file, not a directory" in result.stderr
        assert "permission" not in result.stderr
    audited = run("--data-dir", str(blocker), "audit")
    assert audited.returncode == 4
    assert "Chain broken" not in audited.stdout
    assert f"{blocker} is a file, not a directory" in audited.stdout
    as_json = json.loads(run("--data-dir", str(blocker), "audit", "--json").stdout)
    assert as_json["readable"] is False
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


@needs_root
def test_audit_of_a_trail_this_account_cannot_read_says_so_not_chain_broken(
    open_parent: Path,
) -> None:
    private = open_parent / "root-only"
    set_full("--data-dir", str(private))
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    completed = asuser.run_as(*nobody(), "--data-dir", str(private), "audit")
    output = completed.stdout.decode()
    assert completed.returncode == 4
    assert "Chain broken" not in output
    assert "cannot be read by this account" in output
