"""The settings form: one row per ``model.FIELDS`` entry, bound to the model and nothing else.

The form only binds: ``load(settings)`` fills the widgets, ``values()`` hands
the raw input back for ``model.build()``, ``set_errors()`` shows the model's
messages beside the fields.  Rules live in the model; the few reactions here
(port follows security, user name and password follow authentication, the
clear-text warning) only help the user type valid input faster.

The stored password never enters a widget: Read-only mode shows a fixed mask,
Edit mode an empty field whose emptiness means "keep the stored password".

The server check fills two fields itself (``set_value``): the test
recipient it sent to and the certificate the user chose to trust.  Both stay
editable, so that a pinned fingerprint confirmed by the mail administrator
can be pasted, and a pin cleared once the certificate is signed properly.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from configurator import model

#: What Read-only mode shows for a stored password: the same for every password.
PASSWORD_MASK = "\u2022" * 10
KEEP_STORED_HINT = "Leave empty to keep the stored password"
CLEAR_TEXT_WARNING = (
    "Login/Plain without encryption: the password would cross the network unencrypted. "
    "Choose STARTTLS or SSL/TLS unless the server is on a trusted network."
)
ERROR_COLOR = "#b3261e"

PLACEHOLDERS: dict[str, str] = {
    "account_name": "Security Monitoring",
    "account_email": "alerts@example.com",
    "server": "smtp.example.com",
    "username": "alerts@example.com",
    "ca_file": "Optional: the system's certificate authorities are always trusted",
    "tls_fingerprint": "Set by \u201cTrust This Certificate\u201d in the server check",
    "test_recipient": "Optional: where the server check sends its test e-mail",
}


class SettingsForm(QWidget):
    """The fields of ``model.FIELDS`` in a form layout, main fields first, then Advanced."""

    edited = Signal()  # the user changed a value

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsForm")
        self._editable = True
        self._loading = False
        self._password_masked = False
        self._keeps_password = False
        self._editors: dict[str, QWidget] = {}
        self._labels: dict[str, QLabel] = {}
        self._error_labels: dict[str, QLabel] = {}
        self._fields: dict[str, QWidget] = {}  # the field column of each row
        # A grid rather than a QFormLayout: QFormLayout underestimates the
        # height of rows whose messages wrap, and clips them.
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setHorizontalSpacing(12)
        self._layout.setVerticalSpacing(8)
        self._layout.setColumnStretch(1, 1)
        self._rows = 0

        self.browse_button = QPushButton("Br&owse…")
        self.browse_button.setObjectName("caFileBrowse")
        self.browse_button.setAccessibleName("Browse for a trusted CA file")
        self.browse_button.setToolTip("Choose a PEM file of certificate authorities to trust.")
        self.browse_button.clicked.connect(self._browse_ca_file)
        # The window runs the detection: it knows the stored password and the workers.
        self.detect_button = QPushButton("Detect Settin&gs\u2026")
        self.detect_button.setObjectName("detectButton")
        self.detect_button.setAccessibleName("Detect settings")
        self.detect_button.setToolTip(
            "Try the usual ports and security modes with this server and offer the one that works."
        )
        self.warning = self._make_warning()

        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setObjectName("advancedToggle")
        self.advanced_toggle.setText("A&dvanced")
        self.advanced_toggle.setAccessibleName("Advanced settings")
        self.advanced_toggle.setToolTip("Show or hide the advanced settings.")
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.clicked.connect(self._toggle_advanced)
        self._advanced_shown = False

        for spec in model.FIELDS:
            if spec.advanced:
                continue
            self._add_row(spec)
        self._layout.addWidget(
            self.advanced_toggle, self._rows, 0, 1, 2, Qt.AlignmentFlag.AlignLeft
        )
        self._rows += 1
        for spec in model.FIELDS:
            if spec.advanced:
                self._add_row(spec)
        self.show_advanced(False)
        self._security.currentIndexChanged.connect(self._security_changed)
        self._auth.currentIndexChanged.connect(self._auth_changed)
        self.load(model.Settings())

    # -- building --------------------------------------------------------

    def _add_row(self, spec: model.FieldSpec) -> None:
        editor = self._make_editor(spec)
        editor.setObjectName(spec.object_name)
        editor.setAccessibleName(spec.label)
        editor.setAccessibleDescription(spec.help)
        editor.setToolTip(spec.help)
        editor.setWhatsThis(spec.help)
        self._editors[spec.key] = editor

        label = QLabel(spec.mnemonic)
        label.setObjectName(f"{spec.object_name}Label")
        label.setBuddy(editor)
        label.setToolTip(spec.help)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._labels[spec.key] = label

        error = QLabel()
        error.setObjectName(f"{spec.object_name}Error")
        error.setWordWrap(True)
        error.setTextFormat(Qt.TextFormat.PlainText)
        error.setStyleSheet(f"color: {ERROR_COLOR};")
        error.hide()
        self._error_labels[spec.key] = error

        field = QWidget()
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(3)
        beside = {"ca_file": self.browse_button, "server": self.detect_button}.get(spec.key)
        if beside is not None:
            line = QHBoxLayout()
            line.setSpacing(6)
            line.addWidget(editor, 1)
            line.addWidget(beside)
            column.addLayout(line)
        elif isinstance(editor, QLineEdit):
            column.addWidget(editor)
        else:
            line = QHBoxLayout()
            line.addWidget(editor)
            line.addStretch(1)
            column.addLayout(line)
        column.addWidget(error)
        if spec.key == "auth":
            column.addWidget(self.warning)
        # Keep each label level with its editor even when a message grows the row.
        label.setMinimumHeight(editor.sizeHint().height())
        self._fields[spec.key] = field
        top_right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop
        self._layout.addWidget(label, self._rows, 0, top_right)
        self._layout.addWidget(field, self._rows, 1)
        self._rows += 1

    def _make_editor(self, spec: model.FieldSpec) -> QWidget:
        if spec.key == "port":
            spin = QSpinBox()
            spin.setRange(1, 65535)
            spin.setMinimumWidth(110)
            spin.valueChanged.connect(partial(self._user_edited, spec.key))
            return spin
        if spec.key == "timeout":
            seconds = QDoubleSpinBox()
            seconds.setRange(model.MIN_TIMEOUT, model.MAX_TIMEOUT)
            seconds.setDecimals(1)
            seconds.setSingleStep(5.0)
            seconds.setSuffix(" s")
            seconds.setMinimumWidth(110)
            seconds.valueChanged.connect(partial(self._user_edited, spec.key))
            return seconds
        if spec.choices:
            combo = QComboBox()
            for choice in spec.choices:
                combo.addItem(choice.label, choice.value)
            combo.setMinimumWidth(160)
            combo.currentIndexChanged.connect(partial(self._user_edited, spec.key))
            return combo
        line = QLineEdit()
        line.setPlaceholderText(PLACEHOLDERS.get(spec.key, ""))
        if spec.secret:
            line.setEchoMode(QLineEdit.EchoMode.Password)
        line.textEdited.connect(partial(self._user_edited, spec.key))
        return line

    def _make_warning(self) -> QWidget:
        box = QWidget()
        box.setObjectName("clearTextWarning")
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 2, 0, 0)
        row.setSpacing(6)
        icon = QLabel()
        icon.setObjectName("clearTextWarningIcon")
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        warning_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon.setPixmap(warning_icon.pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        text = QLabel(CLEAR_TEXT_WARNING)
        text.setObjectName("clearTextWarningText")
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.PlainText)
        text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(text, 1)
        box.setAccessibleName("Warning")
        box.setAccessibleDescription(CLEAR_TEXT_WARNING)
        box.hide()
        return box

    # -- access for the window and the tests ------------------------------

    def editor(self, key: str) -> QWidget:
        """The input widget of field ``key``."""
        return self._editors[key]

    def label(self, key: str) -> QLabel:
        return self._labels[key]

    def error_label(self, key: str) -> QLabel:
        return self._error_labels[key]

    def focus_order(self) -> list[QWidget]:
        """The focusable widgets in the order Tab should visit them."""
        order: list[QWidget] = []
        for spec in model.FIELDS:
            if spec.advanced and self.advanced_toggle not in order:
                order.append(self.advanced_toggle)
            order.append(self._editors[spec.key])
            if spec.key == "server":
                order.append(self.detect_button)
            if spec.key == "ca_file":
                order.append(self.browse_button)
        return order

    @property
    def _security(self) -> QComboBox:
        combo = self._editors["security"]
        assert isinstance(combo, QComboBox)
        return combo

    @property
    def _auth(self) -> QComboBox:
        combo = self._editors["auth"]
        assert isinstance(combo, QComboBox)
        return combo

    @property
    def _port(self) -> QSpinBox:
        spin = self._editors["port"]
        assert isinstance(spin, QSpinBox)
        return spin

    @property
    def _timeout(self) -> QDoubleSpinBox:
        spin = self._editors["timeout"]
        assert isinstance(spin, QDoubleSpinBox)
        return spin

    def _line(self, key: str) -> QLineEdit:
        line = self._editors[key]
        assert isinstance(line, QLineEdit)
        return line

    # -- binding ---------------------------------------------------------

    def load(self, settings: model.Settings) -> None:
        """Show ``settings``; a stored password appears only as ``PASSWORD_MASK``."""
        self._loading = True
        try:
            for spec in model.FIELDS:
                value = getattr(settings, spec.key)
                editor = self._editors[spec.key]
                if spec.secret:
                    continue
                if isinstance(editor, QComboBox):
                    editor.setCurrentIndex(editor.findData(str(value)))
                elif isinstance(editor, QSpinBox):
                    editor.setValue(int(value))
                elif isinstance(editor, QDoubleSpinBox):
                    editor.setValue(float(value))
                elif isinstance(editor, QLineEdit):
                    editor.setText(str(value))
            self._password_masked = settings.password_set
            self._keeps_password = False
            password = self._line("password")
            password.setText(PASSWORD_MASK if settings.password_set else "")
            password.setPlaceholderText("")
        finally:
            self._loading = False
        self.clear_errors()
        self._refresh()

    def blank(self) -> None:
        """Show no values at all (when nothing could be read, defaults would mislead)."""
        self._loading = True
        try:
            for editor in self._editors.values():
                if isinstance(editor, QComboBox):
                    editor.setCurrentIndex(-1)
                elif isinstance(editor, QSpinBox | QDoubleSpinBox | QLineEdit):
                    editor.clear()
            self._password_masked = False
        finally:
            self._loading = False
        self.clear_errors()
        self._refresh()

    def start_password_entry(self, *, keeps_stored: bool) -> None:
        """Empty the password field for typing; empty then keeps a stored password."""
        password = self._line("password")
        password.clear()
        self._password_masked = False
        self._keeps_password = keeps_stored
        password.setPlaceholderText(KEEP_STORED_HINT if keeps_stored else "")

    def values(self) -> dict[str, object]:
        """The raw input for ``model.build()``: field key -> value.

        An empty password means "keep the stored one"; the Read-only mask is
        never returned as a password.
        """
        changes: dict[str, object] = {}
        for spec in model.FIELDS:
            editor = self._editors[spec.key]
            if spec.secret:
                changes[spec.key] = "" if self._password_masked else self._line(spec.key).text()
            elif isinstance(editor, QComboBox):
                changes[spec.key] = editor.currentData()
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                changes[spec.key] = editor.value()
            elif isinstance(editor, QLineEdit):
                changes[spec.key] = editor.text()
        return changes

    def restore(self, values: dict[str, object]) -> None:
        """Put back input taken with ``values()`` (the password as typed, never a mask).

        Used when the window changes mode under the user's edits (after a
        conflict) and must give them back unchanged.
        """
        self._loading = True
        try:
            for key, value in values.items():
                editor = self._editors[key]
                if isinstance(editor, QComboBox):
                    editor.setCurrentIndex(editor.findData(value))
                elif isinstance(editor, QSpinBox) and isinstance(value, int):
                    editor.setValue(value)
                elif isinstance(editor, QDoubleSpinBox) and isinstance(value, int | float):
                    editor.setValue(float(value))
                elif isinstance(editor, QLineEdit) and isinstance(value, str):
                    editor.setText(value)
            self._password_masked = False
        finally:
            self._loading = False
        self._refresh()

    def set_value(self, key: str, text: str) -> None:
        """Fill text field ``key`` on the user's behalf (from the server check), as an edit."""
        if model.FIELDS_BY_KEY[key].secret:
            raise ValueError("the password is only ever typed by the user")
        line = self._line(key)
        if line.text() == text:
            return
        line.setText(text)
        if model.FIELDS_BY_KEY[key].advanced:
            self.show_advanced(True)
        self._user_edited(key)

    def apply_connection(self, port: int, security: model.Security) -> None:
        """Set port and security together (a detected combination), as an edit."""
        self._security.setCurrentIndex(self._security.findData(security.value))
        # After the security: choosing it may have moved the port to its default.
        self._port.setValue(port)
        self.clear_error("port")
        self.clear_error("security")

    # -- errors ----------------------------------------------------------

    def set_errors(self, error: model.ValidationError) -> QWidget | None:
        """Show each message beside its field and focus the first bad field (returned)."""
        self.clear_errors()
        first: QWidget | None = None
        for key, message in error.by_key().items():
            if key not in self._editors:
                continue
            spec = model.FIELDS_BY_KEY[key]
            text = str(model.FieldError(key, message))
            label = self._error_labels[key]
            label.setText(text)
            label.show()
            editor = self._editors[key]
            editor.setAccessibleDescription(text)
            editor.setToolTip(text)
            if spec.advanced:
                self.show_advanced(True)
            if first is None:
                first = editor
        if first is not None:
            first.setFocus(Qt.FocusReason.OtherFocusReason)
        return first

    def error_text(self, key: str) -> str:
        """The message shown beside field ``key``, or "" when it has none."""
        label = self._error_labels[key]
        return label.text() if not label.isHidden() else ""

    def clear_error(self, key: str) -> None:
        spec = model.FIELDS_BY_KEY[key]
        label = self._error_labels[key]
        label.clear()
        label.hide()
        editor = self._editors[key]
        editor.setAccessibleDescription(spec.help)
        editor.setToolTip(spec.help)

    def clear_errors(self) -> None:
        for key in self._error_labels:
            self.clear_error(key)

    # -- editable or not ---------------------------------------------------

    def set_editable(self, editable: bool) -> None:
        """Accept input (Write, Edit) or only show values (Read-only)."""
        self._editable = editable
        for key, editor in self._editors.items():
            if isinstance(editor, QLineEdit):
                read_only = not editable
                editor.setReadOnly(read_only)
                editor.setPlaceholderText(self._placeholder(key) if editable else "")
                self._tint(editor, read_only)
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                editor.setReadOnly(not editable)
                editor.setButtonSymbols(
                    QAbstractSpinBox.ButtonSymbols.UpDownArrows
                    if editable
                    else QAbstractSpinBox.ButtonSymbols.NoButtons
                )
                self._tint(editor, not editable)
            elif isinstance(editor, QComboBox):
                editor.setEnabled(editable)
                self._legible_when_disabled(editor, not editable)
        self.browse_button.setVisible(editable)
        self._refresh()

    def _placeholder(self, key: str) -> str:
        if model.FIELDS_BY_KEY[key].secret:
            return KEEP_STORED_HINT if self._keeps_password else ""
        return PLACEHOLDERS.get(key, "")

    def is_editable(self) -> bool:
        return self._editable

    @staticmethod
    def _tint(widget: QWidget, read_only: bool) -> None:
        """Give read-only fields the window's background, so they do not invite typing."""
        if not read_only:
            widget.setPalette(QPalette())  # back to the inherited palette
            return
        palette = widget.palette()
        palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
        widget.setPalette(palette)

    @staticmethod
    def _legible_when_disabled(widget: QWidget, legible: bool) -> None:
        """Draw a disabled choice's text like enabled text: it shows a value, not an option."""
        if not legible:
            widget.setPalette(QPalette())
            return
        palette = widget.palette()
        for role in (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Text):
            palette.setColor(
                QPalette.ColorGroup.Disabled, role, palette.color(QPalette.ColorGroup.Active, role)
            )
        widget.setPalette(palette)

    # -- advanced ----------------------------------------------------------

    def show_advanced(self, shown: bool) -> None:
        """Unfold or fold the Advanced rows."""
        self._advanced_shown = shown
        self.advanced_toggle.setAccessibleDescription("expanded" if shown else "collapsed")
        self.advanced_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        for spec in model.FIELDS:
            if spec.advanced:
                self._labels[spec.key].setVisible(shown)
                self._fields[spec.key].setVisible(shown)

    def advanced_shown(self) -> bool:
        return self._advanced_shown

    def _toggle_advanced(self) -> None:
        self.show_advanced(not self._advanced_shown)

    # -- reactions ---------------------------------------------------------

    def _user_edited(self, key: str, *_: object) -> None:
        if self._loading:
            return
        self.clear_error(key)
        self.edited.emit()

    def _security_changed(self) -> None:
        if self._loading:
            return
        security = model.Security(self._security.currentData())
        # A port that is one of the defaults was chosen for the old mode, not typed
        # on purpose: follow the new mode.  A custom port stays.
        if self._port.value() in model.DEFAULT_PORTS.values():
            self._port.setValue(security.default_port)
        self._refresh()

    def _auth_changed(self) -> None:
        if self._loading:
            return
        self._refresh()

    def _refresh(self) -> None:
        auth_value, security_value = self._auth.currentData(), self._security.currentData()
        if auth_value is None or security_value is None:  # blank
            self.warning.hide()
            return
        auth = model.Auth(auth_value)
        security = model.Security(security_value)
        uses_login = auth is model.Auth.LOGIN_PLAIN
        for key in ("username", "password"):
            self._editors[key].setEnabled(uses_login)
            self._labels[key].setEnabled(uses_login)
            if not uses_login:
                self.clear_error(key)
        self.warning.setVisible(uses_login and not security.encrypted)

    def _browse_ca_file(self) -> None:
        # Imported here: PySide6 builds a class (and its enums) when it is first imported.
        from PySide6.QtWidgets import QFileDialog

        line = self._line("ca_file")
        name, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a Trusted CA File",
            line.text(),
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        if name:
            line.setText(name)
            self._user_edited("ca_file")
