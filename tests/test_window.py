"""The main window driven as a person would: real widgets, keys and clicks, real files.

Every test checks what was stored by decrypting the real ``settings.enc`` in
its own data directory with ``Store(data_dir).load()``, not by asking the
window what it believes it did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot
from support import accounts
from support.window import (
    SECRET,
    STORED,
    OpenWindow,
    answer,
    combo,
    line,
    message_box,
    port,
    stored_settings,
    type_text,
)

from configurator import model
from configurator.app import create_window
from configurator.errors import Unreadable
from configurator.store import Access, Store
from configurator.ui.form import KEEP_STORED_HINT, PASSWORD_MASK
from configurator.ui.modes import Mode
from configurator.ui.window import MainWindow

pytest_plugins = ["support.window"]


def type_into(qtbot: QtBot, editor: QWidget, text: str) -> None:
    """Replace the field's contents by typing, as a user would (select all, type)."""
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    if text:
        type_text(qtbot, editor, text)
    else:
        qtbot.keyClick(editor, Qt.Key.Key_Backspace)


def choose(window: MainWindow, key: str, value: str) -> None:
    box = combo(window, key)
    index = box.findData(value)
    assert index >= 0, value
    box.setCurrentIndex(index)


def fill(qtbot: QtBot, window: MainWindow, settings: model.Settings) -> None:
    """Enter ``settings`` through the widgets, in form order."""
    type_into(qtbot, line(window, "account_name"), settings.account_name)
    type_into(qtbot, line(window, "account_email"), settings.account_email)
    type_into(qtbot, line(window, "server"), settings.server)
    choose(window, "security", settings.security.value)
    type_into(qtbot, port(window), str(settings.port))
    choose(window, "auth", settings.auth.value)
    if settings.auth is model.Auth.LOGIN_PLAIN:
        type_into(qtbot, line(window, "username"), settings.username)
        type_into(qtbot, line(window, "password"), settings.password)


def save_stored(data_dir: Path, settings: model.Settings = STORED) -> bytes:
    Store(data_dir).save(settings)
    return (data_dir / "settings.enc").read_bytes()


def shown_texts(window: MainWindow) -> list[str]:
    """Every piece of text any widget of the window holds or shows."""
    texts = [window.windowTitle(), window.statusBar().currentMessage()]
    for widget in window.findChildren(QWidget):
        texts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        texts.append(widget.whatsThis())
        if isinstance(widget, QLineEdit):
            texts += [widget.text(), widget.displayText(), widget.placeholderText()]
        elif isinstance(widget, QLabel | QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QComboBox):
            texts += [widget.itemText(i) for i in range(widget.count())]
        elif isinstance(widget, QAbstractSpinBox):
            texts.append(widget.text())
    return texts


# -- Write mode -----------------------------------------------------------------


def test_first_launch_opens_in_write_mode(open_window: OpenWindow, data_dir: Path) -> None:
    window = open_window()

    assert window.mode is Mode.WRITE
    assert window.form.is_editable()
    assert window.submit_button.isVisible()
    assert not window.reset_button.isVisible()
    assert not window.cancel_button.isVisible()
    assert not window.edit_action.isEnabled()
    assert line(window, "password").text() == ""
    assert line(window, "password").echoMode() is QLineEdit.EchoMode.Password
    assert not (data_dir / "settings.enc").exists()


