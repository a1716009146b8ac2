"""What ``textsafe`` does to text from the network before a terminal or a widget shows it."""

from __future__ import annotations

import json

import pytest

from configurator import textsafe


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("250 mail.example.com", "250 mail.example.com"),
        ("Grüße, 你好 👍🏽", "Grüße, 你好 👍🏽"),
        ("\x1b[2J\x1b[Hcleared", "\\x1b[2J\\x1b[Hcleared"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("two\nlines", "two\\x0alines"),
        ("back\roverwrite", "back\\x0doverwrite"),
        ("tab\there", "tab\\x09here"),
        ("del\x7f and csi\x9b", "del\\x7f and csi\\x9b"),
        ("right-to-left \u202eoverride", "right-to-left \\u202eoverride"),
        ("line\u2028separator", "line\\u2028separator"),
        ("tag \U000e0041", "tag \\U000e0041"),
        ("family 👩\u200d👧 and ZWNJ \u200c kept", "family 👩\u200d👧 and ZWNJ \u200c kept"),
    ],
)
def test_a_line_shows_control_format_and_separator_characters_escaped(raw: str, shown: str) -> None:
    assert textsafe.line(raw) == shown


def test_a_long_line_is_cut_with_a_marker_saying_how_much_is_left_out() -> None:
    shown = textsafe.line("x" * 1000, limit=300)
    assert shown == "x" * 300 + " [... 700 more characters cut]"


def test_the_cut_never_splits_an_escape() -> None:
    shown = textsafe.line("ab\x1bcd", limit=5)
    assert shown == "ab [... 3 more characters cut]"


def test_lines_keeps_our_line_breaks_and_makes_each_line_safe() -> None:
    assert textsafe.lines("535-first\x1b[1m\n535 second\r") == "535-first\\x1b[1m\n535 second\\x0d"


def test_json_keeps_exact_values_with_nothing_a_terminal_acts_on() -> None:
    data = {"reply": "550 \x1b[2J\x9b31m\u202e\x07 über\n", "n": 1}
    text = textsafe.json_text(data)
    assert json.loads(text) == data
    assert text.isascii() is False  # non-ASCII letters stay readable
    assert all(char == "\n" or char.isprintable() for char in text)


def test_a_sentence_quoting_the_server_has_room_for_a_certificate() -> None:
    subject = "CN=" + "s" * 400
    text = f"certificate: subject {subject}; SHA-256 " + ":".join(["AB"] * 32)
    assert textsafe.sentence(text) == text
    assert textsafe.sentence("x" * 2500).endswith(" [... 500 more characters cut]")
