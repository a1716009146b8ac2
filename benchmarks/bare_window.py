"""The yardstick for the window's start: the same window and decryption in one bare file.

What a launch of the configurator cannot avoid doing, written as plainly as
possible: import PySide6 and cryptography, read the data key and
``settings.enc``, decrypt them with AES-256-GCM, build a main window with the
same widgets as the configurator's (toolbar with SVG icons, a twelve-row
form with its labels, error labels, hidden Advanced rows, banner, header,
all in a scroll area, buttons, status bar), fill it in read-only, show it.  No argument parsing, no
model, no validation, no abstraction.

``python bare_window.py DATA_DIR RESOURCES_DIR`` prints ``startup-probe
<monotonic ns>`` once the window is first drawn, exactly as the configurator
does with ``CONFIGURATOR_STARTUP_PROBE`` set, and quits.  With
``--inventory`` it prints the number of widgets of each Qt class instead, so
that ``startup.py`` can check that both windows hold the same widgets.

Only the key file is supported (the benchmark stores its key there): a
keyring lookup would time the keyring, not the program.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

HEADER_SIZE = 29  # magic 6, version 2, key place 1, key id 8, nonce 12
KEY_PREFIX = b"configurator-data-key-v1 "

# label, objectName, kind, advanced
FIELDS = [
    ("Account &Name", "accountName", "line", False),
    ("Account E-&mail Address", "accountEmail", "line", False),
    ("Outgoing Mail &Server", "outgoingServer", "line", False),
    ("Server &Port", "serverPort", "port", False),
    ("&Connection Security", "connectionSecurity", "security", False),
    ("&Authentication Method", "authMethod", "auth", False),
    ("&User Name", "userName", "line", False),
    ("Pass&word", "password", "password", False),
    ("Trusted CA &File", "caFile", "ca_file", True),
    ("Pinned Cer&tificate", "tlsFingerprint", "line", True),
    ("T&imeout", "timeout", "timeout", True),
    ("Test &Recipient", "testRecipient", "line", True),
]
KEYS = [
    "account_name",
    "account_email",
    "server",
    "port",
    "security",
    "auth",
    "username",
    "password",
    "ca_file",
    "tls_fingerprint",
    "timeout",
    "test_recipient",
]
SECURITY = [("None", "none"), ("STARTTLS", "starttls"), ("SSL/TLS", "ssl_tls")]
AUTH = [("None", "none"), ("Login/Plain", "login_plain")]


def load_settings(data_dir: str) -> dict[str, object]:
    with open(os.path.join(data_dir, "settings.key"), "rb") as handle:
        key = base64.b64decode(handle.read()[len(KEY_PREFIX) :].strip())
    with open(os.path.join(data_dir, "settings.enc"), "rb") as handle:
        blob = handle.read()
    header = blob[:HEADER_SIZE]
    plaintext = AESGCM(key).decrypt(header[-12:], blob[HEADER_SIZE:], header)
    settings: dict[str, object] = json.loads(plaintext)["settings"]
    return settings


def read_only_line(text: str) -> QLineEdit:
    line = QLineEdit()
    line.setText(text)
    line.setReadOnly(True)
    palette = line.palette()
    palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
    line.setPalette(palette)
    return line


def editor_for(kind: str, value: object) -> QWidget:
    """The field's editor; a choice also gets the read-only line shown in its place."""
    if kind in ("security", "auth"):
        combo = QComboBox()
        for label, data in SECURITY if kind == "security" else AUTH:
            combo.addItem(label, data)
        combo.setCurrentIndex(combo.findData(value))
        combo.setEnabled(False)
        combo.hide()
        return combo
    if kind == "password":
        line = read_only_line("\u2022" * 10 if value else "")
        line.setEchoMode(QLineEdit.EchoMode.Password)
        return line
    if kind == "timeout":
        return read_only_line(f"{float(str(value)):g}")
    return read_only_line(str(value))


