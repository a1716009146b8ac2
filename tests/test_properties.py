"""Hostile and odd input, generated: every field, the file parser, the command line, secrets.

What must hold for any input whatsoever:

- a value for any field gives either valid settings or the model's
  ``ValidationError`` -- nothing else is ever raised;
- whatever is accepted comes back exactly from the encrypted store, and from
  the command line's ``show --json``;
- any bytes at all in ``settings.enc`` give ``SettingsUnreadable`` or (only
  when sealed with the real key) settings of the right types;
- no password appears in ``repr``, ``str`` or an error message.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support import secrets

from configurator import keys, model, store
from configurator.errors import SettingsUnreadable, Unreadable
from configurator.store import Store

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
REUSE_DIR = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150
)

# -- strategies ---------------------------------------------------------------------

# Every code point, lone surrogates and control characters included: Python strings can
# hold them (argv decoded with surrogateescape does), so the model must cope.
ANY_CHAR = st.characters(exclude_categories=())
any_text = st.text(ANY_CHAR, max_size=30)
# What the fields accept: no control, format, private-use, unassigned or separator
# characters (spaces are fine).
REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
VISIBLE_CHAR = st.characters(exclude_categories=REFUSED_CATEGORIES)
long_text = st.builds(
    lambda char, count: char * count,
    st.sampled_from(["a", "é", "漢", "🔑", " "]),
    st.integers(min_value=150, max_value=1100),
)
INJECTIONS = [
    "x\r\nBcc: victim@example.org",
    "x\nSubject: you have been hacked",
    "x\rRCPT TO:<victim@example.org>",
    "alerts@example.org\r\n.\r\nMAIL FROM:<evil@example.org>",
    "x\u2028y",
    "x\u0085y",
    "x\x00y",
    "\x1b[31mred",
    "%0d%0aBcc:%20victim@example.org",
    "=?utf-8?q?=0D=0ABcc:_victim@example.org?=",
    "x\u202eevil",
    "\ufeffsmtp.example.org",
]
hostile = st.one_of(any_text, long_text, st.sampled_from(INJECTIONS))

LABELS = [
    "xn--",
    "xn--bcher-kva",
    "xn--zz",
    "xn--a",
    "bücher",
    "straße",
    "ς",
    "日本語",
    "😀",
    "a\u200db",
    "\u0301a",
    "\uff41\uff42\uff43",  # fullwidth letters
    "İstanbul",
    "ﬃ",
    "-a",
    "a-",
    "ab--cd",
    "a" * 63,
    "a" * 64,
    "١٢٣",
    "עברית",
    "a\u05d0",
]
label = st.one_of(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    st.sampled_from(LABELS),
    st.text(ANY_CHAR, min_size=1, max_size=6),
)
hostname = st.builds(
    lambda parts, dots, end: "".join(p + d for p, d in zip(parts, dots, strict=False))[:-1] + end,
    st.lists(label, min_size=1, max_size=4),
    st.lists(
        st.sampled_from([".", ".", ".", "\u3002", "\uff0e", "\uff61", ".."]), min_size=4, max_size=4
    ),
    st.sampled_from(["", ".", ":25", ":smtp"]),
)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
zone = st.one_of(st.sampled_from(["eth0", "25", "en0", "", "%", "a b"]), any_text)
server_value = st.one_of(
    hostname,
    ipv4,
    ipv6,
    st.builds("{}%{}".format, ipv6, zone),
    st.builds("[{}]".format, ipv6),
    st.builds("smtp://{}".format, hostname),
    st.builds("{}:{}".format, ipv4, st.integers(0, 70000)),
    hostile,
)
local_part = st.one_of(
    st.from_regex(
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}(\.[A-Za-z0-9_-]{1,8}){0,2}", fullmatch=True
    ),
    st.sampled_from(['"quoted"', "jörg", "a..b", ".a", "a.", "用户", "a b", "x" * 65]),
    any_text,
)
address_domain = st.one_of(
    hostname,
    st.builds("[{}]".format, ipv4),
    st.builds("[IPv6:{}]".format, ipv6),
    st.builds("[{}]".format, ipv6),
)
email_value = st.one_of(
    st.builds("{}@{}".format, local_part, address_domain),
    st.builds("{}@{}@{}".format, local_part, local_part, address_domain),
    hostile,
)
port_value = st.one_of(
    st.integers(-10, 70000).map(str),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["", " ", "0", "000", "+", "-", "\t"]),
        st.integers(0, 70000),
        st.sampled_from(["", " ", ".0", "e0", "\n", "L"]),
    ),
    st.sampled_from(
        ["", "25.0", "0x19", "1e3", "\uff12\uff15", "٢٥", "²⁵", "9" * 5000, "smtp", "1_0"]
    ),
    hostile,
)
timeout_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0.5, max_value=400).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "5,5", " 7.5 ", "1_0", "٣", "0x10", ""]),
    hostile,
)


def choice_value(enum_type: type[model.Security] | type[model.Auth]) -> st.SearchStrategy[str]:
    names = [member.value for member in enum_type] + [member.label for member in enum_type]
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(str.upper),
        st.sampled_from(names).map(" {} ".format),
        hostile,
    )


fingerprint_value = st.one_of(
    st.from_regex(r"[0-9a-fA-F]{64}", fullmatch=True),
    st.from_regex(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{40,70}", fullmatch=True),
    hostile,
)
password_value = st.one_of(
    st.text(ANY_CHAR, min_size=1, max_size=40), long_text, st.sampled_from(INJECTIONS)
)

FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "account_name": hostile,
    "account_email": email_value,
    "server": server_value,
    "port": port_value,
    "security": choice_value(model.Security),
    "auth": choice_value(model.Auth),
    "username": st.one_of(email_value, hostile),
    "password": password_value,
    "ca_file": st.one_of(hostile, st.sampled_from(["/etc/hostname", "/nonexistent/ca.pem"])),
    "tls_fingerprint": fingerprint_value,
    "timeout": timeout_value,
    "test_recipient": st.one_of(email_value, st.just("")),
}
assert set(FIELD_VALUES) == set(model.FIELDS_BY_KEY)

BASE: dict[str, object] = {
    "account_name": "Security Monitoring",
    "account_email": "alerts@example.org",
    "server": "smtp.example.org",
    "port": "587",
    "security": "starttls",
    "auth": "login_plain",
    "username": "alerts@example.org",
    "password": "base-Password-1234",
}

changes_strategy = st.lists(
    st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=4, unique=True
).flatmap(lambda chosen: st.fixed_dictionaries({key: FIELD_VALUES[key] for key in chosen}))


def build_or_error(changes: dict[str, object]) -> model.Settings | model.ValidationError:
    """What ``model.build`` gives; any other exception escapes and fails the test."""
    try:
        return model.build(changes)
    except model.ValidationError as exc:
        return exc


# -- every field --------------------------------------------------------------------


@pytest.fixture
def reused_store(data_dir: Path) -> Store:
    """One store for all examples of a test: each save replaces the last."""
    return Store(data_dir)


@REUSE_DIR
@given(changes=changes_strategy)
@example(changes={"password": "\udcff-lone-surrogate"})
@example(changes={"server": "fe80::1%eth0"})
@example(changes={"server": "fe80::1%"})
@example(changes={"server": "xn--"})
@example(changes={"server": "a\u3002b"})
@example(changes={"port": "\uff19"})
@example(changes={"account_name": "x\r\nBcc: victim@example.org"})
def test_any_input_gives_settings_that_round_trip_or_a_validation_error(
    reused_store: Store, changes: dict[str, str]
) -> None:
    built = build_or_error({**BASE, **changes})
    if isinstance(built, model.ValidationError):
        assert built.errors
        assert {error.key for error in built.errors} <= set(model.FIELDS_BY_KEY)
        assert all(error.message for error in built.errors)
        assert str(built)
        return
    assert model.validate(built) == []
    parsed = {"port", "timeout", "security", "auth", "tls_fingerprint", "password"}
    if built.auth is model.Auth.NONE:
        parsed.add("username")  # dropped with Authentication Method None, by design
    for key, value in changes.items():
        if key not in parsed:
            assert getattr(built, key) == value  # accepted exactly as given, not tidied up
    saved = reused_store.save(built)
    loaded = reused_store.load()
    assert loaded is not None
    assert loaded.settings == built
    assert loaded.revision == saved.revision


@settings(deadline=None, max_examples=150)
@given(password=password_value, changes=changes_strategy)
def test_no_error_or_repr_ever_shows_the_password(password: str, changes: dict[str, str]) -> None:
    marked = f"pw\u2603{password}"  # the marker keeps it from matching the words of a message
    changes = {key: value for key, value in changes.items() if key != "password"}
    built = build_or_error({**BASE, **changes, "password": marked})
    if isinstance(built, model.ValidationError):
        assert marked not in str(built)
        assert marked not in repr(built)
        assert all(marked not in repr(error) for error in built.errors)
        return
    for shown in (repr(built), str(built), repr([built]), str(built.public_dict())):
        assert marked not in shown
    direct = dataclasses.replace(built, password=marked)
    assert marked not in repr(direct)


# What ends a line somewhere: SMTP, mail headers, terminals, Unicode.
LINE_ENDS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
JOINERS = "\u200c\u200d"  # part of correct spelling: allowed
invisible = st.one_of(
    st.sampled_from(LINE_ENDS),
    st.characters(categories=REFUSED_CATEGORIES).filter(lambda char: char not in JOINERS),
)
header_name = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
    min_size=1,
    max_size=12,
)
injected_header = st.builds("{}: {}".format, header_name, st.text(VISIBLE_CHAR, max_size=20))


def named(char: str) -> str:
    """How the validation names a refused character (written out, not taken from it)."""
    if char in "\r\n":
        return "a line break"
    if char == "\t":
        return "a tab"
    return f"the invisible character U+{ord(char):04X}"


@settings(deadline=None, max_examples=300)
@given(before=st.text(VISIBLE_CHAR, max_size=20), breaker=invisible, header=injected_header)
def test_control_characters_are_refused_in_every_text_field(
    before: str, breaker: str, header: str
) -> None:
    """Wherever it sits, a line end or other invisible character starts no new header."""
    injected = f"a{before}{breaker}{header}"
    for key in ("account_name", "account_email", "server", "username", "test_recipient"):
        with pytest.raises(model.ValidationError) as caught:
            model.build({**BASE, key: injected})
        assert caught.value.by_key()[key] == f"must not contain {named(breaker[0])}"


# -- the file parser ----------------------------------------------------------------


@pytest.fixture
def keyed_store(data_dir: Path) -> tuple[Store, bytes]:
    """A store with a real key file; each example replaces its settings file."""
    a_store = Store(data_dir)
    a_store.save(model.build(BASE))
    key = keys.FileKeyStore(data_dir).read()
    assert key is not None
    return a_store, key


def load_bytes(a_store: Store, blob: bytes) -> store.Stored | None:
    """Write ``blob`` as the settings file and load it; ``None`` when it is refused."""
    a_store.path.write_bytes(blob)
    found = load_or_error(Store(a_store.data_dir))
    if isinstance(found, SettingsUnreadable):
        assert found.reason in set(Unreadable)
        assert str(a_store.path) in str(found)
        return None
    return found


def load_or_error(a_store: Store) -> store.Stored | SettingsUnreadable | None:
    try:
        return a_store.load()
    except SettingsUnreadable as exc:
        return exc


header_prefix = st.sampled_from(
    [b"", store.MAGIC, store.MAGIC + b"\x00\x01", store.MAGIC + b"\x00\x01\x02"]
)


@REUSE_DIR
@given(prefix=header_prefix, rest=st.binary(max_size=300))
@example(prefix=b"", rest=b"")
@example(prefix=store.MAGIC + b"\x00\x01\x02", rest=bytes(8 + 12 + 16))
def test_any_bytes_as_the_settings_file_are_refused(
    keyed_store: tuple[Store, bytes], prefix: bytes, rest: bytes
) -> None:
    a_store, _ = keyed_store
    assert load_bytes(a_store, prefix + rest) is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(ANY_CHAR, max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
setting_values = st.dictionaries(
    st.sampled_from([*sorted(FIELD_VALUES), "future_field"]), json_values | hostile, max_size=6
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.one_of(st.just(1), json_values),
        "revision": st.one_of(st.integers(), json_values),
        "saved_at": st.one_of(st.text(max_size=5), json_values),
        "settings": st.one_of(setting_values, json_values),
    },
)


@REUSE_DIR
@given(payload=st.one_of(payloads.map(json.dumps).map(str.encode), st.binary(max_size=200)))
@example(payload=b"[" * 100_000 + b"]" * 100_000)
@example(payload=b'{"schema": 1, "revision": 1, "settings": {"port": 1e999}}')
@example(payload=b'{"schema": 1, "revision": 1, "settings": {"timeout": NaN}}')
def test_any_payload_sealed_with_the_real_key_gives_settings_or_is_refused(
    keyed_store: tuple[Store, bytes], payload: bytes
) -> None:
    a_store, key = keyed_store
    found = load_bytes(a_store, store.seal(key, keys.KeyLocation.FILE, payload))
    if found is not None:
        settings_ = found.settings
        assert isinstance(found.revision, int)
        assert isinstance(settings_.port, int)
        assert isinstance(settings_.timeout, float)
        assert isinstance(settings_.security, model.Security)
        assert isinstance(settings_.auth, model.Auth)
        for key_ in ("account_name", "server", "username", "password", "tls_fingerprint"):
            assert isinstance(getattr(settings_, key_), str)


# -- the command line -----------------------------------------------------------------


typed_name = st.text(VISIBLE_CHAR, min_size=1, max_size=40).map(str.strip).filter(bool)
typed_hostname = st.lists(
    st.one_of(
        st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True),
        st.sampled_from(["bücher", "straße", "日本語", "xn--bcher-kva", "İstanbul"]),
    ),
    min_size=1,
    max_size=3,
).map(".".join)


def argv_safe(text: str) -> bool:
    """What a command line can carry: no NUL, nothing that cannot be encoded."""
    return "\0" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


def mostly_typed(
    typed: st.SearchStrategy[str], any_value: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """Mostly values such as a user types: about half of the examples get stored.

    (``st.one_of(typed, typed, any_value)`` would not do: it draws far more often
    from a strategy that is itself a ``one_of`` of many.)
    """
    both = st.sampled_from([typed, typed, any_value])
    return both.flatmap(lambda chosen: chosen).filter(argv_safe)


# Each example starts the program once or twice: 60 took 40 s on a busy 2-core machine.
@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=mostly_typed(typed_name, hostile),
    server=mostly_typed(typed_hostname, server_value),
    port=mostly_typed(st.integers(1, 65535).map(str), port_value),
)
def test_the_command_line_accepts_and_stores_exactly_what_the_model_does(
    name: str, server: str, port: str
) -> None:
    changes = {
        "account_name": name,
        "account_email": "alerts@example.org",
        "server": server,
        "port": port,
        "security": "none",
        "auth": "none",
    }
    expected = build_or_error(dict(changes))
    event("refused" if isinstance(expected, model.ValidationError) else "stored")
    data_dir = Path(tempfile.mkdtemp(prefix="configurator-property-"))
    try:
        options = [f"--{key.replace('_', '-')}={value}" for key, value in changes.items()]
        command = [sys.executable, "-m", "configurator", "--data-dir", str(data_dir)]
        done = subprocess.run(
            [*command, "set", *options], capture_output=True, cwd=REPO, timeout=60, check=False
        )
        stderr = done.stderr.decode("utf-8")
        assert "Traceback" not in stderr
        if isinstance(expected, model.ValidationError):
            assert done.returncode == 5, stderr
            assert stderr.splitlines() == [str(error) for error in expected.errors]
            assert not (data_dir / store.SETTINGS_FILE_NAME).exists()
            return
        assert done.returncode == 0, stderr
        loaded = Store(data_dir).load()
        assert loaded is not None
        assert loaded.settings == expected
        shown = subprocess.run(
            [*command, "show", "--json"], capture_output=True, cwd=REPO, timeout=60, check=True
        )
        assert json.loads(shown.stdout) == {
            **{key: value for key, value in expected.public_dict().items() if key in SHOWN},
            "password_set": False,
        }
    finally:
        shutil.rmtree(data_dir)


SHOWN = ("account_name", "account_email", "server", "port", "security", "auth", "username")


# -- the secret search itself -------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@settings(max_examples=200)
@given(authzid=st.text(max_size=12), username=st.text(max_size=24), text=st.text(max_size=30))
def test_a_password_is_found_inside_any_auth_plain_or_login_response(
    authzid: str, username: str, text: str
) -> None:
    password = f"pw-{text}".ljust(secrets.MIN_BYTES, "x")
    plain = "\0".join([authzid, username, password])
    for shown in (
        f"AUTH PLAIN {b64(plain)}",
        f"334 VXNlcm5hbWU6\r\n{b64(password)}\r\n",
        json.dumps({"password": password}),
        repr(password.encode("utf-8")),
    ):
        assert secrets.find(shown, extra=(password,)) is not None


def test_the_secret_search_does_not_see_what_is_not_there() -> None:
    assert secrets.find("Saved the mail server settings (revision 3). password_set: true") is None
    assert secrets.find(base64.b64encode(b"\0alerts@example.org\0other-password").decode()) is None
    with pytest.raises(ValueError, match="at least"):
        secrets.secret("short")


INNER_TESTS = """
import base64, json, logging, subprocess, sys
from support import secrets

