"""The value types of the settings: what one field accepts, in one place.

Each field of ``model.FIELDS`` carries one of these.  A value type turns what
a person typed into a value (``parse``), judges a value however it was made
(``problem``), reads it back from a stored payload (``load``), writes it as
text again (``render``, and ``describe`` for people), and says which kind of
widget edits it and what its command-line option looks like.  The front ends
ask the type instead of knowing field names, so that a new field is one
declaration.  No Qt: the hints (``widget``) are plain words the form maps to
widgets.

The messages are the model's words: a problem is returned as text that the
front ends put after the field's label ("Server Port: must be from 1 to
65535").  What only checking needs (``syntax``, ``math``) is imported where it
is used, so that reading the settings does not wait for it.
"""

from __future__ import annotations

import enum
import os
import re

from configurator.frozen import frozen


class FieldProblem(ValueError):
    """Typed input that the field cannot take; the message is the model's wording."""


@frozen
class ChoiceItem:
    """One value a choice field accepts, with its label."""

    value: str
    label: str


class ValueType:
    """Text, by default: a value that is a ``str`` as typed.

    Value types are set up once, in the declarations, and never changed.
    (Plain classes rather than dataclasses: the model is on the start path of
    ``configurator show``, which must not import ``dataclasses``.)
    """

    __slots__ = ()
    #: Which kind of widget edits the value: "line", "choice", "secret" or "number".
    widget = "line"
    #: The command line's name for the value (None: the field key in capitals).
    metavar: str | None = None

    @property
    def choices(self) -> tuple[ChoiceItem, ...]:
        return ()

    @property
    def unit(self) -> str:
        """The unit shown beside a number ("seconds"), or ""."""
        return ""

    @property
    def pattern(self) -> str:
        """What a number field lets the user type (a regular expression), or ""."""
        return ""

    def parse(self, raw: object) -> object:
        """The value of input ``raw``; ``FieldProblem`` when a person typed it wrong.

        ``TypeError`` when the caller passed something no person could type.
        """
        if not isinstance(raw, str):
            raise TypeError("must be text")
        return raw

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value`` (in the model's words), or None."""
        return None if isinstance(value, str) else "must be text"

    def load(self, raw: object) -> object:
        """The value stored in a payload; ``TypeError``/``ValueError`` when it does not fit."""
        if not isinstance(raw, str):
            raise TypeError("must be text")
        return raw

    def render(self, value: object) -> str:
        """The value as text that ``parse`` accepts again."""
        return str(value)

    def describe(self, value: object) -> str:
        """The value for a person to read, as ``configurator show`` prints it."""
        text = self.render(value)
        return text if text else "(empty)"


class Text(ValueType):
    """One line of text, without control characters or surrounding spaces."""

    __slots__ = ("max_len", "required")
    #: The limit when the declaration gives none.
    longest = 200

    def __init__(self, max_len: int | None = None, *, required: bool = False) -> None:
        self.max_len = self.longest if max_len is None else max_len
        self.required = required

    def problem(self, value: object) -> str | None:
        from configurator import syntax

        if not isinstance(value, str):
            return "must be text"
        if not value:
            return "is required" if self.required else None
        # Before the space check, so that "\tName" or "Name\r" is named for what it is.
        invisible = syntax.control_character(value)
        if invisible is not None:
            return f"must not contain {invisible}"
        if value != value.strip():
            return "must not start or end with spaces"
        if len(value) > self.max_len:
            return f"is too long (at most {self.max_len} characters)"
        return self.content_problem(value)

    def content_problem(self, value: str) -> str | None:
        """What is wrong with non-empty, well-formed text beyond its form: none for plain text."""
        return None


class Email(Text):
    """An e-mail address (empty only when not required)."""

    __slots__ = ()
    longest = 254

    def content_problem(self, value: str) -> str | None:
        from configurator import syntax

        return syntax.check_email(value)


class Host(Text):
    """A DNS name or IP address."""

    __slots__ = ()
    longest = 254  # 253 and a trailing dot; check_hostname applies the DNS limit

    def content_problem(self, value: str) -> str | None:
        from configurator import syntax

        return syntax.check_hostname(value)


class Secret(ValueType):
    """A password: never shown, typed only; empty input keeps the stored one."""

    __slots__ = ("max_len",)
    widget = "secret"

    def __init__(self, max_len: int = 1024) -> None:
        self.max_len = max_len

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "must be text"
        # RFC 4616 forbids NUL; CR and LF cannot survive a line-based protocol.
        if any(char in value for char in "\0\r\n"):
            return "must not contain a line break or a NUL character"
        # A lone surrogate (from undecodable input) cannot be sent as UTF-8, nor stored.
        if any("\ud800" <= char <= "\udfff" for char in value):
            return "must be valid Unicode text"
        if len(value) > self.max_len:
            return f"is too long (at most {self.max_len} characters)"
        return None

    def describe(self, value: object) -> str:
        return "(set)" if value else "(not set)"


class Port(ValueType):
    """A TCP port number, typed as digits."""

    __slots__ = ()
    widget = "number"
    metavar = "PORT"

    @property
    def pattern(self) -> str:
        return r"[0-9]*"

    def parse(self, raw: object) -> object:
        message = "must be a whole number from 1 to 65535"
        if isinstance(raw, bool):
            raise FieldProblem(message)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            text = raw.strip()
            if text.isascii() and text.isdigit():
                digits = text.lstrip("0") or "0"
                # Checked before int(), which refuses strings of thousands of digits.
                if len(digits) > 5:
                    raise FieldProblem("must be from 1 to 65535")
                return int(digits)
        raise FieldProblem(message)

    def problem(self, value: object) -> str | None:
        # Settings built other than by build() may hold values of the wrong type.
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be a whole number from 1 to 65535"
        if not 1 <= value <= 65535:
            return "must be from 1 to 65535"
        return None

    def load(self, raw: object) -> object:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise TypeError("must be an integer")
        return raw


class Seconds(ValueType):
    """A number of seconds within limits, typed as a decimal number."""

    __slots__ = ("maximum", "minimum")
    widget = "number"
    metavar = "SECONDS"

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum

    @property
    def unit(self) -> str:
        return "seconds"

    @property
    def pattern(self) -> str:
        return r"[0-9]*[.]?[0-9]*"

    @property
    def message(self) -> str:
        return f"must be a number of seconds from {self.minimum:g} to {self.maximum:g}"

    def parse(self, raw: object) -> object:
        import math

        if isinstance(raw, bool):
            raise FieldProblem(self.message)
        if isinstance(raw, int | float):
            try:
                return float(raw)
            except OverflowError:  # an integer too large for a float
                raise FieldProblem(self.message) from None
        if isinstance(raw, str):
            try:
                number = float(raw.strip()) if raw.strip().isascii() else math.nan
            except ValueError:
                raise FieldProblem(self.message) from None
            if math.isfinite(number):
                return number
        raise FieldProblem(self.message)

    def problem(self, value: object) -> str | None:
        import math

        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not self.minimum <= value <= self.maximum
        ):
            return self.message
        return None

    def load(self, raw: object) -> object:
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise TypeError("must be a number")
        return float(raw)

    def render(self, value: object) -> str:
        return f"{float(value):g}" if isinstance(value, int | float) else str(value)

    def describe(self, value: object) -> str:
        return f"{self.render(value)} {self.unit}"


