"""The results view of the server check: each step live, then the verdict and what to do.

The window decides *what* is tested (the stored settings, or the form's
unsaved values) and where findings go (the store, or the form); this view
runs the check on a worker, shows every step as it starts and ends (outcome,
time taken, the server's reply), and then the verdict: on failure the step
in plain words with the likely cause and the fix.  It also takes the test
e-mail's recipient, copies the transcript and a report for a ticket, and
shows the server's certificate so that the user can decide to trust it.

The window imports this module, and with it ``configurator.mail``, only
when the check is first opened: opening the window must not pay for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from configurator import __version__, mail, model, textsafe
from configurator.mail import CheckResult, Outcome, Step
from configurator.ui import icons, sizing, style
from configurator.ui.banner import Banner, Kind
from configurator.ui.workers import Job, Report

OUTCOME_TEXT: dict[Outcome, str] = {
    Outcome.PENDING: "Waiting",
    Outcome.RUNNING: "Running\u2026",
    Outcome.PASSED: "Passed",
    Outcome.FAILED: "Failed",
    Outcome.SKIPPED: "Not run",
    Outcome.CANCELLED: "Cancelled",
}
#: Outcomes whose time taken is shown.
TIMED: frozenset[Outcome] = frozenset({Outcome.PASSED, Outcome.FAILED})

STEP, TIME, REPLY = range(3)
#: One name for the address of the test e-mail, here, in the form and on the command line.
RECIPIENT_LABEL = model.FIELDS_BY_KEY["test_recipient"].label


@dataclass(frozen=True)
class CheckRun:
    """One run of the check: what was tested, for whom, and where the window was then."""

    settings: model.Settings
    recipient: str
    source: str  # "the stored settings" or "the values in the form (not saved)"
    generation: int  # the window's mode generation when the run started


def describe_target(settings: model.Settings) -> str:
    """The server, port, security and login in one line (never the password)."""
    text = f"{settings.server}, port {settings.port}, {settings.security.phrase}"
    if settings.auth is model.Auth.LOGIN_PLAIN:
        return f"{text}, logging in as {settings.username}"
    return f"{text}, without logging in"


def without_certificate_facts(cause: str) -> str:
    """A certificate failure's cause without the subject/issuer/fingerprint it ends with.

    The certificate dialog lists those facts one per line; a 95-character
    fingerprint in running text only makes the explanation hard to read.
    """
    return cause.split(" Subject: ", 1)[0]


def shown_reply(step: Step) -> str:
    """What the reply column shows: the server's words, unless they do not explain the step.

    A failed step whose last reply was positive ("220 Ready to start TLS"
    before a certificate was refused) shows what went wrong instead.  One
    line, escaped: the server chose every character of it.
    """
    negative = step.reply[:1] in ("4", "5")
    if step.outcome is Outcome.FAILED and not negative and step.detail:
        return textsafe.sentence(step.detail)
    return textsafe.line(step.reply) if step.reply else textsafe.sentence(step.detail)


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as it is: Qt would render a tooltip that looks like HTML.

    Each line is made safe by ``textsafe`` first (the text quotes the server).
    """
    import html

    shown = [html.escape(textsafe.sentence(part)) for part in text.split("\n")]
    return "<qt>" + "<br>".join(shown) + "</qt>"


def recipient_problem(recipient: str) -> str | None:
    """What is wrong with a Test Recipient, by the model's own rule (None: fine or empty)."""
    return model.recipient_problem(recipient)


