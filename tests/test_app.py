"""Launching the window: ``create_window`` and ``run`` (including the self-test)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from support import accounts

from configurator import app, model, resources
from configurator.store import Store
from configurator.ui.modes import Mode

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = model.Settings(
    account_name="Security Monitoring",
    account_email="alerts@example.com",
    server="smtp.example.com",
    username="alerts",
    password="launch-secret",
)


def run_self_test(*extra_env: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    env.update(dict(extra_env))
    code = "import sys; from configurator.app import run; sys.exit(run(None, self_test=True))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_window_uses_the_configured_data_directory(qtbot: QtBot, data_dir: Path) -> None:
    window = app.create_window()
    qtbot.addWidget(window)
    assert window.store.data_dir == data_dir
    assert window.mode is Mode.WRITE


def test_self_test_passes_on_a_fresh_store(data_dir: Path) -> None:
    result = run_self_test()
    assert result.returncode == 0, result.stderr
    assert "self-test passed" in result.stdout
    assert "New settings" in result.stdout
    assert not data_dir.exists()  # looking changes nothing


def test_self_test_loads_the_stored_settings(data_dir: Path) -> None:
    Store(data_dir).save(SETTINGS)
    before = (data_dir / "settings.enc").read_bytes()

    result = run_self_test()

    assert result.returncode == 0, result.stderr
    assert "Read-only" in result.stdout
    assert SETTINGS.password not in result.stdout + result.stderr
    assert (data_dir / "settings.enc").read_bytes() == before


def test_self_test_with_unreadable_settings_still_starts(data_dir: Path) -> None:
    """Unreadable settings are the user's situation, not a broken program: the window opens."""
    Store(data_dir).save(SETTINGS)
    (data_dir / "settings.key").unlink()
    result = run_self_test()
    assert result.returncode == 0, result.stderr
    assert "Settings unreadable" in result.stdout


@accounts.not_root
def test_self_test_on_a_store_this_user_may_not_look_into_still_starts(data_dir: Path) -> None:
    """A directory its owner shut: the window opens to say so (PermissionError once ended it)."""
    Store(data_dir).save(SETTINGS)
    data_dir.chmod(0)
    try:
        result = run_self_test()
    finally:
        data_dir.chmod(0o700)
    assert result.returncode == 0, result.stderr
    assert "self-test passed: window shown (No access)" in result.stdout


def test_self_test_with_an_unknown_key_backend_fails_clearly() -> None:
    result = run_self_test(("CONFIGURATOR_KEY_BACKEND", "vault"))
    assert result.returncode == 2
    assert "CONFIGURATOR_KEY_BACKEND" in result.stderr
    assert "Traceback" not in result.stderr


def test_self_test_reports_a_missing_icon(
    qtbot: QtBot,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(resources, "ICON_NAMES", (*resources.ICON_NAMES, "lost.svg"))

    code = app.run(data_dir, self_test=True)

    assert code == 1
    captured = capsys.readouterr()
    assert "lost.svg" in captured.err
    assert "self-test failed" in captured.err


def test_the_qt_binding_keeps_reference_counts_intact(qtbot: QtBot) -> None:
    """A binding that drops references to None aborts the program after a while."""
    assert app.binding_problem() is None


def test_importing_app_loads_no_qt() -> None:
    code = (
        "import sys, configurator.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'keyring', 'smtplib'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_window_modules_do_not_import_mail_code() -> None:
    code = (
        "import sys, configurator.ui.window; "
        "print(sorted(m for m in sys.modules if m in ('smtplib', 'ssl') "
        "or m.startswith('configurator.mail')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux desktop check")
def test_a_launch_without_any_display_explains_instead_of_aborting() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
    }
    result = subprocess.run(
        [sys.executable, "-m", "configurator", "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no graphical display is available" in result.stderr
    assert "Traceback" not in result.stderr


# -- a data directory this account may not enter ------------------------------------


@pytest.fixture
def locked_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory only root may enter (as root the test acts as ``nobody``), with settings."""
    locked = tmp_path / "locked"
    Store(locked).save(SETTINGS)
    locked.chmod(0o700)
    if os.geteuid() != 0:
        locked.chmod(0o000)
    yield locked
    locked.chmod(0o700)


def launch_as_other_account(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``configurator ARGS`` (a window call) as an account that may not enter ``locked_dir``."""
    if os.geteuid() != 0:
        return subprocess.run(
            [sys.executable, "-m", "configurator", *args],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        )
    from support import asuser

    # tmp_path's own directories are private to root as well: the other account
    # is refused at the first one it may not enter, as in real life.
    return asuser.run_as(*asuser.nobody(), *args, window=True)


@pytest.mark.parametrize("below", [False, True], ids=["the-directory", "a-directory-below"])
def test_a_data_directory_that_cannot_be_entered_opens_the_window_with_the_reason(
    locked_dir: Path, below: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv(app.STARTUP_PROBE_ENV, "1")  # quit once the window is drawn
    target = locked_dir / "store" if below else locked_dir

    launched = launch_as_other_account("--data-dir", str(target))

    stderr = launched.stderr.decode()
    assert launched.returncode == 0, stderr
    assert b"startup-probe" in launched.stdout  # the window was drawn
    assert "Traceback" not in stderr
    assert "unexpected error" not in stderr


@pytest.mark.parametrize("below", [False, True], ids=["the-directory", "a-directory-below"])
def test_the_self_test_explains_a_data_directory_that_cannot_be_entered(
    locked_dir: Path, below: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    target = locked_dir / "store" if below else locked_dir

    launched = launch_as_other_account("--data-dir", str(target), "--self-test")

    stdout, stderr = launched.stdout.decode(), launched.stderr.decode()
    assert launched.returncode == 0, stderr
    assert "self-test passed: window shown (No access)" in stdout
    assert "You may not read these settings" in stderr
    assert str(target) in stderr
    assert "Traceback" not in stderr
    assert "PermissionError" not in stderr
