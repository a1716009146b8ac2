"""Host name, IP address and e-mail syntax: tables of values that must pass or fail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configurator import syntax

LABEL_63 = "a" * 63
# Four 63-character labels and dots: 255 characters, over the 253 a DNS name may have.
NAME_255 = ".".join([LABEL_63] * 4)
# 253 characters exactly: 3 x 63 + 3 dots + a 61-character label.
NAME_253 = ".".join([LABEL_63] * 3 + ["b" * 61])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\r", "a line break"),
        ("\n", "a line break"),
        ("x\r\nBcc: victim@example.com", "a line break"),
        ("\t", "a tab"),
        ("\0", "the invisible character U+0000"),
        ("\x7f", "the invisible character U+007F"),
        ("\x85", "the invisible character U+0085"),
        ("\u202e", "the invisible character U+202E"),
        ("\u200b", "the invisible character U+200B"),
        ("\ufeff", "the invisible character U+FEFF"),
        ("\u2028", "the invisible character U+2028"),
        ("\u2029", "the invisible character U+2029"),
        ("\ue000", "the invisible character U+E000"),
    ],
)
def test_control_character_is_named(text: str, expected: str) -> None:
    assert syntax.control_character(f"ok{text}ok") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Security Monitoring",
        "Sécurité",
        "监控中心",
        "Ünïcödé 🚨",
        "न्\u200dय",
        "a b",
        "x\u200cy",
    ],
)
def test_control_character_accepts_visible_text(text: str) -> None:
    assert syntax.control_character(text) is None


GOOD_HOSTS = [
    "smtp.example.com",
    "smtp.example.com.",
    "SMTP.Example.COM",
    "mail-1.example.com",
    "1mail.example.com",
    "xn--bcher-kva.example",
    "XN--BCHER-KVA.example",
    "bücher.example",
    "BÜCHER.example",
    "例子.广告",
    "192.0.2.1",
    "127.0.0.1",
    "::1",
    "2001:db8::1",
    "::ffff:192.0.2.1",
    "fd00::25",
    "mailhost",
    "0xdead.example",
    "1e100.net",
    "localhost",
    f"{LABEL_63}.example.com",
    NAME_253,
]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_good_host_names(host: str) -> None:
    assert syntax.check_hostname(host) is None


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("", "is required"),
        ("smtp://smtp.example.com", "without a scheme"),
        ("smtps://smtp.example.com:465", "without a scheme"),
        ("smtp.example.com:25", "Server Port"),
        ("[::1]", "without the square brackets"),
        ("[2001:db8::1]", "without the square brackets"),
        ("smtp example.com", "spaces"),
        (" smtp.example.com", "spaces"),
        ("smtp.example.com\u00a0", "spaces"),
        ("a..b", "empty part"),
        (".example.com", "empty part"),
        ("example.com..", "empty part"),
        ("-a.com", "hyphen"),
        ("a-.com", "hyphen"),
        ("host_name.example.com", "letters, digits, hyphens"),
        ("smtp!.example.com", "letters, digits, hyphens"),
        (f"{'a' * 64}.example.com", "longer than 63"),
        (NAME_255, "253"),
        ("999.1.1.1", "IPv4"),
        ("1.2.3", "IPv4"),
        ("256.256.256.256", "IPv4"),
        ("01.2.3.4", "IPv4"),
        # Forms the C library reads as IPv4 addresses: one rule, dotted quads only.
        ("127.1", "four numbers from 0 to 255"),
        ("0x7f.1", "four numbers from 0 to 255"),
        ("0x7F.0.0.1", "four numbers from 0 to 255"),
        ("0177.0.0.1", "four numbers from 0 to 255"),
        ("0x7f000001", "four numbers from 0 to 255"),
        ("2130706433", "four numbers from 0 to 255"),
        # IPv6 zones are refused, and link-local addresses need one.
        ("::1%lo", "must not have a zone"),
        ("fe80::1%eth0", "must not have a zone"),
        ("fe80::1%ä", "must not have a zone"),
        ("fe80::1%", "must not have a zone"),
        ("fe80::1", "link-local"),
        ("host/path", "only the server's name"),
        ("smtp.example.com/", "only the server's name"),
        ("user@host", "only the server's name"),
        ("2001:db8::1::2", "IPv6"),
        ("gggg::1", "IPv6"),
        ("smtp:example", "IPv6"),
        ("xn--zz.example", "internationalised"),
        ("xn--a.example", "internationalised"),
        ("bücher..example", "internationalised"),
        ("exa\u200bmple.com", "invisible"),
        ("smtp.example.com\n", "line break"),
    ],
)
def test_bad_host_names(host: str, fragment: str) -> None:
    problem = syntax.check_hostname(host)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    ("text", "ascii_form"),
    [
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.Example.", "xn--bcher-kva.example"),
        ("Smtp.Example.com", "smtp.example.com"),
    ],
)
def test_to_ascii_hostname(text: str, ascii_form: str) -> None:
    assert syntax.to_ascii_hostname(text) == ascii_form


def test_to_ascii_hostname_refuses_impossible_name() -> None:
    with pytest.raises(ValueError, match=r"."):
        syntax.to_ascii_hostname("bücher..example")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("192.0.2.1", True),
        ("::1", True),
        ("fe80::1%eth0", False),
        ("::1%1", False),
        ("fe80::abcd", False),
        ("127.1", False),
        ("192.0.2", False),
        ("192.0.2.1.5", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_ip_addresses(text: str, valid: bool) -> None:
    assert syntax.is_ip_address(text) is valid
    assert (syntax.check_ip_address(text) is None) is valid


GOOD_EMAILS = [
    "user@example.com",
    "first.last@example.com",
    "user+alerts@example.com",
    "o'brien@example.com",
    "a!#$%&'*+/=?^_`{|}~-z@example.com",
    "user@bücher.example",
    "user@xn--bcher-kva.example",
    "jörg@example.com",
    "用户@例子.广告",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "user@[ipv6:::1]",
    "user@localhost",
    "USER@EXAMPLE.COM",
    f"{'a' * 64}@example.com",
]


@pytest.mark.parametrize("address", GOOD_EMAILS)
def test_good_email_addresses(address: str) -> None:
    assert syntax.check_email(address) is None


LONG_ADDRESS = f"{'a' * 64}@{'.'.join(['b' * 63] * 3)}.com"  # 260 bytes, each part valid


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("", "is required"),
        ("userexample.com", "exactly one @"),
        ("user@host@example.com", "exactly one @"),
        ("@example.com", "before the @"),
        ("user@", "after the @"),
        ("us er@example.com", "spaces"),
        ("user@exa mple.com", "spaces"),
        (" user@example.com", "spaces"),
        ("user@example.com\t", "tab"),
        (".user@example.com", "dot"),
        ("user.@example.com", "dot"),
        ("us..er@example.com", "dot"),
        ('"user"@example.com', "quoted"),
        ('"us@er"@example.com', "exactly one @"),
        ("user(comment)@example.com", "not allowed before the @"),
        ("us,er@example.com", "not allowed before the @"),
        ("us\\er@example.com", "not allowed before the @"),
        ("user@-example.com", "not a valid domain"),
        ("user@exa_mple.com", "not a valid domain"),
        ("user@example..com", "not a valid domain"),
        ("user@.example.com", "not a valid domain"),
        ("user@example.com.", "not a valid domain"),
        ("user@example.com:25", "not a valid domain"),
        ("user@999.1.1.1", "not a valid domain"),
        ("user@192.0.2.1", "not a valid domain"),
        ("user@xn--zz.example", "not a valid domain"),
        ("user@[1.2.3]", "address literal"),
        ("user@[::1]", "address literal"),
        ("user@[IPv6:192.0.2.1]", "address literal"),
        ("user@[IPv6:gggg::1]", "address literal"),
        (f"{'a' * 65}@example.com", "64 bytes"),
        (f"{'ä' * 33}@example.com", "64 bytes"),
        (LONG_ADDRESS, "254 bytes"),
        ("user\u202e@example.com", "invisible"),
        ("user@example.com\r\nBcc: victim@example.com", "line break"),
    ],
)
def test_bad_email_addresses(address: str, fragment: str) -> None:
    problem = syntax.check_email(address)
    assert problem is not None
    assert fragment in problem


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=80) | st.from_regex(r"[a-zA-Z0-9.:@\[\]%_-]{0,40}", fullmatch=True))
def test_checks_never_raise(text: str) -> None:
    """Whatever is typed, each check answers with a phrase or None, never an exception."""
    for check in (syntax.check_hostname, syntax.check_email, syntax.check_ip_address):
        problem = check(text)
        assert problem is None or (problem and problem == problem.strip())


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=40))
def test_accepted_host_names_have_an_ascii_form(text: str) -> None:
    """A name that passes can be handed to the resolver in its IDNA form."""
    if syntax.check_hostname(text) is None and not syntax.is_ip_address(text):
        ascii_name = syntax.to_ascii_hostname(text)
        assert ascii_name.isascii()
        assert 0 < len(ascii_name) <= 253
