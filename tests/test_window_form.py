"""The form inside the window as a person meets it: typed numbers, messages, keys, looks, size.

Real widgets, real keys, the real ``settings.enc``: what is typed is what the
model judges, a message sits beside its field without moving the rows below
while the user types, Read-only looks and behaves read-only, and the window
follows its content's height both ways.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QFormLayout, QLabel, QWidget
from pytestqt.qtbot import QtBot
from support.window import (
    STORED,
    OpenWindow,
    combo,
    line,
    port,
    stored_settings,
    type_into,
    type_text,
)

from configurator import model
from configurator.store import Store
from configurator.ui.modes import Mode
from configurator.ui.window import MainWindow

pytest_plugins = ["support.window"]


def fill_valid(qtbot: QtBot, window: MainWindow) -> None:
    """Every field of ``STORED`` typed in, so that only what a test changes is wrong."""
    type_into(qtbot, line(window, "account_name"), STORED.account_name)
    type_into(qtbot, line(window, "account_email"), STORED.account_email)
    type_into(qtbot, line(window, "server"), STORED.server)
    type_into(qtbot, line(window, "username"), STORED.username)
    type_into(qtbot, line(window, "password"), STORED.password)


def geometry_in(window: QWidget, widget: QWidget) -> QRect:
    """Where ``widget`` sits in ``window``'s coordinates."""
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def settle(qtbot: QtBot) -> None:
    """Let posted layout requests run (the window sizes itself on them)."""
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(10)


# -- What is typed is what is judged (a spin box fixed "0" up to 587) ----------


@pytest.mark.parametrize("typed", ["0", "70000", "123456789"])
def test_a_port_out_of_range_is_refused_as_typed_and_nothing_is_saved(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, typed: str
) -> None:
    window = open_window()
    fill_valid(qtbot, window)
    type_into(qtbot, port(window), typed)

    qtbot.keyClick(port(window), Qt.Key.Key_Return)

    assert port(window).text() == typed  # not fixed up, not cut to "7000"
    assert window.form.error_text("port") == "must be from 1 to 65535"
    assert window.form.error_label("port").isVisible()
    assert window.mode is Mode.WRITE
    assert not (data_dir / "settings.enc").exists()