def test_submit_in_write_mode_stores_exactly_what_was_typed(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    wanted = model.Settings(
        account_name="Sécurité Monitoring",
        account_email="alerts@example.org",
        server="mail.example.org",
        port=465,
        security=model.Security.SSL_TLS,
        auth=model.Auth.LOGIN_PLAIN,
        username="usér",
        password=SECRET,
    )
    window = open_window()

    fill(qtbot, window, wanted)
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert window.mode is Mode.READ_ONLY
    loaded = Store(data_dir).load()
    assert loaded is not None
    assert loaded.settings == wanted
    assert loaded.revision == 1
    assert window.edit_action.isEnabled()
    assert (data_dir / "settings.key").exists()  # no keyring in this test
    assert "settings.key" in window.location_label.text()


def test_round_trip_with_the_key_in_the_keyring(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, test_keyring: object
) -> None:
    window = open_window()
    fill(qtbot, window, STORED)
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert window.mode is Mode.READ_ONLY
    assert stored_settings(data_dir) == STORED
    assert not (data_dir / "settings.key").exists()
    assert "OS keyring" in window.location_label.text()

    reopened = open_window()
    assert reopened.mode is Mode.READ_ONLY
    assert line(reopened, "account_name").text() == STORED.account_name


def test_status_bar_says_where_the_settings_live(open_window: OpenWindow, data_dir: Path) -> None:
    window = open_window()
    assert str(data_dir / "settings.enc") in window.location_label.text()
    assert "first save" in window.location_label.text()


# -- Read-only mode ---------------------------------------------------------------


def test_stored_settings_open_read_only_with_nothing_editable(
    open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()

    assert window.mode is Mode.READ_ONLY
    assert line(window, "server").text() == STORED.server
    assert port(window).text() == str(STORED.port)
    assert combo(window, "security").currentData() == "starttls"
    for key in ("account_name", "account_email", "server", "username", "password", "ca_file"):
        assert line(window, key).isReadOnly(), key
    assert port(window).isReadOnly()
    assert not combo(window, "security").isEnabled()
    assert not combo(window, "auth").isEnabled()
    assert not any(button.isVisible() for button in (window.reset_button, window.cancel_button))
    assert not window.submit_button.isVisible()
    assert window.edit_action.isEnabled()


def test_password_is_never_in_any_widget_text(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()

    assert line(window, "password").text() == PASSWORD_MASK
    texts = shown_texts(window)
    assert not any(SECRET in text for text in texts)

    window.edit()
    assert line(window, "password").text() == ""
    assert line(window, "password").placeholderText() == KEEP_STORED_HINT
    assert not any(SECRET in text for text in shown_texts(window))


# -- Edit mode ---------------------------------------------------------------------


def test_edit_offers_reset_cancel_and_submit(open_window: OpenWindow, data_dir: Path) -> None:
    save_stored(data_dir)
    window = open_window()
    window.edit_action.trigger()

    assert window.mode is Mode.EDIT
    assert window.form.is_editable()
    assert all(b.isVisible() for b in (window.reset_button, window.cancel_button))
    assert window.submit_button.isVisible()
    assert not window.edit_action.isEnabled()


def test_edit_and_submit_saves_a_new_revision_and_keeps_the_password(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    window.edit_action.trigger()

    type_into(qtbot, line(window, "server"), "smtp2.example.com")
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert window.mode is Mode.READ_ONLY
    loaded = Store(data_dir).load()
    assert loaded is not None
    assert loaded.revision == 2
    assert loaded.settings.server == "smtp2.example.com"
    assert loaded.settings.password == SECRET  # the empty field kept it


def test_edit_with_a_new_password_replaces_it(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "password"), "another one")
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert stored_settings(data_dir).password == "another one"


def test_cancel_restores_the_snapshot_and_writes_nothing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "elsewhere.example.com")
    choose(window, "security", "ssl_tls")
    type_into(qtbot, line(window, "password"), "not saved")

    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)

    assert window.mode is Mode.READ_ONLY
    assert line(window, "server").text() == STORED.server
    assert combo(window, "security").currentData() == "starttls"
    assert port(window).text() == "587"
    assert line(window, "password").text() == PASSWORD_MASK
    assert (data_dir / "settings.enc").read_bytes() == before


def test_reset_asks_first_with_no_as_the_default(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()

    qtbot.mouseClick(window.reset_button, Qt.MouseButton.LeftButton)
    box = message_box(window, "resetConfirmation")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.No)
    assert box.windowModality() is Qt.WindowModality.WindowModal

    answer(qtbot, window, "resetConfirmation", QMessageBox.StandardButton.No)

    assert window.mode is Mode.EDIT
    assert (data_dir / "settings.enc").read_bytes() == before
    assert (data_dir / "settings.key").exists()


def test_reset_confirmed_erases_file_and_key_and_returns_to_write(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    window = open_window()
    window.edit()
    qtbot.mouseClick(window.reset_button, Qt.MouseButton.LeftButton)

    answer(qtbot, window, "resetConfirmation", QMessageBox.StandardButton.Yes)

    assert window.mode is Mode.WRITE
    assert not (data_dir / "settings.enc").exists()
    assert not (data_dir / "settings.key").exists()
    assert Store(data_dir).load() is None
    assert line(window, "server").text() == ""
    assert line(window, "password").text() == ""


def test_enter_on_the_reset_box_keeps_the_settings(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    qtbot.mouseClick(window.reset_button, Qt.MouseButton.LeftButton)
    box = message_box(window, "resetConfirmation")

    qtbot.keyClick(box, Qt.Key.Key_Return)

    assert window.mode is Mode.EDIT
    assert (data_dir / "settings.enc").read_bytes() == before


# -- Validation --------------------------------------------------------------------


def test_invalid_input_writes_nothing_and_each_bad_field_says_why(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    type_into(qtbot, line(window, "account_name"), "")
    type_into(qtbot, line(window, "account_email"), "alerts(at)example.com")
    type_into(qtbot, line(window, "server"), "smtp://mail.example.com")
    type_into(qtbot, line(window, "username"), "")
    type_into(qtbot, line(window, "password"), "")

    qtbot.keyClick(line(window, "server"), Qt.Key.Key_Return)

    assert window.mode is Mode.WRITE
    assert not (data_dir / "settings.enc").exists()
    with pytest.raises(model.ValidationError) as expected:
        model.build(window.form.values())
    messages = expected.value.by_key()
    assert set(messages) == {"account_name", "account_email", "server", "username", "password"}
    for key, message in messages.items():
        label = model.FIELDS_BY_KEY[key].label
        # Beside the field, only the problem: the label is right there.
        assert window.form.error_text(key) == message, key
        assert window.form.error_label(key).isVisible()
        # Read out on its own, the description names the field as well.
        assert window.form.editor(key).accessibleDescription() == f"{label}: {message}"
    assert not window.form.error_text("port")
    assert QApplication.focusWidget() is line(window, "account_name")


def test_an_error_clears_when_its_field_is_left_fixed(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)
    assert window.form.error_text("server")
    assert window.form.error_text("account_name")
    line(window, "server").setFocus()

    qtbot.keyClicks(line(window, "server"), "smtp.example.com")
    assert window.form.error_text("server") == "is required"  # typing moves nothing
    qtbot.keyClick(line(window, "server"), Qt.Key.Key_Tab)

    assert not window.form.error_text("server")
    assert not window.form.error_label("server").isVisible()
    assert window.form.error_text("account_name")


def test_an_error_in_an_advanced_field_unfolds_advanced(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, tmp_path: Path
) -> None:
    window = open_window()
    fill(qtbot, window, STORED)
    assert not window.form.advanced_shown()
    type_into(qtbot, line(window, "ca_file"), str(tmp_path / "missing.pem"))

    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    assert window.form.advanced_shown()
    assert line(window, "ca_file").isVisible()
    assert "not an existing file" in window.form.error_text("ca_file")
    assert QApplication.focusWidget() is line(window, "ca_file")
    assert not (data_dir / "settings.enc").exists()


# -- Behaviour users expect ------------------------------------------------------------


@pytest.mark.parametrize(
    ("security", "expected_port"), [("none", 25), ("starttls", 587), ("ssl_tls", 465)]
)
def test_choosing_security_moves_a_default_port(
    open_window: OpenWindow, security: str, expected_port: int
) -> None:
    window = open_window()
    choose(window, "security", "ssl_tls" if security != "ssl_tls" else "none")
    choose(window, "security", security)
    assert port(window).text() == str(expected_port)


def test_a_custom_port_stays_when_security_changes(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    type_into(qtbot, port(window), "2525")
    for security in ("none", "ssl_tls", "starttls"):
        choose(window, "security", security)
        assert port(window).text() == "2525"


def test_security_follows_the_keyboard(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    box = combo(window, "security")
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Down)  # STARTTLS -> SSL/TLS
    assert box.currentData() == "ssl_tls"
    assert port(window).text() == "465"


def test_authentication_none_disables_user_name_and_password(open_window: OpenWindow) -> None:
    window = open_window()
    choose(window, "auth", "none")
    assert not line(window, "username").isEnabled()
    assert not line(window, "password").isEnabled()
    assert not window.form.label("username").isEnabled()

    choose(window, "auth", "login_plain")
    assert line(window, "username").isEnabled()
    assert line(window, "password").isEnabled()


def test_authentication_none_stores_no_user_name_or_password(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    fill(qtbot, window, STORED)
    choose(window, "auth", "none")
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    stored = stored_settings(data_dir)
    assert stored.auth is model.Auth.NONE
    assert stored.username == ""
    assert stored.password == ""


@pytest.mark.parametrize(
    ("security", "auth", "warned"),
    [
        ("none", "login_plain", True),
        ("none", "none", False),
        ("starttls", "login_plain", False),
        ("ssl_tls", "login_plain", False),
    ],
)
def test_warning_for_a_password_sent_without_encryption(
    open_window: OpenWindow, security: str, auth: str, warned: bool
) -> None:
    window = open_window()
    choose(window, "security", security)
    choose(window, "auth", auth)

    assert window.form.warning.isVisible() is warned
    if warned:
        text = window.form.warning.findChild(QLabel, "clearTextWarningText")
        assert text is not None
        assert "unencrypted" in text.text()
        icon = window.form.warning.findChild(QLabel, "clearTextWarningIcon")
        assert icon is not None
        assert not icon.pixmap().isNull()


def test_enter_submits(qtbot: QtBot, open_window: OpenWindow, data_dir: Path) -> None:
    window = open_window()
    fill(qtbot, window, STORED)

    qtbot.keyClick(line(window, "password"), Qt.Key.Key_Return)

    assert window.mode is Mode.READ_ONLY
    assert stored_settings(data_dir) == STORED


def test_enter_in_read_only_mode_does_nothing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    qtbot.keyClick(line(window, "server"), Qt.Key.Key_Return)
    assert window.mode is Mode.READ_ONLY
    assert (data_dir / "settings.enc").read_bytes() == before


def test_escape_cancels_edit(qtbot: QtBot, open_window: OpenWindow, data_dir: Path) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "account_name"), "Changed")

    qtbot.keyClick(line(window, "account_name"), Qt.Key.Key_Escape)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)

    assert window.mode is Mode.READ_ONLY
    assert line(window, "account_name").text() == STORED.account_name
    assert (data_dir / "settings.enc").read_bytes() == before


def test_escape_in_write_mode_keeps_the_input(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    type_into(qtbot, line(window, "account_name"), "Typed")
    qtbot.keyClick(line(window, "account_name"), Qt.Key.Key_Escape)
    assert window.mode is Mode.WRITE
    assert line(window, "account_name").text() == "Typed"


def test_enter_on_a_focused_button_presses_that_button(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "account_name"), "Changed")
    window.cancel_button.setFocus()

    qtbot.keyClick(window.cancel_button, Qt.Key.Key_Return)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)

    assert window.mode is Mode.READ_ONLY  # cancelled, not submitted
    assert (data_dir / "settings.enc").read_bytes() == before


def test_edit_shortcut(qtbot: QtBot, open_window: OpenWindow, data_dir: Path) -> None:
    save_stored(data_dir)
    window = open_window()
    qtbot.keyClick(line(window, "server"), Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert window.mode is Mode.EDIT
    assert QApplication.focusWidget() is line(window, "account_name")


def test_tab_order_follows_the_form(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    first = line(window, "account_name")
    first.setFocus()
    visited = [first.objectName()]
    for _ in range(9):
        focused = QApplication.focusWidget()
        assert focused is not None
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
        now = QApplication.focusWidget()
        assert now is not None
        visited.append(now.objectName())

    expected = [spec.object_name for spec in model.FIELDS if not spec.advanced]
    expected.insert(expected.index("outgoingServer") + 1, "detectButton")
    assert visited[:9] == expected
    assert visited[9] == "advancedToggle"


def test_mnemonics_reach_their_fields(qtbot: QtBot, open_window: OpenWindow) -> None:
    window = open_window()
    line(window, "account_name").setFocus()
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)  # Outgoing Mail &Server
    assert QApplication.focusWidget() is line(window, "server")


def test_every_control_has_an_accessible_name(open_window: OpenWindow) -> None:
    window = open_window()
    window.form.show_advanced(True)
    controls = [window.form.editor(spec.key) for spec in model.FIELDS]
    controls += window.findChildren(QPushButton)
    controls.append(window.form.advanced_toggle)
    for control in controls:
        assert control.accessibleName(), control.objectName()
    for spec in model.FIELDS:
        assert window.form.editor(spec.key).accessibleName() == spec.label
        assert window.form.label(spec.key).text() == spec.mnemonic
        assert window.form.label(spec.key).buddy() is window.form.editor(spec.key)
        assert window.form.editor(spec.key).toolTip() == spec.help


def test_widgets_carry_the_contract_object_names(open_window: OpenWindow) -> None:
    window = open_window()
    for name in (
        "accountName",
        "accountEmail",
        "outgoingServer",
        "serverPort",
        "connectionSecurity",
        "authMethod",
        "userName",
        "password",
        "resetButton",
        "cancelButton",
        "submitButton",
        "testButton",
    ):
        assert window.findChild(QWidget, name) is not None, name
    assert window.edit_action.objectName() == "editAction"
    assert not window.edit_action.icon().isNull()
    choices = combo(window, "security")
    assert [choices.itemData(i) for i in range(3)] == ["none", "starttls", "ssl_tls"]
    assert [choices.itemText(i) for i in range(3)] == ["None", "STARTTLS", "SSL/TLS"]
    auth = combo(window, "auth")
    assert [(auth.itemData(i), auth.itemText(i)) for i in range(2)] == [
        ("none", "None"),
        ("login_plain", "Login/Plain"),
    ]
    assert port(window).validator() is not None  # digits only, of any length


def test_test_and_detect_are_offered_wherever_there_are_settings_to_check(
    open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()  # Write: tests the unsaved form
    assert window.test_button.isEnabled()
    assert "before saving" in window.test_button.toolTip()
    assert window.form.detect_button.isEnabled()

    save_stored(data_dir)
    window.reload()  # Read-only: tests the stored settings
    assert window.mode is Mode.READ_ONLY
    assert window.test_button.isEnabled()
    assert "stored settings" in window.test_button.toolTip()
    assert window.form.detect_button.isEnabled()

    window.edit()
    assert window.test_button.isEnabled()
    assert "before saving" in window.test_button.toolTip()


# -- Closing ---------------------------------------------------------------------------


def test_closing_without_edits_does_not_ask(open_window: OpenWindow, data_dir: Path) -> None:
    save_stored(data_dir)
    window = open_window()
    window.edit()
    assert window.close()
    assert window.findChild(QMessageBox, "unsavedChanges") is None


def test_closing_with_edits_asks_and_cancel_keeps_the_window(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "changed.example.com")
    assert window.isWindowModified()

    assert not window.close()
    box = message_box(window, "unsavedChanges")
    assert box.escapeButton() is box.button(QMessageBox.StandardButton.Cancel)
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Cancel)

    assert window.isVisible()
    assert window.mode is Mode.EDIT
    assert line(window, "server").text() == "changed.example.com"
    assert (data_dir / "settings.enc").read_bytes() == before


def test_closing_with_edits_and_discard_writes_nothing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "changed.example.com")

    window.close()
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Discard)

    assert not window.isVisible()
    assert (data_dir / "settings.enc").read_bytes() == before


def test_closing_with_edits_and_save_stores_them(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    fill(qtbot, window, STORED)

    window.close()
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Save)

    assert not window.isVisible()
    assert stored_settings(data_dir) == STORED


def test_save_on_close_with_invalid_input_stays_open(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    type_into(qtbot, line(window, "server"), "not a server")

    window.close()
    answer(qtbot, window, "unsavedChanges", QMessageBox.StandardButton.Save)

    assert window.isVisible()
    assert window.form.error_text("server")
    assert not (data_dir / "settings.enc").exists()


# -- Unreadable settings ------------------------------------------------------------


def _truncate(data_dir: Path) -> None:
    path = data_dir / "settings.enc"
    path.write_bytes(path.read_bytes()[:20])


def _flip_a_bit(data_dir: Path) -> None:
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x04
    path.write_bytes(bytes(blob))


def _lose_the_key(data_dir: Path) -> None:
    (data_dir / "settings.key").unlink()


@pytest.mark.parametrize(
    ("damage", "reason", "words"),
    [
        (_truncate, Unreadable.CORRUPT, "truncated"),
        (_flip_a_bit, Unreadable.TAMPERED, "changed or damaged"),
        (_lose_the_key, Unreadable.KEY_MISSING, "missing"),
    ],
    ids=["corrupt", "tampered", "key-missing"],
)
def test_unreadable_settings_open_with_a_banner_and_start_again_keeps_a_copy(
    qtbot: QtBot,
    open_window: OpenWindow,
    *,
    data_dir: Path,
    damage: Callable[[Path], None],
    reason: Unreadable,
    words: str,
) -> None:
    save_stored(data_dir)
    damage(data_dir)
    original = (data_dir / "settings.enc").read_bytes()
    window = open_window()

    assert window.mode is Mode.UNREADABLE
    assert window.unreadable is not None
    assert window.unreadable.reason is reason
    assert window.banner.isVisible()
    assert words in window.banner.text()
    assert window.unreadable.advice in window.banner.text()
    assert not window.form.isEnabled()
    assert not window.edit_action.isEnabled()
    assert not window.submit_button.isVisible()
    assert not window.test_button.isEnabled()
    assert line(window, "server").text() == ""
    names = [button.objectName() for button in window.banner.buttons()]
    assert names == ["tryAgainButton", "startAgainButton", "quitButton"]

    start_again = window.banner.buttons()[1]
    qtbot.mouseClick(start_again, Qt.MouseButton.LeftButton)
    box = message_box(window, "startAgainConfirmation")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    answer(qtbot, window, "startAgainConfirmation", QMessageBox.StandardButton.Yes)

    assert window.mode is Mode.WRITE
    kept = list(data_dir.glob("settings.enc.unreadable-*"))
    assert len(kept) == 1
    assert kept[0].read_bytes() == original
    assert not (data_dir / "settings.enc").exists()
    assert str(kept[0]) in window.banner.text()

    fill(qtbot, window, STORED)
    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)
    assert stored_settings(data_dir) == STORED
    assert kept[0].read_bytes() == original


def test_start_again_cancelled_keeps_the_file_in_place(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    _flip_a_bit(data_dir)
    original = (data_dir / "settings.enc").read_bytes()
    window = open_window()
    qtbot.mouseClick(window.banner.buttons()[1], Qt.MouseButton.LeftButton)
    answer(qtbot, window, "startAgainConfirmation", QMessageBox.StandardButton.Cancel)

    assert window.mode is Mode.UNREADABLE
    assert (data_dir / "settings.enc").read_bytes() == original
    assert not list(data_dir.glob("settings.enc.unreadable-*"))


def test_keep_the_file_and_quit_closes_without_touching_it(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    save_stored(data_dir)
    _truncate(data_dir)
    original = (data_dir / "settings.enc").read_bytes()
    window = open_window()

    qtbot.mouseClick(window.banner.buttons()[2], Qt.MouseButton.LeftButton)

    assert not window.isVisible()
    assert (data_dir / "settings.enc").read_bytes() == original


def test_try_again_after_the_keyring_is_unlocked(
    qtbot: QtBot,
    open_window: OpenWindow,
    data_dir: Path,
    test_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_stored(data_dir)
    monkeypatch.setenv("TEST_KEYRING_STATE", "locked")
    window = open_window()
    assert window.mode is Mode.UNREADABLE
    assert window.unreadable is not None
    assert window.unreadable.reason is Unreadable.KEY_UNAVAILABLE
    assert "locked" in window.banner.text()

    monkeypatch.setenv("TEST_KEYRING_STATE", "")
    qtbot.mouseClick(window.banner.buttons()[0], Qt.MouseButton.LeftButton)

    assert window.mode is Mode.READ_ONLY
    assert not window.banner.isVisible()
    assert line(window, "server").text() == STORED.server


# -- Root scope ---------------------------------------------------------------------


def make_read_only(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let this user read the store but not change it.

    Not as root: real permission bits (directory 0500, files 0400).  As root
    (CI runs as root), permission bits do not bind and ``os.access`` always
    says yes, so there ``Store.access`` itself reports READ; everything
    downstream (the window, ``Store.save``'s refusal) runs unchanged.
    """
    if os.geteuid() == 0:
        monkeypatch.setattr(Store, "access", lambda self: Access.READ)
        return
    for path in data_dir.iterdir():
        path.chmod(0o400)
    data_dir.chmod(0o500)


def make_unreadable(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let this user not even read the store (see ``make_read_only`` for root)."""
    if os.geteuid() == 0:
        monkeypatch.setattr(Store, "access", lambda self: Access.NONE)
        return
    data_dir.chmod(0o000)


@pytest.fixture
def restore_permissions(data_dir: Path) -> Iterator[None]:
    yield
    if data_dir.exists():
        data_dir.chmod(0o700)
        for path in data_dir.iterdir():
            path.chmod(0o600)


@accounts.permissions
@pytest.mark.usefixtures("restore_permissions")
def test_a_reader_gets_read_only_with_edit_disabled_and_the_reason(
    open_window: OpenWindow, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_stored(data_dir)
    make_read_only(data_dir, monkeypatch)
    window = open_window()

    assert window.mode is Mode.READ_ONLY
    assert line(window, "server").text() == STORED.server
    assert not window.edit_action.isEnabled()
    assert "write permission" in window.edit_action.toolTip()
    assert window.banner.isVisible()
    assert "may not change" in window.banner.title()
    assert str(data_dir) in window.banner.text()
    window.edit()
    assert window.mode is Mode.READ_ONLY


@accounts.permissions
@pytest.mark.usefixtures("restore_permissions")
def test_someone_who_cannot_read_gets_a_clear_refusal(
    open_window: OpenWindow, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_stored(data_dir)
    make_unreadable(data_dir, monkeypatch)
    window = open_window()

    assert window.mode is Mode.REFUSED
    assert "may not read" in window.banner.title()
    assert not window.form.isEnabled()
    assert line(window, "server").text() == ""
    assert not window.edit_action.isEnabled()
    assert not window.submit_button.isVisible()
    assert not window.test_button.isEnabled()  # nothing stored to test
    assert not window.form.detect_button.isEnabled()  # nothing could be applied


def test_a_data_dir_that_is_a_file_is_named_as_such(qtbot: QtBot, tmp_path: Path) -> None:
    """The banner says what is wrong, in the store's words: not "no permission"."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder\n", encoding="utf-8")
    window = create_window(blocker)
    qtbot.addWidget(window, before_close_func=MainWindow.close_without_asking)
    window.show()

    assert window.mode is Mode.REFUSED
    assert window.banner.title() == "These settings cannot be opened"
    assert f"{blocker} is a file, not a directory" in window.banner.text()
    assert "permission" not in window.banner.text()
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


def test_a_refused_save_shows_why_and_changes_nothing(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Write access is lost after the window opened: the store's own refusal is shown."""
    before = save_stored(data_dir)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "changed.example.com")
    monkeypatch.setattr(Store, "access", lambda self: Access.READ)

    qtbot.mouseClick(window.submit_button, Qt.MouseButton.LeftButton)

    box = message_box(window, "saveFailed")
    assert "may not change" in box.text()
    assert window.mode is Mode.EDIT
    assert line(window, "server").text() == "changed.example.com"
    assert (data_dir / "settings.enc").read_bytes() == before


@accounts.permissions
@pytest.mark.usefixtures("restore_permissions")
def test_a_reader_of_an_empty_store_is_told_nothing_can_be_created(
    open_window: OpenWindow, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir.mkdir(mode=0o700)
    make_read_only(data_dir, monkeypatch)
    window = open_window()

    assert window.mode is Mode.READ_ONLY
    assert "No settings are stored yet" in window.banner.text()
    assert line(window, "server").text() == ""
    assert not window.edit_action.isEnabled()
    assert not window.submit_button.isVisible()
