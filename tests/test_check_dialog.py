"""The results view and the certificate dialog on their own, fed by real checks."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QWidget
from pytestqt.qtbot import QtBot
from support.smtp import (
    PASSWORD,
    USERNAME,
    Pki,
    StartServer,
    assert_no_secret,
    make_settings,
)

from configurator import mail, model
from configurator.mail.certificate import describe_certificate
from configurator.ui import icons, workers
from configurator.ui.certificate_dialog import CertificateDialog
from configurator.ui.check_dialog import (
    CheckDialog,
    CheckRun,
    describe_target,
    format_duration,
    recipient_problem,
    report_text,
)

pytest_plugins = ["support.smtp"]

USERS = {USERNAME: PASSWORD}


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(qtbot: QtBot) -> Iterator[None]:
    yield
    qtbot.waitUntil(lambda: workers.running_jobs() == 0, timeout=5000)


@pytest.fixture
def host(qtbot: QtBot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


@pytest.mark.parametrize(
    ("recipient", "problem"),
    [
        ("", None),
        ("soc@example.org", None),
        ("sécurité@exämple.org", None),
        ("soc(at)example.org", "must look like name@example.com"),
        (" soc@example.org", "must not start or end with spaces"),
        ("soc@example.org\r\nBcc: x@example.org", "must not contain"),
    ],
)
def test_the_recipient_follows_the_models_rule(recipient: str, problem: str | None) -> None:
    found = recipient_problem(recipient)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0004, "0 ms"), (0.0123, "12 ms"), (0.999, "999 ms"), (2.5, "2.50 s")]
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_target_names_the_login_but_never_the_password() -> None:
    settings = make_settings(587)
    assert describe_target(settings) == (f"127.0.0.1, port 587, STARTTLS, logging in as {USERNAME}")
    assert PASSWORD not in describe_target(settings)
    anonymous = make_settings(25, auth=model.Auth.NONE, username="", password="")
    assert describe_target(anonymous).endswith("without logging in")


def test_the_target_says_no_encryption_rather_than_none() -> None:
    plain = make_settings(
        2526, security=model.Security.NONE, auth=model.Auth.NONE, username="", password=""
    )
    assert describe_target(plain) == "127.0.0.1, port 2526, no encryption, without logging in"


OUTCOMES = ["pending", "running", "passed", "failed", "skipped", "cancelled", "warning"]


def _drawn(outcome: str, size: int) -> list[tuple[int, int, int, int]]:
    image = icons.outcome_icon(outcome).pixmap(size, size).toImage()
    assert not image.isNull()
    return [image.pixelColor(x, y).getRgb() for y in range(size) for x in range(size)]  # type: ignore[misc]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_outcome_has_a_drawn_icon(qtbot: QtBot, outcome: str) -> None:
    for size in (16, 32):
        pixels = _drawn(outcome, size)
        painted = sum(1 for pixel in pixels if pixel[3] > 0)
        assert painted > len(pixels) // 10


def test_the_outcome_icons_differ(qtbot: QtBot) -> None:
    drawn = {outcome: tuple(_drawn(outcome, 16)) for outcome in OUTCOMES}
    assert len(set(drawn.values())) == len(OUTCOMES)


def test_an_unknown_outcome_has_no_icon(qtbot: QtBot) -> None:
    with pytest.raises(ValueError, match="no icon"):
        icons.outcome_icon("exploded")


def test_the_report_of_a_failed_check_explains_it_without_the_password(
    smtp_server: StartServer, pki: Pki
) -> None:
    wrong = "not-the-Pässwörd"
    server = smtp_server(tls="starttls", users=USERS)
    settings = make_settings(server.port, ca_file=str(pki.ca_file), password=wrong)
    result = mail.run_check(settings, "soc@example.org")
    run = CheckRun(settings, "soc@example.org", "the stored settings", 1)

    report = report_text(run, result)

    assert "Result:    FAILED at Authentication: authentication rejected" in report
    assert "Tested:    the stored settings" in report
    assert "Test e-mail: soc@example.org" in report
    assert "Passed     TLS" in report
    assert "Not run    Message sent" in report
    assert "What to do" not in report or "Check User Name" in report
    assert "Check User Name" in report  # the fix, from the failure
    assert "TLS: TLSv1" in report
    assert_no_secret(wrong, USERNAME, report)


def test_the_report_of_a_passed_check(smtp_server: StartServer, pki: Pki) -> None:
    server = smtp_server(tls="starttls", users=USERS)
    settings = make_settings(server.port, ca_file=str(pki.ca_file))
    result = mail.run_check(settings)

    report = report_text(CheckRun(settings, "", "the values in the form (not saved)", 1), result)

    assert "Result:    PASSED" in report
    assert "Test e-mail: none sent (no recipient)" in report
    assert "What went wrong" not in report
    assert_no_secret(PASSWORD, USERNAME, report)


def test_prepare_lists_the_planned_steps_and_offers_the_remembered_recipient(
    qtbot: QtBot, host: QWidget
) -> None:
    dialog = CheckDialog(host)
    settings = make_settings(465, security=model.Security.SSL_TLS, test_recipient="a@example.org")

    dialog.prepare(settings, "the stored settings")

    assert list(dialog.step_outcomes()) == [step.value for step in mail.plan_steps(settings)]
    assert set(dialog.step_outcomes().values()) == {"pending"}
    assert dialog.recipient_input.text() == "a@example.org"
    assert dialog.target_label.text() == describe_target(settings)
    assert not dialog.copy_report_button.isEnabled()  # nothing to copy yet
    assert not dialog.cancel_button.isEnabled()

    dialog.show()
    dialog.recipient_input.setText("typed@example.org")
    dialog.prepare(settings, "the stored settings")  # Test pressed again while open
    assert dialog.recipient_input.text() == "typed@example.org"


def test_escape_closes_the_view_and_cancels_the_check(
    qtbot: QtBot, host: QWidget, silent_port: int
) -> None:
    dialog = CheckDialog(host)
    settings = make_settings(silent_port, security=model.Security.NONE, timeout=60.0)
    dialog.prepare(settings, "the stored settings")
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.begin(settings, "the stored settings", 1)
    assert dialog.running

    with qtbot.waitSignal(dialog.check_ended, timeout=2000) as ended:
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    assert not dialog.isVisible()
    assert ended.args[0].cancelled


def _leaf(pki_leaf: object) -> mail.CertificateInfo:
    pem = pki_leaf.cert_chain_pems[0].bytes().decode("ascii")  # type: ignore[attr-defined]
    return describe_certificate(ssl.PEM_cert_to_DER_cert(pem))


def test_the_certificate_dialog_shows_the_facts_and_close_is_the_default(
    qtbot: QtBot, host: QWidget, pki: Pki
) -> None:
    certificate = _leaf(pki.expired)
    dialog = CertificateDialog(
        host, certificate, server="127.0.0.1", problem="Certificate expired.", offer_trust=True
    )
    qtbot.addWidget(dialog)
    dialog.show()

    def shown(name: str) -> str:
        label = dialog.findChild(QLabel, name)
        assert label is not None
        return label.text()

    assert shown("certificateFingerprint").replace("\n", "") == certificate.fingerprint_colons
    assert shown("certificateNotAfter").endswith("(expired)")
    assert "Configurator Test CA" in shown("certificateIssuer")
    trust = dialog.findChild(QPushButton, "trustCertificateButton")
    close = dialog.findChild(QPushButton, "certificateCloseButton")
    assert trust is not None
    assert close is not None
    assert close.isDefault()
    assert not trust.isDefault()

    with qtbot.assertNotEmitted(dialog.trusted):
        qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Enter closes; it never trusts
    assert not dialog.isVisible()


def test_trust_hands_over_the_fingerprint(qtbot: QtBot, host: QWidget, pki: Pki) -> None:
    certificate = _leaf(pki.untrusted)
    dialog = CertificateDialog(host, certificate, server="127.0.0.1", offer_trust=True)
    qtbot.addWidget(dialog)
    dialog.show()
    trust = dialog.findChild(QPushButton, "trustCertificateButton")
    assert trust is not None

    with qtbot.waitSignal(dialog.trusted, timeout=1000) as trusted:
        qtbot.mouseClick(trust, Qt.MouseButton.LeftButton)

    assert trusted.args == [certificate.fingerprint]
    assert len(certificate.fingerprint) == 64
