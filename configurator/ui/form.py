"""The settings form: one row per ``model.FIELDS`` entry, bound to the model and nothing else.

The form only binds: ``load(settings)`` fills the widgets, ``values()`` hands
the raw input back for ``model.build()``, ``set_errors()`` shows the model's
messages beside the fields.  Rules live in the model; the few reactions here
(port follows security, user name and password follow authentication, the
clear-text warning) only help the user type valid input faster.

The stored password never enters a widget: Read-only mode shows a fixed mask,
Edit mode an empty field whose emptiness means "keep the stored password".

The server check fills one field itself (``set_value``): the certificate
the user chose to trust.  It stays editable, so that a pinned fingerprint
confirmed by the mail administrator can be pasted, and a pin cleared once the
certificate is signed properly.  (The address a check sent its test e-mail
to is remembered as the user's preference, not put into the settings.)

Numbers are typed as text: a spin box would fix "0" up to the previous value
and cut "70000" to "7000" before the model could say what is wrong.  A field
is judged when the user leaves it, not at each keystroke, so that a message
does not come and go, moving the rows below, while the user types.
"""

from __future__ import annotations

import sys
from functools import partial

from PySide6.QtCore import QEvent, QObject, QRegularExpression, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPalette, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from configurator import model
from configurator.ui import style

#: What Read-only mode shows for a stored password: the same for every password.
PASSWORD_MASK = "\u2022" * 10
KEEP_STORED_HINT = "Leave empty to keep the stored password"
CLEAR_TEXT_WARNING = (
    "Login/Plain without encryption: the password would cross the network unencrypted. "
    "Choose STARTTLS or SSL/TLS unless the server is on a trusted network."
)


class _NoAltTyping(QObject):
    """Keeps Alt+letter from typing into a text field.

    An access key whose label is disabled (Pass&word while Authentication is
    None) has no shortcut, so Qt hands Alt+W to the focused line edit, which
    would insert a "w".  Alt chords are commands, never text, except on macOS,
    where Option types characters such as "@" and access keys do not exist.
    """

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            modifiers = event.modifiers()
            alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
            # Ctrl+Alt is AltGr on Windows: it types characters there.
            ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
            if alt and not ctrl and event.text() and sys.platform != "darwin":
                return True
        return False


