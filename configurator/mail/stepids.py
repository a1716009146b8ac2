"""The names of the steps of a check, in order, with the words a person reads.

Apart from the tracker (``steps.py``) so that a failure (``errors.py``) can name
its step without the two modules importing each other.
"""

from __future__ import annotations

import enum


class StepId(enum.StrEnum):
    RESOLVE = "resolve"
    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    TLS = "tls"
    AUTH = "auth"
    SENDER = "sender"
    RECIPIENT = "recipient"
    MESSAGE = "message"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: dict[StepId, str] = {
    StepId.RESOLVE: "Resolve the server name",
    StepId.CONNECT: "Connect",
    StepId.GREETING: "Server greeting",
    StepId.EHLO: "EHLO and capabilities",
    StepId.TLS: "TLS",
    StepId.AUTH: "Authentication",
    StepId.SENDER: "Sender accepted",
    StepId.RECIPIENT: "Recipient accepted",
    StepId.MESSAGE: "Message sent",
}
