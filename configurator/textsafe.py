"""Text from the network or a certificate, made safe to show in a terminal or a widget.

A mail server chooses every byte of its replies and a certificate's owner
every character of its subject: an escape sequence (``ESC [ 2 J``, an OSC
title), a bell, a carriage return or a line break in them would act on the
administrator's terminal, or forge a line of our own output -- a fake
``SHA-256:`` line in the certificate block, say.  So every such text passes
through ``line`` (one line) or ``lines`` (text whose line breaks are ours)
before it is printed or put in a widget: control, format and separator
characters are shown escaped (``\\x1b``, ``\\u202e``), and a long line is
cut with a marker saying how much was left out.  Only what people read is
changed; ``--json`` output keeps the exact values (``json_text``), escaped
the JSON way.

No Qt here: the command line and the window use the same functions.
"""

from __future__ import annotations

import json
import unicodedata

#: How many characters of one line from the server (a reply, a certificate field) are shown.
LINE_LIMIT = 300
#: The same for a sentence of ours that quotes the server (see ``sentence``).
TEXT_LIMIT = 2000

# Categories shown escaped: controls, format characters (bidirectional
# overrides among them), surrogates, private use, unassigned, line and
# paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Zero-width (non-)joiners belong to correct spelling in several scripts and to emoji.
_JOINERS = frozenset({"\u200c", "\u200d"})


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in _ESCAPED_CATEGORIES or char in _JOINERS:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with every control, format and separator character written as an escape."""
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(_escaped(char) for char in text)


def line(text: str, limit: int = LINE_LIMIT) -> str:
    """One line fit to show: escaped (line breaks included) and cut after ``limit`` characters.

    The cut never splits an escape, and the marker says how many characters
    of the original text were left out.
    """
    pieces: list[str] = []
    length = 0
    for index, char in enumerate(text):
        piece = _escaped(char)
        if length + len(piece) > limit:
            left = len(text) - index
            pieces.append(f" [... {left} more character{'' if left == 1 else 's'} cut]")
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def sentence(text: str) -> str:
    """A sentence of ours that quotes the server (a cause, a step's detail), made safe by ``line``.

    It may be longer than a line from the server: it has room for a certificate's subject
    and issuer and still its fingerprint.
    """
    return line(text, TEXT_LIMIT)


def lines(text: str, limit: int = LINE_LIMIT) -> str:
    """Text whose line breaks are our own (a multi-line reply): each line made safe by ``line``."""
    return "\n".join(line(part, limit) for part in text.split("\n"))


def json_text(data: object, *, indent: int | None = 2) -> str:
    """``data`` as JSON with exact values, and nothing a terminal would act on.

    ``json.dumps`` with ``ensure_ascii=False`` escapes C0 controls but leaves
    DEL, the C1 controls (``\\x9b`` starts an escape sequence on some
    terminals) and bidirectional overrides raw; those are written as
    ``\\uXXXX`` escapes too, which decode to the same value.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(
        json.dumps(char)[1:-1] if char != "\n" and _escaped(char) != char else char for char in text
    )
