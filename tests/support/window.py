"""The main window for the window tests: opening it, typing, clicking, answering, reading back.

Used as a pytest plugin (``pytest_plugins = ["support.window"]``) for the
``open_window`` fixture.  Test modules import the helpers from here before
pytest loads it as a plugin; ``tests/conftest.py`` registers it for assertion
rewriting beforehand, so a failed check in a helper still explains itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from configurator import model
from configurator.app import create_window
from configurator.store import Store, Stored
from configurator.ui.window import MainWindow

SECRET = "s3cret-Pässwörd✓"

STORED = model.Settings(
    account_name="Security Monitoring",
    account_email="alerts@example.com",
    server="smtp.example.com",
    port=587,
    security=model.Security.STARTTLS,
    auth=model.Auth.LOGIN_PLAIN,
    username="alerts@example.com",
    password=SECRET,
)

OpenWindow = Callable[[], MainWindow]


@pytest.fixture
def open_window(qtbot: QtBot, data_dir: Path) -> OpenWindow:
    """Open the window over this test's data directory, shown and active."""

    def opener() -> MainWindow:
        window = create_window(data_dir)
        qtbot.addWidget(window, before_close_func=MainWindow.close_without_asking)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        return window

    return opener


def loaded(data_dir: Path) -> Stored:
    """What is stored in ``data_dir``, decrypted from the real ``settings.enc``."""
    found = Store(data_dir).load()
    assert found is not None
    return found


def stored_settings(data_dir: Path) -> model.Settings:
    return loaded(data_dir).settings


def save_elsewhere(data_dir: Path, **changes: object) -> Stored:
    """What another program does: load, change, save from the revision it loaded."""
    other = Store(data_dir)
    current = other.load()
    assert current is not None
    return other.save(model.build(changes, current.settings), expected_revision=current.revision)


def line(window: MainWindow, key: str) -> QLineEdit:
    editor = window.form.editor(key)
    assert isinstance(editor, QLineEdit)
    return editor


def combo(window: MainWindow, key: str) -> QComboBox:
    editor = window.form.editor(key)
    assert isinstance(editor, QComboBox)
    return editor


def port(window: MainWindow) -> QLineEdit:
    """The Server Port field: a line for digits, judged by the model, never fixed up."""
    return line(window, "port")


def type_text(qtbot: QtBot, editor: QWidget, text: str) -> None:
    """Type ``text`` key by key.

    ``QTest.keyClicks`` handles ASCII only (Qt asserts on anything else), so
    other characters arrive as key events that carry their text, as a
    keyboard layout or an input method delivers them.
    """
    for char in text:
        if char.isascii():
            qtbot.keyClicks(editor, char)
        else:
            QTest.sendKeyEvent(
                QTest.KeyAction.Click,
                editor,
                Qt.Key.Key_unknown,
                char,
                Qt.KeyboardModifier.NoModifier,
            )


def type_into(qtbot: QtBot, editor: QWidget, text: str) -> None:
    """Empty the field (select all, Backspace), then type ``text`` key by key."""
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    type_text(qtbot, editor, text)


def click(qtbot: QtBot, button: QAbstractButton) -> None:
    """Click ``button``, which must be visible and enabled, as a person would."""
    assert button.isVisible(), button.objectName()
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def message_box(window: MainWindow, name: str) -> QMessageBox:
    # An answered box lingers, hidden, until the event loop deletes it: take the shown one.
    boxes = window.findChildren(QMessageBox, name)
    assert boxes, f"no message box {name!r} is open"
    shown = [box for box in boxes if box.isVisible()]
    assert shown, f"message box {name!r} is not shown"
    return shown[-1]


def answer(qtbot: QtBot, window: MainWindow, name: str, button: QMessageBox.StandardButton) -> None:
    """Click ``button`` in the open message box ``name``."""
    box = message_box(window, name)
    choice = box.button(button)
    assert choice is not None
    qtbot.mouseClick(choice, Qt.MouseButton.LeftButton)