class OneOf(ValueType):
    """One member of a string enum whose members have a ``label``."""

    __slots__ = ("enum_type",)
    widget = "choice"

    def __init__(self, enum_type: type[enum.StrEnum]) -> None:
        self.enum_type = enum_type

    @property
    def choices(self) -> tuple[ChoiceItem, ...]:
        return tuple(ChoiceItem(member.value, _label(member)) for member in self.enum_type)

    @property
    def message(self) -> str:
        names = ", ".join(f"{choice.value} ({choice.label})" for choice in self.choices)
        return f"must be one of {names}"

    def parse(self, raw: object) -> object:
        try:
            return self.enum_type(raw if isinstance(raw, str) else "")
        except ValueError:
            raise FieldProblem(self.message) from None

    def problem(self, value: object) -> str | None:
        return None if isinstance(value, self.enum_type) else self.message

    def load(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise TypeError("must be text")
        return self.enum_type(raw)

    def render(self, value: object) -> str:
        return value.value if isinstance(value, enum.Enum) else str(value)

    def describe(self, value: object) -> str:
        return _label(value) if isinstance(value, self.enum_type) else str(value)


def _label(member: object) -> str:
    label = getattr(member, "label", None)
    return label if isinstance(label, str) else str(member)


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class Fingerprint(ValueType):
    """A SHA-256 certificate fingerprint: typed with colons or spaces, kept as lowercase hex."""

    __slots__ = ()

    def parse(self, raw: object) -> object:
        return normalise_fingerprint(str(super().parse(raw)))

    def problem(self, value: object) -> str | None:
        if value != "" and not (isinstance(value, str) and _FINGERPRINT.fullmatch(value)):
            return "must be a SHA-256 fingerprint: 64 hexadecimal digits"
        return None


def normalise_fingerprint(text: str) -> str:
    """Accept ``AB:CD:...`` or plain hex in any case; return lowercase hex."""
    return text.replace(":", "").replace(" ", "").strip().lower()


class CAFile(Text):
    """An optional absolute path to a PEM file that only trusted accounts may change."""

    __slots__ = ()
    metavar = "PATH"
    longest = 4096

    def content_problem(self, value: str) -> str | None:
        return _ca_file_problem(value)


def _ca_file_problem(path: str) -> str | None:
    if not os.path.isabs(path):
        return "must be an absolute path"
    import stat

    try:
        info = os.stat(path)  # a link to a CA bundle is fine: what it leads to is judged
    except OSError:
        return "is not an existing file"
    if stat.S_ISDIR(info.st_mode):
        return "is not an existing file"
    if not stat.S_ISREG(info.st_mode):
        from configurator import fsutil

        # Reading a FIFO or a device could hang the check or never end.
        return f"is {fsutil.kind_of(info.st_mode)}, not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read by this user"
    return _ca_file_trust_problem(path, info)


def _ca_file_trust_problem(path: str, info: os.stat_result) -> str | None:
    """Whoever may change the CA file decides which servers the check trusts."""
    if os.name != "posix" or (info.st_uid in (os.geteuid(), 0) and not info.st_mode & 0o022):
        return None
    import shlex
    import stat

    from configurator import fsutil

    if info.st_uid not in (os.geteuid(), 0):
        return (
            f"belongs to {fsutil.account_name(info.st_uid)}, another account, which could "
            "decide which servers the check trusts: use a copy of your own"
        )
    return (
        f"may be changed by other accounts (permissions {stat.filemode(info.st_mode)}), "
        "which could decide which servers the check trusts: make it safe with "
        f"chmod go-w {shlex.quote(path)}"
    )
