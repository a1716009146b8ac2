"""Render the main window in each mode to PNG files beside this script.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/render.py

Each picture uses a throwaway data directory and the key file (never the
real user's settings or keyring).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent
ROOT = OUT.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CONFIGURATOR_KEY_BACKEND"] = "file"

from PySide6.QtWidgets import QApplication  # noqa: E402

from configurator import app as app_module  # noqa: E402
from configurator import model  # noqa: E402
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


def write_mode(window: MainWindow) -> None:
    window.form.editor("account_name").setFocus()


def read_only(window: MainWindow) -> None:
    pass


def edit_with_errors(window: MainWindow) -> None:
    window.edit()
    form = window.form
    form.editor("account_email").setText("alerts(at)example.com")  # type: ignore[attr-defined]
    form.editor("server").setText("smtp://mail.example.com")  # type: ignore[attr-defined]
    window.submit()


def clear_text_warning(window: MainWindow) -> None:
    window.edit()
    security = window.form.editor("security")
    security.setCurrentIndex(security.findData("none"))  # type: ignore[attr-defined]


def advanced(window: MainWindow) -> None:
    window.edit()
    window.form.show_advanced(True)


def read_only_no_permission(window: MainWindow) -> None:
    window.store.access = lambda: Access.READ  # type: ignore[method-assign]
    window.reload()


def _corrupt(data_dir: Path) -> None:
    _save(data_dir)
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))


SHOTS: list[tuple[str, Callable[[Path], None] | None, Callable[[MainWindow], None]]] = [
    ("write.png", None, write_mode),
    ("read-only.png", _save, read_only),
    ("edit-errors.png", _save, edit_with_errors),
    ("clear-text-warning.png", _save, clear_text_warning),
    ("advanced.png", _save, advanced),
    ("read-only-no-permission.png", _save, read_only_no_permission),
    ("unreadable.png", _corrupt, read_only),
]


def main() -> int:
    qt_app = app_module.application()
    for name, prepare, act in SHOTS:
        with tempfile.TemporaryDirectory() as temp:
            data_dir = Path(temp) / "mail-server-configurator"
            if prepare is not None:
                prepare(data_dir)
            window = app_module.create_window(data_dir)
            window.show()
            qt_app.processEvents()
            act(window)
            qt_app.processEvents()
            window.grab().save(str(OUT / name))
            window.hide()
            window.deleteLater()
            qt_app.processEvents()
        print(OUT / name)
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
