"""The system-wide store (``--system``): where it is, its permissions, and who may do what.

Tests never touch the real site data directory: ``CONFIGURATOR_SYSTEM_DIR``
(documented for packagers and tests) points ``--system`` at a temporary one.
What other accounts may do is tested as ``nobody`` when the suite runs as
root; the operating system makes every permission decision.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pytest
from support import accounts, asuser, secrets

from configurator import audit, cli, fsutil, keys, model, paths
from configurator.errors import KeyUnavailable, UnsafePath
from configurator.store import Access, Store

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
PASSWORD = "Sehr-Geheim-42!"
FULL = {
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
AS_ROOT = os.name == "posix" and os.geteuid() == 0
needs_root = accounts.root_only
needs_posix = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def _result(completed: subprocess.CompletedProcess[bytes]) -> Result:
    result = Result(
        completed.returncode, completed.stdout.decode("utf-8"), completed.stderr.decode("utf-8")
    )
    assert "Traceback" not in result.stderr, result.stderr
    for secret in secrets.active():
        assert secret not in result.stdout + result.stderr
    return result


def run_cli(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
    completed = subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )
    return _result(completed)


def set_full(*where: str) -> Result:
    options = [part for option, value in FULL.items() for part in (option, value)]
    result = run_cli(*where, "set", *options, "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert result.returncode == 0, result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def system_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where ``--system`` points for this test: not created yet, in a folder all may enter."""
    parent = Path(tempfile.mkdtemp(prefix="configurator-system-"))
    parent.chmod(0o755)
    target = parent / "mail-server-configurator"
    monkeypatch.setenv(paths.SYSTEM_DIR_ENV, str(target))
    yield target
    shutil.rmtree(parent)


# -- where it is ---------------------------------------------------------------------


def test_the_system_dir_is_platformdirs_site_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.SYSTEM_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_DATA_DIRS", raising=False)
    expected = Path(platformdirs.site_data_dir("mail-server-configurator", appauthor=False))
    assert paths.system_data_dir() == expected
    if sys.platform.startswith("linux"):
        assert expected == Path("/usr/local/share/mail-server-configurator")


