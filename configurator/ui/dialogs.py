"""The window's questions and error messages.

Every box is window-modal and opened with ``open()``, never ``exec()``: the
event loop keeps running, so tests (and the rest of the program) can find the
box by its object name and answer it.  Each box names its default button
explicitly, because a ``QMessageBox`` without one lets Enter press the first
accepting button, which for a destructive question is the wrong one.

Buttons carry words, never the style's icons: some styles put a green tick
on "Yes" and a red cross on "No", which on a destructive question marks the
dangerous button as the good one.  Titles are short (the question is in the
text), and the application's name is not appended to them (``app.py`` sets
no display name), so a window manager does not clip them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

Button = QMessageBox.StandardButton


def _box(
    parent: QWidget,
    name: str,
    *,
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    informative: str,
    buttons: dict[Button, str],
    default: Button,
    escape: Button,
) -> QMessageBox:
    box = QMessageBox(parent)
    box.setObjectName(name)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.setIcon(icon)
    box.setWindowTitle(title)
    box.setText(text)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setInformativeText(informative)
    for standard, label in buttons.items():
        button = box.addButton(standard)
        button.setIcon(QIcon())
        if label:
            button.setText(label)
    box.setDefaultButton(default)
    box.setEscapeButton(escape)
    return box


def ask(box: QMessageBox, on_answer: Callable[[Button], object]) -> QMessageBox:
    """Open ``box`` without blocking; call ``on_answer`` with the standard button chosen."""

    def finished(_result: int) -> None:
        clicked = box.clickedButton()
        on_answer(box.standardButton(clicked) if clicked is not None else Button.NoButton)

    box.finished.connect(finished)
    box.open()
    return box


def reset_confirmation(parent: QWidget, data_dir: Path) -> QMessageBox:
    box = _box(
        parent,
        "resetConfirmation",
        icon=QMessageBox.Icon.Warning,
        title="Reset Settings",
        text="Delete the stored mail server settings?",
        informative=(
            "The settings file and its data key are destroyed, so no copy of the file "
            "can be read again. Alert e-mails cannot be sent until new settings are "
            f"saved.\n\nSettings folder:\n{data_dir}"
        ),
        buttons={Button.Yes: "&Reset Settings", Button.No: "&Keep Settings"},
        default=Button.No,
        escape=Button.No,
    )
    _fit_path(box, data_dir)
    return box


def _fit_path(box: QMessageBox, path: Path) -> None:
    """Make the informative text wide enough for ``path`` on a line of its own.

    A label wraps long words wherever it may, "mail-server-" here and
    "configurator" on the next line; as wide as the path, it never has to.
    """
    label = box.findChild(QLabel, "qt_msgbox_informativelabel")
    if label is None:
        return
    wanted = label.fontMetrics().horizontalAdvance(str(path)) + 4
    screen = box.screen().availableGeometry().width()
    label.setMinimumWidth(min(wanted, screen * 3 // 4))


def unsaved_changes(parent: QWidget, *, closing: bool = True) -> QMessageBox:
    """Asked before edits would be lost: by closing the window, or by Cancel (Escape)."""
    if closing:
        text = "Save the changes to the mail server settings before closing?"
        informative = "Your changes are lost if you close without saving."
        stay = ""
    else:
        text = "Save the changes to the mail server settings?"
        informative = "Your changes are lost if you discard them."
        stay = "&Keep Editing"
    return _box(
        parent,
        "unsavedChanges",
        icon=QMessageBox.Icon.Question,
        title="Unsaved Changes",
        text=text,
        informative=informative,
        buttons={Button.Save: "", Button.Discard: "&Discard Changes", Button.Cancel: stay},
        default=Button.Save,
        escape=Button.Cancel,
    )


def start_again_confirmation(parent: QWidget, settings_path: Path) -> QMessageBox:
    return _box(
        parent,
        "startAgainConfirmation",
        icon=QMessageBox.Icon.Warning,
        title="Start Again",
        text="Start again with new settings?",
        informative=(
            f"The unreadable file {settings_path.name} is not deleted: it is renamed and "
            f"kept in {settings_path.parent}, so it can still be recovered later."
        ),
        buttons={Button.Yes: "&Start Again", Button.Cancel: ""},
        default=Button.Cancel,
        escape=Button.Cancel,
    )


def error(parent: QWidget, name: str, title: str, text: str, informative: str = "") -> QMessageBox:
    """An error message with a single OK button, opened right away."""
    return _tell(
        parent, name, QMessageBox.Icon.Critical, title=title, text=text, informative=informative
    )


def notice(parent: QWidget, name: str, title: str, text: str, informative: str = "") -> QMessageBox:
    """A warning with a single OK button, opened right away."""
    return _tell(
        parent, name, QMessageBox.Icon.Warning, title=title, text=text, informative=informative
    )


def _tell(
    parent: QWidget, name: str, icon: QMessageBox.Icon, *, title: str, text: str, informative: str
) -> QMessageBox:
    box = _box(
        parent,
        name,
        icon=icon,
        title=title,
        text=text,
        informative=informative,
        buttons={Button.Ok: ""},
        default=Button.Ok,
        escape=Button.Ok,
    )
    box.open()
    return box


def unencrypted_confirmation(parent: QWidget, label: str, warning: str) -> QMessageBox:
    """Asked before a detected unencrypted connection replaces the form's security."""
    return _box(
        parent,
        "unencryptedConfirmation",
        icon=QMessageBox.Icon.Warning,
        title="Use an Unencrypted Connection",
        text=f"Use {label}?",
        informative=warning,
        buttons={Button.Yes: "&Use Without Encryption", Button.Cancel: ""},
        default=Button.Cancel,
        escape=Button.Cancel,
    )
