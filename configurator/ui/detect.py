"""Detect Settings: try the usual port and security combinations, offer the one that works.

The probes run at once on a worker (``mail.detect``); each row shows its
outcome as it arrives.  The best encrypted combination is offered with one
button; the window applies it to the form (entering Edit first when
needed).  An unencrypted connection is never offered silently: only when
nothing encrypted works, with the warning shown, and applying it asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from configurator import model, syntax, textsafe
from configurator.mail import DetectResult, Probe, Problem, Verdict
from configurator.ui import dialogs, icons, sizing
from configurator.ui.banner import Banner, Kind
from configurator.ui.check_dialog import plain_tooltip
from configurator.ui.workers import Job, Report


@dataclass(frozen=True)
class DetectRequest:
    """What to probe: the server and, for a login test, the credentials."""

    server: str
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 15.0
    ca_file: str = ""
    tls_fingerprint: str = ""
    # The port in the form, tried first with its security (``mail.candidates_for``);
    # None when the field holds no valid port.
    port: int | None = None
    security: model.Security = model.Security.STARTTLS


# Valid in every other field, so that only the Timeout is judged.
_ANY_VALID = model.Settings(
    account_name="x", account_email="x@example.com", server="example.com", auth=model.Auth.NONE
)


def request_from_form(
    values: Mapping[str, object], *, stored_password: str = ""
) -> DetectRequest | model.FieldError:
    """The detection for the form's raw ``values``, or what is wrong with the server field.

    Only the server must be valid: detection is how a user finds the rest.
    ``stored_password`` stands in for an empty password field.
    """
    server = str(values.get("server", ""))
    problem = "is required" if not server else syntax.check_hostname(server)
    if problem is not None:
        return model.FieldError("server", problem)
    username = password = ""
    if values.get("auth") == model.Auth.LOGIN_PLAIN.value:
        username = str(values.get("username", ""))
        password = str(values.get("password", "")) or stored_password
    # The Timeout field as typed; one the model would refuse ("0", "") gives way to the default.
    try:
        timeout = model.build({"timeout": values.get("timeout", "")}, _ANY_VALID).timeout
    except model.ValidationError:
        timeout = model.Settings().timeout
    return DetectRequest(
        server,
        username,
        password,
        timeout,
        str(values.get("ca_file", "")),
        model.normalise_fingerprint(str(values.get("tls_fingerprint", ""))),
        *_form_port(values),
    )


def _form_port(values: Mapping[str, object]) -> tuple[int | None, model.Security]:
    """The form's port and security, if the port is one; detection also tries them."""
    try:
        security = model.Security(str(values.get("security", "")))
    except ValueError:
        security = model.Security.STARTTLS
    try:
        port = int(str(values.get("port", "")).strip())
    except ValueError:
        return None, security
    return (port, security) if 1 <= port <= 65535 else (None, security)


@dataclass(frozen=True)
class DetectChoice:
    """A combination the user chose to apply."""

    server: str
    port: int
    security: model.Security


COMBINATION, RESULT = range(2)


def _key(port: int, security: str) -> str:
    return f"{security}:{port}"