def build_window(settings: dict[str, object], resources_dir: str) -> QMainWindow:
    window = QMainWindow()
    window.setWindowTitle("Mail Server Configurator[*]")
    window.setWindowIcon(QIcon(os.path.join(resources_dir, "app.svg")))
    edit = QAction(QIcon(os.path.join(resources_dir, "edit.svg")), "&Edit", window)
    edit.setShortcut(QKeySequence("Ctrl+E"))
    for text, shortcut in (("Submit", Qt.Key.Key_Return), ("Cancel", Qt.Key.Key_Escape)):
        action = QAction(text, window)
        action.setShortcut(QKeySequence(shortcut))
        action.setEnabled(False)
        window.addAction(action)
    toolbar = QToolBar("Main Toolbar")
    toolbar.setMovable(False)
    toolbar.setIconSize(QSize(20, 20))
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addAction(edit)
    history = QAction(QIcon(os.path.join(resources_dir, "edit.svg")), "&History", window)
    history.setShortcut(QKeySequence("Ctrl+H"))
    toolbar.addAction(history)
    window.addToolBar(toolbar)

    banner = QFrame()
    banner_row = QHBoxLayout(banner)
    banner_row.addWidget(QLabel())
    banner_text = QVBoxLayout()
    banner_row.addLayout(banner_text, 1)
    banner_text.addWidget(QLabel())
    banner_text.addWidget(QLabel())
    banner_buttons = QWidget()
    QHBoxLayout(banner_buttons)
    banner_text.addWidget(banner_buttons)
    banner.hide()

    heading = QLabel("Outgoing Mail Server")
    font = heading.font()
    font.setPointSizeF(font.pointSizeF() * 1.3)
    font.setBold(True)
    heading.setFont(font)
    subheading = QLabel("The SMTP server through which the platform sends its alert e-mails.")
    subheading.setWordWrap(True)
    palette = subheading.palette()
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#5c5c5c"))
    subheading.setPalette(palette)
    mode = QLabel("Read-only")
    mode.setStyleSheet("QLabel { border: 1px solid palette(mid); border-radius: 9px; }")
    titles = QVBoxLayout()
    titles.addWidget(heading)
    titles.addWidget(subheading)
    header = QHBoxLayout()
    header.addLayout(titles, 1)
    header.addWidget(mode, 0, Qt.AlignmentFlag.AlignTop)

    form = QWidget()
    rows = QFormLayout(form)
    browse = QPushButton("Br&owse…")
    browse.hide()
    detect = QPushButton("Detect Settin&gs…")
    warning = QWidget()
    warning_row = QHBoxLayout(warning)
    warning_icon = QLabel()
    size = form.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
    standard = form.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    warning_icon.setPixmap(standard.pixmap(size, size))
    warning_row.addWidget(warning_icon)
    warning_row.addWidget(QLabel("Login/Plain without encryption: the password would cross…"))
    warning.hide()
    advanced = QToolButton()
    advanced.setText("A&dvanced")
    advanced.setArrowType(Qt.ArrowType.RightArrow)
    for (label_text, name, kind, is_advanced), key in zip(FIELDS, KEYS, strict=True):
        if is_advanced and advanced.parent() is None:
            rows.addRow(advanced)
        editor = editor_for(kind, settings.get(key, ""))
        editor.setObjectName(name)
        label = QLabel(label_text)
        label.setBuddy(editor)
        error = QLabel()
        error.setStyleSheet("color: #b3261e;")
        error.hide()
        field = QWidget()
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(editor, 1)
        if isinstance(editor, QComboBox):
            shown = read_only_line(editor.currentText())
            label.setBuddy(shown)
            line.addWidget(shown)
        if kind == "timeout":
            line.addWidget(QLabel("seconds"))
        if kind == "ca_file":
            line.addWidget(browse)
        if name == "outgoingServer":
            line.addWidget(detect)
        column.addLayout(line)
        column.addWidget(error)
        if kind == "auth":
            column.addWidget(warning)
        rows.addRow(label, field)
        rows.setRowVisible(rows.rowCount() - 1, not is_advanced)

    buttons = QHBoxLayout()
    for text, visible in (("Test Ser&ver…", True), ("R&eset…", False), ("Cance&l", False)):
        button = QPushButton(text)
        button.setVisible(visible)
        buttons.addWidget(button)
    buttons.addStretch(1)
    submit = QPushButton("Su&bmit")
    submit.setDefault(True)
    submit.hide()
    buttons.addWidget(submit)
    rule = QFrame()
    rule.setFrameShape(QFrame.Shape.HLine)

    body = QWidget()
    content = QVBoxLayout(body)
    content.setContentsMargins(0, 0, 0, 0)
    content.addWidget(banner)
    content.addLayout(header)
    content.addWidget(form)
    content.addStretch(1)
    scroll = QScrollArea()  # all but the buttons scrolls on a screen too small
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidgetResizable(True)
    scroll.setWidget(body)
    central = QWidget()
    column = QVBoxLayout(central)
    column.addWidget(scroll, 1)
    column.addWidget(rule)
    column.addLayout(buttons)
    window.setCentralWidget(central)
    window.statusBar().addWidget(QLabel("Settings: settings.enc"), 1)
    last_change = QLabel()
    window.statusBar().addPermanentWidget(last_change)
    last_change.hide()
    window.resize(700, window.sizeHint().height())
    return window


class FirstPaint(QObject):
    """Prints the monotonic clock on the event loop's next turn after the first paint."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and isinstance(watched, QWidget):
            watched.removeEventFilter(self)
            QTimer.singleShot(0, lambda: report(watched))
        return False


def report(window: QWidget) -> None:
    print(f"startup-probe {time.monotonic_ns()}", flush=True)
    window.close()


def widget_inventory(window: QWidget) -> dict[str, list[int]]:
    """Qt class name -> [widgets, of which shown with the window]."""
    counts: dict[str, list[int]] = {}
    for widget in [window, *window.findChildren(QWidget)]:
        name = next(c.__name__ for c in type(widget).__mro__ if c.__module__.startswith("PySide6"))
        total, shown = counts.get(name, [0, 0])
        counts[name] = [total + 1, shown + (widget is window or widget.isVisibleTo(window))]
    return counts


def main() -> int:
    inventory = "--inventory" in sys.argv
    data_dir, resources_dir = (arg for arg in sys.argv[1:] if arg != "--inventory")
    settings = load_settings(data_dir)
    app = QApplication(sys.argv[:1])
    window = build_window(settings, resources_dir)
    if inventory:
        print(json.dumps(widget_inventory(window), sort_keys=True))
        return 0
    window.show()
    window.installEventFilter(FirstPaint(window))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
