"""A prominent message across the top of the window, with the actions that fit it.

Used for what the user must know before anything else: the stored settings
cannot be read, this account may only look, a file was kept aside.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from configurator.frozen import frozen
from configurator.ui import icons


class Kind(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    SUCCESS = "success"


_COLORS: dict[Kind, tuple[str, str]] = {  # background, border
    Kind.ERROR: ("#fdeceb", "#e6a6a1"),
    Kind.WARNING: ("#fff5e0", "#e9c27a"),
    Kind.INFO: ("#eaf2fb", "#a8c4e6"),
    Kind.SUCCESS: ("#e8f5e9", "#9ccc9f"),
}

# SUCCESS has no standard icon; it uses the drawn "passed" icon.
_ICONS: dict[Kind, QStyle.StandardPixmap] = {
    Kind.ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
    Kind.WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
    Kind.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
}


@frozen
class Action:
    """A button in the banner."""

    text: str
    object_name: str
    handler: Callable[[], object]
    enabled: bool = True
    tooltip: str = ""


class Banner(QFrame):
    """A colored box with an icon, a bold title, an explanation and action buttons."""

    def __init__(self, parent: QWidget | None = None, *, name: str = "banner") -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.kind: Kind | None = None
        self._icon = QLabel()
        self._icon.setObjectName("bannerIcon")
        self._icon.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self._title = QLabel()
        self._title.setObjectName("bannerTitle")
        self._title.setWordWrap(True)
        self._title.setTextFormat(Qt.TextFormat.PlainText)
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._text = QLabel()
        self._text.setObjectName("bannerText")
        self._text.setWordWrap(True)
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The buttons sit in their own widget, hidden when there are none: an
        # empty layout in the column upsets the row's width distribution.
        self._button_row = QWidget()
        self._button_row.setObjectName("bannerButtons")
        self._buttons = QHBoxLayout(self._button_row)
        self._buttons.setContentsMargins(0, 4, 0, 0)
        self._buttons.setSpacing(8)

        text_column = QVBoxLayout()
        text_column.setSpacing(4)
        text_column.addWidget(self._title)
        text_column.addWidget(self._text)
        text_column.addWidget(self._button_row)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 10, 12, 10)
        row.setSpacing(10)
        row.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text_column, 1)
        self.hide()

    def show_message(
        self, kind: Kind, title: str, text: str, actions: Sequence[Action] = ()
    ) -> None:
        """Show ``title`` and ``text`` (plain text) with one button per action."""
        self.kind = kind
        background, border = _COLORS[kind]
        self.setStyleSheet(
            f"QFrame#{self.objectName()} {{ background: {background}; border: 1px solid {border};"
            " border-radius: 6px; }"
        )
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        shown = (
            icons.outcome_icon("passed")
            if kind is Kind.SUCCESS
            else self.style().standardIcon(_ICONS[kind])
        )
        self._icon.setPixmap(shown.pixmap(size, size))
        self._title.setText(title)
        self._text.setText(text)
        self._text.setVisible(bool(text))
        self.setAccessibleName(title)
        self.setAccessibleDescription(text)
        self._clear_buttons()
        for action in actions:
            button = QPushButton(action.text)
            button.setObjectName(action.object_name)
            button.setAccessibleName(action.text.replace("&", ""))
            button.setEnabled(action.enabled)
            button.setToolTip(action.tooltip)
            button.clicked.connect(action.handler)
            self._buttons.addWidget(button)
        if actions:
            self._buttons.addStretch(1)
        self._button_row.setVisible(bool(actions))
        self.show()

    def clear(self) -> None:
        self.kind = None
        self._clear_buttons()
        self._title.clear()
        self._text.clear()
        self.hide()

    def title(self) -> str:
        return self._title.text()

    def text(self) -> str:
        return self._text.text()

    def buttons(self) -> list[QPushButton]:
        found: list[QPushButton] = []
        for index in range(self._buttons.count()):
            item = self._buttons.itemAt(index)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QPushButton):
                found.append(widget)
        return found

    def _clear_buttons(self) -> None:
        while self._buttons.count():
            item = self._buttons.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
