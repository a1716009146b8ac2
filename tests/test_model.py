"""The settings model: field declarations, the rules of every field, and build()."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import accounts

from configurator import model
from configurator.model import Auth, FieldError, Security, Settings, ValidationError

GOOD: dict[str, object] = {
    "account_name": "Security Monitoring",
    "account_email": "alerts@example.com",
    "server": "smtp.example.com",
    "port": "587",
    "security": "starttls",
    "auth": "login_plain",
    "username": "alerts@example.com",
    "password": "correct horse battery staple",
}
SECRET = "s3cr3t-Pässwörd-🔑"
FINGERPRINT = "ab" * 32


def good(**overrides: object) -> dict[str, object]:
    """A complete set of valid changes, with some fields replaced."""
    return {**GOOD, **overrides}


def problem(changes: dict[str, object], stored: Settings | None = None) -> dict[str, str]:
    """The messages build() gives per bad field (empty when the changes are valid)."""
    try:
        model.build(changes, stored)
    except ValidationError as exc:
        return exc.by_key()
    return {}


def stored_settings(**overrides: object) -> Settings:
    return dataclasses.replace(model.build(good(password=SECRET)), **overrides)


# -- the declarations ---------------------------------------------------------

DESIGN_TABLE = [
    ("Account Name", "account_name", "accountName"),
    ("Account E-mail Address", "account_email", "accountEmail"),
    ("Outgoing Mail Server", "server", "outgoingServer"),
    ("Server Port", "port", "serverPort"),
    ("Connection Security", "security", "connectionSecurity"),
    ("Authentication Method", "auth", "authMethod"),
    ("User Name", "username", "userName"),
    ("Password", "password", "password"),
]


def test_fields_follow_the_design_table_in_order() -> None:
    basic = [(f.label, f.key, f.object_name) for f in model.FIELDS if not f.advanced]
    assert basic == DESIGN_TABLE
    # The advanced fields come after the ones the brief names.
    assert [f.advanced for f in model.FIELDS] == sorted(f.advanced for f in model.FIELDS)


def test_every_field_is_declared_once_and_matches_settings() -> None:
    keys = [f.key for f in model.FIELDS]
    assert len(keys) == len(set(keys))
    assert keys == [f.name for f in dataclasses.fields(Settings)]
    assert {f.key: f for f in model.FIELDS} == model.FIELDS_BY_KEY
    assert len({f.object_name for f in model.FIELDS}) == len(model.FIELDS)


def test_mnemonics_mark_one_distinct_letter_of_the_label() -> None:
    letters = []
    for spec in model.FIELDS:
        assert spec.mnemonic.count("&") == 1, spec.key
        assert spec.mnemonic.replace("&", "") == spec.label
        letters.append(spec.mnemonic[spec.mnemonic.index("&") + 1].lower())
    assert len(letters) == len(set(letters)), letters


def test_only_the_password_is_secret() -> None:
    assert [f.key for f in model.FIELDS if f.secret] == ["password"]
    assert all(f.help for f in model.FIELDS)
    assert model.FIELDS_BY_KEY["account_name"].cli_option == "--account-name"


@pytest.mark.parametrize(
    ("key", "choices"),
    [
        ("security", [("none", "None"), ("starttls", "STARTTLS"), ("ssl_tls", "SSL/TLS")]),
        ("auth", [("none", "None"), ("login_plain", "Login/Plain")]),
    ],
)
def test_choices_as_in_the_design(key: str, choices: list[tuple[str, str]]) -> None:
    spec = model.FIELDS_BY_KEY[key]
    assert [(c.value, c.label) for c in spec.choices] == choices


@pytest.mark.parametrize(
    ("security", "port", "encrypted"),
    [(Security.NONE, 25, False), (Security.STARTTLS, 587, True), (Security.SSL_TLS, 465, True)],
)
def test_security_defaults(security: Security, port: int, encrypted: bool) -> None:
    assert security.default_port == port
    assert security.encrypted is encrypted


# -- account name -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Security Monitoring", "Sécurité", "监控中心", "Alerts 🚨", "O'Brien & Co.", "a", "x" * 200],
)
def test_good_account_names(name: str) -> None:
    assert problem(good(account_name=name)) == {}


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "is required"),
        ("Alerts\r", "line break"),
        ("Alerts\nBcc: victim@example.com", "line break"),
        ("Alerts\r\nX-Injected: 1", "line break"),
        ("Ale\0rts", "U+0000"),
        ("Ale\trts", "tab"),
        ("\tAlerts", "tab"),
        ("Alerts\u202e", "U+202E"),
        ("Ale\u200brts", "U+200B"),
        (" Alerts", "spaces"),
        ("Alerts ", "spaces"),
        ("Alerts\u00a0", "spaces"),
        ("x" * 201, "too long"),
    ],
)
def test_bad_account_names(name: str, fragment: str) -> None:
    messages = problem(good(account_name=name))
    assert list(messages) == ["account_name"]
    assert fragment in messages["account_name"]


# -- e-mail addresses -----------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["alerts@example.com", "alerts+soc@example.com", "user@bücher.example", "jörg@example.com"],
)
@pytest.mark.parametrize("key", ["account_email", "test_recipient"])
def test_good_addresses(key: str, address: str) -> None:
    assert problem(good(**{key: address})) == {}


@pytest.mark.parametrize(
    "address",
    ["alerts", "a@b@example.com", "@example.com", " alerts@example.com", "a\r\n@example.com"],
)
@pytest.mark.parametrize("key", ["account_email", "test_recipient"])
def test_bad_addresses(key: str, address: str) -> None:
    assert list(problem(good(**{key: address}))) == [key]


def test_account_email_is_required_but_test_recipient_is_not() -> None:
    assert problem(good(account_email="")) == {"account_email": "is required"}
    assert problem(good(test_recipient="")) == {}


# -- server -----------------------------------------------------------------


@pytest.mark.parametrize(
    "server",
    ["smtp.example.com", "smtp.example.com.", "bücher.example", "192.0.2.1", "::1", "mailhost"],
)
def test_good_servers(server: str) -> None:
    assert problem(good(server=server)) == {}


@pytest.mark.parametrize(
    "server",
    ["", "smtp://smtp.example.com", "smtp.example.com:25", "[::1]", "a..b", "999.1.1.1", "a b"],
)
def test_bad_servers(server: str) -> None:
    assert list(problem(good(server=server))) == ["server"]


def test_longest_server_name_with_trailing_dot_is_accepted() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61]) + "."
    assert problem(good(server=name)) == {}


# -- port -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "port"),
    [(1, 1), (65535, 65535), ("587", 587), (" 465 ", 465), (25, 25), ("0025", 25)],
)
def test_good_ports(raw: object, port: int) -> None:
    assert model.build(good(port=raw)).port == port


@pytest.mark.parametrize(
    "raw",
    [
        0,
        65536,
        -1,
        2**70,
        "0",
        "65536",
        "-1",
        "abc",
        "",
        "5 87",
        "58.7",
        "+587",
        587.0,
        True,
        None,
        "٥٨٧",
        pytest.param("9" * 5000, id="5000 digits"),
    ],
)
def test_bad_ports(raw: object) -> None:
    messages = problem(good(port=raw))
    assert list(messages) == ["port"]
    assert "65535" in messages["port"]


@pytest.mark.parametrize("port", [0, 65536, True, "587", 587.0])
def test_validate_refuses_a_bad_port_value(port: object) -> None:
    bad = dataclasses.replace(stored_settings(), port=port)
    assert [error.key for error in model.validate(bad)] == ["port"]


# -- choices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("security", "none", Security.NONE),
        ("security", "starttls", Security.STARTTLS),
        ("security", "ssl_tls", Security.SSL_TLS),
        ("security", Security.SSL_TLS, Security.SSL_TLS),
        ("auth", "none", Auth.NONE),
        ("auth", "login_plain", Auth.LOGIN_PLAIN),
    ],
)
def test_good_choices(key: str, raw: object, expected: object) -> None:
    assert getattr(model.build(good(**{key: raw})), key) is expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("security", "STARTTLS"),
        ("security", "tls"),
        ("security", "SSL/TLS"),
        ("security", ""),
        ("security", None),
        ("security", 1),
        ("auth", "plain"),
        ("auth", "Login/Plain"),
        ("auth", ""),
        ("auth", None),
    ],
)
def test_bad_choices(key: str, raw: object) -> None:
    messages = problem(good(**{key: raw}))
    assert list(messages) == [key]
    assert messages[key].startswith("must be one of")


@pytest.mark.parametrize(("key", "value"), [("security", "starttls"), ("auth", "none")])
def test_validate_refuses_a_choice_that_is_not_a_member(key: str, value: str) -> None:
    bad = dataclasses.replace(Settings(), **{key: value})
    assert key in {error.key for error in model.validate(bad)}


# -- authentication ---------------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["alerts@example.com", "DOMAIN\\alerts", "jörg", "用户", "a" * 256]
)
def test_good_user_names(username: str) -> None:
    assert problem(good(username=username)) == {}


@pytest.mark.parametrize(
    ("username", "fragment"),
    [
        ("", "is required"),
        ("alerts\r\n", "line break"),
        ("al\0erts", "U+0000"),
        (" alerts", "spaces"),
        ("a" * 257, "too long"),
    ],
)
def test_bad_user_names(username: str, fragment: str) -> None:
    messages = problem(good(username=username))
    assert list(messages) == ["username"]
    assert fragment in messages["username"]


@pytest.mark.parametrize(
    "password", ["x", " leading and trailing spaces ", SECRET, "tab\tinside", "ü" * 1024]
)
def test_good_passwords(password: str) -> None:
    assert model.build(good(password=password)).password == password


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("line\nbreak", "line break"),
        ("carriage\rreturn", "line break"),
        ("nul\0", "NUL"),
        ("x" * 1025, "too long"),
    ],
)
def test_bad_passwords(password: str, fragment: str) -> None:
    messages = problem(good(password=password))
    assert list(messages) == ["password"]
    assert fragment in messages["password"]


def test_login_plain_requires_user_name_and_password() -> None:
    messages = problem(good(username="", password=""))
    assert list(messages) == ["username", "password"]
    assert "required" in messages["password"]


def test_empty_password_keeps_the_stored_one() -> None:
    stored = stored_settings()
    rebuilt = model.build({"password": "", "server": "mail.example.com"}, stored)
    assert rebuilt.password == SECRET
    assert rebuilt.server == "mail.example.com"


def test_new_password_replaces_the_stored_one() -> None:
    assert model.build({"password": "new one"}, stored_settings()).password == "new one"


def test_password_required_when_switching_to_login_plain_without_one_stored() -> None:
    stored = model.build(good(auth="none", username="", password=""))
    assert problem({"auth": "login_plain", "username": "bob", "password": ""}, stored) == {
        "password": "is required for Login/Plain authentication"
    }


def test_auth_none_drops_user_name_and_password() -> None:
    rebuilt = model.build({"auth": "none"}, stored_settings())
    assert rebuilt.username == ""
    assert rebuilt.password == ""
    typed = model.build(good(auth="none", username="bob", password="typed"))
    assert (typed.username, typed.password) == ("", "")


@pytest.mark.parametrize("key", ["username", "password"])
def test_validate_refuses_credentials_with_auth_none(key: str) -> None:
    clean = dataclasses.replace(stored_settings(), auth=Auth.NONE, username="", password="")
    assert model.validate(clean) == []
    bad = dataclasses.replace(clean, **{key: "left over"})
    errors = model.validate(bad)
    assert [error.key for error in errors] == [key]
    assert "Authentication Method is None" in errors[0].message


@pytest.mark.parametrize(
    ("security", "auth", "in_clear"),
    [
        ("none", "login_plain", True),
        ("starttls", "login_plain", False),
        ("ssl_tls", "login_plain", False),
        ("none", "none", False),
    ],
)
def test_sends_password_in_clear(security: str, auth: str, in_clear: bool) -> None:
    built = model.build(good(security=security, auth=auth))
    assert built.sends_password_in_clear is in_clear


# -- advanced fields ------------------------------------------------------------


def test_ca_file_must_be_an_existing_readable_absolute_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    assert model.build(good(ca_file=str(ca))).ca_file == str(ca)
    assert problem(good(ca_file="")) == {}
    assert problem(good(ca_file=str(tmp_path / "missing.pem"))) == {
        "ca_file": "is not an existing file"
    }
    assert problem(good(ca_file=str(tmp_path))) == {"ca_file": "is not an existing file"}
    assert problem(good(ca_file="ca.pem")) == {"ca_file": "must be an absolute path"}
    assert "line break" in problem(good(ca_file=f"{ca}\n"))["ca_file"]


@accounts.not_root
def test_ca_file_must_be_readable(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x", encoding="utf-8")
    ca.chmod(0)
    assert problem(good(ca_file=str(ca))) == {"ca_file": "cannot be read by this user"}


@pytest.mark.parametrize(
    ("raw", "seconds"), [(1, 1.0), (300, 300.0), (15.5, 15.5), ("30", 30.0), (" 2.5 ", 2.5)]
)
def test_good_timeouts(raw: object, seconds: float) -> None:
    assert model.build(good(timeout=raw)).timeout == seconds


@pytest.mark.parametrize(
    "raw",
    [
        0,
        0.99,
        300.01,
        -1,
        "nan",
        "inf",
        "1e400",
        "",
        "abc",
        True,
        None,
        float("nan"),
        float("inf"),
        pytest.param(10**400, id="10**400"),
        pytest.param("9" * 5000, id="5000 digits"),
    ],
)
def test_bad_timeouts(raw: object) -> None:
    messages = problem(good(timeout=raw))
    assert list(messages) == ["timeout"]
    assert "from 1 to 300" in messages["timeout"]


@pytest.mark.parametrize(
    "raw",
    [
        "AB" * 32,
        ":".join(["AB"] * 32),
        " ".join(["ab"] * 32),
        f"  {'Ab' * 32}  ",
    ],
)
def test_fingerprint_is_normalised(raw: str) -> None:
    assert model.build(good(tls_fingerprint=raw)).tls_fingerprint == FINGERPRINT


@pytest.mark.parametrize("raw", ["ab" * 31 + "a", "ab" * 33, "zz" * 32, "sha256:" + "ab" * 32])
def test_bad_fingerprints(raw: str) -> None:
    assert list(problem(good(tls_fingerprint=raw))) == ["tls_fingerprint"]


def test_empty_fingerprint_means_none() -> None:
    assert model.build(good(tls_fingerprint="")).tls_fingerprint == ""


# -- errors -------------------------------------------------------------------

ALL_BAD: dict[str, object] = {
    "account_name": "bad\nname",
    "account_email": "not an address",
    "server": "smtp://x",
    "port": "0",
    "security": "tls",
    "auth": "plain",
    "ca_file": "relative.pem",
    "tls_fingerprint": "xyz",
    "timeout": "0",
    "test_recipient": "nobody",
}


def test_every_problem_is_reported_at_once_in_field_order() -> None:
    with pytest.raises(ValidationError) as caught:
        model.build(dict(reversed(ALL_BAD.items())))
    keys = [error.key for error in caught.value.errors]
    # The default Login/Plain stays, so user name and password are missing too.
    expected = {*ALL_BAD, "username", "password"}
    assert keys == [spec.key for spec in model.FIELDS if spec.key in expected]


def test_every_error_names_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        model.build({**ALL_BAD, "auth": "login_plain", "username": "", "password": ""})
    errors = caught.value.errors
    assert {e.key for e in errors} == {*ALL_BAD, "username", "password"} - {"auth"}
    for error in errors:
        label = model.FIELDS_BY_KEY[error.key].label
        assert str(error).startswith(f"{label}: ")
        assert error.label == label
        assert str(error) in str(caught.value)


def test_by_key_keeps_the_first_message_per_field() -> None:
    error = ValidationError([FieldError("port", "second"), FieldError("server", "x")])
    assert error.by_key() == {"server": "x", "port": "second"}
    error = ValidationError([FieldError("port", "first"), FieldError("port", "second")])
    assert error.by_key() == {"port": "first"}


def test_validate_accepts_a_good_settings_object() -> None:
    assert model.validate(stored_settings()) == []
    assert model.validate(Settings())[0].key == "account_name"


def test_unknown_key_and_wrong_types_are_programming_errors() -> None:
    with pytest.raises(KeyError, match="colour"):
        model.build(good(colour="red"))
    with pytest.raises(TypeError):
        model.build(good(server=42))
    with pytest.raises(TypeError):
        model.build(good(password=None))
    with pytest.raises(TypeError):
        model.build(good(tls_fingerprint=42))


def test_absent_keys_keep_stored_values() -> None:
    stored = stored_settings(timeout=42.0, test_recipient="soc@example.com")
    assert model.build({}, stored) == stored
    assert model.build({"port": "2525"}, stored) == dataclasses.replace(stored, port=2525)


def test_absent_keys_without_stored_settings_use_defaults() -> None:
    built = model.build({k: v for k, v in GOOD.items() if k not in ("port", "security")})
    assert (built.security, built.port) == (Security.STARTTLS, 587)


# -- secrets --------------------------------------------------------------------


def test_password_never_appears_in_repr_or_str() -> None:
    settings_ = stored_settings()
    assert SECRET not in repr(settings_)
    assert SECRET not in str(settings_)
    assert "password" not in repr(settings_)
    assert SECRET not in repr([settings_])


def test_public_dict_has_no_password() -> None:
    public = stored_settings().public_dict()
    assert "password" not in public
    assert public["password_set"] is True
    assert SECRET not in repr(public)
    assert model.build(good(auth="none")).public_dict()["password_set"] is False
    assert public["port"] == 587
    assert public["security"] == "starttls"


def test_to_dict_includes_the_password_only_when_asked() -> None:
    assert "password" not in stored_settings().to_dict(include_password=False)
    assert stored_settings().to_dict(include_password=True)["password"] == SECRET


@settings(max_examples=150, deadline=None)
@given(text=st.text(), suffix=st.sampled_from(["", "\n", "\0", "x" * 1025]))
def test_no_error_ever_repeats_the_password(text: str, suffix: str) -> None:
    password = f"pw-{text}{suffix}"  # the prefix keeps it from matching message words
    with pytest.raises(ValidationError) as caught:
        model.build(good(password=password, server="smtp://bad"))
    assert password not in str(caught.value)
    assert all(password not in repr(error) for error in caught.value.errors)


@settings(max_examples=150, deadline=None)
@given(value=st.text(), key=st.sampled_from(["account_name", "account_email", "server"]))
def test_any_text_gives_settings_or_a_validation_error(key: str, value: str) -> None:
    messages = problem(good(**{key: value}))
    if messages:
        assert list(messages) == [key]
    else:
        built = model.build(good(**{key: value}))
        assert getattr(built, key) == value
        assert model.validate(built) == []


# -- payloads -------------------------------------------------------------------


def test_payload_round_trip() -> None:
    original = stored_settings(
        security=Security.SSL_TLS, port=465, timeout=7.5, tls_fingerprint=FINGERPRINT
    )
    assert model.from_payload(original.to_dict(include_password=True)) == original


def test_payload_ignores_unknown_keys_and_fills_missing_ones() -> None:
    restored = model.from_payload({"server": "smtp.example.com", "future_field": [1, 2]})
    assert restored == Settings(server="smtp.example.com")


def test_payload_accepts_an_integer_timeout() -> None:
    restored = model.from_payload({"timeout": 30})
    assert restored.timeout == 30.0
    assert isinstance(restored.timeout, float)


@pytest.mark.parametrize(
    "payload",
    [
        {"port": "587"},
        {"port": True},
        {"timeout": "15"},
        {"timeout": False},
        {"server": 1},
        {"password": None},
        {"security": "tls"},
        {"auth": 0},
    ],
)
def test_payload_of_the_wrong_shape_is_refused(payload: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        model.from_payload(payload)
