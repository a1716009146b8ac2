"""What the window system shows: titles, the confirmation boxes, windows that fit the screen.

Marked ``x11``: ``tests/test_x11.py`` runs these again on Xvfb (a 1280x900
screen) with openbox, where titles are the ones the window manager shows
(read back from the X server) and windows are framed and placed.  Offscreen,
the screen is 800x600.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from support.window import STORED, OpenWindow, line, message_box, type_into

from configurator import app as app_module
from configurator.store import Store
from configurator.ui.modes import Mode

pytest_plugins = ["support.window"]
pytestmark = pytest.mark.x11

TITLE = "Mail Server Configurator"


def on_x11() -> bool:
    return QApplication.platformName() == "xcb"


def shown_title(widget: QWidget) -> str:
    """The title the window manager shows: read from the X server, or Qt's own offscreen."""
    if not on_x11() or shutil.which("xprop") is None:
        handle = widget.windowHandle()
        assert handle is not None
        return handle.title()
    found = subprocess.run(
        ["xprop", "-id", str(int(widget.winId())), "-notype", "_NET_WM_NAME"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return found.split(" = ", 1)[1].strip().strip('"')


@pytest.fixture
def named_app(qapp: QApplication) -> QApplication:
    """The application named as the program names it (``app.application``)."""
    return app_module.application()


# -- the title ---------------------------------------------------------------------


def test_the_title_names_the_program_once_and_marks_unsaved_edits(
    qtbot: QtBot, named_app: QApplication, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    qtbot.waitUntil(lambda: shown_title(window) == TITLE)

    window.edit()
    type_into(qtbot, line(window, "account_name"), "Changed")
    assert window.isWindowModified()
    qtbot.waitUntil(lambda: shown_title(window) == f"{TITLE}*")

    type_into(qtbot, line(window, "account_name"), STORED.account_name)
    qtbot.waitUntil(lambda: shown_title(window) == TITLE)


# -- the Reset confirmation ----------------------------------------------------------


def open_reset_box(qtbot: QtBot, open_window: OpenWindow, data_dir: Path) -> QMessageBox:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    qtbot.mouseClick(window.reset_button, Qt.MouseButton.LeftButton)
    assert window.mode is Mode.EDIT
    return message_box(window, "resetConfirmation")


def test_the_reset_box_has_a_short_title_and_the_safe_default(
    qtbot: QtBot, named_app: QApplication, open_window: OpenWindow, data_dir: Path
) -> None:
    box = open_reset_box(qtbot, open_window, data_dir)
    qtbot.waitUntil(lambda: shown_title(box) == "Reset Settings")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.No)


@pytest.mark.parametrize("name", ["resetConfirmation", "unsavedChanges"])
def test_question_buttons_carry_words_not_icons(
    qtbot: QtBot, named_app: QApplication, open_window: OpenWindow, data_dir: Path, name: str
) -> None:
    """Some styles put a green tick on "Yes" (here: Reset) and a red cross on "No" (Keep)."""
    if name == "resetConfirmation":
        box = open_reset_box(qtbot, open_window, data_dir)
    else:
        Store(data_dir).save(STORED)
        window = open_window()
        window.edit()
        type_into(qtbot, line(window, "account_name"), "Changed")
        window.close()
        box = message_box(window, name)
    texts = {button.text().replace("&", ""): button.icon().isNull() for button in box.buttons()}
    assert all(texts.values()), texts


def test_the_reset_box_shows_the_folder_on_one_line(
    qtbot: QtBot, named_app: QApplication, open_window: OpenWindow, data_dir: Path
) -> None:
    box = open_reset_box(qtbot, open_window, data_dir)
    informative = box.findChild(QLabel, "qt_msgbox_informativelabel")
    assert informative is not None
    assert str(data_dir) in informative.text()
    qtbot.waitUntil(lambda: informative.width() > 0)
    needed = informative.fontMetrics().horizontalAdvance(str(data_dir))
    assert needed <= informative.contentsRect().width()