def format_duration(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def report_text(run: CheckRun, result: CheckResult) -> str:
    """A plain-text report for a ticket: target, verdict, steps, certificate; no secret."""
    failed = result.failed_step
    if result.passed:
        verdict = "PASSED"
    elif result.cancelled:
        verdict = "CANCELLED"
    else:
        assert result.failure is not None
        where = f" at {failed.title}" if failed is not None else ""
        verdict = f"FAILED{where}: {result.failure.summary}"
    started = result.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        "Mail server check (Mail Server Configurator " + __version__ + ")",
        f"Started:   {started}, took {format_duration(result.duration)}",
        f"Server:    {describe_target(run.settings)}",
        f"Tested:    {run.source}",
        f"Test e-mail: {result.recipient or 'none sent (no recipient)'}",
        f"Result:    {verdict}",
        "",
        "Steps:",
    ]
    for step in result.steps:
        outcome = OUTCOME_TEXT[step.outcome]
        took = format_duration(step.duration) if step.outcome in TIMED else ""
        detail = textsafe.sentence(step.detail)
        lines.append(f"  {outcome:<10} {step.title:<24} {took:>8}  {detail}".rstrip())
        if step.reply:
            lines.append(f"             server: {textsafe.lines(step.reply)}")
    if result.failure is not None and not result.cancelled:
        lines += [
            "",
            "What went wrong:",
            textsafe.lines(result.failure.describe(), limit=textsafe.TEXT_LIMIT),
        ]
    if result.notes:
        lines += ["", "Notes:", *(f"  {textsafe.line(note)}" for note in result.notes)]
    if result.tls is not None:
        lines += ["", f"TLS: {textsafe.sentence(result.tls.summary())}"]
    elif result.certificate is not None:
        lines += [
            "",
            f"Certificate: {textsafe.sentence(result.certificate.summary())}",
        ]
    return "\n".join(lines) + "\n"


