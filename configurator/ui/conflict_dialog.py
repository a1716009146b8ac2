"""The dialog for a Submit that finds the settings saved elsewhere meanwhile.

Two windows, or a window and the command line, may edit one data directory.
Every save names the revision it started from; when the store has moved on,
nothing is written and this dialog shows, field by field, what this window
would save ("Yours") beside what is stored now, who saved that and when.
The admin then decides with the facts in view:

- Keep Mine: save this window's values over the new revision;
- Take Theirs: drop the edits and show what is stored;
- Back to Editing: keep the form as it is, now based on the stored revision.

A password is never shown, only whether each side changed it.  The dialog
only reports the choice (``choice`` once ``finished``); the window acts on it.
"""

from __future__ import annotations

import enum
from functools import partial

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from configurator import audit, model
from configurator.store import Stored
from configurator.timestamps import local_time
from configurator.ui import sizing

FIELD, YOURS, THEIRS = range(3)
CHANGED = "changed"
UNCHANGED = "unchanged"
NOT_USED = "not used"
NOTHING_STORED = "\u2014"


class Choice(enum.Enum):
    KEEP_MINE = "keep_mine"
    TAKE_THEIRS = "take_theirs"
    BACK_TO_EDITING = "back_to_editing"


def shown_value(settings: model.Settings, key: str) -> str:
    """A field's value as the form shows it; never called for the password."""
    if model.FIELDS_BY_KEY[key].secret:
        raise ValueError("a password is never shown")
    value = getattr(settings, key)
    if isinstance(value, model.Security | model.Auth):
        return value.label
    if key == "timeout":
        return f"{value:g} s"
    if value == "":
        return "(empty)"
    return str(value)


def password_state(settings: model.Settings, changed: bool) -> str:
    if settings.auth is model.Auth.NONE:
        return NOT_USED
    return CHANGED if changed else UNCHANGED


def who_saved(theirs: Stored | None, last: audit.Entry | None) -> str:
    """Who saved (or removed) the settings now stored, as far as the audit trail tells."""
    if theirs is None:
        if last is not None and last.action in (audit.Action.RESET, audit.Action.START_AGAIN):
            return (
                f"They were reset by {last.user} at {local_time(last.time)}: "
                "no settings are stored now."
            )
        return "They were removed elsewhere: no settings are stored now."
    # The trail is written just after the save, so its record of this save is not older.
    if last is not None and last.action == audit.Action.SUBMIT and last.time >= theirs.saved_at:
        return f"Saved by {last.user} at {local_time(last.time)} (revision {theirs.revision})."
    return (
        f"Saved at {local_time(theirs.saved_at)} (revision {theirs.revision}); "
        "the audit trail does not say by whom."
    )


