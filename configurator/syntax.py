"""Syntax checks for host names and e-mail addresses.

Each check returns ``None`` when the value is acceptable, or a short phrase
saying what is wrong, written to follow the field's label ("Outgoing Mail
Server: <phrase>").  Nothing here touches the network: whether a name exists
is the mail check's business, not the form's.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

# RFC 5322 "atext": the characters allowed in an unquoted local part.
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# What the C library's inet_aton() reads as a number: decimal, octal (leading 0) or hex (0x).
_NUMERIC_LABEL = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")
_NOT_AN_IP_ADDRESS = "is not a valid IP address"
_IPV4_RULE = (
    "is not a valid IPv4 address: write it as four numbers from 0 to 255 separated by "
    "dots, such as 192.0.2.10"
)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Zero-width (non-)joiners are part of correct spelling in several scripts.
_JOINERS = frozenset({"\u200c", "\u200d"})


def control_character(text: str) -> str | None:
    """Name the first control or line-separator character in ``text``, if any.

    CR and LF would let a value inject mail headers; the other control and
    separator characters are never meaningful in these fields and only hide
    mistakes, so all of them are refused.
    """
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _JOINERS:
            if char in "\r\n":
                return "a line break"
            if char == "\t":
                return "a tab"
            return f"the invisible character U+{ord(char):04X}"
    return None


def check_ip_address(text: str) -> str | None:
    """Accept a dotted-quad IPv4 address or an IPv6 address without a zone.

    The one rule for IP literals, used by validation, the check and
    detection alike.  IPv4 only as four decimal numbers: the shorthand,
    octal and hexadecimal forms the C library also reads (``127.1``,
    ``0x7f.1``, ``0177.0.0.1``) are refused, since the same text would mean
    an address to one program and a name to another.  An IPv6 zone
    (``%eth0``) is refused: it names an interface of one computer, and
    settings move between computers (the system store, a copied file) where
    that interface may not exist; that also rules out link-local addresses
    (``fe80::/10``), which work only with a zone.
    """
    if "%" in text:
        return (
            "must not have a zone (the part from %): enter the server's global or "
            "unique-local IPv6 address, or its name"
        )
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return _NOT_AN_IP_ADDRESS
    if address.version == 6 and address.is_link_local:
        return (
            "is a link-local IPv6 address, which works only with a zone: enter the server's "
            "global or unique-local IPv6 address, or its name"
        )
    return None


def is_ip_address(text: str) -> bool:
    return check_ip_address(text) is None


def to_ascii_hostname(text: str) -> str:
    """Return the IDNA (A-label) form of a host name; raise ``ValueError`` if impossible."""
    import idna  # lazy: only needed when a name is validated

    name = text[:-1] if text.endswith(".") else text
    if name.isascii():
        return name.lower()
    try:
        return str(idna.encode(name, uts46=True).decode("ascii"))
    except idna.IDNAError as exc:
        raise ValueError(str(exc)) from None


def _is_a_label(label: str) -> bool:
    """True when an ``xn--`` label decodes to an internationalised label.

    Python's Punycode codec is lenient, so the decoded text is checked too:
    it must hold a non-ASCII character and no control character.  IDNA2008
    validity is not demanded, so that registered names such as emoji
    domains stay usable.
    """
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return False
    return not decoded.isascii() and control_character(decoded) is None and decoded.isprintable()


def check_hostname(text: str) -> str | None:
    """Accept a DNS name (internationalised names allowed) or an IP literal."""
    if not text:
        return "is required"
    invisible = control_character(text)
    if invisible is not None:
        return f"must not contain {invisible}"
    if text.startswith("[") and text.endswith("]"):
        return "write an IPv6 address without the square brackets"
    if _URL_SCHEME.match(text):
        return "enter only the server's name, without a scheme such as smtp://"
    if any(char.isspace() for char in text):
        return "must not contain spaces"
    if ":" in text:
        problem = check_ip_address(text)
        if problem is None or problem != _NOT_AN_IP_ADDRESS:
            return problem
        if text.count(":") == 1 and text.rsplit(":", 1)[1].isdigit():
            return "enter the port in Server Port, not after the name"
        return "is not a valid IPv6 address"
    if "/" in text or "@" in text:
        return "enter only the server's name, such as smtp.example.com"
    if is_ip_address(text):
        return None
    try:
        ascii_name = to_ascii_hostname(text)
    except ValueError:
        return "is not a valid internationalised domain name"
    if len(ascii_name) > 253:
        return "is longer than the 253 characters a DNS name may have"
    labels = ascii_name.split(".")
    for label in labels:
        if not label:
            return "has an empty part between dots"
        if len(label) > 63:
            return "has a part longer than 63 characters"
        if not _LDH_LABEL.fullmatch(label):
            return (
                "may contain only letters, digits, hyphens and dots "
                "(no hyphen at either end of a part)"
            )
        if label.startswith("xn--") and not _is_a_label(label):
            return "is not a valid internationalised domain name"
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        # The resolver would read this as an IPv4 address in a form people misread.
        return _IPV4_RULE
    return None


def check_email(text: str) -> str | None:
    """Accept ``local@domain`` with an internationalised domain or local part.

    The local part may be an RFC 5322 dot-atom, with non-ASCII letters allowed
    as RFC 6531 (SMTPUTF8) permits; quoted local parts are refused because
    many servers mishandle them.  The domain is a DNS name or an address
    literal such as ``[192.0.2.1]``.
    """
    if not text:
        return "is required"
    invisible = control_character(text)
    if invisible is not None:
        return f"must not contain {invisible}"
    if any(char.isspace() for char in text):
        return "must not contain spaces"
    if text.count("@") != 1:
        return "must look like name@example.com (exactly one @)"
    local, domain = text.split("@")
    if not local:
        return "needs a name before the @"
    if not domain:
        return "needs a domain after the @"
    if len(local.encode("utf-8")) > 64:
        return "has a part before the @ longer than 64 bytes"
    if local.startswith('"'):
        return "must not use a quoted name before the @"
    for atom in local.split("."):
        if not atom:
            return "must not have a dot at the start or end of the name, or two dots in a row"
        if not all(_ATEXT.fullmatch(char) or not char.isascii() for char in atom):
            return "has a character that is not allowed before the @"
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal.lower().startswith("ipv6:"):
            literal = literal[5:]
            problem = None if ":" in literal else "is not a valid address literal"
        else:
            problem = None if "." in literal else "is not a valid address literal"
        if problem is None and check_ip_address(literal) is None:
            return None
        return "has an address literal after the @ that is not a valid IP address"
    # Unlike a server name, an RFC 5321 domain has no trailing dot.
    if domain.endswith(".") or check_hostname(domain) is not None or is_ip_address(domain):
        return "has a domain after the @ that is not a valid domain name"
    if len(text.encode("utf-8")) > 254:
        return "is longer than the 254 bytes an address may have"
    return None