class DetectDialog(QDialog):
    """Progress and outcome of a detection, with the proposal to apply."""

    apply_requested = Signal(object)  # DetectChoice
    detect_ended = Signal(object)  # the DetectResult, or None when the detection crashed

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("detectDialog")
        self.setWindowTitle("Detect Settings")
        self.setModal(False)
        self.request: DetectRequest | None = None
        self.found: DetectResult | None = None
        self._choice: DetectChoice | None = None
        self._job: Job | None = None
        self._items: dict[str, QTreeWidgetItem] = {}

        self.heading = QLabel()
        self.heading.setObjectName("detectHeading")
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.explanation = QLabel()
        self.explanation.setObjectName("detectExplanation")
        self.explanation.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation.setWordWrap(True)
        self.probes = QTreeWidget()
        self.probes.setObjectName("detectProbes")
        self.probes.setAccessibleName("Combinations tried")
        self.probes.setHeaderLabels(["Combination", "Result"])
        self.probes.setRootIsDecorated(False)
        self.probes.setUniformRowHeights(True)
        self.probes.header().setSectionResizeMode(
            COMBINATION, QHeaderView.ResizeMode.ResizeToContents
        )
        self.progress = QProgressBar()
        self.progress.setObjectName("detectProgress")
        self.progress.setAccessibleName("Detecting")
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.verdict = Banner(name="detectVerdict")

        self.apply_button = QPushButton("&Use")
        self.apply_button.setObjectName("applyDetectedButton")
        self.apply_button.clicked.connect(self._apply_clicked)
        self.apply_button.hide()
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setObjectName("cancelDetectButton")
        self.cancel_button.setAccessibleName("Cancel detection")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Cl&ose")
        self.close_button.setObjectName("closeDetectButton")
        self.close_button.setAccessibleName("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.close_button)

        column = QVBoxLayout(self)
        column.setContentsMargins(16, 14, 16, 14)
        column.setSpacing(10)
        column.addWidget(self.heading)
        column.addWidget(self.explanation)
        column.addWidget(self.probes)
        column.addWidget(self.progress)
        column.addWidget(self.verdict)
        column.addStretch(1)
        column.addLayout(buttons)
        sizing.scroll_body(self)
        sizing.fit_size(self, 600, self.sizeHint().height())

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if sizing.refits(event):
            sizing.fit_height(self)
        return handled

    @property
    def running(self) -> bool:
        return self._job is not None and self._job.running

    def begin(self, request: DetectRequest) -> None:
        """Probe ``request.server`` with every candidate on a worker."""
        if self.running:
            return
        from configurator import mail

        self.request, self.found, self._choice = request, None, None
        candidates = tuple(mail.DEFAULT_CANDIDATES)
        if request.port is not None:
            candidates = mail.candidates_for(request.port, request.security, candidates)
        login = request.username and request.password
        self.heading.setText(f"Detecting settings for {request.server}")
        tried = ", ".join(candidate.label for candidate in candidates)
        self.explanation.setText(
            f"Trying {tried}, all at once"
            + (f", with a login as {request.username}." if login else ".")
            + " Credentials are only ever sent over an encrypted connection."
        )
        self.probes.clear()
        self._items.clear()
        for candidate in candidates:
            item = QTreeWidgetItem(self.probes, [candidate.label, "Trying\u2026"])
            item.setIcon(COMBINATION, icons.outcome_icon("running"))
            self._items[_key(candidate.port, candidate.security.value)] = item
        sizing.show_all_rows(self.probes)
        self.verdict.clear()
        self.apply_button.hide()
        self.progress.show()
        token = mail.CancelToken()

        def work(report: Report) -> object:  # on the worker thread
            from configurator import mail

            return mail.detect(
                request.server,
                request.username,
                request.password,
                request.timeout,
                request.ca_file,
                candidates=candidates,
                tls_fingerprint=request.tls_fingerprint,
                cancel=token,
                on_probe=report,
            )

        job = Job(work, cancel=token.cancel, secrets=[request.password], name="detect")
        job.progressed.connect(self._probed)
        job.succeeded.connect(self._finished)
        job.failed.connect(self._crashed)
        self._job = job
        job.start()
        self.cancel_button.setEnabled(True)
        self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def cancel(self) -> None:
        if self._job is not None and self._job.running:
            self._job.cancel()

    @Slot(object)
    def _probed(self, probe: Probe) -> None:
        candidate = probe.candidate
        item = self._items.get(_key(candidate.port, candidate.security.value))
        if item is None:
            return
        if probe.verdict is Verdict.WORKS:
            text = "Works, login accepted" if probe.auth_verified else "Works"
            if probe.tls is not None:
                text += f" ({probe.tls.protocol})"
            icon = "passed"
        elif probe.verdict is Verdict.UNENCRYPTED:
            text, icon = "Answers only without encryption", "warning"
        else:
            failure = probe.failure
            summary = failure.summary if failure is not None else "failed"
            text = textsafe.line(summary[:1].upper() + summary[1:])
            cancelled = failure is not None and failure.problem is Problem.CANCELLED
            icon = "cancelled" if cancelled else "failed"
            if failure is not None:
                item.setToolTip(RESULT, plain_tooltip(failure.cause))
        item.setText(RESULT, text)
        item.setIcon(COMBINATION, icons.outcome_icon(icon))

    @Slot(object)
    def _finished(self, result: DetectResult) -> None:
        self.found = result
        for probe in result.probes:
            self._probed(probe)
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        assert self.request is not None
        server = self.request.server
        if result.best is not None:
            candidate = result.best.candidate
            self._choice = DetectChoice(server, candidate.port, candidate.security)
            self.verdict.show_message(
                Kind.SUCCESS,
                f"Use {candidate.label}",
                result.summary() + " Apply it to the form, then Submit to save it.",
            )
            self.apply_button.setText(f"&Use {candidate.security.label} on Port {candidate.port}")
        elif result.unencrypted is not None:
            port = result.unencrypted.candidate.port
            self._choice = DetectChoice(server, port, model.Security.NONE)
            self.verdict.show_message(Kind.WARNING, "No encrypted connection works", result.warning)
            self.apply_button.setText(f"Use &Without Encryption on Port {port}\u2026")
        elif any(
            probe.failure is not None and probe.failure.problem is Problem.CANCELLED
            for probe in result.probes
        ):
            self.verdict.show_message(Kind.WARNING, "Detection cancelled", "")
        else:
            self.verdict.show_message(
                Kind.ERROR,
                "Nothing works",
                textsafe.sentence(result.summary()),
            )
        self.apply_button.setVisible(self._choice is not None)
        self.apply_button.setAccessibleName(self.apply_button.text().replace("&", ""))
        if self._choice is not None:
            self.apply_button.setDefault(True)
            self.apply_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.detect_ended.emit(result)

    @Slot(str)
    def _crashed(self, description: str) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.verdict.show_message(
            Kind.ERROR, "The detection stopped unexpectedly", f"{description}\nPlease report this."
        )
        self.detect_ended.emit(None)

    def _apply_clicked(self) -> None:
        choice = self._choice
        if choice is None:
            return
        if choice.security.encrypted:
            self.apply_requested.emit(choice)
            return
        assert self.found is not None
        box = dialogs.unencrypted_confirmation(
            self, f"port {choice.port} without encryption", self.found.warning
        )
        dialogs.ask(box, self._answer_unencrypted)

    def _answer_unencrypted(self, answer: dialogs.Button) -> None:
        if answer == dialogs.Button.Yes and self._choice is not None:
            self.apply_requested.emit(self._choice)

    def reject(self) -> None:
        self.cancel()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)
