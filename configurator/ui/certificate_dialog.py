"""The server's certificate, shown so that a person can judge it, and pinned only on request.

Trusting a certificate here means pinning it: from then on the program
accepts exactly this certificate from the server -- and no other, however
well signed -- instead of asking the certificate authorities.  That is only
safe when the fingerprint has been confirmed with the mail administrator
through another channel, so the dialog says so in plain words, and "Trust
This Certificate" is never the default button.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from configurator import textsafe
from configurator.ui import sizing
from configurator.ui.banner import Banner, Kind

if TYPE_CHECKING:
    from configurator.mail import CertificateInfo

TRUST_EXPLANATION = (
    "Trusting pins this exact certificate: the configurator then accepts this certificate "
    "from the server, and only this one, without asking a certificate authority. Do it "
    "only after the mail administrator has confirmed the SHA-256 fingerprint below "
    "through another channel (in person, by phone): if someone is intercepting the "
    "connection, you would be trusting their certificate and handing them the password. "
    "When the server gets a new certificate, the check fails until you trust the new one."
)


def _date(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "unknown"


def fingerprint_lines(certificate: CertificateInfo) -> str:
    """The colon-separated fingerprint in two lines of 16 bytes, as certificate viewers show it."""
    groups = certificate.fingerprint_colons.split(":")
    half = len(groups) // 2
    return ":".join(groups[:half]) + ":\n" + ":".join(groups[half:])


class CertificateDialog(QDialog):
    """Subject, issuer, validity, host names and fingerprint; optionally "Trust"."""

    trusted = Signal(str)  # the SHA-256 fingerprint (64 lowercase hex digits)

    def __init__(
        self,
        parent: QWidget,
        certificate: CertificateInfo,
        *,
        server: str,
        problem: str = "",
        offer_trust: bool = False,
    ) -> None:
        """``problem``: why the certificate was refused ("" when it was accepted)."""
        super().__init__(parent)
        self.setObjectName("certificateDialog")
        self.setWindowTitle("Server Certificate")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.certificate = certificate

        column = QVBoxLayout(self)
        column.setSpacing(12)
        heading = QLabel(f"The certificate presented by {server}")
        heading.setObjectName("certificateHeading")
        heading.setTextFormat(Qt.TextFormat.PlainText)
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        column.addWidget(heading)
        if problem:
            refused = Banner(name="certificateProblem")
            refused.show_message(Kind.ERROR, "Not accepted", problem)
            column.addWidget(refused)

        expired = certificate.expired()
        # Subject, issuer and names are the certificate owner's words: one escaped line each,
        # so that none of them can show a line of its own (a fake fingerprint, say).
        facts: list[tuple[str, str, str]] = [
            ("Subject", textsafe.line(certificate.subject), "certificateSubject"),
            ("Issuer", textsafe.line(certificate.issuer), "certificateIssuer"),
            ("Valid from", _date(certificate.not_before), "certificateNotBefore"),
            (
                "Valid until",
                _date(certificate.not_after) + (" (expired)" if expired else ""),
                "certificateNotAfter",
            ),
            (
                "Host names",
                textsafe.line(", ".join(certificate.names) or "none"),
                "certificateNames",
            ),
            ("SHA-256 fingerprint", fingerprint_lines(certificate), "certificateFingerprint"),
        ]
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.values: dict[str, QLabel] = {}
        for row, (name, value, object_name) in enumerate(facts):
            label = QLabel(f"{name}:")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            shown = QLabel(value)
            shown.setObjectName(object_name)
            shown.setTextFormat(Qt.TextFormat.PlainText)
            shown.setWordWrap(True)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setAccessibleName(name)
            if object_name == "certificateFingerprint":
                shown.setFont(fixed)
                shown.setWordWrap(False)
                shown.setAccessibleDescription(certificate.fingerprint_colons)
            grid.addWidget(label, row, 0)
            grid.addWidget(shown, row, 1)
            self.values[name] = shown
        column.addLayout(grid)

        buttons = QDialogButtonBox()
        self.trust_button: QPushButton | None = None
        if offer_trust:
            meaning = Banner(name="trustExplanation")
            meaning.show_message(Kind.WARNING, "What trusting means", TRUST_EXPLANATION)
            column.addWidget(meaning)
            self.trust_button = QPushButton("&Trust This Certificate")
            self.trust_button.setObjectName("trustCertificateButton")
            self.trust_button.setAccessibleName("Trust this certificate")
            self.trust_button.setToolTip(
                "Pin this certificate by its SHA-256 fingerprint (Pinned Certificate)."
            )
            self.trust_button.setAutoDefault(False)
            self.trust_button.clicked.connect(self._trust)
            buttons.addButton(self.trust_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setObjectName("certificateCloseButton")
        close.setDefault(True)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)
        sizing.scroll_body(self)
        self.setMinimumWidth(min(560, sizing.available(self).width()))

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if sizing.refits(event):
            sizing.fit_height(self)
        return handled

    def _trust(self) -> None:
        self.trusted.emit(self.certificate.fingerprint)
        self.accept()
