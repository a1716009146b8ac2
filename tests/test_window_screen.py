"""What the window system shows: titles, the confirmation boxes, windows that fit the screen.

Marked ``x11``: ``tests/test_x11.py`` runs these again on Xvfb (a 1280x900
screen) with openbox, where titles are the ones the window manager shows
(read back from the X server) and windows are framed and placed.  Offscreen,
the screen is 800x600.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QScrollArea, QWidget
from pytestqt.exceptions import TimeoutError
from pytestqt.qtbot import QtBot
from support.smtp import free_port, make_settings
from support.window import STORED, OpenWindow, line, message_box, type_into

from configurator import app as app_module
from configurator.store import Store
from configurator.ui.banner import Kind
from configurator.ui.check_dialog import CheckDialog
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
    assert str(data_dir) in informative.text().splitlines()
    qtbot.waitUntil(lambda: informative.width() > 0)
    needed = informative.fontMetrics().horizontalAdvance(str(data_dir))
    assert needed <= informative.contentsRect().width()


# -- every window fits the screen and scrolls inside ---------------------------------

LONG_TEXT = "\n".join(f"Line {number} of a long explanation." for number in range(1, 61))


def on_screen(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def fits(window: QWidget, *parts: QWidget) -> bool:
    """Whether ``window``, frame included, and each of ``parts`` lie on the available screen."""
    area = window.screen().availableGeometry()
    return area.contains(window.frameGeometry()) and all(
        part.isVisible() and area.contains(on_screen(part)) for part in parts
    )


def wait_until_fits(qtbot: QtBot, window: QWidget, *parts: QWidget) -> None:
    qtbot.waitExposed(window)
    qtbot.wait(200)  # layouts settle, the window manager frames and places
    with contextlib.suppress(TimeoutError):  # the assertion below says what does not fit
        qtbot.waitUntil(lambda: fits(window, *parts), timeout=3000)
    area = window.screen().availableGeometry()
    assert fits(window, *parts), (
        f"{window.objectName()} at {window.frameGeometry()} on a screen of {area}"
    )


def failed_check(qtbot: QtBot, open_window: OpenWindow, data_dir: Path) -> CheckDialog:
    Store(data_dir).save(make_settings(free_port()))  # nothing listens: refused at once
    window = open_window()
    qtbot.mouseClick(window.test_button, Qt.MouseButton.LeftButton)
    dialog = window.check_dialog
    assert isinstance(dialog, CheckDialog)
    with qtbot.waitSignal(dialog.check_ended, timeout=10_000):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    return dialog


def test_the_check_view_with_the_conversation_unfolded_fits_the_screen(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    dialog = failed_check(qtbot, open_window, data_dir)
    qtbot.mouseClick(dialog.transcript_toggle, Qt.MouseButton.LeftButton)
    assert dialog.transcript.isVisible()
    wait_until_fits(qtbot, dialog, dialog.close_button, dialog.copy_report_button)
    body = dialog.findChild(QScrollArea)
    assert body is not None
    if dialog.height() < dialog.screen().availableGeometry().height() - 100:
        # Room enough: the view grew instead of scrolling.
        qtbot.waitUntil(lambda: not body.verticalScrollBar().isVisible())


def test_the_check_view_scrolls_what_the_screen_cannot_hold(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    dialog = failed_check(qtbot, open_window, data_dir)
    qtbot.mouseClick(dialog.transcript_toggle, Qt.MouseButton.LeftButton)
    dialog.verdict.show_message(Kind.ERROR, "A very long verdict", LONG_TEXT)

    wait_until_fits(qtbot, dialog, dialog.close_button, dialog.copy_transcript_button)
    body = dialog.findChild(QScrollArea)
    assert body is not None
    scroll = body.verticalScrollBar()
    assert scroll.isVisible()
    assert scroll.maximum() > 0
    # What is below the fold is reached by scrolling, never cut off.
    body.ensureWidgetVisible(dialog.transcript_toggle)
    qtbot.waitUntil(
        lambda: (
            body.viewport()
            .rect()
            .contains(dialog.transcript_toggle.mapTo(body.viewport(), QPoint(0, 0)))
        )
    )


def test_the_main_window_scrolls_what_the_screen_cannot_hold(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    window.form.show_advanced(True)
    window.banner.show_message(Kind.WARNING, "A very long notice", LONG_TEXT)
    wait_until_fits(qtbot, window, window.submit_button, window.cancel_button)


def test_the_history_view_fits_the_screen(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.show_history()
    history = window.history_dialog
    assert history is not None
    wait_until_fits(qtbot, history, history.close_button)


def test_the_detect_view_fits_the_screen(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(make_settings(free_port()))
    window = open_window()
    qtbot.mouseClick(window.form.detect_button, Qt.MouseButton.LeftButton)
    dialog = window.detect_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    dialog.verdict.show_message(Kind.WARNING, "A very long verdict", LONG_TEXT)
    wait_until_fits(qtbot, dialog, dialog.close_button)
