"""Render the main window in each mode, and the server check, to PNG files beside this script.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/render.py
    python docs/screenshots/render.py history.png   # only the pictures named

For pictures as a desktop draws them, run it on an X server (under Xvfb with a
window manager such as openbox, with ``QT_QPA_PLATFORM=xcb``).

Each picture uses a throwaway data directory and the key file (never the
real user's settings or keyring).  The server check pictures are of real
checks against a local SMTP server (aiosmtpd, STARTTLS with a throwaway
certificate authority from trustme, both test dependencies), reached as
``localhost``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent
ROOT = OUT.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CONFIGURATOR_KEY_BACKEND"] = "file"
# The remembered Test Recipient is a per-user preference: a throwaway one here too.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="configurator-render-")
# The audit trail records the login name (getpass reads LOGNAME first): made-up
# administrators rather than whoever renders the pictures.
os.environ["LOGNAME"] = "a.jensen"

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from configurator import app as app_module  # noqa: E402
from configurator import audit, model  # noqa: E402
from configurator.store import Access, Store  # noqa: E402
from configurator.ui.window import MainWindow  # noqa: E402

EXAMPLE = model.Settings(
    account_name="Security Monitoring",
    account_email="alerts@example.com",
    server="smtp.example.com",
    port=587,
    security=model.Security.STARTTLS,
    auth=model.Auth.LOGIN_PLAIN,
    username="alerts@example.com",
    password="example password",  # noqa: S106 (a made-up value for the pictures)
)


def _save(data_dir: Path, settings: model.Settings = EXAMPLE) -> None:
    Store(data_dir).save(settings)


# -- a local mail server for the server check pictures ---------------------------------

SERVER_USER = "alerts@example.com"
SERVER_PASSWORD = "the right password"  # noqa: S105 (a made-up value for the pictures)


@contextlib.contextmanager
def local_server(ca_file: Path) -> Iterator[int]:
    """A STARTTLS server with AUTH on 127.0.0.1; yields its port."""
    import ssl

    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ca = trustme.CA(organization_name="Example Mail CA")
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)

    def authenticate(*args: Any) -> AuthResult:
        data = args[-1]
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SERVER_USER.encode(),
            SERVER_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    class Accept:
        async def handle_DATA(self, *args: Any) -> str:
            return "250 2.0.0 Ok: queued as 4F2A91C3"

    port = 0
    for wanted in (2587, 0):  # a steady port for steady pictures, if it is free
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", wanted))
            port = int(probe.getsockname()[1])
            break
    controller = Controller(
        Accept(),
        hostname="127.0.0.1",
        port=port,
        server_hostname="mail.example.com",
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _checked(recipient: str) -> Callable[[MainWindow], QWidget]:
    """Open the server check, start it (with ``recipient``) and wait for the verdict."""

    def act(window: MainWindow) -> QWidget:
        window.test_button.click()
        dialog = window.check_dialog
        assert dialog is not None
        dialog.recipient_input.setText(recipient)
        loop = QEventLoop()
        dialog.check_ended.connect(loop.quit)
        QTimer.singleShot(20_000, loop.quit)
        dialog.start_button.click()
        loop.exec()
        return dialog

    return act


def write_mode(window: MainWindow) -> None:
    window.form.editor("account_name").setFocus()


def read_only(window: MainWindow) -> None:
    pass


def edit_with_errors(window: MainWindow) -> None:
    window.edit()
    form = window.form
    form.editor("account_email").setText("alerts(at)example.com")  # type: ignore[attr-defined]
    form.editor("server").setText("smtp://mail.example.com")  # type: ignore[attr-defined]
    form.editor("port").setText("70000")  # type: ignore[attr-defined]
    window.submit()


def clear_text_warning(window: MainWindow) -> None:
    window.edit()
    security = window.form.editor("security")
    security.setCurrentIndex(security.findData("none"))  # type: ignore[attr-defined]


def advanced(window: MainWindow) -> None:
    window.edit()
    window.form.show_advanced(True)


@contextlib.contextmanager
def _logged_in_as(user: str) -> Iterator[None]:
    previous = os.environ["LOGNAME"]
    os.environ["LOGNAME"] = user
    try:
        yield
    finally:
        os.environ["LOGNAME"] = previous


def conflict(window: MainWindow) -> QWidget | None:
    """Edit the server here while a colleague changes port and security elsewhere."""
    window.edit()
    window.form.editor("server").setText("mail.example.net")  # type: ignore[attr-defined]
    other = Store(window.store.data_dir)
    current = other.load()
    assert current is not None
    theirs = replace(current.settings, port=465, security=model.Security.SSL_TLS)
    with _logged_in_as("m.okafor"):
        other.save(theirs, expected_revision=current.revision)
        audit.record(window.store.data_dir, "submit", fields_changed=["port", "security"])
    window.submit()
    return window.conflict_dialog


def _history(data_dir: Path) -> None:
    """A few weeks of an administrator's work, as the audit trail records it."""
    _save(data_dir)
    record = audit.record
    first = [spec.key for spec in model.FIELDS[:8]]
    record(data_dir, "submit", fields_changed=first, detail="revision 1")
    record(data_dir, "check", detail="passed")
    with _logged_in_as("m.okafor"):
        second = replace(EXAMPLE, port=465, security=model.Security.SSL_TLS)
        Store(data_dir).save(second, expected_revision=1)
        record(data_dir, "submit", fields_changed=["port", "security"], detail="revision 2")
        record(data_dir, "check", detail="failed at Authentication: authentication rejected")
    third = replace(second, password="a new example password")  # noqa: S106
    Store(data_dir).save(third, expected_revision=2)
    record(data_dir, "submit", fields_changed=["password"], detail="revision 3")
    record(data_dir, "check", detail="passed; the server accepted the test e-mail")