def test_a_desktop_sessions_data_dirs_do_not_move_the_system_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every account must find the same store, whatever its session puts in XDG_DATA_DIRS."""
    monkeypatch.delenv(paths.SYSTEM_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_DATA_DIRS", raising=False)
    plain = paths.system_data_dir()
    session = "/usr/share/ubuntu:/usr/local/share:/usr/share:/var/lib/snapd/desktop"
    monkeypatch.setenv("XDG_DATA_DIRS", session)
    assert paths.system_data_dir() == plain
    assert os.environ["XDG_DATA_DIRS"] == session  # and the environment is left as it was


def test_the_environment_variable_moves_it_and_nothing_else_does(
    system_dir: Path, tmp_path: Path
) -> None:
    assert paths.system_data_dir() == system_dir
    assert paths.resolve_data_dir(system=True) == system_dir
    assert paths.resolve_data_dir(tmp_path / "mine", system=True) == system_dir
    assert paths.resolve_data_dir() != system_dir  # CONFIGURATOR_DATA_DIR as before


@pytest.mark.parametrize(
    "where",
    [["--system", "show"], ["show", "--system"], ["--system", "show", "--system"]],
)
def test_system_goes_before_or_after_the_command(
    system_dir: Path, data_dir: Path, where: list[str]
) -> None:
    set_full("--system")
    result = run_cli(*where, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == FULL_JSON
    assert not data_dir.exists()  # CONFIGURATOR_DATA_DIR is set, but --system wins


@pytest.mark.parametrize(
    "args",
    [
        ["--system", "--data-dir", "/tmp/elsewhere", "show"],
        ["--system", "show", "--data-dir", "/tmp/elsewhere"],
        ["--data-dir", "/tmp/elsewhere", "show", "--system"],
        ["show", "--system", "--data-dir", "/tmp/elsewhere"],
        ["--system", "--data-dir", "/tmp/elsewhere"],
    ],
)
def test_system_and_data_dir_together_are_a_usage_error(system_dir: Path, args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "--system and --data-dir cannot be combined" in result.stderr
    assert not system_dir.exists()


def test_help_explains_the_system_store_and_its_environment_variable() -> None:
    text = " ".join(run_cli("--help").stdout.split())
    assert "--system" in text
    assert "CONFIGURATOR_SYSTEM_DIR" in text
    assert "for packagers" in text
    assert "/usr/local/share/mail-server-configurator" in text
    assert "access control lists are not managed" in text  # Windows, said plainly
    for command in ("show", "set", "audit"):  # a command's help points there
        text = " ".join(run_cli(command, "--help").stdout.split())
        assert text.endswith("Store options, environment and exit codes: configurator --help")


def test_the_keyring_cannot_hold_the_system_stores_key(system_dir: Path) -> None:
    result = run_cli("--system", "show", env={keys.BACKEND_ENV: "keyring"})
    assert result.returncode == 2
    assert "keeps its data key in the file settings.key" in result.stderr
    assert not system_dir.exists()


# -- its permissions -----------------------------------------------------------------


@needs_posix
def test_set_system_creates_the_shared_layout(system_dir: Path, data_dir: Path) -> None:
    before = os.umask(0o077)  # even a strict umask does not change the layout
    try:
        set_full("--system")
    finally:
        os.umask(before)
    group = system_dir.stat().st_gid
    assert mode(system_dir) == 0o755
    assert mode(system_dir / "settings.enc") == 0o644
    assert mode(system_dir / "settings.key") == 0o640
    assert (system_dir / "settings.key").stat().st_gid == group
    assert mode(system_dir / fsutil.SHARED_MARKER) == 0o644
    for private in (audit.AUDIT_FILE_NAME, audit.AUDIT_KEY_NAME):
        assert mode(system_dir / private) == 0o600  # the trail's key stays with root
    assert not data_dir.exists()  # the per-user store is not touched

    assert run_cli("--system", "set", "--port", "2526").returncode == 0
    assert run_cli("--system", "reset", "--yes").returncode == 0
    set_full("--system")  # a new key after Reset: shared the same way
    assert mode(system_dir) == 0o755
    assert mode(system_dir / "settings.enc") == 0o644
    assert mode(system_dir / "settings.key") == 0o640
    found = [entry.action for entry in audit.read(system_dir, "file").entries]
    assert found == ["submit", "submit", "reset", "submit"]


@needs_posix
def test_the_per_user_store_stays_private(data_dir: Path) -> None:
    set_full()
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "settings.enc") == 0o600
    assert mode(data_dir / "settings.key") == 0o600
    assert not (data_dir / fsutil.SHARED_MARKER).exists()


@needs_posix
def test_the_store_is_recognised_by_its_marker_whichever_way_it_is_reached(
    system_dir: Path,
) -> None:
    """--data-dir, or the window, on the system store keeps it shared (never made private)."""
    set_full("--system")
    result = run_cli("--data-dir", str(system_dir), "set", "--port", "2526")
    assert result.returncode == 0, result.stderr
    assert mode(system_dir) == 0o755
    assert mode(system_dir / "settings.enc") == 0o644
    assert mode(system_dir / "settings.key") == 0o640
    shown = run_cli("--data-dir", str(system_dir), "show")
    assert "system-wide: readable by" in shown.stdout
    assert Store(system_dir).shared
    assert Store(system_dir).key_backend == "file"


@needs_posix
def test_the_group_or_world_may_not_write_the_directory(system_dir: Path) -> None:
    """Refused with the fix, not chmod-ed behind the administrator's back."""
    set_full("--system")
    system_dir.chmod(0o777)
    result = run_cli("--system", "set", "--port", "2526")
    assert result.returncode == 4
    assert "other users may change it" in result.stderr
    assert f"chmod go-w {system_dir}" in result.stderr
    assert mode(system_dir) == 0o777


def _marker_open_to_the_group(directory: Path) -> None:
    (directory / fsutil.SHARED_MARKER).chmod(0o664)


def _marker_as_a_link(directory: Path) -> None:
    (directory / "elsewhere").write_text("x")
    (directory / fsutil.SHARED_MARKER).symlink_to(directory / "elsewhere")


def _marker_of_another_account(directory: Path) -> None:
    if not AS_ROOT:
        pytest.skip(accounts.ONLY_AS_ROOT)
    os.chown(directory / fsutil.SHARED_MARKER, 65534, -1)


