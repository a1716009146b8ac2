"""The History view: the audit trail of this data directory, newest first, and whether it holds.

An administrator opens it to answer "who changed the mail server, and when?"
without a terminal.  It shows what ``audit.read`` returns and nothing more:
the fields a record names (never a value; the password only as a field that
changed) and whether the chain of records is intact.  A broken chain is
shown first and in red, since the rows below it can then not be trusted.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from configurator import audit, model
from configurator.timestamps import local_time
from configurator.ui import sizing, style
from configurator.ui.banner import Banner, Kind

COLUMNS = ("Time", "User", "Action", "Fields changed", "Detail")
TIME, USER, ACTION, FIELDS, DETAIL = range(len(COLUMNS))
INTACT = "Intact"
NOT_INTACT = "Not intact: the trail has been tampered with or damaged"
UNVERIFIED_COLOR = style.ERROR_COLOR
EMPTY_TEXT = "Nothing has been recorded in this data directory yet."
_WORD_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")


def unbroken_words(text: str) -> str:
    """``text`` with its hyphens made non-breaking, so that a cell never wraps "e-/mail"."""
    return _WORD_HYPHEN.sub("\u2011", text)


def action_text(action: str) -> str:
    """What an action did, in words ("Settings saved"); an unknown one as recorded."""
    try:
        label = audit.Action(action).label
    except ValueError:
        return action
    return label[:1].upper() + label[1:]


def fields_text(keys: tuple[str, ...]) -> str:
    """The labels of the changed fields; a password appears only as the field's name."""
    return ", ".join(
        model.FIELDS_BY_KEY[key].label if key in model.FIELDS_BY_KEY else key for key in keys
    )


def last_change_text(entry: audit.Entry | None) -> str:
    """ "Last changed by <user> at <time>" for the status bar, or "" when nothing is known."""
    if entry is None:
        return ""
    verb = {"reset": "Last reset", "start_again": "Last started again"}.get(
        entry.action, "Last changed"
    )
    text = f"{verb} by {entry.user} at {local_time(entry.time)}"
    return text if entry.verified else f"{text} (not verified)"


class HistoryDialog(QDialog):
    """The audit trail, newest first, with the state of its chain (modeless)."""

    def __init__(self, parent: QWidget, data_dir: Path, key_backend: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyDialog")
        self.setWindowTitle("History")
        self.setModal(False)
        self.data_dir = Path(data_dir)
        self.key_backend = key_backend
        self.report: audit.AuditReport | None = None
        self._build()
        sizing.fit_size(self, 900, 460)

    def _build(self) -> None:
        intro = QLabel(
            "Who saved, reset or checked the mail server settings in this data directory. "
            "Records hold which fields changed, never their values."
        )
        intro.setObjectName("historyIntro")
        intro.setWordWrap(True)
        self.chain = Banner(name="historyChain")

        # A table rather than a tree: it grows rows for wrapped text (a first
        # save changes most fields) where a tree would cut the text off.
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("historyTable")
        self.table.setAccessibleName("Audit trail, newest first")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        for column in (TIME, USER, ACTION):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(FIELDS, 300)
        header.sectionResized.connect(self._fit_rows)

        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setObjectName("historyEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.location = QLabel()
        self.location.setObjectName("historyLocation")
        self.location.setTextFormat(Qt.TextFormat.PlainText)
        self.location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setObjectName("refreshHistoryButton")
        self.refresh_button.setToolTip("Read the audit trail again.")
        self.refresh_button.setAutoDefault(False)
        self.refresh_button.clicked.connect(self.refresh)
        self.close_button = QPushButton("Cl&ose")
        self.close_button.setObjectName("closeHistoryButton")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.close)

        buttons = QHBoxLayout()
        buttons.addWidget(self.location, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(self.chain)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(buttons)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_rows()
        sizing.keep_on_screen(self)
        # Not the table: its focused first row would look like a selection.
        self.close_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_rows()
        sizing.keep_on_screen(self)

    def refresh(self) -> None:
        """Read and verify the trail again, and show it."""
        report = audit.read(self.data_dir, self.key_backend)
        self.report = report
        self._show_chain(report)
        self.table.setRowCount(0)
        for entry in reversed(report.entries):
            self._add_row(entry)
        self._fit_rows()
        has_rows = bool(report.entries)
        self.table.setVisible(has_rows)
        self.empty.setVisible(not has_rows)
        count = len(report.entries)
        records = "1 record" if count == 1 else f"{count} records"
        self.location.setText(f"{records} in {report.path}")

    def _show_chain(self, report: audit.AuditReport) -> None:
        warnings = "\n".join(report.warnings)
        if not report.intact:
            text = report.problem or ""
            self.chain.show_message(Kind.ERROR, NOT_INTACT, f"{text}\n{warnings}".strip())
        elif warnings:
            self.chain.show_message(Kind.WARNING, INTACT, warnings)
        else:
            self.chain.show_message(
                Kind.SUCCESS,
                INTACT,
                "Each record is sealed to the one before it: none has been changed, "
                "removed, inserted or reordered since it was written.",
            )

    def _add_row(self, entry: audit.Entry) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        texts = (
            local_time(entry.time),
            entry.user,
            action_text(entry.action),
            fields_text(entry.fields),
            audit.detail_words(entry.action, entry.detail),
        )
        tips = (f"{entry.time} (record {entry.seq}, line {entry.line})", "", "", "", "")
        for column, (text, tip) in enumerate(zip(texts, tips, strict=True)):
            item = QTableWidgetItem(unbroken_words(text))
            item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            item.setToolTip(tip)
            if not entry.verified:
                item.setForeground(QBrush(QColor(UNVERIFIED_COLOR)))
                item.setToolTip("This record could not be verified against the audit key.")
            self.table.setItem(row, column, item)

    def _fit_rows(self, *_resized: object) -> None:
        self.table.resizeRowsToContents()

    def rows(self) -> list[tuple[str, ...]]:
        """The texts shown, row by row from the top, hyphens plain (for tests, accessibility)."""
        shown: list[tuple[str, ...]] = []
        for row in range(self.table.rowCount()):
            cells = (self.table.item(row, column) for column in range(len(COLUMNS)))
            texts = (cell.text() if cell is not None else "" for cell in cells)
            shown.append(tuple(text.replace("\u2011", "-") for text in texts))
        return shown
