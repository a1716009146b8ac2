"""A new setting is one declaration: form, command line, ``show``, store and checks follow.

The test declares one more field, as a later feature would, and changes
nothing else: every front end must pick it up from the declaration alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFormLayout, QLineEdit
from pytestqt.qtbot import QtBot

from configurator import cli_parser, fieldtypes, model
from configurator.commands import show
from configurator.frozen import field, frozen
from configurator.store import Store
from configurator.ui.form import SettingsForm

NOTE = model.FieldSpec(
    "operator_note",
    "Operator Note",
    "Operator N&ote",
    "operatorNote",
    "A short note for whoever reads the alert e-mails.",
    type=fieldtypes.Text(max_len=20),
    placeholder="Night shift: call the SOC",
)


def _settings_with_note() -> type:
    """``model.Settings`` with one more attribute, as the declaration of a new field adds it."""
    base = model.Settings
    namespace: dict[str, object] = {
        name: value
        for name, value in vars(base).items()
        if name in ("__doc__", "__module__", "password_set", "sends_password_in_clear")
        or name in ("to_dict", "public_dict")
    }
    annotations = dict(base.__annotations__)
    annotations[NOTE.key] = "str"
    namespace["__annotations__"] = annotations
    for name in annotations:
        namespace[name] = getattr(base, name, "")
    namespace["password"] = field(default="", repr=False)
    return frozen(type("Settings", (), namespace))


@pytest.fixture
def with_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """The declarations with ``NOTE`` after the password, the last of the main fields."""
    fields = list(model.FIELDS)
    fields.insert([spec.key for spec in fields].index("password") + 1, NOTE)
    monkeypatch.setattr(model, "FIELDS", tuple(fields))
    monkeypatch.setattr(model, "FIELDS_BY_KEY", {spec.key: spec for spec in fields})
    monkeypatch.setattr(model, "Settings", _settings_with_note())


VALID = {
    "account_name": "Security Monitoring",
    "account_email": "alerts@example.com",
    "server": "smtp.example.com",
    "auth": "none",
    "operator_note": "Call the SOC",
}


@pytest.mark.usefixtures("with_note")
def test_the_form_shows_a_new_field_in_its_place(qtbot: QtBot) -> None:
    form = SettingsForm()
    qtbot.addWidget(form)
    editor = form.editor("operator_note")
    assert isinstance(editor, QLineEdit)
    assert editor.objectName() == "operatorNote"
    assert editor.placeholderText() == "Night shift: call the SOC"
    assert form.label("operator_note").text() == "Operator N&ote"
    layout = form.layout()
    assert isinstance(layout, QFormLayout)
    row, role = layout.getWidgetPosition(form.label("operator_note"))
    assert role == QFormLayout.ItemRole.LabelRole
    password_row, _ = layout.getWidgetPosition(form.label("password"))
    toggle_row, _ = layout.getWidgetPosition(form.advanced_toggle)
    assert password_row + 1 == row == toggle_row - 1
    editor.setText("Call the SOC")
    assert form.values()["operator_note"] == "Call the SOC"
    form.load(model.build(VALID))
    assert editor.text() == "Call the SOC"


@pytest.mark.usefixtures("with_note")
def test_the_command_line_offers_a_new_field(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli_parser.build_parser().parse_args(["set", "--operator-note", "Call the SOC"])
    assert args.operator_note == "Call the SOC"
    with pytest.raises(SystemExit):
        cli_parser.build_parser().parse_args(["set", "--help"])
    assert "--operator-note OPERATOR_NOTE" in capsys.readouterr().out


@pytest.mark.usefixtures("with_note")
def test_a_new_field_is_checked_stored_and_shown(data_dir: Path) -> None:
    with pytest.raises(model.ValidationError) as caught:
        model.build({**VALID, "operator_note": "x" * 21})
    assert caught.value.by_key() == {"operator_note": "is too long (at most 20 characters)"}
    assert str(caught.value) == "Operator Note: is too long (at most 20 characters)"

    settings = model.build(VALID)
    assert show.public_settings(settings)["operator_note"] == "Call the SOC"
    store = Store(data_dir)
    store.save(settings)
    loaded = store.load()
    assert loaded is not None
    assert loaded.settings == settings
    assert json.loads(json.dumps(show.public_settings(loaded.settings)))["operator_note"] == (
        "Call the SOC"
    )


def test_every_declaration_has_its_attribute_in_settings_in_order() -> None:
    """The value class holds exactly the declared fields, so that none is dropped on the way."""
    assert tuple(model.Settings.__annotations__) == tuple(spec.key for spec in model.FIELDS)


def test_every_default_renders_and_parses_back_to_itself() -> None:
    defaults = model.Settings()
    for spec in model.FIELDS:
        value = getattr(defaults, spec.key)
        assert spec.type.parse(spec.type.render(value)) == value, spec.key
        assert spec.type.load(value) == value, spec.key


def test_the_rule_across_fields_leaves_a_user_name_of_the_wrong_type_to_its_type() -> None:
    settings = model.Settings(
        account_name="Alerts",
        account_email="alerts@example.com",
        server="smtp.example.com",
        username=None,  # type: ignore[arg-type]
        password="secret",
    )
    assert model.validate(settings) == [model.FieldError("username", "must be text")]
