"""The mail server settings: one declaration per field, the value type, the rules.

Everything that knows what a field is called, what it defaults to and what
values it accepts lives here, so that the window, the command line and the
store cannot disagree.  No Qt: the rules must hold for every front end.

What only validation needs (``syntax``, ``math``) is imported where it is
used: reading the settings, as ``configurator show`` and the window's start
do, must not wait for it.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Mapping

from configurator.frozen import field, frozen


class Security(enum.StrEnum):
    """How the connection to the mail server is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    SSL_TLS = "ssl_tls"

    @property
    def label(self) -> str:
        return {"none": "None", "starttls": "STARTTLS", "ssl_tls": "SSL/TLS"}[self.value]

    @property
    def phrase(self) -> str:
        """The mode in running text: "with STARTTLS", "with no encryption" (never "with None")."""
        return self.label if self.encrypted else "no encryption"

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self]

    @property
    def encrypted(self) -> bool:
        return self is not Security.NONE


class Auth(enum.StrEnum):
    """How the configurator proves its identity to the mail server."""

    NONE = "none"
    LOGIN_PLAIN = "login_plain"

    @property
    def label(self) -> str:
        return {"none": "None", "login_plain": "Login/Plain"}[self.value]


DEFAULT_PORTS: dict[Security, int] = {
    Security.NONE: 25,
    Security.STARTTLS: 587,
    Security.SSL_TLS: 465,
}

MIN_TIMEOUT = 1.0
MAX_TIMEOUT = 300.0


@frozen
class Settings:
    """One complete, validated set of mail server settings.

    The password is excluded from ``repr`` so that it cannot leak through a
    log line, a traceback or a debugger's variable view.
    """

    account_name: str = ""
    account_email: str = ""
    server: str = ""
    port: int = DEFAULT_PORTS[Security.STARTTLS]
    security: Security = Security.STARTTLS
    auth: Auth = Auth.LOGIN_PLAIN
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    tls_fingerprint: str = ""
    timeout: float = 15.0
    test_recipient: str = ""

    @property
    def password_set(self) -> bool:
        return bool(self.password)

    @property
    def sends_password_in_clear(self) -> bool:
        """True when Login/Plain would send the password without encryption."""
        return self.auth is Auth.LOGIN_PLAIN and not self.security.encrypted

    def to_dict(self, *, include_password: bool) -> dict[str, object]:
        """Plain JSON-ready values; the password only when explicitly asked for."""
        data: dict[str, object] = {}
        for spec in FIELDS:
            if spec.key == "password" and not include_password:
                continue
            value = getattr(self, spec.key)
            data[spec.key] = value.value if isinstance(value, enum.Enum) else value
        return data

    def public_dict(self) -> dict[str, object]:
        """The settings as ``show --json`` prints them: never the password."""
        data = self.to_dict(include_password=False)
        data["password_set"] = self.password_set
        return data


@frozen
class Choice:
    """One value a choice field accepts, with its label."""

    value: str
    label: str


@frozen
class FieldSpec:
    """Everything a front end needs to present and parse one setting."""

    key: str
    label: str
    mnemonic: str  # the label with "&" before the access-key letter
    object_name: str
    help: str
    choices: tuple[Choice, ...] = ()
    advanced: bool = False
    secret: bool = False

    @property
    def cli_option(self) -> str:
        return "--" + self.key.replace("_", "-")


