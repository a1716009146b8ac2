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

The window itself only assembles: its state (what is stored, the snapshot
being edited, the mode, the generation, the access rights) lives in an
``EditSession`` (``session``, no Qt), whose announcements the window turns
into widgets.  The checks and detection are run by ``check_controller``, a
conflict is resolved by ``conflict``, changes on disk are followed by
``reload`` and the trail is written by ``auditing``; each is created on first
use, talks to the session and sees the window only as a ``host.Host``.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING

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
    Unreadable,
)
from configurator.store import SETTINGS_FILE_NAME, Store, Stored
from configurator.ui import icons, sizing, wording
from configurator.ui.banner import Action, Banner, Kind
from configurator.ui.form import SettingsForm
from configurator.ui.host import bring_up
from configurator.ui.modes import Button, Mode, Source
from configurator.ui.session import CHANGED_ELSEWHERE, NO_TEST, EditSession
from configurator.ui.shortcuts import ShortcutGuard, quit_keys
from configurator.ui.watcher import SettingsWatcher

if TYPE_CHECKING:
    from configurator import audit
    from configurator.ui import dialogs
    from configurator.ui.auditing import AuditRecorder
    from configurator.ui.check_controller import CheckController
    from configurator.ui.check_dialog import CheckDialog
    from configurator.ui.conflict import ConflictHandler
    from configurator.ui.conflict_dialog import ConflictDialog
    from configurator.ui.detect import DetectDialog
    from configurator.ui.history import HistoryDialog
    from configurator.ui.reload import DiskChanges

TEST_TOOLTIPS: dict[Source, str] = {
    Source.STORED: "Check the stored settings against the server, step by step (Ctrl+T).",
    Source.FORM: "Check the values in the form against the server before saving them (Ctrl+T).",
}
TITLE = "Mail Server Configurator"