@accounts.permissions
@needs_posix
@pytest.mark.parametrize(
    "spoil", [_marker_open_to_the_group, _marker_as_a_link, _marker_of_another_account]
)
def test_only_a_marker_of_the_owner_that_no_one_else_may_change_counts(
    tmp_path: Path, spoil: types.FunctionType
) -> None:
    directory = tmp_path / "store"
    directory.mkdir()
    (directory / fsutil.SHARED_MARKER).write_text("system-wide")
    (directory / fsutil.SHARED_MARKER).chmod(0o644)
    assert fsutil.is_shared_dir(directory)
    (directory / fsutil.SHARED_MARKER).unlink()
    if spoil is not _marker_as_a_link:
        (directory / fsutil.SHARED_MARKER).write_text("system-wide")
        (directory / fsutil.SHARED_MARKER).chmod(0o644)
    spoil(directory)
    assert not fsutil.is_shared_dir(directory)
    assert not Store(directory).shared


# -- the key file rule, made explicit ------------------------------------------------


@needs_posix
@pytest.mark.parametrize(
    ("shared", "key_mode", "refusal"),
    [
        (True, 0o640, None),
        (True, 0o600, None),
        (True, 0o644, "every user may read it"),
        (True, 0o660, "other users may change it"),
        (True, 0o642, "other users may change it"),
        (False, 0o600, None),
        (False, 0o640, "other users may read it"),
        (False, 0o644, "other users may read it"),
    ],
)
def test_a_shared_key_may_be_read_by_its_group_and_no_one_else(
    tmp_path: Path, shared: bool, key_mode: int, refusal: str | None
) -> None:
    store = keys.FileKeyStore(tmp_path, shared=shared)
    key = keys.new_key()
    store.write(key)
    store.path.chmod(key_mode)
    if refusal is None:
        assert store.read() == key
        return
    with pytest.raises((KeyUnavailable, UnsafePath)) as caught:
        store.read()
    assert refusal in str(caught.value)
    assert f"chmod {'640' if shared else '600'} {store.path}" in str(caught.value)


@needs_posix
def test_a_group_readable_key_in_a_private_store_is_still_refused(data_dir: Path) -> None:
    """The shared rule belongs to the system store: it opens no loophole elsewhere."""
    set_full()
    (data_dir / "settings.key").chmod(0o640)
    result = run_cli("show")
    assert result.returncode == 4
    assert "other users may read it" in result.stderr
    assert f"chmod 600 {data_dir / 'settings.key'}" in result.stderr


# -- the window --------------------------------------------------------------------


class FakeApp(types.ModuleType):
    """Stands in for ``configurator.app`` to see which store the window is given."""

    def __init__(self) -> None:
        super().__init__("configurator.app")
        self.calls: list[Path] = []

    def run(self, data_dir: Path, *, self_test: bool = False) -> int:
        self.calls.append(data_dir)
        return 0


