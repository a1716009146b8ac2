"""The settings form on its own: it binds widgets to ``model`` values and nothing more."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit
from pytestqt.qtbot import QtBot

from configurator import model
from configurator.ui.form import (
    KEEP_STORED_HINT,
    PASSWORD_MASK,
    SettingsForm,
)

STORED = model.Settings(
    account_name="Security Monitoring",
    account_email="alerts@example.com",
    server="smtp.example.com",
    port=2525,
    security=model.Security.SSL_TLS,
    auth=model.Auth.LOGIN_PLAIN,
    username="alerts",
    password="hunter2-secret",
    timeout=30.0,
    tls_fingerprint="ab" * 32,
    test_recipient="admin@example.com",
)


@pytest.fixture
def form(qtbot: QtBot) -> SettingsForm:
    widget = SettingsForm()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_fields_come_from_the_model_in_order(form: SettingsForm) -> None:
    for spec in model.FIELDS:
        editor = form.editor(spec.key)
        assert editor.objectName() == spec.object_name
        assert form.label(spec.key).text() == spec.mnemonic
        assert form.label(spec.key).buddy() is editor
        assert editor.accessibleName() == spec.label
        assert editor.toolTip() == spec.help
        assert editor.whatsThis() == spec.help
    order = [widget.objectName() for widget in form.focus_order()]
    expected = [spec.object_name for spec in model.FIELDS if not spec.advanced]
    expected.insert(expected.index("outgoingServer") + 1, "detectButton")
    assert order[: len(expected)] == expected


def test_widget_kinds(form: SettingsForm) -> None:
    # Numbers are typed as text and judged by the model: a spin box would fix them up.
    assert isinstance(form.editor("port"), QLineEdit)
    assert isinstance(form.editor("timeout"), QLineEdit)
    assert isinstance(form.editor("security"), QComboBox)
    assert isinstance(form.editor("auth"), QComboBox)
    password = form.editor("password")
    assert isinstance(password, QLineEdit)
    assert password.echoMode() is QLineEdit.EchoMode.Password


def test_load_then_values_gives_back_the_settings(form: SettingsForm) -> None:
    form.load(STORED)
    form.start_password_entry(keeps_stored=True)

    values = form.values()

    assert set(values) == {spec.key for spec in model.FIELDS}
    assert values["port"] == "2525"
    assert values["timeout"] == "30"
    assert values["security"] == "ssl_tls"
    assert values["password"] == ""  # empty: keep the stored one
    assert model.build(values, STORED) == STORED


def test_a_loaded_password_shows_only_the_mask(form: SettingsForm) -> None:
    form.load(STORED)
    password = form.editor("password")
    assert isinstance(password, QLineEdit)
    assert password.text() == PASSWORD_MASK
    assert STORED.password not in password.text()
    assert form.values()["password"] == ""  # the mask is never handed back as a password


def test_no_stored_password_shows_an_empty_field(form: SettingsForm) -> None:
    form.load(model.build({"auth": "none"}, STORED))
    password = form.editor("password")
    assert isinstance(password, QLineEdit)
    assert password.text() == ""


def test_password_entry_starts_empty_with_a_hint(form: SettingsForm) -> None:
    form.load(STORED)
    form.start_password_entry(keeps_stored=True)
    form.set_editable(True)
    password = form.editor("password")
    assert isinstance(password, QLineEdit)
    assert password.text() == ""
    assert password.placeholderText() == KEEP_STORED_HINT

    form.start_password_entry(keeps_stored=False)
    assert password.placeholderText() == ""


def test_fields_the_server_check_fills_are_also_editable(form: SettingsForm) -> None:
    form.load(STORED)
    form.set_editable(True)
    for key in ("tls_fingerprint", "test_recipient"):
        editor = form.editor(key)
        assert isinstance(editor, QLineEdit)
        assert not editor.isReadOnly()
        assert editor.text() == getattr(STORED, key)


def test_set_value_counts_as_an_edit_and_unfolds_advanced(qtbot: QtBot, form: SettingsForm) -> None:
    form.load(STORED)
    form.set_editable(True)
    assert not form.advanced_shown()

    with qtbot.waitSignal(form.edited, timeout=1000):
        form.set_value("test_recipient", "soc@example.com")

    assert form.advanced_shown()
    assert model.build(form.values(), STORED).test_recipient == "soc@example.com"
    with pytest.raises(ValueError, match="password"):
        form.set_value("password", "typed by the program")


def test_apply_connection_sets_a_custom_port_with_its_security(
    qtbot: QtBot, form: SettingsForm
) -> None:
    form.load(STORED)
    form.set_editable(True)

    with qtbot.waitSignal(form.edited, timeout=1000):  # an edit, even if only the port changes
        form.apply_connection(2587, model.Security.SSL_TLS)
    form.apply_connection(2587, model.Security.STARTTLS)

    values = form.values()
    assert (values["port"], values["security"]) == ("2587", "starttls")
    form.apply_connection(465, model.Security.SSL_TLS)
    assert (form.values()["port"], form.values()["security"]) == ("465", "ssl_tls")


def test_read_only_leaves_nothing_editable(form: SettingsForm) -> None:
    form.load(STORED)
    form.set_editable(False)
    for spec in model.FIELDS:
        editor = form.editor(spec.key)
        if isinstance(editor, QLineEdit):
            assert editor.isReadOnly(), spec.key
        else:
            assert not editor.isEnabled(), spec.key
    assert not form.browse_button.isVisible()


def test_blank_shows_no_values(form: SettingsForm) -> None:
    form.load(STORED)
    form.blank()
    for key in ("account_name", "server", "password"):
        editor = form.editor(key)
        assert isinstance(editor, QLineEdit)
        assert editor.text() == ""
    security = form.editor("security")
    assert isinstance(security, QComboBox)
    assert security.currentIndex() == -1
    assert not form.warning.isVisible()


def test_set_errors_shows_each_message_and_focuses_the_first(
    qtbot: QtBot, form: SettingsForm
) -> None:
    form.activateWindow()
    qtbot.waitUntil(form.isActiveWindow)
    error = model.ValidationError(
        [model.FieldError("server", "is required"), model.FieldError("account_email", "is odd")]
    )

    first = form.set_errors(error)

    assert first is form.editor("account_email")  # field order, not the order given
    # Beside the field only the problem; the label is right there.
    assert form.error_text("account_email") == "is odd"
    assert form.error_text("server") == "is required"
    assert form.editor("server").accessibleDescription() == "Outgoing Mail Server: is required"
    assert form.editor("account_email").hasFocus()

    form.clear_errors()
    assert form.error_text("server") == ""
    assert form.editor("server").accessibleDescription() == model.FIELDS_BY_KEY["server"].help


def test_leaving_a_fixed_field_clears_only_its_error(qtbot: QtBot, form: SettingsForm) -> None:
    form.activateWindow()
    qtbot.waitUntil(form.isActiveWindow)
    form.set_errors(
        model.ValidationError(
            [model.FieldError("server", "is required"), model.FieldError("account_name", "bad")]
        )
    )
    form.editor("server").setFocus()
    qtbot.keyClicks(form.editor("server"), "smtp.example.com")
    assert form.error_text("server") == "is required"  # kept while typing
    qtbot.keyClick(form.editor("server"), Qt.Key.Key_Tab)
    assert form.error_text("server") == ""
    assert form.error_text("account_name")


def test_edited_signal_fires_for_user_input_only(qtbot: QtBot, form: SettingsForm) -> None:
    with qtbot.assertNotEmitted(form.edited):
        form.load(STORED)
    with qtbot.waitSignal(form.edited, timeout=1000):
        qtbot.keyClicks(form.editor("account_name"), "!")


def test_advanced_rows_fold_and_unfold(qtbot: QtBot, form: SettingsForm) -> None:
    assert not form.editor("ca_file").isVisible()
    form.advanced_toggle.click()
    assert form.advanced_shown()
    assert form.editor("ca_file").isVisible()
    assert form.editor("timeout").isVisible()
    form.advanced_toggle.click()
    assert not form.editor("timeout").isVisible()


def test_security_change_on_load_keeps_the_stored_port(form: SettingsForm) -> None:
    form.load(STORED)  # SSL/TLS with a custom port
    port = form.editor("port")
    assert isinstance(port, QLineEdit)
    assert port.text() == "2525"
    form.load(model.build({"port": 465}, STORED))
    assert port.text() == "465"
