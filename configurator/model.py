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
from collections.abc import Callable, Iterable, Mapping

from configurator import fieldtypes as ft
from configurator.fieldtypes import ChoiceItem as Choice
from configurator.fieldtypes import FieldProblem, normalise_fingerprint
from configurator.frozen import field, frozen

__all__ = ["Choice", "normalise_fingerprint"]


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
class FieldSpec:
    """Everything a front end needs to present, parse and check one setting.

    ``type`` says what the field accepts (``configurator.fieldtypes``): the
    form, the command line, ``show`` and the store ask it, never the key.
    """

    key: str
    label: str
    mnemonic: str  # the label with "&" before the access-key letter
    object_name: str
    help: str
    type: ft.ValueType = ft.Text()
    placeholder: str = ""
    advanced: bool = False

    @property
    def cli_option(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def choices(self) -> tuple[Choice, ...]:
        return self.type.choices

    @property
    def secret(self) -> bool:
        return isinstance(self.type, ft.Secret)

    @property
    def metavar(self) -> str:
        return self.type.metavar or self.key.upper()


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "account_name",
        "Account Name",
        "Account &Name",
        "accountName",
        "The sender name shown on alert e-mails, such as 'Security Monitoring'.",
        type=ft.Text(max_len=200, required=True),
        placeholder="Security Monitoring",
    ),
    FieldSpec(
        "account_email",
        "Account E-mail Address",
        "Account E-&mail Address",
        "accountEmail",
        "The sender address of alert e-mails; the server must allow this account to send as it.",
        type=ft.Email(required=True),
        placeholder="alerts@example.com",
    ),
    FieldSpec(
        "server",
        "Outgoing Mail Server",
        "Outgoing Mail &Server",
        "outgoingServer",
        "The SMTP server's DNS name or IP address, such as smtp.example.com.",
        type=ft.Host(required=True),
        placeholder="smtp.example.com",
    ),
    FieldSpec(
        "port",
        "Server Port",
        "Server &Port",
        "serverPort",
        "The TCP port: usually 587 for STARTTLS, 465 for SSL/TLS, 25 without encryption.",
        type=ft.Port(),
    ),
    FieldSpec(
        "security",
        "Connection Security",
        "&Connection Security",
        "connectionSecurity",
        "STARTTLS upgrades a plain connection to TLS; SSL/TLS is encrypted from the first byte.",
        type=ft.OneOf(Security),
    ),
    FieldSpec(
        "auth",
        "Authentication Method",
        "&Authentication Method",
        "authMethod",
        "Login/Plain sends the user name and password (AUTH PLAIN or LOGIN).",
        type=ft.OneOf(Auth),
    ),
    FieldSpec(
        "username",
        "User Name",
        "&User Name",
        "userName",
        "The account used to log in to the mail server; often the e-mail address.",
        type=ft.Text(max_len=256),
        placeholder="alerts@example.com",
    ),
    FieldSpec(
        "password",
        "Password",
        "Pass&word",
        "password",
        "The account's password. It is stored encrypted and never shown again.",
        type=ft.Secret(max_len=1024),
    ),
    FieldSpec(
        "ca_file",
        "Trusted CA File",
        "Trusted CA &File",
        "caFile",
        "Optional PEM file of a private certificate authority to trust besides the system's.",
        type=ft.CAFile(),
        placeholder="Optional: the system's certificate authorities are always trusted",
        advanced=True,
    ),
    FieldSpec(
        "tls_fingerprint",
        "Pinned Certificate",
        "Pinned Cer&tificate",
        "tlsFingerprint",
        "SHA-256 fingerprint of a server certificate trusted explicitly after inspecting it.",
        type=ft.Fingerprint(),
        placeholder="Set by \u201cTrust This Certificate\u201d in the server check",
        advanced=True,
    ),
    FieldSpec(
        "timeout",
        "Timeout",
        "T&imeout",
        "timeout",
        "Seconds to wait for the server at each step before giving up.",
        type=ft.Seconds(minimum=MIN_TIMEOUT, maximum=MAX_TIMEOUT),
        advanced=True,
    ),
    FieldSpec(
        "test_recipient",
        "Test Recipient",
        "Test &Recipient",
        "testRecipient",
        "Where the server check sends its test e-mail for anyone who has not chosen an "
        "address of their own; each user's last choice is remembered apart from the settings.",
        type=ft.Email(),
        placeholder="Optional: for anyone who has not chosen their own",
        advanced=True,
    ),
)

