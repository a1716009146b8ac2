"""The main window: assembles the form, the buttons, the banner and the mode machine.

It stays thin on purpose.  What a setting may be is the model's business
(``model.build``); how it is kept is the store's (``Store.save``, ``reset``,
``set_aside``); what the user can do in each mode is the table in ``modes``.
The window connects them and shows the outcome.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeySequence, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from configurator import keys, model, resources
from configurator.errors import ConflictError, SettingsUnreadable, StoreError
from configurator.store import Access, Store, Stored
from configurator.ui import dialogs, icons
from configurator.ui.banner import Action, Banner, Kind
from configurator.ui.form import SettingsForm
from configurator.ui.modes import Button, Mode, ModeMachine

TEST_UNAVAILABLE = "The server check is not available yet."
TITLE = "Mail Server Configurator"


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

        self.form = SettingsForm()
        self.form.edited.connect(self._form_edited)
        self.banner = Banner()
        self._build_actions()
        self._build_layout()
        self.machine = ModeMachine(self._enter)
        self.reload()

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
        self.test_button.setEnabled(False)
        self.test_button.setToolTip(TEST_UNAVAILABLE)
        self.test_button.clicked.connect(self._start_test)
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
        self.form.set_editable(view.form_editable)
        self.form.setEnabled(view.form_enabled)
        for name, button in self._mode_buttons.items():
            button.setVisible(name in view.buttons)
        self.edit_action.setEnabled(view.edit_action and self.writable)
        self.edit_action.setToolTip(self._edit_tooltip(mode))
        self.submit_action.setEnabled(Button.SUBMIT in view.buttons)
        self.cancel_action.setEnabled(Button.CANCEL in view.buttons)
        self.mode_label.setText(mode.title)
        self._baseline = self.form.values() if view.has_edits else None
        self.setWindowModified(False)
        self._show_banner(mode)
        self._show_location()
        if view.form_editable:
            self.form.editor("account_name").setFocus(Qt.FocusReason.OtherFocusReason)

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
            event.accept()
            return
        event.ignore()
        if self.findChild(QMessageBox, "unsavedChanges") is None:
            dialogs.ask(dialogs.unsaved_changes(self), self._answer_unsaved)

    def close_without_asking(self) -> None:
        """Close even with unsaved edits, which are dropped (self-test, shutting down)."""
        self._close_confirmed = True
        self.close()

    def _answer_unsaved(self, answer: dialogs.Button) -> None:
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
        expected = self.stored.revision if self.stored is not None else 0
        try:
            saved = self.store.save(settings, expected_revision=expected)
        except model.ValidationError as exc:
            self.form.set_errors(exc)
            return False
        except ConflictError:
            dialogs.ask(dialogs.conflict(self), self._answer_conflict)
            return False
        except SettingsUnreadable as exc:
            dialogs.error(self, "saveFailed", "Not Saved", exc.detail, exc.advice)
            return False
        except StoreError as exc:
            dialogs.error(
                self, "saveFailed", "Not Saved", str(exc), "The stored settings are unchanged."
            )
            return False
        self.stored = saved
        self.machine.go(Mode.READ_ONLY)
        self.statusBar().showMessage(f"Settings saved (revision {saved.revision}).", 8000)
        return True

    def _answer_conflict(self, answer: dialogs.Button) -> None:
        if answer == dialogs.Button.Reset:
            self.reload()

    def _enter_pressed(self) -> None:
        # A focused button gets Enter, as in dialogs; elsewhere Enter submits.
        focused = QApplication.focusWidget()
        if isinstance(focused, QAbstractButton) and self.isAncestorOf(focused):
            if focused.isEnabled():
                focused.click()
            return
        self.submit()

    def ask_reset(self) -> None:
        if self.mode is Mode.EDIT:
            box = dialogs.reset_confirmation(self, self.store.data_dir)
            dialogs.ask(box, self._answer_reset)

    def _answer_reset(self, answer: dialogs.Button) -> None:
        if answer != dialogs.Button.Yes or self.mode is not Mode.EDIT:
            return
        self._halt_outgoing_mail()
        try:
            warnings = self.store.reset()
        except StoreError as exc:
            dialogs.error(self, "resetFailed", "Not Reset", str(exc))
            return
        self.stored = None
        self.machine.go(Mode.WRITE)
        self.statusBar().showMessage("Settings reset: the file and its data key were destroyed.")
        if warnings:
            details = "\n".join(warnings)
            dialogs.notice(
                self, "resetWarnings", "Reset Incomplete", "Not all was erased.", details
            )

    def ask_start_again(self) -> None:
        if self.mode is Mode.UNREADABLE and self.writable:
            box = dialogs.start_again_confirmation(self, self.store.path)
            dialogs.ask(box, self._answer_start_again)

    def _answer_start_again(self, answer: dialogs.Button) -> None:
        if answer != dialogs.Button.Yes or self.mode is not Mode.UNREADABLE:
            return
        try:
            kept = self.store.set_aside()
        except (StoreError, OSError) as exc:
            dialogs.error(self, "startAgainFailed", "Could Not Start Again", str(exc))
            return
        self.unreadable = None
        self.stored = None
        self._notice = (
            Kind.INFO,
            "The unreadable settings file was kept",
            f"It is now {kept}. Enter new settings below.",
        )
        self.machine.go(Mode.WRITE)

    # -- hooks for work that arrives later -----------------------------------

    def _start_test(self) -> None:
        """Start the server check (not available yet: the Test button stays disabled)."""

    def _halt_outgoing_mail(self) -> None:
        """Stop every outgoing alert delivery before the settings are destroyed.

        Nothing sends mail yet; alert delivery will hold its queue here.
        """