def test_printed():
    print(secrets.secret("inner-Secret-9876"))

def test_logged_quietly():
    secret = secrets.secret("inner-Secret-9876")
    logging.getLogger("configurator.mail").debug("login with %s", secret)

def test_read_from_standard_error(capsys):
    plain = b"\\0user\\0" + secrets.secret("inner-Secret-9876").encode()
    sys.stderr.write("AUTH PLAIN " + base64.b64encode(plain).decode())
    assert capsys.readouterr().err

def test_in_a_subprocess():
    code = "print(" + repr(json.dumps(secrets.secret("inner-Secret-9876"))) + ")"
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)

def test_well_known():
    print("inner-Known-5555")

def test_clean():
    secrets.secret("inner-Secret-9876")
    print("nothing to see here")
    logging.getLogger("configurator").info("saved revision 3")

def test_the_test_peer_may_log_what_it_was_sent():
    logging.getLogger("mail.log").warning("AUTH %s", secrets.secret("inner-Secret-9876"))
"""


def test_the_suite_wide_fixture_fails_every_kind_of_leak(pytester: pytest.Pytester) -> None:
    shutil.copytree(TESTS / "support", pytester.path / "support")
    # A well-known secret of the inner suite only: this test's own output shows it.
    with (pytester.path / "support" / "secrets.py").open("a", encoding="utf-8") as inner:
        inner.write('\nWELL_KNOWN = WELL_KNOWN | {"inner-Known-5555"}\n')
    pytester.makeconftest((TESTS / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfEp")
    result.stdout.fnmatch_lines_random(
        [
            "FAILED test_inner.py::test_printed*",
            "FAILED test_inner.py::test_well_known*",
            "ERROR test_inner.py::test_logged_quietly*",
            "ERROR test_inner.py::test_read_from_standard_error*",
            "ERROR test_inner.py::test_in_a_subprocess*",
            "PASSED test_inner.py::test_clean",
            "PASSED test_inner.py::test_the_test_peer_may_log_what_it_was_sent",
            "A secret was shown: captured stdout call shows test secret #* as typed",
            "A secret was shown: log record of 'configurator.mail' shows *",
            "A secret was shown: captured standard error shows * base64, as AUTH PLAIN/LOGIN*",
            "A secret was shown: standard output of subprocess * shows *",
        ]
    )
    outcomes = result.parseoutcomes()
    assert (outcomes["failed"], outcomes["errors"]) == (2, 3)
    assert "inner-Secret-9876" not in "".join(
        line for line in result.stdout.lines if line.startswith("A secret was shown")
    )