@needs_posix
def test_the_window_opens_on_the_system_store_prepared_as_shared(
    system_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FakeApp()
    monkeypatch.setitem(sys.modules, "configurator.app", app)
    assert cli.main(["--system"]) == 0
    assert app.calls == [system_dir]
    # Created with its marker, so that the window's own Store(data_dir) keeps it shared.
    assert mode(system_dir) == 0o755
    assert fsutil.is_shared_dir(system_dir)
    assert Store(system_dir).shared


@needs_posix
def test_the_real_window_sees_the_system_store_as_shared(system_dir: Path, qtbot: object) -> None:
    from configurator.app import create_window
    from configurator.ui.window import MainWindow

    set_full("--system")
    window = create_window(system_dir)
    qtbot.addWidget(window, before_close_func=MainWindow.close_without_asking)  # type: ignore[attr-defined]
    assert window.store.data_dir == system_dir
    assert window.store.shared
    assert window.store.key_backend == "file"


# -- other accounts (as nobody) ------------------------------------------------------


def as_nobody(*args: str, stdin: bytes = b"") -> Result:
    completed = asuser.run_as(*asuser.nobody(), *args, stdin=stdin)
    return _result(completed)


def share_with_nobodys_group(system_dir: Path) -> str:
    """What an administrator does to let a group read: chgrp the directory and the key."""
    _, gid = asuser.nobody()
    for path in (system_dir, system_dir / "settings.key"):
        os.chown(path, -1, gid)
    return grp.getgrgid(gid).gr_name


@needs_root
def test_an_account_outside_the_group_is_refused_with_the_reason(system_dir: Path) -> None:
    set_full("--system")
    group = grp.getgrgid(system_dir.stat().st_gid).gr_name
    assert asuser.nobody()[1] != system_dir.stat().st_gid
    before = snapshot(system_dir)

    for command in (["show"], ["show", "--json"], ["set", "--port", "25"]):
        result = as_nobody("--system", *command)
        assert result.returncode == 4, result.stderr
        assert "no_access" not in result.stderr
        assert f"only root and members of group '{group}' may read them" in result.stderr
        assert f"add this account to group '{group}'" in result.stderr
        assert result.stdout == ""

    reset = as_nobody("--system", "reset", "--yes")
    assert reset.returncode == 1
    assert "only administrators can change them" in reset.stderr

    trail = as_nobody("--system", "audit")
    assert trail.returncode == 4  # the trail is root's: it cannot be read, so not verified
    assert "cannot be read" in trail.stdout
    assert snapshot(system_dir) == before  # nothing changed, nothing recorded


@needs_root
def test_a_member_of_the_group_may_read_but_only_administrators_may_change(
    system_dir: Path,
) -> None:
    set_full("--system")
    group = share_with_nobodys_group(system_dir)
    before = snapshot(system_dir)

    shown = as_nobody("--system", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == FULL_JSON
    table = as_nobody("show", "--system")
    assert table.returncode == 0, table.stderr
    assert f"system-wide: readable by root and group '{group}'" in table.stdout

    changed = as_nobody("--system", "set", "--port", "25", "--password-stdin", stdin=b"other-one\n")
    assert changed.returncode == 1
    assert "You may not change the system-wide settings" in changed.stderr
    assert "only administrators can change them (root)" in changed.stderr
    assert "Nothing was changed" in changed.stderr
    hint = "sudo configurator --system set --port 25 --password-stdin"
    assert f"To run it as the account that manages the store: {hint}\n" in changed.stderr

    reset = as_nobody("--system", "reset", "--yes")
    assert reset.returncode == 1
    assert "only administrators can change them" in reset.stderr
    assert snapshot(system_dir) == before

    # Root still manages it: the group change did not lock its owner out.
    assert run_cli("--system", "set", "--port", "2526").returncode == 0
    assert mode(system_dir / "settings.key") == 0o640


@needs_root
def test_a_reader_adds_nothing_to_the_trail_and_sees_no_warning(system_dir: Path) -> None:
    set_full("--system")
    share_with_nobodys_group(system_dir)
    path = system_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))
    before = snapshot(system_dir)

    shown = as_nobody("--system", "show")
    assert shown.returncode == 4
    assert "changed or damaged" in shown.stderr
    assert "Warning" not in shown.stderr
    assert snapshot(system_dir) == before

    by_root = run_cli("--system", "show")  # the administrator's failed unlock is recorded
    assert by_root.returncode == 4
    found = [(e.action, e.detail) for e in audit.read(system_dir, "file").entries]
    assert found == [("submit", "revision 1"), ("unlock_failed", "tampered")]


@needs_root
def test_a_readers_check_runs_but_adds_nothing_to_the_trail(system_dir: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port on which nothing listens: the check fails fast
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    set_full("--system")
    assert run_cli("--system", "set", "--server", "127.0.0.1", "--port", str(port)).returncode == 0
    share_with_nobodys_group(system_dir)
    before = snapshot(system_dir)

    checked = as_nobody("--system", "test")
    assert checked.returncode == 6, checked.stdout + checked.stderr
    assert 'FAILED at "Connect": connection refused.' in checked.stdout
    assert "Warning: The audit trail" not in checked.stderr
    assert snapshot(system_dir) == before

    assert run_cli("--system", "test").returncode == 6  # the administrator's check is recorded
    found = [(e.action, e.detail) for e in audit.read(system_dir, "file").entries]
    assert found[-1] == ("check", "failed at Connect: connection refused")


@needs_root
def test_no_one_but_an_administrator_may_create_the_system_store(system_dir: Path) -> None:
    result = as_nobody("--system", "set", *[p for kv in FULL.items() for p in kv])
    assert result.returncode == 1
    assert "only administrators can change them" in result.stderr
    assert not system_dir.exists()
    assert Store(system_dir, shared=True).access() is Access.WRITE  # root may


def test_store_scope_in_words(system_dir: Path, data_dir: Path) -> None:
    Store(system_dir, shared=True).save(
        model.build({**{k[2:].replace("-", "_"): v for k, v in FULL.items()}, "password": PASSWORD})
    )
    shared = Store(system_dir)
    assert shared.shared
    assert shared.scope().startswith("system-wide: readable by ")
    assert Store(data_dir).scope() == "private to its owner"