class SettingsForm(QWidget):
    """The fields of ``model.FIELDS`` in a ``QFormLayout``, main fields first, then Advanced."""

    edited = Signal()  # the user changed a value

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsForm")
        self._editable = True
        self._loading = False
        self._password_masked = False
        self._keeps_password = False
        # What an empty password field keeps, and what re-validating a field builds on.
        self._base = model.Settings()
        # Fields the user changed since the last load: leaving one checks it.
        self._touched: set[str] = set()
        self._editors: dict[str, QWidget] = {}
        self._displays: dict[str, QLineEdit] = {}  # read-only stand-ins for the drop-downs
        self._labels: dict[str, QLabel] = {}
        self._error_labels: dict[str, QLabel] = {}
        self._rows: dict[str, int] = {}
        self._no_alt_typing = _NoAltTyping(self)
        # Label alignment, field growth and row wrapping follow the platform's style.
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

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
        # The buttons that stand on a field's line, after its editor (and after it in Tab order).
        self._beside: dict[str, QWidget] = {
            "server": self.detect_button,
            "ca_file": self.browse_button,
        }

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
            if not spec.advanced:
                self._add_row(spec)
        self._layout.addRow(self.advanced_toggle)
        for spec in model.FIELDS:
            if spec.advanced:
                self._add_row(spec)
        self.show_advanced(False)
        self._security.currentIndexChanged.connect(self._security_changed)
        self._auth.currentIndexChanged.connect(self._auth_changed)
        # After those two, so that a moved port and enabled fields are judged as they end up.
        self._security.currentIndexChanged.connect(partial(self._choice_edited, "security"))
        self._auth.currentIndexChanged.connect(partial(self._choice_edited, "auth"))
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
        self._labels[spec.key] = label

        error = QLabel()
        error.setObjectName(f"{spec.object_name}Error")
        error.setWordWrap(True)
        error.setTextFormat(Qt.TextFormat.PlainText)
        error.setStyleSheet(f"color: {style.ERROR_COLOR};")
        error.hide()
        self._error_labels[spec.key] = error

        # The field cell: the editor's line, then its message.  Its layout has a
        # height for each width, which QFormLayout honours, so a message that
        # wraps makes the row taller instead of being clipped.
        field = QWidget()
        field.setObjectName(f"{spec.object_name}Field")
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(3)
        line = QHBoxLayout()
        line.setSpacing(6)
        beside = self._beside.get(spec.key)
        if spec.choices:
            display = self._make_display(spec)
            line.addWidget(editor)
            line.addWidget(display)
            line.addStretch(1)
        elif spec.type.widget == "number":
            line.addWidget(editor)
            if spec.type.unit:
                unit = QLabel(spec.type.unit)
                unit.setObjectName(f"{spec.object_name}Unit")
                line.addWidget(unit)
            line.addStretch(1)
        else:
            line.addWidget(editor, 1)
            if beside is not None:
                line.addWidget(beside)
        column.addLayout(line)
        column.addWidget(error)
        if spec.key == "auth":
            column.addWidget(self.warning)
        self._rows[spec.key] = self._layout.rowCount()
        self._layout.addRow(label, field)

    def _make_editor(self, spec: model.FieldSpec) -> QWidget:
        if spec.choices:
            combo = QComboBox()
            for choice in spec.choices:
                combo.addItem(choice.label, choice.value)
            combo.setMinimumWidth(160)
            return combo
        line = QLineEdit()
        line.installEventFilter(self._no_alt_typing)
        line.setPlaceholderText(spec.placeholder)
        if spec.type.widget == "number":
            # Digits only, of any length, and no fixing up: what is typed is what
            # the model judges ("70000" is refused with the model's words, not cut
            # to "7000"; "0" is not turned back into the previous value).
            pattern = QRegularExpression(spec.type.pattern)
            line.setValidator(QRegularExpressionValidator(pattern, line))
            line.setMaximumWidth(line.fontMetrics().horizontalAdvance("0" * 8) + 24)
            line.setMinimumWidth(line.maximumWidth())
        if spec.secret:
            line.setEchoMode(QLineEdit.EchoMode.Password)
        line.textEdited.connect(partial(self._user_edited, spec.key))
        line.editingFinished.connect(partial(self._left, spec.key))
        return line

    def _make_display(self, spec: model.FieldSpec) -> QLineEdit:
        """A read-only line showing a choice's label: Read-only shows it in place of the drop-down.

        A disabled drop-down keeps its arrow and looks like something to click;
        this looks like every other read-only field and still takes the focus,
        so that the label's access key has somewhere to go.
        """
        display = QLineEdit()
        display.setObjectName(f"{spec.object_name}Display")
        display.setReadOnly(True)
        display.setAccessibleName(spec.label)
        display.setToolTip(spec.help)
        display.setMinimumWidth(160)
        display.installEventFilter(self._no_alt_typing)
        self._tint(display, True)
        display.hide()
        self._displays[spec.key] = display
        return display

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
            if spec.key in self._beside:
                order.append(self._beside[spec.key])
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

    def display(self, key: str) -> QLineEdit:
        """The read-only stand-in shown for choice field ``key`` in Read-only mode."""
        return self._displays[key]

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
                    editor.setCurrentIndex(editor.findData(spec.type.render(value)))
                elif isinstance(editor, QLineEdit):
                    editor.setText(spec.type.render(value))
            self._base = settings
            self._touched.clear()
            self._password_masked = settings.password_set
            self._keeps_password = False
            password = self._line("password")
            password.setText(PASSWORD_MASK if settings.password_set else "")
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
                elif isinstance(editor, QLineEdit):
                    editor.clear()
            self._password_masked = False
            self._touched.clear()
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
        self._update_placeholders()

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
        self._line("port").setText(str(port))
        self.clear_error("port")
        self.clear_error("security")
        self._user_edited("port")

    # -- errors ----------------------------------------------------------

    def set_errors(self, error: model.ValidationError) -> QWidget | None:
        """Show each message beside its field and focus the first bad field (returned).

        Beside a field only the problem is said ("is required"): the label is
        right there.  The accessible description names the field as well, for
        a screen reader that reads the description on its own.
        """
        self.clear_errors()
        first: QWidget | None = None
        for key, message in error.by_key().items():
            if key not in self._editors:
                continue
            self._show_error(key, message)
            if model.FIELDS_BY_KEY[key].advanced:
                self.show_advanced(True)
            if first is None:
                first = self._editors[key]
        if first is not None:
            first.setFocus(Qt.FocusReason.OtherFocusReason)
        return first

    def _show_error(self, key: str, message: str) -> None:
        label = self._error_labels[key]
        label.setText(message)
        label.show()
        described = str(model.FieldError(key, message))
        editor = self._editors[key]
        editor.setAccessibleDescription(described)
        editor.setToolTip(described)

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

    def _problem(self, key: str) -> str | None:
        """What the model says about field ``key`` as the form stands, or None."""
        try:
            model.build(self.values(), self._base)
        except model.ValidationError as exc:
            return exc.by_key().get(key)
        return None

    def _left(self, key: str) -> None:
        """The user left field ``key`` (or pressed Enter in it): judge it now.

        Only now, not at each keystroke, so the rows below stay where they are
        while the user types.  A field the user did not change since it was
        loaded is judged only if it shows a message already (Submit judges all).
        """
        if self._loading or not self._editable:
            return
        if key not in self._touched and not self.error_text(key):
            return
        problem = self._problem(key)
        if problem is None:
            self.clear_error(key)
        elif problem != self.error_text(key):
            self._show_error(key, problem)

    # -- editable or not ---------------------------------------------------

    def set_editable(self, editable: bool) -> None:
        """Accept input (Write, Edit) or only show values (Read-only).

        Read-only must look read-only: text fields take the window's
        background, and each drop-down gives way to a read-only line with its
        value, which the label's access key focuses.
        """
        self._editable = editable
        for key, editor in self._editors.items():
            if isinstance(editor, QLineEdit):
                editor.setReadOnly(not editable)
                self._tint(editor, not editable)
            elif isinstance(editor, QComboBox):
                display = self._displays[key]
                editor.setEnabled(editable)
                editor.setVisible(editable)
                display.setVisible(not editable)
                self._labels[key].setBuddy(editor if editable else display)
        self.browse_button.setVisible(editable)
        self._refresh()

    def _update_placeholders(self) -> None:
        """Examples only where a value can be typed: a greyed example looks like a value."""
        for key, editor in self._editors.items():
            if isinstance(editor, QLineEdit):
                typable = self._editable and editor.isEnabled()
                editor.setPlaceholderText(self._placeholder(key) if typable else "")

    def _placeholder(self, key: str) -> str:
        if model.FIELDS_BY_KEY[key].secret:
            return KEEP_STORED_HINT if self._keeps_password else ""
        return model.FIELDS_BY_KEY[key].placeholder

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
                self._layout.setRowVisible(self._rows[spec.key], shown)

    def advanced_shown(self) -> bool:
        return self._advanced_shown

    def _toggle_advanced(self) -> None:
        self.show_advanced(not self._advanced_shown)

    # -- reactions ---------------------------------------------------------

    def _user_edited(self, key: str, *_: object) -> None:
        """A keystroke: remember the field for judging when it is left; keep its message."""
        if self._loading:
            return
        self._touched.add(key)
        self.edited.emit()

    def _choice_edited(self, key: str, *_: object) -> None:
        """A choice is made at once, not typed: judge it, and the fields it governs, now."""
        if self._loading:
            return
        self._touched.add(key)
        self.edited.emit()
        for governed in (key, "port", "username", "password"):
            if self.error_text(governed):
                self._left(governed)

    def _security_changed(self) -> None:
        if self._loading:
            return
        security = model.Security(self._security.currentData())
        # A port that is one of the defaults was chosen for the old mode, not typed
        # on purpose: follow the new mode.  A custom port stays.
        port = self._line("port")
        if port.text() in {str(default) for default in model.DEFAULT_PORTS.values()}:
            port.setText(str(security.default_port))
        self._refresh()

    def _auth_changed(self) -> None:
        if self._loading:
            return
        self._refresh()

    def _refresh(self) -> None:
        for key, display in self._displays.items():
            combo = self._editors[key]
            assert isinstance(combo, QComboBox)
            display.setText(combo.currentText())
        auth_value, security_value = self._auth.currentData(), self._security.currentData()
        if auth_value is None or security_value is None:  # blank
            self.warning.hide()
            self._update_placeholders()
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
        self._update_placeholders()

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