class CheckDialog(QDialog):
    """The server check's results view (modeless: the window stays usable)."""

    start_requested = Signal()  # Start / Check Again: the window supplies the settings
    passed_with_recipient = Signal(object)  # CheckRun whose test e-mail was accepted
    trust_requested = Signal(object, str)  # CheckRun, SHA-256 fingerprint to pin
    step_shown = Signal(str, str)  # step id, outcome: each change as it is shown live
    check_ended = Signal(object)  # the CheckResult, or None when the check crashed

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("checkDialog")
        self.setWindowTitle("Server Check")
        self.setModal(False)
        self.run: CheckRun | None = None
        self.outcome: CheckResult | None = None  # the last finished check
        self._job: Job | None = None
        self._items: dict[str, QTreeWidgetItem] = {}
        self._build()
        sizing.scroll_body(self)
        sizing.fit_size(self, 720, self.sizeHint().height())

    # -- building --------------------------------------------------------

    def _build(self) -> None:
        self.target_label = QLabel()
        self.target_label.setObjectName("checkTarget")
        self.target_label.setTextFormat(Qt.TextFormat.PlainText)
        self.target_label.setWordWrap(True)
        font = self.target_label.font()
        font.setBold(True)
        self.target_label.setFont(font)
        self.source_label = QLabel()
        self.source_label.setObjectName("checkSource")
        self.source_label.setTextFormat(Qt.TextFormat.PlainText)
        self.source_label.setWordWrap(True)

        self.recipient_input = QLineEdit()
        self.recipient_input.setObjectName("testRecipientInput")
        self.recipient_input.setAccessibleName(RECIPIENT_LABEL)
        self.recipient_input.setPlaceholderText("Optional: where the test e-mail goes")
        self.recipient_input.setToolTip(
            "With an address, the check ends by sending a test e-mail there; a passed "
            "check remembers the address as yours for next time (not in the settings)."
        )
        self.recipient_input.textEdited.connect(self._recipient_edited)
        recipient_label = QLabel("T&est Recipient:")
        recipient_label.setBuddy(self.recipient_input)
        self.recipient_error = QLabel()
        self.recipient_error.setObjectName("testRecipientError")
        self.recipient_error.setTextFormat(Qt.TextFormat.PlainText)
        self.recipient_error.setStyleSheet(f"color: {style.ERROR_COLOR};")
        self.recipient_error.hide()
        recipient_row = QHBoxLayout()
        recipient_row.addWidget(recipient_label)
        recipient_row.addWidget(self.recipient_input, 1)

        self.steps = QTreeWidget()
        self.steps.setObjectName("checkSteps")
        self.steps.setAccessibleName("Check steps")
        self.steps.setColumnCount(3)
        self.steps.setHeaderLabels(["Step", "Time", "Server reply"])
        self.steps.setRootIsDecorated(False)
        self.steps.setUniformRowHeights(True)
        self.steps.setAllColumnsShowFocus(True)
        header = self.steps.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(STEP, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(TIME, QHeaderView.ResizeMode.ResizeToContents)

        self.verdict = Banner(name="checkVerdict")

        self.notice = QLabel()
        self.notice.setObjectName("checkNotice")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.notice.hide()

        self.transcript_toggle = QToolButton()
        self.transcript_toggle.setObjectName("transcriptToggle")
        self.transcript_toggle.setText("Conversation with the server")
        self.transcript_toggle.setAccessibleName("Show the conversation with the server")
        self.transcript_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.transcript_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.transcript_toggle.setAutoRaise(True)
        self.transcript_toggle.setCheckable(True)
        self.transcript_toggle.toggled.connect(self._show_transcript)
        self.transcript = QPlainTextEdit()
        self.transcript.setObjectName("checkTranscript")
        self.transcript.setAccessibleName("Conversation with the server")
        self.transcript.setReadOnly(True)
        self.transcript.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.transcript.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.transcript.setPlaceholderText("The conversation appears when the check ends.")
        self.transcript.hide()

        self.copy_transcript_button = self._button(
            "Copy &Transcript",
            "copyTranscriptButton",
            "Copy the conversation with the server; passwords are shown as [hidden].",
        )
        self.copy_transcript_button.clicked.connect(self.copy_transcript)
        self.copy_report_button = self._button(
            "Copy &Report",
            "copyReportButton",
            "Copy a summary of the check for a ticket; it holds no password.",
        )
        self.copy_report_button.clicked.connect(self.copy_report)
        self.certificate_button = self._button(
            "&Inspect Certificate\u2026",
            "inspectCertificateButton",
            "Show the server's certificate: subject, issuer, validity and fingerprint.",
        )
        self.certificate_button.clicked.connect(self.inspect_certificate)
        self.cancel_button = self._button("&Cancel", "cancelCheckButton", "Stop the check now.")
        self.cancel_button.clicked.connect(self.cancel)
        self.start_button = self._button(
            "&Start Check",
            "startCheckButton",
            "Run the check (and send the test e-mail, if a recipient is given).",
        )
        self.start_button.clicked.connect(self._start_clicked)
        self.start_button.setDefault(True)
        self.close_button = self._button(
            "Cl&ose", "closeCheckButton", "Close this view; a running check is cancelled."
        )
        self.close_button.clicked.connect(self.close)

        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.copy_transcript_button)
        buttons.addWidget(self.copy_report_button)
        buttons.addWidget(self.certificate_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.close_button)

        column = QVBoxLayout(self)
        column.setContentsMargins(16, 14, 16, 14)
        column.setSpacing(10)
        column.addWidget(self.target_label)
        column.addWidget(self.source_label)
        column.addLayout(recipient_row)
        column.addWidget(self.recipient_error)
        column.addWidget(self.steps)
        column.addWidget(self.verdict)
        column.addWidget(self.notice)
        column.addWidget(self.transcript_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.transcript, 1)
        column.addStretch(0)
        column.addLayout(buttons)
        self._set_running(False)

    def _button(self, text: str, name: str, tooltip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("\u2026"))
        button.setToolTip(tooltip)
        button.setAutoDefault(False)
        return button

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if sizing.refits(event):
            sizing.fit_height(self)
        return handled

    # -- state -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._job is not None and self._job.running

    @property
    def cancel_requested(self) -> bool:
        """True once Cancel (or closing, or Reset) asked the running check to stop."""
        return self.running and self._job is not None and self._job.cancel_requested

    def _set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.start_button.setEnabled(not running)
        self.recipient_input.setReadOnly(running)
        has_result = self.outcome is not None and not running
        self.copy_transcript_button.setEnabled(has_result)
        self.copy_report_button.setEnabled(has_result)
        self.certificate_button.setEnabled(
            has_result and self.outcome is not None and self.outcome.certificate is not None
        )

    def recipient(self) -> str:
        return self.recipient_input.text().strip()

    def prepare(self, settings: model.Settings, source: str) -> None:
        """Show what a check would test; the recipient starts as the one this user remembered.

        Else the stored Test Recipient, the one the settings offer everyone.
        """
        if self.running:
            return
        if not self.isVisible():
            from configurator import preferences

            remembered = preferences.remembered_recipient() or settings.test_recipient
            self.recipient_input.setText(remembered)
            self.recipient_error.hide()
            self.outcome = None
            self.run = None
            self.verdict.clear()
            self.notice.hide()
            self.transcript.clear()
            self._show_plan(settings)
            self.start_button.setText("&Start Check")
            self._set_running(False)
        self._show_target(settings, source)
        self.start_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_target(self, settings: model.Settings, source: str) -> None:
        self.target_label.setText(describe_target(settings))
        self.source_label.setText(f"Testing {source}.")

    def _show_plan(self, settings: model.Settings) -> None:
        self.steps.clear()
        self._items.clear()
        for step_id in mail.plan_steps(settings):
            self._item(step_id.value, step_id.label)
        for item in self._items.values():
            self._paint(item, Outcome.PENDING, "", "")
        sizing.show_all_rows(self.steps)

    def _item(self, step_id: str, title: str) -> QTreeWidgetItem:
        item = self._items.get(step_id)
        if item is None:
            item = QTreeWidgetItem(self.steps, [title, "", ""])
            item.setTextAlignment(TIME, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._items[step_id] = item
            sizing.show_all_rows(self.steps)
        return item

    def _paint(self, item: QTreeWidgetItem, outcome: Outcome, time: str, reply: str) -> None:
        item.setIcon(STEP, icons.outcome_icon(outcome.value))
        item.setText(TIME, time)
        item.setText(REPLY, reply)
        item.setData(STEP, Qt.ItemDataRole.UserRole, outcome.value)
        item.setData(STEP, Qt.ItemDataRole.AccessibleDescriptionRole, OUTCOME_TEXT[outcome])

    def step_outcomes(self) -> dict[str, Outcome]:
        """Step id -> outcome as shown (for tests and accessibility checks)."""
        return {
            step_id: Outcome(str(item.data(STEP, Qt.ItemDataRole.UserRole)))
            for step_id, item in self._items.items()
        }

    # -- running -----------------------------------------------------------

    def _start_clicked(self) -> None:
        problem = recipient_problem(self.recipient())
        if problem is not None:
            self.recipient_error.setText(problem)
            self.recipient_error.show()
            self.recipient_input.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self.recipient_error.hide()
        self.start_requested.emit()

    def _recipient_edited(self) -> None:
        self.recipient_error.hide()

    def refuse_start(self, why: str) -> None:
        """The window could not supply settings to test (the form has errors)."""
        self.verdict.show_message(Kind.WARNING, "Not started", why)

    def begin(self, settings: model.Settings, source: str, generation: int) -> None:
        """Run the check of ``settings`` on a worker; steps appear as they happen."""
        if self.running:
            return
        run = CheckRun(settings, self.recipient(), source, generation)
        self.run = run
        self.outcome = None
        self._show_target(settings, source)
        self._show_plan(settings)
        self.notice.hide()
        self.transcript.clear()
        self.verdict.show_message(
            Kind.INFO,
            f"Checking {settings.server}\u2026",
            "Each step appears above as it happens. Cancel stops the check at once.",
        )
        token = mail.CancelToken()
        recipient = run.recipient or None

        def work(report: Report) -> object:  # on the worker thread
            return mail.run_check(settings, recipient, on_step=report, cancel=token)

        job = Job(work, cancel=token.cancel, secrets=[settings.password], name="serverCheck")
        job.progressed.connect(self._step_live)
        job.succeeded.connect(self._finished)
        job.failed.connect(self._crashed)
        self._job = job
        job.start()
        self._set_running(True)
        self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def cancel(self) -> None:
        """Stop a running check; the view says "cancelled" as soon as the worker notices."""
        if self._job is not None and self._job.running:
            self._job.cancel()
            self.verdict.show_message(Kind.WARNING, "Cancelling\u2026", "")

    @Slot(object)
    def _step_live(self, step: Step) -> None:
        self._step_changed(step)
        self.step_shown.emit(step.id.value, step.outcome.value)

    def _step_changed(self, step: Step) -> None:
        item = self._item(step.id.value, step.title)
        outcome = step.outcome
        if outcome is Outcome.RUNNING:
            self._paint(item, outcome, "\u2026", "")
            item.setToolTip(REPLY, "")
            self.steps.scrollToItem(item)
            return
        took = format_duration(step.duration) if outcome in TIMED else ""
        self._paint(item, outcome, took, shown_reply(step))
        tip = "\n".join(text for text in (OUTCOME_TEXT[outcome], step.detail, step.reply) if text)
        for column in (STEP, TIME, REPLY):
            item.setToolTip(column, plain_tooltip(tip))

    @Slot(object)
    def _finished(self, result: CheckResult) -> None:
        self.outcome = result
        for step in result.steps:
            self._step_changed(step)
        self.transcript.setPlainText(result.transcript_text())
        self._show_verdict(result)
        self.start_button.setText("&Check Again")
        self._set_running(False)
        self.start_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.check_ended.emit(result)
        if result.passed and result.recipient and self.run is not None:
            self.passed_with_recipient.emit(self.run)

    @Slot(str)
    def _crashed(self, description: str) -> None:
        self.verdict.show_message(
            Kind.ERROR,
            "The check stopped unexpectedly",
            f"{description}\nPlease report this problem.",
        )
        self.start_button.setText("&Check Again")
        self._set_running(False)
        self.check_ended.emit(None)

    def _show_verdict(self, result: CheckResult) -> None:
        assert self.run is not None
        server = self.run.settings.server
        if result.passed:
            if result.recipient:
                mailed = (
                    f"The test e-mail to {result.recipient} was accepted for delivery: "
                    "check that it arrives."
                )
            else:
                mailed = (
                    "No test e-mail was sent. Enter a Test Recipient above and check again "
                    "to send one."
                )
            settings = self.run.settings
            accepted = ["the connection"]
            if settings.auth is model.Auth.LOGIN_PLAIN:
                accepted.append("the login")
            if settings.account_email:
                accepted.append("the sender")
            listed = (
                ", ".join(accepted[:-1]) + " and " + accepted[-1]
                if len(accepted) > 1
                else accepted[0]
            )
            text = f"{server} accepted {listed}. {mailed}"
            if result.notes:
                text += "\n" + "\n".join(f"Note: {note}" for note in result.notes)
            self.verdict.show_message(Kind.SUCCESS, "The check passed", text)
            return
        failure = result.failure
        assert failure is not None
        failed = result.failed_step
        if result.cancelled:
            where = f" during \u201c{failed.title}\u201d" if failed is not None else ""
            self.verdict.show_message(
                Kind.WARNING,
                "Check cancelled",
                f"The check was cancelled{where}; nothing more was sent to the server.",
            )
            return
        where = f"Failed at \u201c{failed.title}\u201d" if failed is not None else "Failed"
        certificate_problem = failure.problem.is_certificate and result.certificate is not None
        cause = without_certificate_facts(failure.cause) if certificate_problem else failure.cause
        # Cause, fix and reply quote the server and its certificate: each line shown escaped.
        text = f"{textsafe.sentence(cause)}\n\nWhat to do: {textsafe.line(failure.fix)}"
        if failure.reply:
            text += f"\n\nThe server replied: {textsafe.lines(failure.reply)}"
        if certificate_problem:
            text += (
                "\n\nInspect Certificate shows the certificate and its fingerprint; "
                "that is where you can trust (pin) it."
            )
        self.verdict.show_message(Kind.ERROR, f"{where}: {textsafe.line(failure.summary)}", text)

    # -- the window's answers ------------------------------------------------

    def show_notice(self, text: str) -> None:
        """A line from the window about what it did with a finding (saved, put in the form)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- copying and the certificate -------------------------------------------

    def copy_transcript(self) -> None:
        if self.outcome is not None:
            QGuiApplication.clipboard().setText(self.outcome.transcript_text() + "\n")
            self.show_notice("The conversation was copied to the clipboard (passwords hidden).")

    def copy_report(self) -> None:
        if self.outcome is not None and self.run is not None:
            QGuiApplication.clipboard().setText(report_text(self.run, self.outcome))
            self.show_notice("The report was copied to the clipboard.")

    def inspect_certificate(self) -> None:
        result, run = self.outcome, self.run
        if result is None or run is None or result.certificate is None:
            return
        from configurator.ui.certificate_dialog import CertificateDialog

        failure = result.failure
        problem = ""
        if failure is not None and failure.problem.is_certificate:
            cause = without_certificate_facts(failure.cause)
            problem = textsafe.sentence(
                f"{failure.summary[:1].upper()}{failure.summary[1:]}. {cause}"
            )
        dialog = CertificateDialog(
            self,
            result.certificate,
            server=run.settings.server,
            problem=problem,
            offer_trust=bool(problem),
        )
        dialog.trusted.connect(self._trust)
        dialog.open()

    @Slot(str)
    def _trust(self, fingerprint: str) -> None:
        if self.run is not None:
            self.trust_requested.emit(self.run, fingerprint)

    # -- closing -----------------------------------------------------------

    def reject(self) -> None:
        """Escape and Close: a running check is cancelled, not left running unseen."""
        self.cancel()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)

    def _show_transcript(self, shown: bool) -> None:
        self.transcript.setVisible(shown)
        self.transcript_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