def _choices(enum_type: type[Security] | type[Auth]) -> tuple[Choice, ...]:
    return tuple(Choice(member.value, member.label) for member in enum_type)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "account_name",
        "Account Name",
        "Account &Name",
        "accountName",
        "The sender name shown on alert e-mails, such as 'Security Monitoring'.",
    ),
    FieldSpec(
        "account_email",
        "Account E-mail Address",
        "Account E-&mail Address",
        "accountEmail",
        "The sender address of alert e-mails; the server must allow this account to send as it.",
    ),
    FieldSpec(
        "server",
        "Outgoing Mail Server",
        "Outgoing Mail &Server",
        "outgoingServer",
        "The SMTP server's DNS name or IP address, such as smtp.example.com.",
    ),
    FieldSpec(
        "port",
        "Server Port",
        "Server &Port",
        "serverPort",
        "The TCP port: usually 587 for STARTTLS, 465 for SSL/TLS, 25 without encryption.",
    ),
    FieldSpec(
        "security",
        "Connection Security",
        "&Connection Security",
        "connectionSecurity",
        "STARTTLS upgrades a plain connection to TLS; SSL/TLS is encrypted from the first byte.",
        choices=_choices(Security),
    ),
    FieldSpec(
        "auth",
        "Authentication Method",
        "&Authentication Method",
        "authMethod",
        "Login/Plain sends the user name and password (AUTH PLAIN or LOGIN).",
        choices=_choices(Auth),
    ),
    FieldSpec(
        "username",
        "User Name",
        "&User Name",
        "userName",
        "The account used to log in to the mail server; often the e-mail address.",
    ),
    FieldSpec(
        "password",
        "Password",
        "Pass&word",
        "password",
        "The account's password. It is stored encrypted and never shown again.",
        secret=True,
    ),
    FieldSpec(
        "ca_file",
        "Trusted CA File",
        "Trusted CA &File",
        "caFile",
        "Optional PEM file of a private certificate authority to trust besides the system's.",
        advanced=True,
    ),
    FieldSpec(
        "tls_fingerprint",
        "Pinned Certificate",
        "Pinned Cer&tificate",
        "tlsFingerprint",
        "SHA-256 fingerprint of a server certificate trusted explicitly after inspecting it.",
        advanced=True,
    ),
    FieldSpec(
        "timeout",
        "Timeout",
        "T&imeout",
        "timeout",
        "Seconds to wait for the server at each step before giving up.",
        advanced=True,
    ),
    FieldSpec(
        "test_recipient",
        "Test Recipient",
        "Test &Recipient",
        "testRecipient",
        "Where the server check sends its test e-mail for anyone who has not chosen an "
        "address of their own; each user's last choice is remembered apart from the settings.",
        advanced=True,
    ),
)

FIELDS_BY_KEY: dict[str, FieldSpec] = {spec.key: spec for spec in FIELDS}

MAX_LENGTHS: dict[str, int] = {
    "account_name": 200,
    "account_email": 254,
    "server": 254,  # 253 and a trailing dot; check_hostname applies the DNS limit
    "username": 256,
    "password": 1024,
    "ca_file": 4096,
    "test_recipient": 254,
}

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


@frozen
class FieldError:
    """One problem with one field, in words a person understands."""

    key: str
    message: str

    @property
    def label(self) -> str:
        return FIELDS_BY_KEY[self.key].label

    def __str__(self) -> str:
        return f"{self.label}: {self.message}"