def test_the_port_editor_takes_only_digits(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    type_into(qtbot, port(window), "25a-5 ")
    assert port(window).text() == "255"


def test_an_edited_port_out_of_range_leaves_the_stored_one(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, port(window), "0")

    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert window.mode is Mode.EDIT
    assert window.form.error_text("port") == "must be from 1 to 65535"
    assert stored_settings(data_dir) == STORED


def test_an_empty_timeout_is_refused_by_the_model(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    fill_valid(qtbot, window)
    window.form.show_advanced(True)
    type_into(qtbot, line(window, "timeout"), "0")

    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert line(window, "timeout").text() == "0"
    assert window.form.error_text("timeout") == "must be a number of seconds from 1 to 300"
    assert not (data_dir / "settings.enc").exists()


# -- The form layout -----------------------------------------------------------


def test_the_form_is_a_form_layout_with_the_labels_in_field_order(
    open_window: OpenWindow,
) -> None:
    window = open_window()
    layout = window.form.layout()
    assert isinstance(layout, QFormLayout)

    labels: list[str] = []
    for row in range(layout.rowCount()):
        item = layout.itemAt(row, QFormLayout.ItemRole.LabelRole)
        if item is None:  # the Advanced toggle spans the row
            continue
        label = item.widget()
        assert isinstance(label, QLabel)
        labels.append(label.text())
        field = layout.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
        assert layout.labelForField(field) is label
    assert labels == [spec.mnemonic for spec in model.FIELDS]
    for spec in model.FIELDS:
        assert window.form.label(spec.key).buddy() is window.form.editor(spec.key)


def test_a_long_wrapped_message_is_shown_whole(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    message = "is wrong for a reason that takes many words to explain, " * 4 + "really."
    window.form.set_errors(model.ValidationError([model.FieldError("server", message)]))
    settle(qtbot)

    shown = window.form.error_label("server")
    assert shown.text() == message
    # Wrapped onto several lines, all of them inside the label and the label inside the window.
    line_height = shown.fontMetrics().lineSpacing()
    assert shown.height() >= shown.heightForWidth(shown.width()) >= 3 * line_height
    central = window.centralWidget()
    assert central is not None
    assert central.rect().contains(geometry_in(central, shown))
    # The rows below still start under it.
    below = geometry_in(central, port(window))
    assert below.top() >= geometry_in(central, shown).bottom()


# -- A stable layout while typing; the window shrinks back ------------------------


def test_typing_into_a_field_with_a_message_moves_nothing(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    fill_valid(qtbot, window)
    type_into(qtbot, line(window, "server"), "smtp://mail.example.com")
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)
    settle(qtbot)
    server = line(window, "server")
    assert window.form.error_text("server")
    below = [port(window), combo(window, "security"), combo(window, "auth")]
    before = [geometry_in(window, widget) for widget in below]
    height = window.height()

    server.setFocus()
    server.selectAll()
    for key in (Qt.Key.Key_Backspace, Qt.Key.Key_M, Qt.Key.Key_X, Qt.Key.Key_Period):
        qtbot.keyClick(server, key)
        settle(qtbot)
        assert [geometry_in(window, widget) for widget in below] == before
        assert window.height() == height
    assert window.form.error_text("server")  # until the field is left

    type_text(qtbot, server, "example.com")
    qtbot.keyClick(server, Qt.Key.Key_Tab)
    assert server.text() == "mx.example.com"
    assert window.form.error_text("server") == ""


def test_leaving_a_changed_field_judges_it(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    type_into(qtbot, line(window, "account_email"), "alerts(at)example.com")
    assert window.form.error_text("account_email") == ""  # not while typing

    qtbot.keyClick(line(window, "account_email"), Qt.Key.Key_Tab)

    assert window.form.error_text("account_email")
    assert window.form.error_text("server") == ""  # untouched fields wait for Submit


def test_the_window_shrinks_back_when_the_messages_go(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    settle(qtbot)
    start = window.height()
    choose_auth_none_then_login = combo(window, "security")
    choose_auth_none_then_login.setCurrentIndex(choose_auth_none_then_login.findData("none"))
    settle(qtbot)
    assert window.form.warning.isVisible()  # Login/Plain without encryption
    choose_auth_none_then_login.setCurrentIndex(choose_auth_none_then_login.findData("starttls"))
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)  # every field is empty
    settle(qtbot)
    assert window.height() > start

    fill_valid(qtbot, window)
    for key in ("account_name", "account_email", "server", "username", "password"):
        line(window, key).setFocus()
        qtbot.keyClick(line(window, key), Qt.Key.Key_Tab)
    settle(qtbot)

    assert all(not window.form.error_text(spec.key) for spec in model.FIELDS)
    assert window.height() == start


# -- Read-only looks and behaves read-only ------------------------------------------


def test_read_only_drop_downs_give_way_to_read_only_lines(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()

    for key in ("security", "auth"):
        box, display = combo(window, key), window.form.display(key)
        assert not box.isVisible()
        assert display.isVisible()
        assert display.isReadOnly()
        assert display.text() == box.currentText()
        assert window.form.label(key).buddy() is display
    assert window.form.display("security").text() == "STARTTLS"

    window.edit()
    for key in ("security", "auth"):
        assert combo(window, key).isVisible()
        assert combo(window, key).isEnabled()
        assert not window.form.display(key).isVisible()
        assert window.form.label(key).buddy() is combo(window, key)


def test_a_disabled_user_name_shows_no_example(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    assert line(window, "username").placeholderText()  # an example while it can be typed
    box = combo(window, "auth")
    box.setCurrentIndex(box.findData("none"))
    for key in ("username", "password"):
        assert not line(window, key).isEnabled()
        assert line(window, key).placeholderText() == ""
    box.setCurrentIndex(box.findData("login_plain"))
    assert line(window, "username").placeholderText()


def test_an_access_key_of_a_disabled_field_types_nothing(
    qtbot: QtBot, open_window: OpenWindow
) -> None:
    window = open_window()
    box = combo(window, "auth")
    box.setCurrentIndex(box.findData("none"))  # Pass&word is disabled
    name = line(window, "account_name")
    name.setFocus()
    type_text(qtbot, name, "Alerts")

    qtbot.keyClick(name, Qt.Key.Key_W, Qt.KeyboardModifier.AltModifier)

    assert name.text() == "Alerts"


@pytest.mark.parametrize(
    ("key", "letter"),
    [("security", Qt.Key.Key_C), ("auth", Qt.Key.Key_A), ("server", Qt.Key.Key_S)],
)
def test_read_only_access_keys_move_the_focus_and_type_nothing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, key: str, letter: Qt.Key
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    name = line(window, "account_name")
    name.setFocus()

    qtbot.keyClick(window, letter, Qt.KeyboardModifier.AltModifier)

    target = window.form.display(key) if key in ("security", "auth") else line(window, key)
    assert QApplication.focusWidget() is target
    qtbot.keyClicks(target, "x")
    assert name.text() == STORED.account_name
    assert target.text() in (STORED.server, "STARTTLS", "Login/Plain")
    assert stored_settings(data_dir) == STORED