class ConflictDialog(QDialog):
    """Yours against what is stored now, and the three ways on (window-modal, via ``open``)."""

    def __init__(
        self,
        parent: QWidget,
        *,
        base: model.Settings | None,
        mine: model.Settings,
        password_typed: bool,
        theirs: Stored | None,
        last: audit.Entry | None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conflictDialog")
        self.setWindowTitle("Settings Changed Elsewhere")
        self.theirs = theirs
        self.choice = Choice.BACK_TO_EDITING  # also what Escape and closing mean
        self._base = base if base is not None else model.Settings()
        self._mine = mine
        self._password_typed = password_typed
        self._build(who_saved(theirs, last))
        sizing.scroll_body(self)
        sizing.fit_size(self, 640, self.sizeHint().height())

    def _build(self, who: str) -> None:
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size)
        )
        title = QLabel("The settings were changed elsewhere while you were editing them.")
        title.setObjectName("conflictTitle")
        title.setWordWrap(True)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.who_label = QLabel(who)
        self.who_label.setObjectName("conflictWho")
        self.who_label.setWordWrap(True)
        self.who_label.setTextFormat(Qt.TextFormat.PlainText)
        heading = QVBoxLayout()
        heading.setSpacing(4)
        heading.addWidget(title)
        heading.addWidget(self.who_label)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(heading, 1)

        self.table = QTreeWidget()
        self.table.setObjectName("conflictTable")
        self.table.setAccessibleName("Your values and the stored values, field by field")
        self.table.setColumnCount(3)
        self.table.setHeaderLabels(["Field", "Yours (not saved)", "Stored now"])
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QTreeWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setStyleSheet("QTreeView::item { padding: 2px 0px; }")
        header = self.table.header()
        header.setSectionResizeMode(FIELD, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(YOURS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(THEIRS, QHeaderView.ResizeMode.Stretch)
        for row in self.differences():
            self._add_row(*row)
        sizing.show_all_rows(self.table)
        self.legend = QLabel(
            "Nothing has been saved from this window yet. Values in bold were changed "
            "since you started editing."
            if self.table.topLevelItemCount()
            else "Your values are the same as the stored ones. Nothing has been saved "
            "from this window yet."
        )
        self.legend.setObjectName("conflictLegend")
        self.legend.setWordWrap(True)

        self.keep_mine_button = self._button(
            "Keep &Mine",
            "keepMineButton",
            "Save the values in this window, replacing the settings saved elsewhere.",
            Choice.KEEP_MINE,
        )
        self.take_theirs_button = self._button(
            "Take &Theirs",
            "takeTheirsButton",
            "Discard your changes and show the settings that are stored now.",
            Choice.TAKE_THEIRS,
        )
        self.back_button = self._button(
            "&Back to Editing",
            "backToEditingButton",
            "Keep editing; the next Submit replaces the settings stored now.",
            Choice.BACK_TO_EDITING,
        )
        # The safe answer: nothing is written and nothing is lost.
        self.back_button.setDefault(True)
        self.back_button.setFocus(Qt.FocusReason.OtherFocusReason)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.keep_mine_button)
        buttons.addWidget(self.take_theirs_button)
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)

        column = QVBoxLayout(self)
        column.setContentsMargins(16, 14, 16, 14)
        column.setSpacing(10)
        column.addLayout(top)
        column.addWidget(self.table)
        column.addWidget(self.legend)
        column.addStretch(1)
        column.addLayout(buttons)

    def _button(self, text: str, name: str, tooltip: str, choice: Choice) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", ""))
        button.setToolTip(tooltip)
        button.setAutoDefault(False)
        button.clicked.connect(partial(self._choose, choice))
        return button

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if sizing.refits(event):
            sizing.fit_height(self)
        return handled

    def differences(self) -> list[tuple[str, str, str, bool, bool]]:
        """Rows of (label, yours, stored now, you changed it, they changed it).

        A field is listed when the two sides differ; the password when either
        side changed it, as "changed" or "unchanged" only.
        """
        theirs = self.theirs.settings if self.theirs is not None else None
        other = theirs if theirs is not None else model.Settings()
        base, mine = self._base, self._mine
        rows: list[tuple[str, str, str, bool, bool]] = []
        for spec in model.FIELDS:
            key = spec.key
            if spec.secret:
                yours_changed = self._password_typed and mine.password != base.password
                theirs_changed = other.password != base.password
                if yours_changed or theirs_changed:
                    rows.append(
                        (
                            spec.label,
                            password_state(mine, yours_changed),
                            password_state(other, theirs_changed)
                            if theirs is not None
                            else NOTHING_STORED,
                            yours_changed,
                            theirs_changed,
                        )
                    )
                continue
            mine_value, their_value = getattr(mine, key), getattr(other, key)
            if theirs is not None and mine_value == their_value:
                continue
            if theirs is None and mine_value == getattr(model.Settings(), key):
                continue
            rows.append(
                (
                    spec.label,
                    shown_value(mine, key),
                    shown_value(other, key) if theirs is not None else NOTHING_STORED,
                    mine_value != getattr(base, key),
                    theirs is not None and their_value != getattr(base, key),
                )
            )
        return rows

    def _add_row(
        self, label: str, yours: str, stored: str, yours_changed: bool, theirs_changed: bool
    ) -> None:
        item = QTreeWidgetItem(self.table, [label, yours, stored])
        for column, changed in ((YOURS, yours_changed), (THEIRS, theirs_changed)):
            if changed:
                font = item.font(column)
                font.setBold(True)
                item.setFont(column, font)
                item.setToolTip(column, "Changed since you started editing.")

    def _choose(self, choice: Choice, *_checked: object) -> None:
        self.choice = choice
        if choice is Choice.BACK_TO_EDITING:
            self.reject()
        else:
            self.accept()

    def shown_rows(self) -> list[tuple[str, str, str]]:
        """The table's texts, row by row (for tests and accessibility checks)."""
        rows: list[tuple[str, str, str]] = []
        for index in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(index)
            assert item is not None
            rows.append((item.text(FIELD), item.text(YOURS), item.text(THEIRS)))
        return rows