def history(window: MainWindow) -> QWidget | None:
    window.show_history()
    return window.history_dialog


def _box(window: MainWindow, name: str) -> QWidget:
    from PySide6.QtWidgets import QMessageBox

    box = window.findChild(QMessageBox, name)
    assert box is not None
    return box


def reset_confirmation(window: MainWindow) -> QWidget | None:
    window.edit()
    window.ask_reset()
    return _box(window, "resetConfirmation")


def cancel_with_edits(window: MainWindow) -> QWidget | None:
    """Escape (Cancel) after changing a field: the window asks before dropping the edit."""
    window.edit()
    window.form.editor("server").setText("mail.example.net")  # type: ignore[attr-defined]
    window.cancel()
    return _box(window, "unsavedChanges")


def read_only_no_permission(window: MainWindow) -> None:
    window.store.access = lambda: Access.READ  # type: ignore[method-assign]
    window.reload()


def no_access(window: MainWindow) -> None:
    """What an account sees that may not even enter the data directory."""
    window.store.access = lambda: Access.NONE  # type: ignore[method-assign]
    window.reload()


def _corrupt(data_dir: Path) -> None:
    _save(data_dir)
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))


Act = Callable[[MainWindow], QWidget | None]  # returns what to picture, None: the window

SHOTS: list[tuple[str, Callable[[Path], None] | None, Act]] = [
    ("write.png", None, write_mode),
    ("read-only.png", _save, read_only),
    ("edit-errors.png", _save, edit_with_errors),
    ("clear-text-warning.png", _save, clear_text_warning),
    ("advanced.png", _save, advanced),
    ("read-only-no-permission.png", _save, read_only_no_permission),
    ("unreadable.png", _corrupt, read_only),
    ("no-access.png", _save, no_access),
    ("conflict.png", _save, conflict),
    ("history.png", _history, history),
    ("reset-confirmation.png", _save, reset_confirmation),
    ("unsaved-changes.png", _save, cancel_with_edits),
]


def _settle(qt_app: QApplication) -> None:
    """Let the window manager answer: under X11 a window is resized a moment after asking."""
    loop = QEventLoop()
    QTimer.singleShot(300, loop.quit)
    loop.exec()
    qt_app.processEvents()


def _shoot(
    qt_app: QApplication, name: str, prepare: Callable[[Path], None] | None, act: Act
) -> None:
    with tempfile.TemporaryDirectory() as temp:
        data_dir = Path(temp) / "mail-server-configurator"
        if prepare is not None:
            prepare(data_dir)
        window = app_module.create_window(data_dir)
        window.show()
        qt_app.processEvents()
        subject = act(window) or window
        _settle(qt_app)
        subject.grab().save(str(OUT / name))
        window.close_without_asking()
        window.deleteLater()
        qt_app.processEvents()
    print(OUT / name)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and then says nothing; yields the port."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def _cancelled(window: MainWindow) -> QWidget:
    """Start the check, let it wait for the greeting, then press Cancel."""
    window.test_button.click()
    dialog = window.check_dialog
    assert dialog is not None
    loop = QEventLoop()
    dialog.step_shown.connect(lambda step, outcome: step == "greeting" and loop.quit())
    dialog.start_button.click()
    QTimer.singleShot(10_000, loop.quit)
    loop.exec()
    ended = QEventLoop()
    dialog.check_ended.connect(ended.quit)
    QTimer.singleShot(10_000, ended.quit)
    dialog.cancel_button.click()
    ended.exec()
    dialog.transcript_toggle.setChecked(True)
    return dialog


def main(names: list[str]) -> int:
    def wanted(name: str) -> bool:
        return not names or name in names

    qt_app = app_module.application()
    for name, prepare, act in SHOTS:
        if wanted(name):
            _shoot(qt_app, name, prepare, act)
    if wanted("check-cancelled.png"):
        with silent_server() as port:
            silent = replace(EXAMPLE, server="127.0.0.1", port=port, timeout=30.0)
            _shoot(
                qt_app, "check-cancelled.png", lambda data_dir: _save(data_dir, silent), _cancelled
            )
    if not (wanted("check-failed.png") or wanted("check-passed.png")):
        return 0
    with tempfile.TemporaryDirectory() as temp, local_server(Path(temp) / "ca.pem") as port:
        checked = replace(
            EXAMPLE,
            server="localhost",
            port=port,
            username=SERVER_USER,
            ca_file=str(Path(temp) / "ca.pem"),
        )
        wrong = replace(checked, password="an old password")  # noqa: S106
        right = replace(checked, password=SERVER_PASSWORD)

        def store(settings: model.Settings) -> Callable[[Path], None]:
            return lambda data_dir: _save(data_dir, settings)

        if wanted("check-failed.png"):
            _shoot(qt_app, "check-failed.png", store(wrong), _checked(""))
        if wanted("check-passed.png"):
            _shoot(qt_app, "check-passed.png", store(right), _checked("soc@example.com"))
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
