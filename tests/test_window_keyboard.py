"""The window's keys, pressed wherever the focus happens to be.

Every test here is marked ``x11``: besides the normal offscreen run,
``tests/test_x11.py`` runs them again on a real X server (Xvfb with openbox),
where Qt applies the platform's own key bindings -- there a line edit claims
Ctrl+E for "end of line", which the offscreen platform never does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from support.window import (
    STORED,
    OpenWindow,
    answer,
    line,
    message_box,
    port,
    stored_settings,
    type_into,
)

from configurator import model
from configurator.store import Store
from configurator.ui.modes import Mode
from configurator.ui.window import MainWindow

pytest_plugins = ["support.window"]
pytestmark = pytest.mark.x11

CTRL = Qt.KeyboardModifier.ControlModifier


def on_x11() -> bool:
    return QApplication.platformName() == "xcb"


def save_stored(data_dir: Path, settings: model.Settings = STORED) -> bytes:
    Store(data_dir).save(settings)
    return (data_dir / "settings.enc").read_bytes()


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def press(
    qtbot: QtBot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
) -> None:
    """Press ``key`` where the focus is, as a person at the keyboard does."""
    qtbot.keyClick(focused(), key, modifier)


def focus(qtbot: QtBot, widget: QWidget) -> None:
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget)


# -- Edit (Ctrl+E) -------------------------------------------------------------


def test_the_platform_binds_ctrl_e_in_line_edits_where_expected(qapp: QApplication) -> None:
    """What makes the X11 run worth having: there Ctrl+E means "end of line" too."""
    end_of_line = QKeySequence.keyBindings(QKeySequence.StandardKey.MoveToEndOfLine)
    if on_x11():
        assert QKeySequence("Ctrl+E") in end_of_line
    else:
        assert QKeySequence("Ctrl+E") not in end_of_line


def test_ctrl_e_edits_with_the_focus_where_the_window_starts(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    assert window.mode is Mode.READ_ONLY
    press(qtbot, Qt.Key.Key_E, CTRL)
    assert window.mode is Mode.EDIT
    assert focused() is line(window, "account_name")


@pytest.mark.parametrize("key", ["account_name", "server", "username", "password", "port"])
def test_ctrl_e_edits_from_every_field(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, key: str
) -> None:
    save_stored(data_dir)
    window = open_window()
    focus(qtbot, window.form.editor(key))
    press(qtbot, Qt.Key.Key_E, CTRL)
    assert window.mode is Mode.EDIT


def test_ctrl_e_edits_after_submit_and_after_cancel(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    press(qtbot, Qt.Key.Key_E, CTRL)
    type_into(qtbot, line(window, "account_name"), "Changed Name")
    press(qtbot, Qt.Key.Key_Return)  # Submit
    assert window.mode is Mode.READ_ONLY
    assert stored_settings(data_dir).account_name == "Changed Name"

    press(qtbot, Qt.Key.Key_E, CTRL)
    assert window.mode is Mode.EDIT
    press(qtbot, Qt.Key.Key_Escape)  # Cancel, nothing changed: no question
    assert window.mode is Mode.READ_ONLY

    press(qtbot, Qt.Key.Key_E, CTRL)
    assert window.mode is Mode.EDIT


def test_ctrl_e_still_moves_to_the_end_of_a_field_while_editing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    """Where Edit means nothing, the field keeps its own use of the key."""
    save_stored(data_dir)
    window = open_window()
    window.edit()
    name = line(window, "account_name")
    focus(qtbot, name)
    name.setCursorPosition(0)
    press(qtbot, Qt.Key.Key_E, CTRL)
    assert window.mode is Mode.EDIT
    if on_x11():
        assert name.cursorPosition() == len(name.text())


@pytest.mark.skipif(
    os.environ.get("QT_QPA_PLATFORM") != "xcb" or shutil.which("xdotool") is None,
    reason="needs a real X server and xdotool",
)
def test_a_real_ctrl_e_keystroke_edits(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    """The keystroke as the X server delivers it (XTEST), not a synthesised Qt event."""
    save_stored(data_dir)
    window = open_window()
    focus(qtbot, line(window, "server"))
    subprocess.run(["xdotool", "key", "ctrl+e"], check=True)
    qtbot.waitUntil(lambda: window.mode is Mode.EDIT, timeout=5000)


# -- Cancel (Escape) asks before edits are lost ----------------------------------------


def edit_account_name(qtbot: QtBot, window: MainWindow, text: str = "Changed Name") -> None:
    press(qtbot, Qt.Key.Key_E, CTRL)
    assert window.mode is Mode.EDIT
    type_into(qtbot, line(window, "account_name"), text)


def test_escape_with_edits_asks_and_discard_throws_them_away(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    edit_account_name(qtbot, window)

    press(qtbot, Qt.Key.Key_Escape)

    box = message_box(window, "unsavedChanges")
    assert window.mode is Mode.EDIT  # nothing is thrown away before the answer
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Save)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)
    assert window.mode is Mode.READ_ONLY
    assert line(window, "account_name").text() == STORED.account_name
    assert (data_dir / "settings.enc").read_bytes() == before

    qtbot.waitUntil(lambda: window.isActiveWindow() and QApplication.focusWidget() is not None)
    press(qtbot, Qt.Key.Key_E, CTRL)  # and Edit again, from wherever the focus is now
    assert window.mode is Mode.EDIT


def test_escape_twice_keeps_editing_with_the_edits(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    edit_account_name(qtbot, window)

    press(qtbot, Qt.Key.Key_Escape)
    box = message_box(window, "unsavedChanges")
    keep = box.button(QMessageBox.StandardButton.Cancel)
    assert keep is not None
    assert keep.text().replace("&", "") == "Keep Editing"
    qtbot.keyClick(box, Qt.Key.Key_Escape)  # Escape in the question: keep editing

    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "unsavedChanges") is None)
    assert window.mode is Mode.EDIT
    assert line(window, "account_name").text() == "Changed Name"
    assert (data_dir / "settings.enc").read_bytes() == before


def test_escape_with_edits_and_save_stores_them(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    edit_account_name(qtbot, window)
    press(qtbot, Qt.Key.Key_Escape)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Save)
    assert window.mode is Mode.READ_ONLY
    assert stored_settings(data_dir).account_name == "Changed Name"


def test_the_cancel_button_asks_too(qtbot: QtBot, open_window: OpenWindow, data_dir: Path) -> None:
    before = save_stored(data_dir)
    window = open_window()
    edit_account_name(qtbot, window)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)
    assert window.mode is Mode.READ_ONLY
    assert (data_dir / "settings.enc").read_bytes() == before


def test_escape_without_edits_does_not_ask(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    press(qtbot, Qt.Key.Key_E, CTRL)
    focus(qtbot, port(window))
    press(qtbot, Qt.Key.Key_Escape)
    assert window.mode is Mode.READ_ONLY
    assert window.findChild(QMessageBox, "unsavedChanges") is None


# -- Quit (Ctrl+Q) ---------------------------------------------------------------------


def test_quit_keys_are_the_platforms_or_ctrl_q(qapp: QApplication) -> None:
    from configurator.ui.shortcuts import quit_keys

    platform = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    assert quit_keys() == (platform or [QKeySequence("Ctrl+Q")])
    assert QKeySequence("Ctrl+Q") in quit_keys()  # on the platforms tested here


@pytest.mark.parametrize("key", ["account_name", "port"])
def test_ctrl_q_quits_from_a_field(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, key: str
) -> None:
    save_stored(data_dir)
    window = open_window()
    focus(qtbot, window.form.editor(key))
    qtbot.keyClick(focused(), Qt.Key.Key_Q, CTRL)
    assert not window.isVisible()


def test_ctrl_q_with_edits_asks_like_closing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    edit_account_name(qtbot, window)

    press(qtbot, Qt.Key.Key_Q, CTRL)
    box = message_box(window, "unsavedChanges")
    assert "before closing" in box.text()
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Cancel)
    assert window.isVisible()
    assert window.mode is Mode.EDIT

    press(qtbot, Qt.Key.Key_Q, CTRL)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)
    assert not window.isVisible()
    assert (data_dir / "settings.enc").read_bytes() == before


def test_ctrl_q_quits_from_the_history_view(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    window.show_history()
    history = window.history_dialog
    assert history is not None
    history.activateWindow()
    qtbot.waitUntil(history.isActiveWindow)
    press(qtbot, Qt.Key.Key_Q, CTRL)
    assert not window.isVisible()