class ValidationError(ValueError):
    """Raised with every problem found at once, in field order."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        order = {spec.key: index for index, spec in enumerate(FIELDS)}
        self.errors: tuple[FieldError, ...] = tuple(sorted(errors, key=lambda e: order[e.key]))
        super().__init__("; ".join(str(error) for error in self.errors))

    def by_key(self) -> dict[str, str]:
        """The first message for each bad field, for showing beside the widget."""
        messages: dict[str, str] = {}
        for error in self.errors:
            messages.setdefault(error.key, error.message)
        return messages


def _text_problem(key: str, value: object, *, required: bool) -> str | None:
    from configurator import syntax

    if not isinstance(value, str):
        return "must be text"
    if not value:
        return "is required" if required else None
    # Before the space check, so that "\tName" or "Name\r" is named for what it is.
    invisible = syntax.control_character(value)
    if invisible is not None:
        return f"must not contain {invisible}"
    if value != value.strip():
        return "must not start or end with spaces"
    limit = MAX_LENGTHS[key]
    if len(value) > limit:
        return f"is too long (at most {limit} characters)"
    return None


def _password_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    # RFC 4616 forbids NUL; CR and LF cannot survive a line-based protocol.
    if any(char in value for char in "\0\r\n"):
        return "must not contain a line break or a NUL character"
    # A lone surrogate (from undecodable input) cannot be sent as UTF-8, nor stored.
    if any("\ud800" <= char <= "\udfff" for char in value):
        return "must be valid Unicode text"
    if len(value) > MAX_LENGTHS["password"]:
        return f"is too long (at most {MAX_LENGTHS['password']} characters)"
    return None


def validate(settings: Settings) -> list[FieldError]:
    """Return every problem with ``settings``; an empty list means valid."""
    import math

    from configurator import syntax

    errors: list[FieldError] = []

    def check(key: str, problem: str | None) -> None:
        if problem is not None:
            errors.append(FieldError(key, problem))

    check("account_name", _text_problem("account_name", settings.account_name, required=True))
    email_problem = _text_problem("account_email", settings.account_email, required=True)
    check("account_email", email_problem or syntax.check_email(settings.account_email))
    server_problem = _text_problem("server", settings.server, required=True)
    check("server", server_problem or syntax.check_hostname(settings.server))
    # Settings built other than by build() may hold values of the wrong type.
    port: object = settings.port
    if not isinstance(port, int) or isinstance(port, bool):
        check("port", "must be a whole number from 1 to 65535")
    elif not 1 <= port <= 65535:
        check("port", "must be from 1 to 65535")
    security: object = settings.security
    if not isinstance(security, Security):
        check("security", _choice_problem(Security))
    auth: object = settings.auth
    if not isinstance(auth, Auth):
        check("auth", _choice_problem(Auth))
    if settings.auth is Auth.LOGIN_PLAIN:
        check("username", _text_problem("username", settings.username, required=True))
        if not settings.password:
            check("password", "is required for Login/Plain authentication")
        else:
            check("password", _password_problem(settings.password))
    elif settings.auth is Auth.NONE:
        if settings.username:
            check("username", "must be empty when Authentication Method is None")
        if settings.password:
            check("password", "must be empty when Authentication Method is None")
    check("ca_file", _ca_file_problem(settings.ca_file))
    fingerprint: object = settings.tls_fingerprint
    if fingerprint != "" and not (
        isinstance(fingerprint, str) and _FINGERPRINT.fullmatch(fingerprint)
    ):
        check("tls_fingerprint", "must be a SHA-256 fingerprint: 64 hexadecimal digits")
    check("test_recipient", recipient_problem(settings.test_recipient))
    timeout = settings.timeout
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT
    ):
        check("timeout", f"must be a number of seconds from {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g}")
    return errors


def recipient_problem(address: object) -> str | None:
    """What is wrong with a Test Recipient address, or None (empty is fine: no test e-mail).

    The one rule for the field, for the address typed in the server check and
    for the one each user has remembered (``configurator.preferences``).
    """
    from configurator import syntax

    problem = _text_problem("test_recipient", address, required=False)
    if problem is None and isinstance(address, str) and address:
        problem = syntax.check_email(address)
    return problem


def _choice_problem(enum_type: type[Security] | type[Auth]) -> str:
    names = ", ".join(f"{member.value} ({member.label})" for member in enum_type)
    return f"must be one of {names}"


def _ca_file_problem(path: str) -> str | None:
    problem = _text_problem("ca_file", path, required=False)
    if problem is not None or not path:
        return problem
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


def _parse_port(value: object) -> tuple[int | None, str | None]:
    if isinstance(value, bool):
        return None, "must be a whole number from 1 to 65535"
    if isinstance(value, int):
        return value, None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            digits = text.lstrip("0") or "0"
            # Checked before int(), which refuses strings of thousands of digits.
            if len(digits) > 5:
                return None, "must be from 1 to 65535"
            return int(digits), None
    return None, "must be a whole number from 1 to 65535"


def _parse_timeout(value: object) -> tuple[float | None, str | None]:
    import math

    message = f"must be a number of seconds from {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g}"
    if isinstance(value, bool):
        return None, message
    if isinstance(value, int | float):
        try:
            return float(value), None
        except OverflowError:  # an integer too large for a float
            return None, message
    if isinstance(value, str):
        try:
            number = float(value.strip()) if value.strip().isascii() else math.nan
        except ValueError:
            return None, message
        if math.isfinite(number):
            return number, None
    return None, message


def build(changes: Mapping[str, object], stored: Settings | None = None) -> Settings:
    """Apply ``changes`` (field key -> raw value) to ``stored`` and validate.

    This is the single path by which the window's Submit and the command
    line's ``set`` turn user input into settings:

    - a key absent from ``changes`` keeps its stored value (or the default);
    - an empty password keeps the stored password, if there is one, so that
      a password is never lost just because it is not shown back;
    - with Authentication Method None the user name and password are dropped.

    Raises ``ValidationError`` listing every bad field.
    """
    base = stored if stored is not None else Settings()
    values: dict[str, object] = {spec.key: getattr(base, spec.key) for spec in FIELDS}
    errors: list[FieldError] = []
    unknown = set(changes) - set(FIELDS_BY_KEY)
    if unknown:
        raise KeyError(f"unknown setting(s): {', '.join(sorted(unknown))}")

    for key, raw in changes.items():
        if key == "port":
            port, problem = _parse_port(raw)
            if problem is not None:
                errors.append(FieldError(key, problem))
            else:
                values[key] = port
        elif key == "timeout":
            timeout, problem = _parse_timeout(raw)
            if problem is not None:
                errors.append(FieldError(key, problem))
            else:
                values[key] = timeout
        elif key in ("security", "auth"):
            enum_type: type[Security] | type[Auth] = Security if key == "security" else Auth
            try:
                values[key] = enum_type(raw if isinstance(raw, str) else "")
            except ValueError:
                errors.append(FieldError(key, _choice_problem(enum_type)))
        elif key == "tls_fingerprint":
            if not isinstance(raw, str):
                raise TypeError("tls_fingerprint must be text")
            values[key] = normalise_fingerprint(raw)
        elif key == "password":
            if not isinstance(raw, str):
                raise TypeError("password must be text")
            if raw:
                values[key] = raw
        else:
            if not isinstance(raw, str):
                raise TypeError(f"{key} must be text")
            values[key] = raw

    if values["auth"] is Auth.NONE:
        values["username"] = ""
        values["password"] = ""
    candidate = Settings(**values)  # type: ignore[arg-type]
    failed = {error.key for error in errors}
    errors.extend(error for error in validate(candidate) if error.key not in failed)
    if errors:
        raise ValidationError(errors)
    return candidate


def normalise_fingerprint(text: str) -> str:
    """Accept ``AB:CD:...`` or plain hex in any case; return lowercase hex."""
    return text.replace(":", "").replace(" ", "").strip().lower()


def from_payload(data: Mapping[str, object]) -> Settings:
    """Rebuild settings from a decrypted store payload.

    Only the types are checked, not the rules: settings that were valid when
    saved stay loadable even if, say, their CA file has since been removed
    (the mail check reports that).  Unknown keys are ignored.  Raises
    ``TypeError`` or ``ValueError`` for a payload that does not fit.
    """
    values: dict[str, object] = {}
    for spec in FIELDS:
        if spec.key not in data:
            continue
        raw = data[spec.key]
        if spec.key == "port":
            if not isinstance(raw, int) or isinstance(raw, bool):
                raise TypeError("port must be an integer")
            values[spec.key] = raw
        elif spec.key == "timeout":
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                raise TypeError("timeout must be a number")
            values[spec.key] = float(raw)
        elif not isinstance(raw, str):
            raise TypeError(f"{spec.key} must be text")
        elif spec.key == "security":
            values[spec.key] = Security(raw)
        elif spec.key == "auth":
            values[spec.key] = Auth(raw)
        else:
            values[spec.key] = raw
    return Settings(**values)  # type: ignore[arg-type]
