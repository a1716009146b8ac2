"""The main window: assembles the form, the buttons, the banner and the mode machine.

It stays thin on purpose.  What a setting may be is the model's business
(``model.build``); how it is kept is the store's (``Store.save``, ``reset``,
``set_aside``); what the user can do in each mode is the table in ``modes``.
The window connects them and shows the outcome.

Every change and check made here is appended to the audit trail
(``audit.record``), which the History view shows.  The window watches the
data directory: what another window or the command line saves is shown at
once in Read-only mode, announced in Edit mode, and a Submit that finds the
settings changed meanwhile opens the conflict dialog instead of writing.

The server check and Detect Settings run in their own modeless views
(``check_dialog``, ``detect``) on workers; the window decides what they test
(the stored settings, or the form's unsaved values) and where their findings
go: saved at once in Read-only mode, put into the form in Write and Edit
mode so that Submit saves them with the rest.  Those modules, and the mail
code behind them, load only when first used; so do the message boxes
(``dialogs``) and ``dataclasses``, and the audit trail's module loads when
the trail is first read or written: none of them is needed to build the window.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeySequence, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from configurator import keys, model, resources
from configurator.errors import (
    UNLOCK_FAILURES,
    ConflictError,
    SettingsUnreadable,
    StoreError,
)
from configurator.store import SETTINGS_FILE_NAME, Access, Store, Stored
from configurator.ui import icons
from configurator.ui.banner import Action, Banner, Kind
from configurator.ui.form import SettingsForm
from configurator.ui.modes import Button, Mode, ModeMachine, Source
from configurator.ui.watcher import SettingsWatcher

if TYPE_CHECKING:
    from configurator import audit
    from configurator.mail import CheckResult
    from configurator.ui import dialogs
    from configurator.ui.check_dialog import CheckDialog, CheckRun
    from configurator.ui.conflict_dialog import ConflictDialog
    from configurator.ui.detect import DetectChoice, DetectDialog, DetectRequest
    from configurator.ui.history import HistoryDialog

TEST_TOOLTIPS: dict[Source, str] = {
    Source.STORED: "Check the stored settings against the server, step by step (Ctrl+T).",
    Source.FORM: "Check the values in the form against the server before saving them (Ctrl+T).",
}
NO_TEST = "Nothing to test: no settings are stored."
TESTING_FORM = "the values in the form (not saved)"
TESTING_STORED = "the stored settings"
TITLE = "Mail Server Configurator"
CHANGED_ELSEWHERE = "The stored settings were changed elsewhere; Submit will ask what to keep."
RELOADED = "Settings were changed elsewhere and reloaded."


#: Why stored settings could not be opened, for the audit trail: only key problems
#: are failed unlocks (a damaged file is not an attempt to get in).
class MainWindow(QMainWindow):
    """The configurator's window over one settings ``Store``."""

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"{TITLE}[*]")
        self.store = store
        self.stored: Stored | None = None
        self.access = Access.WRITE
        self.unreadable: SettingsUnreadable | None = None
        self._snapshot: Stored | None = None
        self._baseline: dict[str, object] | None = None
        self._notice: tuple[Kind, str, str] | None = None
        self._close_confirmed = False
        # Counts mode entries, so that a check started in one Edit session
        # does not put its findings into the form of another.
        self.generation = 0
        self.check_dialog: CheckDialog | None = None
        self.detect_dialog: DetectDialog | None = None
        self.history_dialog: HistoryDialog | None = None
        self.conflict_dialog: ConflictDialog | None = None
        # True while the banner says the stored settings changed under an edit.
        self._changed_elsewhere = False

        self.form = SettingsForm()
        self.form.edited.connect(self._form_edited)
        self.banner = Banner()
        self._build_actions()
        self._build_layout()
        self.machine = ModeMachine(self._enter)
        # Temporary files of saves killed part-way; the store leaves it alone
        # when this account may not write or another program is saving.
        removed = self.store.cleanup()
        self.watcher = SettingsWatcher(
            self.store.data_dir, (SETTINGS_FILE_NAME, keys.KEY_FILE_NAME), self
        )
        self.watcher.changed.connect(self._disk_changed)
        self.reload()
        if removed:
            files = "1 temporary file" if len(removed) == 1 else f"{len(removed)} temporary files"
            self.statusBar().showMessage(f"Removed {files} left by an interrupted save.", 8000)
        self._update_last_change()

    # -- building --------------------------------------------------------

    def _build_actions(self) -> None:
        self.edit_action = QAction(icons.icon(resources.EDIT_ICON), "&Edit", self)
        self.edit_action.setObjectName("editAction")
        self.edit_action.setShortcut(QKeySequence("Ctrl+E"))
        self.edit_action.triggered.connect(self.edit)

        # Enter submits and Escape cancels from anywhere in the window; both
        # are enabled only in the modes where they mean something.
        self.submit_action = QAction("Submit", self)
        self.submit_action.setObjectName("submitShortcut")
        self.submit_action.setShortcuts(
            [QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)]
        )
        self.submit_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.submit_action.triggered.connect(self._enter_pressed)
        self.addAction(self.submit_action)
        self.cancel_action = QAction("Cancel", self)
        self.cancel_action.setObjectName("cancelShortcut")
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.cancel_action.triggered.connect(self.cancel)
        self.addAction(self.cancel_action)

        toolbar = QToolBar("Main Toolbar")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.setFloatable(False)
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.edit_action)

        text_color = self.palette().color(QPalette.ColorRole.WindowText)
        self.history_action = QAction(icons.history_icon(text_color), "&History", self)
        self.history_action.setObjectName("historyAction")
        self.history_action.setShortcut(QKeySequence("Ctrl+H"))
        self.history_action.setToolTip(
            "Who saved, reset or checked these settings, and when (Ctrl+H)."
        )
        self.history_action.triggered.connect(self.show_history)
        toolbar.addAction(self.history_action)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _button(self, text: str, name: str, tooltip: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        button.setToolTip(tooltip)
        return button

    def _build_layout(self) -> None:
        self.test_button = self._button(
            "Test Ser&ver…",
            "testButton",
            "Connect to the server and check each step, optionally sending a test e-mail.",
        )
        self.test_button.setShortcut(QKeySequence("Ctrl+T"))
        self.test_button.clicked.connect(self._start_test)
        self.form.detect_button.clicked.connect(self._start_detect)
        self.reset_button = self._button(
            "R&eset…", "resetButton", "Delete the stored settings and their data key."
        )
        self.reset_button.clicked.connect(self.ask_reset)
        self.cancel_button = self._button(
            "Cance&l", "cancelButton", "Discard the changes and show the stored settings (Esc)."
        )
        self.cancel_button.clicked.connect(self.cancel)
        self.submit_button = self._button(
            "Su&bmit", "submitButton", "Check the settings and store them encrypted (Enter)."
        )
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self.submit)
        self._mode_buttons = {
            Button.RESET: self.reset_button,
            Button.CANCEL: self.cancel_button,
            Button.SUBMIT: self.submit_button,
        }

        heading = QLabel("Outgoing Mail Server")
        heading.setObjectName("heading")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        heading.setFont(font)
        subheading = QLabel("The SMTP server through which the platform sends its alert e-mails.")
        subheading.setObjectName("subheading")
        subheading.setWordWrap(True)
        palette = subheading.palette()
        text, window = (
            palette.color(QPalette.ColorRole.WindowText),
            palette.color(QPalette.ColorRole.Window),
        )
        subdued = QColor(
            (text.red() * 3 + window.red() * 2) // 5,
            (text.green() * 3 + window.green() * 2) // 5,
            (text.blue() * 3 + window.blue() * 2) // 5,
        )
        palette.setColor(QPalette.ColorRole.WindowText, subdued)
        subheading.setPalette(palette)
        self.mode_label = QLabel()
        self.mode_label.setObjectName("modeLabel")
        self.mode_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mode_label.setStyleSheet(
            "QLabel#modeLabel { border: 1px solid palette(mid); border-radius: 9px;"
            " padding: 1px 10px; }"
        )
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(heading)
        titles.addWidget(subheading)
        # Who changed the settings last, from the audit trail; under the title
        # rather than in the status bar, which the settings' location fills.
        self.last_change_label = QLabel()
        self.last_change_label.setObjectName("lastChange")
        self.last_change_label.setTextFormat(Qt.TextFormat.PlainText)
        self.last_change_label.setPalette(palette)
        self.last_change_label.hide()
        titles.addWidget(self.last_change_label)
        header = QHBoxLayout()
        header.addLayout(titles, 1)
        header.addWidget(self.mode_label, 0, Qt.AlignmentFlag.AlignTop)

        rule = QFrame()
        rule.setFrameShape(QFrame.Shape.HLine)
        rule.setFrameShadow(QFrame.Shadow.Sunken)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.submit_button)

        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(18, 14, 18, 14)
        column.setSpacing(12)
        column.addWidget(self.banner)
        column.addLayout(header)
        column.addWidget(self.form)
        column.addStretch(1)
        column.addWidget(rule)
        column.addLayout(buttons)
        self.setCentralWidget(central)

        self.location_label = QLabel()
        self.location_label.setObjectName("storeLocation")
        self.location_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.location_label, 1)
        # Reading the trail waits for the event loop, so that it never delays a mode change.
        self._last_change_timer = QTimer(self)
        self._last_change_timer.setSingleShot(True)
        self._last_change_timer.setInterval(0)
        self._last_change_timer.timeout.connect(self._show_last_change)

        order = [*self.form.focus_order(), self.test_button, self.reset_button]
        order += [self.cancel_button, self.submit_button]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)
        self.setMinimumWidth(620)
        self.resize(700, self.sizeHint().height())

    def createPopupMenu(self) -> QMenu | None:
        """No menu for hiding the toolbar: the Edit action must stay reachable."""
        return None

    # -- size ------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._fit_height()
        return handled

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """Keep the window tall enough for wrapped messages.

        A main window's minimum size ignores height-for-width, so a message
        that wraps onto a second line would be clipped instead of growing
        the window.
        """
        central = self.centralWidget()
        layout = central.layout() if central is not None else None
        if central is None or layout is None or not layout.hasHeightForWidth():
            return
        needed = layout.totalHeightForWidth(central.width())
        chrome = self.height() - central.height()
        if needed > 0 and needed + chrome != self.minimumHeight():
            self.setMinimumHeight(needed + chrome)

    # -- state -------------------------------------------------------------

    @property
    def mode(self) -> Mode | None:
        return self.machine.mode

    @property
    def writable(self) -> bool:
        return self.access is Access.WRITE

    def reload(self) -> None:
        """Read the store again and enter the mode that fits what was found."""
        self.unreadable = None
        self.stored = None
        try:
            self.access = self.store.access()
        except OSError:
            self.access = Access.NONE
        if self.access is Access.NONE:
            self.machine.go(Mode.REFUSED)
            return
        try:
            self.stored = self.store.load()
        except SettingsUnreadable as exc:
            self.unreadable = exc
            self.machine.go(Mode.UNREADABLE)
            if exc.reason in UNLOCK_FAILURES:
                from configurator import audit

                warning = self._record(audit.Action.UNLOCK_FAILED, exc.reason.value)
                if warning is not None:
                    self.statusBar().showMessage(warning)
            return
        if self.stored is None and self.writable:
            self.machine.go(Mode.WRITE)
        else:
            self.machine.go(Mode.READ_ONLY)

    def _enter(self, mode: Mode, previous: Mode | None) -> None:
        """Apply ``mode``: the one place where what the window offers is decided."""
        view = self.machine.view
        if mode is Mode.EDIT:
            assert self.stored is not None
            self._snapshot = self.stored
            self.form.load(self.stored.settings)
            self.form.start_password_entry(keeps_stored=self.stored.settings.password_set)
        elif mode is Mode.READ_ONLY and self.stored is not None:
            self.form.load(self.stored.settings)
        elif mode is Mode.WRITE:
            self.form.load(model.Settings())
            self.form.start_password_entry(keeps_stored=False)
        else:
            self.form.blank()
        if mode is not Mode.EDIT:
            self._snapshot = None
        self._changed_elsewhere = False
        self.form.set_editable(view.form_editable)
        self.form.setEnabled(view.form_enabled)
        for name, button in self._mode_buttons.items():
            button.setVisible(name in view.buttons)
        self.edit_action.setEnabled(view.edit_action and self.writable)
        self.edit_action.setToolTip(self._edit_tooltip(mode))
        self.generation += 1
        self._offer_checks(mode)
        self.submit_action.setEnabled(Button.SUBMIT in view.buttons)
        self.cancel_action.setEnabled(Button.CANCEL in view.buttons)
        self.mode_label.setText(mode.title)
        self._baseline = self.form.values() if view.has_edits else None
        self.setWindowModified(False)
        self._show_banner(mode)
        self._show_location()
        if view.form_editable:
            self.form.editor("account_name").setFocus(Qt.FocusReason.OtherFocusReason)

    def _offer_checks(self, mode: Mode) -> None:
        """Enable Test and Detect Settings where they have settings to work with."""
        source = self.machine.view.test
        testable = source is Source.FORM or (source is Source.STORED and self.stored is not None)
        self.test_button.setEnabled(testable)
        self.test_button.setToolTip(TEST_TOOLTIPS[source] if testable and source else NO_TEST)
        # From Read-only, applying a detected combination enters Edit: only for a writer.
        detect = self.machine.view.form_editable or (
            mode is Mode.READ_ONLY and self.writable and self.stored is not None
        )
        self.form.detect_button.setEnabled(detect)
        self.form.detect_button.setVisible(mode not in (Mode.UNREADABLE, Mode.REFUSED))

    def _edit_tooltip(self, mode: Mode) -> str:
        if not self.writable:
            return f"Read-only: {self._not_writable_reason()}"
        if mode is Mode.READ_ONLY:
            return "Change the stored settings (Ctrl+E)."
        return "Edit is available while the stored settings are shown."

    def _not_writable_reason(self) -> str:
        return (
            f"this account may not change the settings in {self.store.data_dir} "
            "(no write permission). Ask the administrator who manages them, or run "
            "the configurator as that user."
        )

    def _show_banner(self, mode: Mode) -> None:
        notice, self._notice = self._notice, None
        if mode is Mode.REFUSED:
            self.banner.show_message(
                Kind.ERROR,
                "You may not read these settings",
                f"This account has no permission to read the settings in "
                f"{self.store.data_dir}. Ask the administrator who manages them for access, "
                "or start the configurator with --data-dir to use a store of your own.",
                [Action("Tr&y Again", "tryAgainButton", self.reload)],
            )
        elif mode is Mode.UNREADABLE:
            assert self.unreadable is not None
            self.banner.show_message(
                Kind.ERROR,
                "The stored settings cannot be read",
                f"{self.unreadable.detail}\n{self.unreadable.advice}",
                [
                    Action("Tr&y Again", "tryAgainButton", self.reload),
                    Action(
                        "Start A&gain…",
                        "startAgainButton",
                        self.ask_start_again,
                        enabled=self.writable,
                        tooltip=(
                            "Keep the unreadable file aside and enter new settings."
                            if self.writable
                            else f"Not possible: {self._not_writable_reason()}"
                        ),
                    ),
                    Action("&Keep the File and Quit", "quitButton", self.close),
                ],
            )
        elif mode is Mode.READ_ONLY and not self.writable:
            situation = (
                "These settings can be viewed, but"
                if self.stored is not None
                else "No settings are stored yet, and"
            )
            self.banner.show_message(
                Kind.WARNING,
                "Read-only: you may not change these settings",
                f"{situation} {self._not_writable_reason()}",
            )
        elif notice is not None:
            self.banner.show_message(*notice)
        else:
            self.banner.clear()

    def _show_location(self) -> None:
        """Say in the status bar where the settings and their data key live."""
        if self.stored is None:
            key = "not known" if self.mode is Mode.UNREADABLE else "created with the first save"
            detail = key
        elif self.stored.key_location is keys.KeyLocation.KEYRING:
            key = detail = "in the OS keyring"
        else:
            key = f"in {keys.KEY_FILE_NAME} beside it"
            detail = keys.FileKeyStore(self.store.data_dir).describe()
        self.location_label.setText(f"Settings: {self.store.path}  \u2022  Data key: {key}")
        self.location_label.setToolTip(f"Settings file: {self.store.path}\nData key: {detail}")

    # -- unsaved changes ---------------------------------------------------

    def has_unsaved_changes(self) -> bool:
        return self._baseline is not None and self.form.values() != self._baseline

    def _form_edited(self) -> None:
        self.setWindowModified(self.has_unsaved_changes())

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before losing edits: Save, Discard or Cancel (non-blocking)."""
        if self._close_confirmed or not self.has_unsaved_changes():
            # Cancelling only wakes the worker; the window closes without waiting for it.
            for view in (self.check_dialog, self.detect_dialog):
                if view is not None:
                    view.close()
            event.accept()
            return
        event.ignore()
        from PySide6.QtWidgets import QMessageBox

        from configurator.ui import dialogs

        if self.findChild(QMessageBox, "unsavedChanges") is None:
            dialogs.ask(dialogs.unsaved_changes(self), self._answer_unsaved)

    def close_without_asking(self) -> None:
        """Close even with unsaved edits, which are dropped (self-test, shutting down)."""
        self._close_confirmed = True
        self.close()

    def _answer_unsaved(self, answer: dialogs.Button) -> None:
        from configurator.ui import dialogs

        if answer == dialogs.Button.Save:
            if not self.submit():
                return
        elif answer != dialogs.Button.Discard:
            return
        self._close_confirmed = True
        self.close()

    # -- user actions --------------------------------------------------------

    def edit(self) -> None:
        if self.mode is Mode.READ_ONLY and self.writable and self.stored is not None:
            self.machine.go(Mode.EDIT)

    def cancel(self) -> None:
        """Back to Read-only with the snapshot taken on entering Edit; nothing is written."""
        if self.mode is not Mode.EDIT:
            return
        self.stored = self._snapshot
        self.machine.go(Mode.READ_ONLY)
        self.statusBar().showMessage("Changes discarded.", 5000)

    def submit(self) -> bool:
        """Validate and store; True when the settings were saved."""
        if self.mode not in (Mode.WRITE, Mode.EDIT):
            return False
        base = self.stored.settings if self.stored is not None else None
        try:
            settings = model.build(self.form.values(), base)
        except model.ValidationError as exc:
            self.form.set_errors(exc)
            count = len(exc.by_key())
            fields = "1 field needs" if count == 1 else f"{count} fields need"
            self.statusBar().showMessage(f"Not saved: {fields} attention.", 8000)
            return False
        return self._save(settings, self.stored)

    def _save(self, settings: model.Settings, base: Stored | None, *, over: bool = False) -> bool:
        """Store ``settings`` if the store still holds ``base``; record it; enter Read-only.

        ``over``: the user chose to replace settings saved elsewhere (Keep Mine).
        """
        from configurator import audit
        from configurator.ui import dialogs

        expected = base.revision if base is not None else 0
        lineage = base.lineage if base is not None else None
        try:
            saved = self.store.save(settings, expected_revision=expected, expected_lineage=lineage)
        except model.ValidationError as exc:
            self.form.set_errors(exc)
            return False
        except ConflictError:
            self._open_conflict(settings)
            return False
        except SettingsUnreadable as exc:
            dialogs.error(self, "saveFailed", "Not Saved", exc.detail, exc.advice)
            return False
        except StoreError as exc:
            dialogs.error(
                self, "saveFailed", "Not Saved", str(exc), "The stored settings are unchanged."
            )
            return False
        detail = f"revision {saved.revision}"
        if over:
            detail += f", replacing revision {expected} saved elsewhere"
        warning = self._record(
            audit.Action.SUBMIT,
            detail,
            audit.changed_fields(base.settings if base is not None else None, saved.settings),
        )
        self.stored = saved
        self.machine.go(Mode.READ_ONLY)
        self._say(f"Settings saved (revision {saved.revision}).", warning)
        return True

    # -- concurrent changes ------------------------------------------------------

    def _open_conflict(self, mine: model.Settings) -> None:
        """Show what changed elsewhere beside the form's values, and ask what to keep."""
        from configurator import audit
        from configurator.ui import dialogs
        from configurator.ui.conflict_dialog import ConflictDialog

        try:
            theirs = self.store.load()
        except SettingsUnreadable as exc:
            dialogs.error(
                self,
                "saveFailed",
                "Not Saved",
                "The settings were changed elsewhere, and what is stored now cannot be read. "
                + exc.detail,
                exc.advice,
            )
            return
        values = self.form.values()
        dialog = ConflictDialog(
            self,
            base=self.stored.settings if self.stored is not None else None,
            mine=mine,
            password_typed=bool(values.get("password")),
            theirs=theirs,
            last=audit.last_change(self.store.data_dir, self.store.key_backend),
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(partial(self._answer_conflict, dialog))
        self.conflict_dialog = dialog
        dialog.open()

    def _answer_conflict(self, dialog: ConflictDialog, _result: int) -> None:
        from configurator.ui.conflict_dialog import Choice

        self.conflict_dialog = None
        if self.mode not in (Mode.WRITE, Mode.EDIT):
            return
        theirs = dialog.theirs
        if dialog.choice is Choice.KEEP_MINE:
            self._keep_mine(theirs)
        elif dialog.choice is Choice.TAKE_THEIRS:
            self.reload()
            self.statusBar().showMessage(
                "Your changes were discarded; the settings stored now are shown.", 8000
            )
        else:
            self._rebase(theirs)
            now = f"revision {theirs.revision}" if theirs is not None else "nothing is stored"
            self.statusBar().showMessage(
                f"Your edits are kept; Submit now saves them over the stored settings ({now}).",
                8000,
            )

    def _keep_mine(self, theirs: Stored | None) -> None:
        """Save the form over ``theirs``; an empty password keeps *their* password."""
        try:
            settings = model.build(self.form.values(), theirs.settings if theirs else None)
        except model.ValidationError as exc:
            # Only the password can fail here (nothing stored now to keep it from).
            self._rebase(theirs)
            self.form.set_errors(exc)
            self.statusBar().showMessage("Not saved: enter the password.", 8000)
            return
        self._save(settings, theirs, over=True)

    def _rebase(self, theirs: Stored | None) -> None:
        """Keep the form's values but edit from ``theirs`` on (Back to Editing).

        Submit then expects ``theirs``'s revision, Cancel returns to it, and an
        empty password keeps the password stored now.
        """
        values = self.form.values()
        self.stored = theirs
        target = Mode.EDIT if theirs is not None else Mode.WRITE
        if self.mode is target:
            self._snapshot = theirs
            if theirs is not None and not values.get("password"):
                self.form.start_password_entry(keeps_stored=theirs.settings.password_set)
        else:
            if target is Mode.EDIT:
                self.machine.go(Mode.READ_ONLY)  # Edit is entered from Read-only only
            self.machine.go(target)
            self.form.restore(values)
            self._form_edited()
        if self._changed_elsewhere:
            self.banner.clear()
            self._changed_elsewhere = False

    def _disk_changed(self) -> None:
        """The settings files changed on disk: follow in Read-only, announce in Edit."""
        mode = self.mode
        if mode is Mode.REFUSED:
            return
        if mode is Mode.UNREADABLE:
            self.reload()
            if self.mode is not Mode.UNREADABLE:
                self.statusBar().showMessage(RELOADED, 8000)
            return
        try:
            current: Stored | None = self.store.load()
            same = current == self.stored
        except SettingsUnreadable:
            same = False
        if same:
            if self._changed_elsewhere:
                self.banner.clear()
                self._changed_elsewhere = False
            return
        quiet = mode is Mode.READ_ONLY or (
            mode is Mode.WRITE and not self.has_unsaved_changes() and self.conflict_dialog is None
        )
        self._update_last_change()
        if self.history_dialog is not None and self.history_dialog.isVisible():
            self.history_dialog.refresh()
        if quiet:
            self.reload()
            if self.mode is not Mode.UNREADABLE:
                self.statusBar().showMessage(RELOADED, 8000)
            return
        # Edits are never replaced under the user's hands: Submit will ask.
        self._changed_elsewhere = True
        self.banner.show_message(Kind.INFO, CHANGED_ELSEWHERE, "")

    # -- the audit trail ---------------------------------------------------------

    def _record(
        self, action: audit.Action, detail: str = "", fields_changed: tuple[str, ...] = ()
    ) -> str | None:
        """Append to the audit trail; return a warning if that failed (never raises).

        A reader cannot write the trail, and changes nothing worth recording.
        """
        from configurator import audit

        if not self.writable:
            return None
        warning = audit.record(
            self.store.data_dir,
            action,
            fields_changed=fields_changed,
            detail=detail,
            key_backend=self.store.key_backend,
        )
        self._update_last_change()
        if self.history_dialog is not None and self.history_dialog.isVisible():
            self.history_dialog.refresh()
        return warning

    def _say(self, message: str, warning: str | None) -> None:
        """A status bar message, followed by the audit warning if there is one (not a modal)."""
        if warning is None:
            self.statusBar().showMessage(message, 8000)
        else:
            self.statusBar().showMessage(f"{message} {warning}")

    def _update_last_change(self) -> None:
        self._last_change_timer.start()

    def _show_last_change(self) -> None:
        """ "Last changed by <user> at <time>" under the title, from the audit trail."""
        from configurator import audit

        text = ""
        if (self.store.data_dir / audit.AUDIT_FILE_NAME).exists():
            entry = audit.last_change(self.store.data_dir, self.store.key_backend)
            if entry is not None:
                from configurator.ui.history import last_change_text

                text = last_change_text(entry)
        self.last_change_label.setText(text)
        self.last_change_label.setVisible(bool(text))

    def show_history(self) -> None:
        """Open the History view (modeless), read afresh."""
        from configurator.ui.history import HistoryDialog

        if self.history_dialog is None:
            self.history_dialog = HistoryDialog(self, self.store.data_dir, self.store.key_backend)
        self.history_dialog.refresh()
        _bring_up(self.history_dialog)

    def _enter_pressed(self) -> None:
        # A focused button gets Enter, as in dialogs; elsewhere Enter submits.
        focused = QApplication.focusWidget()
        if isinstance(focused, QAbstractButton) and self.isAncestorOf(focused):
            if focused.isEnabled():
                focused.click()
            return
        self.submit()

    def ask_reset(self) -> None:
        from configurator.ui import dialogs

        if self.mode is Mode.EDIT:
            box = dialogs.reset_confirmation(self, self.store.data_dir)
            dialogs.ask(box, self._answer_reset)

    def _answer_reset(self, answer: dialogs.Button) -> None:
        from configurator import audit
        from configurator.ui import dialogs

        if answer != dialogs.Button.Yes or self.mode is not Mode.EDIT:
            return
        self._halt_outgoing_mail()
        try:
            warnings = self.store.reset()
        except StoreError as exc:
            dialogs.error(self, "resetFailed", "Not Reset", str(exc))
            return
        detail = "settings file and data key destroyed"
        if warnings:
            detail = "not all was erased: " + " ".join(warnings)
        warning = self._record(audit.Action.RESET, detail)
        self.stored = None
        self.machine.go(Mode.WRITE)
        message = "Settings reset: the file and its data key were destroyed."
        self.statusBar().showMessage(f"{message} {warning}" if warning else message)
        if warnings:
            details = "\n".join(warnings)
            dialogs.notice(
                self, "resetWarnings", "Reset Incomplete", "Not all was erased.", details
            )

    def ask_start_again(self) -> None:
        from configurator.ui import dialogs

        if self.mode is Mode.UNREADABLE and self.writable:
            box = dialogs.start_again_confirmation(self, self.store.path)
            dialogs.ask(box, self._answer_start_again)

    def _answer_start_again(self, answer: dialogs.Button) -> None:
        from configurator import audit
        from configurator.ui import dialogs

        if answer != dialogs.Button.Yes or self.mode is not Mode.UNREADABLE:
            return
        try:
            kept = self.store.set_aside()
        except (StoreError, OSError) as exc:
            dialogs.error(self, "startAgainFailed", "Could Not Start Again", str(exc))
            return
        warning = self._record(audit.Action.START_AGAIN, f"kept as {kept.name}")
        if warning is not None:
            self.statusBar().showMessage(warning)
        self.unreadable = None
        self.stored = None
        self._notice = (
            Kind.INFO,
            "The unreadable settings file was kept",
            f"It is now {kept}. Enter new settings below.",
        )
        self.machine.go(Mode.WRITE)

    # -- the server check ----------------------------------------------------

    def settings_to_test(self) -> tuple[model.Settings, str] | None:
        """What Test checks now: the stored settings, or the form's values if valid.

        Invalid form values are shown beside their fields, as by Submit, and
        nothing is tested.  An empty password in Edit mode means the stored one.
        """
        source = self.machine.view.test
        if source is Source.STORED and self.stored is not None:
            return self.stored.settings, TESTING_STORED
        if source is not Source.FORM:
            return None
        base = self.stored.settings if self.stored is not None else None
        try:
            settings = model.build(self.form.values(), base)
        except model.ValidationError as exc:
            self.form.set_errors(exc)
            count = len(exc.by_key())
            fields = "1 field needs" if count == 1 else f"{count} fields need"
            self.statusBar().showMessage(f"Not tested: {fields} attention.", 8000)
            return None
        return settings, TESTING_FORM

    def _start_test(self) -> None:
        """Open the results view for what Test checks now; the user starts the check there."""
        found = self.settings_to_test()
        if found is None:
            return
        dialog = self._check_view()
        if not dialog.running:
            dialog.prepare(*found)
        _bring_up(dialog)

    def _check_view(self) -> CheckDialog:
        if self.check_dialog is None:
            from configurator.ui.check_dialog import CheckDialog

            self.check_dialog = CheckDialog(self)
            self.check_dialog.start_requested.connect(self._run_check)
            self.check_dialog.passed_with_recipient.connect(self._remember_recipient)
            self.check_dialog.trust_requested.connect(self._trust_certificate)
            self.check_dialog.check_ended.connect(self._check_ended)
        return self.check_dialog

    def _check_ended(self, result: CheckResult | None) -> None:
        """Record the check's outcome in plain words (cancelled and crashed checks too)."""
        from configurator import audit

        if result is None:
            detail = "stopped unexpectedly"
        elif result.passed:
            detail = "passed"
        elif result.cancelled:
            detail = "cancelled"
        else:
            failed, failure = result.failed_step, result.failure
            summary = failure.summary if failure is not None else "unknown problem"
            detail = f"failed at {failed.title}: {summary}" if failed else f"failed: {summary}"
        run = self.check_dialog.run if self.check_dialog is not None else None
        if run is not None and run.source == TESTING_FORM:
            detail += " (values in the form, not saved)"
        warning = self._record(audit.Action.CHECK, detail)
        if warning is not None:
            self.statusBar().showMessage(warning)

    def _run_check(self) -> None:
        dialog = self.check_dialog
        if dialog is None:
            return
        found = self.settings_to_test()
        if found is None:
            dialog.refuse_start(
                "The form has values that are not valid; each field in the window says why."
                if self.machine.view.test is Source.FORM
                else NO_TEST
            )
            return
        dialog.begin(*found, self.generation)

    def _still_current(self, run: CheckRun) -> bool:
        """Whether findings of ``run`` still belong to what the window shows."""
        import dataclasses

        if self.mode is Mode.READ_ONLY:
            if self.stored is None:
                return False
            # The test recipient and the pin are what a finding changes; the rest must match.
            kept = dataclasses.replace(
                run.settings,
                test_recipient=self.stored.settings.test_recipient,
                tls_fingerprint=self.stored.settings.tls_fingerprint,
            )
            return kept == self.stored.settings
        return self.mode in (Mode.WRITE, Mode.EDIT) and run.generation == self.generation

    def _keep_finding(
        self, run: CheckRun, key: Literal["test_recipient", "tls_fingerprint"], value: str
    ) -> tuple[bool, str]:
        """Save ``key`` (Read-only) or put it into the form (Write, Edit); say what happened."""
        import dataclasses

        from configurator import audit

        label = model.FIELDS_BY_KEY[key].label
        if not self._still_current(run):
            return False, (
                f"{label} was not changed: the settings shown in the window are no "
                "longer the ones this check tested."
            )
        if self.mode is not Mode.READ_ONLY:
            self.form.set_value(key, value)
            return True, f"{label} is set in the form; Submit saves it."
        assert self.stored is not None
        if getattr(self.stored.settings, key) == value:
            return True, ""
        if not self.writable:
            return False, f"{label} was not saved: {self._not_writable_reason()}"
        current = self.stored.settings
        changed = (
            dataclasses.replace(current, test_recipient=value)
            if key == "test_recipient"
            else dataclasses.replace(current, tls_fingerprint=value)
        )
        try:
            saved = self.store.save(
                changed,
                expected_revision=self.stored.revision,
                expected_lineage=self.stored.lineage,
            )
        except ConflictError:
            self.reload()
            return False, (
                f"{label} was not saved: the settings were changed elsewhere meanwhile. "
                "The window shows them now; check them again."
            )
        except (StoreError, model.ValidationError) as exc:
            return False, f"{label} was not saved: {exc}"
        warning = self._record(
            audit.Action.SUBMIT,
            f"revision {saved.revision}, from the server check",
            audit.changed_fields(current, saved.settings),
        )
        if warning is not None:
            self.statusBar().showMessage(warning)
        self.stored = saved
        self.form.load(saved.settings)
        self._show_location()
        return True, f"{label} saved (revision {saved.revision})."

    def _remember_recipient(self, run: CheckRun) -> None:
        _kept, message = self._keep_finding(run, "test_recipient", run.recipient)
        if message and self.check_dialog is not None:
            self.check_dialog.show_notice(message)

    def _trust_certificate(self, run: CheckRun, fingerprint: str) -> None:
        kept, message = self._keep_finding(run, "tls_fingerprint", fingerprint)
        dialog = self.check_dialog
        if dialog is None:
            return
        if not kept:
            dialog.show_notice(message)
            return
        # Prove the pin at once: the check runs again with it.
        self._run_check()
        dialog.show_notice(f"{message} Checking again with the pinned certificate.".strip())

    # -- detecting settings ------------------------------------------------------

    def _start_detect(self) -> None:
        """Probe the form's server for a working port and security, on a worker."""
        from configurator.ui.detect import DetectRequest

        if self.mode is Mode.READ_ONLY and self.stored is not None:
            stored = self.stored.settings
            request = DetectRequest(
                stored.server,
                stored.username,
                stored.password,
                stored.timeout,
                stored.ca_file,
                stored.tls_fingerprint,
            )
        elif self.machine.view.form_editable:
            found = self._detect_request_from_form()
            if found is None:
                return
            request = found
        else:
            return
        dialog = self._detect_view()
        if not dialog.running:
            dialog.begin(request)
        _bring_up(dialog)

    def _detect_request_from_form(self) -> DetectRequest | None:
        from configurator.ui.detect import request_from_form

        # In Edit mode an empty password field means the stored password, as for Submit.
        keep = self.stored.settings.password if self.mode is Mode.EDIT and self.stored else ""
        found = request_from_form(self.form.values(), stored_password=keep)
        if isinstance(found, model.FieldError):
            self.form.set_errors(model.ValidationError([found]))
            self.statusBar().showMessage("Enter the server to detect its settings.", 8000)
            return None
        return found

    def _detect_view(self) -> DetectDialog:
        if self.detect_dialog is None:
            from configurator.ui.detect import DetectDialog

            self.detect_dialog = DetectDialog(self)
            self.detect_dialog.apply_requested.connect(self._apply_detected)
        return self.detect_dialog

    def _apply_detected(self, choice: DetectChoice) -> None:
        """Put the chosen port and security into the form, entering Edit from Read-only."""
        if self.mode is Mode.READ_ONLY:
            self.edit()
        if self.mode not in (Mode.WRITE, Mode.EDIT):
            self.statusBar().showMessage("Not applied: the settings cannot be changed.", 8000)
            return
        if self.form.values()["server"] != choice.server:
            self.statusBar().showMessage(
                "Not applied: Outgoing Mail Server changed since the detection; detect again.",
                8000,
            )
            return
        self.form.apply_connection(choice.port, choice.security)
        if self.detect_dialog is not None:
            self.detect_dialog.accept()
        label = f"{choice.security.label} on port {choice.port}"
        self.statusBar().showMessage(f"{label} is set in the form; Submit saves it.", 8000)

    # -- stopping ------------------------------------------------------------------

    def _stop_checks(self) -> None:
        """Cancel a running check or detection without waiting for the network."""
        for view in (self.check_dialog, self.detect_dialog):
            if view is not None:
                view.cancel()

    def _halt_outgoing_mail(self) -> None:
        """Stop all outgoing mail before the settings are destroyed.

        Today that is a server check (which may be sending its test e-mail)
        or a detection in progress; alert delivery will hold its queue here.
        """
        self._stop_checks()


def _bring_up(view: QWidget) -> None:
    """Show a modeless view, or bring it to the front if it is open already."""
    if view.isVisible():
        view.raise_()
    else:
        view.show()
    view.activateWindow()