#: Why stored settings could not be opened, for the audit trail: only key problems
#: are failed unlocks (a damaged file is not an attempt to get in).
class MainWindow(QMainWindow):
    """The configurator's window over one settings ``Store``."""

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"{TITLE}[*]")
        self.store = store
        self.session = EditSession(store)
        self._baseline: dict[str, object] | None = None
        self._notice: tuple[Kind, str, str] | None = None
        self._close_confirmed = False
        # The window's height follows its content (``_fit_height``).
        self._content_height: int | None = None
        self._height_at_rest: int | None = None
        self._last_height = 0
        self._fitting = False
        self.history_dialog: HistoryDialog | None = None
        # The parts below are made on first use, so that they load only then.
        self._checks: CheckController | None = None
        self._conflicts: ConflictHandler | None = None
        self._disk: DiskChanges | None = None
        self._auditor: AuditRecorder | None = None

        self.form = SettingsForm()
        self.form.edited.connect(self.form_edited)
        self.banner = Banner()
        self._build_actions()
        self._build_layout()
        # Edit and Quit work with the focus in any field (X11 gives fields Ctrl+E).
        self.shortcut_guard = ShortcutGuard([self.edit_action, self.quit_action], self)
        self.shortcut_guard.watch(self)
        self.session.on_mode(self._enter)
        self.session.on_changed_elsewhere(self._show_changed_elsewhere)
        self.session.on_stored(self._show_kept)
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
        # Quit from any of the program's windows; closing asks about unsaved edits.
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setObjectName("quitAction")
        self.quit_action.setShortcuts(quit_keys())
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.close)
        self.addAction(self.quit_action)

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
        # Everything but the buttons scrolls when the window would not fit the screen.
        sizing.scroll_body(central, keep=2)
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
        sizing.fit_size(self, 700, self.sizeHint().height())

    def createPopupMenu(self) -> QMenu | None:
        """No menu for hiding the toolbar: the Edit action must stay reachable."""
        return None

    # -- size ------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._fit_height()
            self._follow_content()
        return handled

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()
        self._follow_content()

    def _fit_height(self) -> None:
        """Keep the window tall enough for wrapped messages, and within the screen.

        A main window's minimum size ignores height-for-width, so a message
        that wraps onto a second line would be clipped instead of growing
        the window.
        """
        central = self.centralWidget()
        if central is not None:
            sizing.fit_height(self, central)

    def _follow_content(self) -> None:
        """Shrink back when messages go: a window the content grew returns to its height before.

        ``_fit_height`` makes the content's height the minimum, which grows
        the window but never shrinks it: a blank band would stay above the
        buttons.  A window still at the height the content gave it returns to
        the height it had before the content grew; a height the user chose
        meanwhile is left alone.
        """
        if self._fitting:  # the resize below calls back: the outer call decides
            return
        self._fitting = True
        try:
            target = self.minimumHeight()
            previous, self._content_height = self._content_height, target
            if previous is None or target == previous:
                return
            if target > previous:
                if self._height_at_rest is None:
                    self._height_at_rest = self._last_height
                return
            if self._height_at_rest is None:
                return
            if self.height() > previous or self.isMaximized() or self.isFullScreen():
                self._height_at_rest = None  # the user sized it meanwhile: theirs stays
                return
            rest = max(target, self._height_at_rest)
            if rest < self.height():
                self.resize(self.width(), rest)
            if rest == self._height_at_rest:
                self._height_at_rest = None
        finally:
            self._fitting = False
            self._last_height = self.height()

    # -- state (the session's, read where the window's users look for it) --------

    @property
    def mode(self) -> Mode | None:
        return self.session.mode

    @property
    def stored(self) -> Stored | None:
        return self.session.stored

    @property
    def unreadable(self) -> SettingsUnreadable | None:
        return self.session.unreadable

    @property
    def writable(self) -> bool:
        return self.session.writable

    def widget(self) -> QWidget:
        """The window itself, as parent of the dialogs its helpers open."""
        return self

    def reload(self) -> None:
        """Read the store again and enter the mode that fits what was found."""
        self.session.reload()
        exc = self.session.unreadable
        if exc is not None and exc.reason in UNLOCK_FAILURES:
            from configurator import audit

            warning = self.record(audit.Action.UNLOCK_FAILED, exc.reason.value)
            if warning is not None:
                self.statusBar().showMessage(warning)

    def _enter(self, mode: Mode, previous: Mode | None) -> None:
        """Apply ``mode``: the one place where what the window offers is decided."""
        view = self.session.view
        stored = self.session.stored
        if mode is Mode.EDIT:
            assert stored is not None
            self.form.load(stored.settings)
            self.form.start_password_entry(keeps_stored=stored.settings.password_set)
        elif mode is Mode.READ_ONLY and stored is not None:
            self.form.load(stored.settings)
        elif mode is Mode.WRITE:
            self.form.load(model.Settings())
            self.form.start_password_entry(keeps_stored=False)
        else:
            self.form.blank()
        self.form.set_editable(view.form_editable)
        self.form.setEnabled(view.form_enabled)
        for name, button in self._mode_buttons.items():
            button.setVisible(name in view.buttons)
        self.edit_action.setEnabled(view.edit_action and self.writable)
        self.edit_action.setToolTip(self._edit_tooltip(mode))
        self._offer_checks(mode)
        self.submit_action.setEnabled(Button.SUBMIT in view.buttons)
        self.cancel_action.setEnabled(Button.CANCEL in view.buttons)
        self.mode_label.setText(mode.title)
        self._baseline = self.form.values() if view.has_edits else None
        self.setWindowModified(False)
        self._show_banner(mode)
        self.show_location()
        if view.form_editable:
            self.form.editor("account_name").setFocus(Qt.FocusReason.OtherFocusReason)

    def _offer_checks(self, mode: Mode) -> None:
        """Enable Test and Detect Settings where they have settings to work with."""
        source = self.session.view.test
        testable = self.session.testable
        self.test_button.setEnabled(testable)
        self.test_button.setToolTip(TEST_TOOLTIPS[source] if testable and source else NO_TEST)
        # From Read-only, applying a detected combination enters Edit: only for a writer.
        self.form.detect_button.setEnabled(self.session.can_detect)
        self.form.detect_button.setVisible(mode not in (Mode.UNREADABLE, Mode.REFUSED))

    def _edit_tooltip(self, mode: Mode) -> str:
        if not self.writable:
            return f"Read-only: {self.not_writable_reason()}"
        if mode is Mode.READ_ONLY:
            return "Change the stored settings (Ctrl+E)."
        return "Edit is available while the stored settings are shown."

    def not_writable_reason(self) -> str:
        return self.session.not_writable_reason()

    def _show_banner(self, mode: Mode) -> None:
        notice, self._notice = self._notice, None
        if mode is Mode.REFUSED:
            title = "You may not read these settings"
            try:
                self.store.check()
            except SettingsUnreadable as exc:
                if exc.reason is not Unreadable.NO_ACCESS or os.path.isfile(self.store.data_dir):
                    # Not a directory, or one another account controls.
                    title = "These settings cannot be opened"
            self.banner.show_message(
                Kind.ERROR,
                title,
                self.store.refusal(),  # the store's own words, as the command line gives them
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
                            else f"Not possible: {self.not_writable_reason()}"
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
                f"{situation} {self.not_writable_reason()}",
            )
        elif notice is not None:
            self.banner.show_message(*notice)
        else:
            self.banner.clear()

    def show_location(self) -> None:
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

    def form_edited(self) -> None:
        self.setWindowModified(self.has_unsaved_changes())

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before losing edits: Save, Discard or Cancel (non-blocking)."""
        if self._close_confirmed or not self.has_unsaved_changes():
            if self._checks is not None:
                self._checks.close_views()
            event.accept()
            return
        event.ignore()
        from configurator.ui import dialogs

        if not self._asking_about_edits():
            dialogs.ask(dialogs.unsaved_changes(self), self._answer_unsaved)

    def _asking_about_edits(self) -> bool:
        """Whether the Unsaved Changes box is open (an answered one may linger until deleted)."""
        from PySide6.QtWidgets import QMessageBox

        box = self.findChild(QMessageBox, "unsavedChanges")
        return box is not None and box.isVisible()

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
        self.session.edit()

    def cancel(self) -> None:
        """Back to Read-only with the snapshot taken on entering Edit; nothing is written.

        Edits are not thrown away unasked: as for closing, the user may save
        them, discard them or go on editing.
        """
        if self.mode is not Mode.EDIT:
            return
        if not self.has_unsaved_changes():
            self._discard_edits()
            return
        from configurator.ui import dialogs

        if not self._asking_about_edits():
            box = dialogs.unsaved_changes(self, closing=False)
            dialogs.ask(box, self._answer_cancel)

    def _answer_cancel(self, answer: dialogs.Button) -> None:
        from configurator.ui import dialogs

        if self.mode is not Mode.EDIT:
            return
        if answer == dialogs.Button.Save:
            self.submit()
        elif answer == dialogs.Button.Discard:
            self._discard_edits()

    def _discard_edits(self) -> None:
        self.session.discard_edits()
        self.statusBar().showMessage("Changes discarded.", 5000)

    def submit(self) -> bool:
        """Validate and store; True when the settings were saved."""
        if not self.session.editing:
            return False
        try:
            settings = model.build(self.form.values(), self.session.base)
        except model.ValidationError as exc:
            self.form.set_errors(exc)
            attention = wording.fields_need_attention(len(exc.by_key()))
            self.statusBar().showMessage(f"Not saved: {attention}.", 8000)
            return False
        return self.save(settings, self.stored)

    def save(self, settings: model.Settings, base: Stored | None, *, over: bool = False) -> bool:
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
            self._conflict_handler().open(settings)
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
        warning = self.record(
            audit.Action.SUBMIT,
            detail,
            audit.changed_fields(base.settings if base is not None else None, saved.settings),
        )
        self.session.saved(saved)
        self._say(f"Settings saved (revision {saved.revision}).", warning)
        return True

    # -- concurrent changes ------------------------------------------------------

    @property
    def conflict_dialog(self) -> ConflictDialog | None:
        """The conflict dialog while it asks what to keep."""
        return self._conflicts.dialog if self._conflicts is not None else None

    def _conflict_handler(self) -> ConflictHandler:
        if self._conflicts is None:
            from configurator.ui.conflict import ConflictHandler

            self._conflicts = ConflictHandler(self)
        return self._conflicts

    def _disk_changed(self) -> None:
        """The settings files changed on disk (the watcher says so)."""
        if self._disk is None:
            from configurator.ui.reload import DiskChanges

            self._disk = DiskChanges(self)
        self._disk.changed()

    def _show_changed_elsewhere(self, changed: bool) -> None:
        """Say in the banner that the settings changed under an edit, or take that back."""
        if changed:
            self.banner.show_message(Kind.INFO, CHANGED_ELSEWHERE, "")
        else:
            self.banner.clear()

    def _show_kept(self, stored: Stored) -> None:
        """Show settings saved without a change of mode (a certificate pinned by a check)."""
        self.form.load(stored.settings)
        self.show_location()

    # -- the audit trail ---------------------------------------------------------

    def record(
        self, action: audit.Action, detail: str = "", fields_changed: tuple[str, ...] = ()
    ) -> str | None:
        """Append to the audit trail; return a warning if that failed (never raises)."""
        if self._auditor is None:
            from configurator.ui.auditing import AuditRecorder

            self._auditor = AuditRecorder(self.session, self.trail_changed)
        return self._auditor.record(action, detail, fields_changed)

    def trail_changed(self) -> None:
        """Show what the audit trail says now: the last change and an open History."""
        self._update_last_change()
        if self.history_dialog is not None and self.history_dialog.isVisible():
            self.history_dialog.refresh()

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
        # os.path.exists: False, not PermissionError, in a store this user may not read.
        if os.path.exists(self.store.data_dir / audit.AUDIT_FILE_NAME):
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
        bring_up(self.history_dialog)

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
        warning = self.record(audit.Action.RESET, detail)
        self.session.emptied()
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
        warning = self.record(audit.Action.START_AGAIN, f"kept as {kept.name}")
        if warning is not None:
            self.statusBar().showMessage(warning)
        self._notice = (
            Kind.INFO,
            "The unreadable settings file was kept",
            f"It is now {kept}. Enter new settings below.",
        )
        self.session.emptied()

    # -- the server check and detection -----------------------------------------

    @property
    def check_dialog(self) -> CheckDialog | None:
        return self._checks.check_dialog if self._checks is not None else None

    @property
    def detect_dialog(self) -> DetectDialog | None:
        return self._checks.detect_dialog if self._checks is not None else None

    def _check_controller(self) -> CheckController:
        if self._checks is None:
            from configurator.ui.check_controller import CheckController

            self._checks = CheckController(self)
        return self._checks

    def settings_to_test(self) -> tuple[model.Settings, str] | None:
        """What Test checks now: the stored settings, or the form's values if valid."""
        return self._check_controller().settings_to_test()

    def _start_test(self) -> None:
        self._check_controller().start_test()

    def _start_detect(self) -> None:
        self._check_controller().start_detect()

    # -- stopping ------------------------------------------------------------------

    def _stop_checks(self) -> None:
        """Cancel a running check or detection without waiting for the network."""
        if self._checks is not None:
            self._checks.cancel()

    def _halt_outgoing_mail(self) -> None:
        """Stop all outgoing mail before the settings are destroyed.

        Today that is a server check (which may be sending its test e-mail)
        or a detection in progress; alert delivery will hold its queue here.
        """
        self._stop_checks()