FIELDS_BY_KEY: dict[str, FieldSpec] = {spec.key: spec for spec in FIELDS}


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


def _auth_rule(settings: Settings) -> dict[str, str | None]:
    """User name and password follow the Authentication Method.

    Returns the verdict for each field the rule settles (None: fine, and not
    to be judged by its type); a field not named is judged by its type.
    """
    auth: object = settings.auth
    if auth is Auth.LOGIN_PLAIN:
        verdicts: dict[str, str | None] = {}
        if settings.username == "":  # other values are judged by the field's type
            verdicts["username"] = "is required"
        if not settings.password:
            verdicts["password"] = "is required for Login/Plain authentication"  # noqa: S105
        return verdicts
    if auth is Auth.NONE:
        return {
            key: "must be empty when Authentication Method is None" if value else None
            for key, value in (("username", settings.username), ("password", settings.password))
        }
    return {"username": None, "password": None}  # the method itself is what is wrong


#: The rules that span fields, each settling the fields it names.
CROSS_RULES: tuple[Callable[[Settings], dict[str, str | None]], ...] = (_auth_rule,)


def validate(settings: Settings) -> list[FieldError]:
    """Return every problem with ``settings``, in field order; an empty list means valid."""
    settled: dict[str, str | None] = {}
    for rule in CROSS_RULES:
        for key, verdict in rule(settings).items():
            settled.setdefault(key, verdict)
    errors: list[FieldError] = []
    for spec in FIELDS:
        if spec.key in settled:
            problem = settled[spec.key]
        else:
            problem = spec.type.problem(getattr(settings, spec.key))
        if problem is not None:
            errors.append(FieldError(spec.key, problem))
    return errors


def recipient_problem(address: object) -> str | None:
    """What is wrong with a Test Recipient address, or None (empty is fine: no test e-mail).

    The one rule for the field, for the address typed in the server check and
    for the one each user has remembered (``configurator.preferences``).
    """
    return FIELDS_BY_KEY["test_recipient"].type.problem(address)


def parse_each(changes: Mapping[str, object]) -> dict[str, object]:
    """Each raw value parsed and judged by its own field's type alone, not by rules across fields.

    For options that apply to one run only (``test --timeout``): stored
    settings that have since become invalid are still used, and only what was
    typed is judged.  Raises ``ValidationError`` naming every bad field.
    """
    errors: list[FieldError] = []
    values = _parse(changes, errors)
    for key, value in values.items():
        problem = FIELDS_BY_KEY[key].type.problem(value)
        if problem is not None:
            errors.append(FieldError(key, problem))
    if errors:
        raise ValidationError(errors)
    return values


def _parse(changes: Mapping[str, object], errors: list[FieldError]) -> dict[str, object]:
    """The typed values parsed by their fields' types; what a person typed wrong goes to errors.

    Raises ``TypeError`` for a value no person could have typed (a caller's mistake).
    """
    values: dict[str, object] = {}
    for key, raw in changes.items():
        try:
            values[key] = FIELDS_BY_KEY[key].type.parse(raw)
        except FieldProblem as exc:
            errors.append(FieldError(key, str(exc)))
        except TypeError as exc:
            raise TypeError(f"{key} {exc}") from None
    return values


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

    for key, value in _parse(changes, errors).items():
        if value or not FIELDS_BY_KEY[key].secret:  # an empty secret keeps the stored one
            values[key] = value

    if values["auth"] is Auth.NONE:
        values["username"] = ""
        values["password"] = ""
    candidate = Settings(**values)  # type: ignore[arg-type]
    failed = {error.key for error in errors}
    errors.extend(error for error in validate(candidate) if error.key not in failed)
    if errors:
        raise ValidationError(errors)
    return candidate


def from_payload(data: Mapping[str, object]) -> Settings:
    """Rebuild settings from a decrypted store payload.

    Only the types are checked, not the rules: settings that were valid when
    saved stay loadable even if, say, their CA file has since been removed
    (the mail check reports that).  Unknown keys are ignored.  Raises
    ``TypeError`` or ``ValueError`` for a payload that does not fit.
    """
    values: dict[str, object] = {}
    for spec in FIELDS:
        if spec.key in data:
            try:
                values[spec.key] = spec.type.load(data[spec.key])
            except TypeError as exc:
                raise TypeError(f"{spec.key} {exc}") from None
    return Settings(**values)  # type: ignore[arg-type]
