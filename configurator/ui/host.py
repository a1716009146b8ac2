"""What the window's helpers may ask of the window, without importing it; ``bring_up``.

The check controller, the conflict handler and the reaction to changes on
disk work for the main window but must not import ``window`` (which creates
them): that would be an import cycle.  They see the window through this
protocol; the state they share lives in its ``session``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStatusBar, QWidget

    from configurator import audit, model
    from configurator.store import Store, Stored
    from configurator.ui.conflict_dialog import ConflictDialog
    from configurator.ui.form import SettingsForm
    from configurator.ui.session import EditSession


class Host(Protocol):
    """The main window as its helpers use it."""

    store: Store
    session: EditSession
    form: SettingsForm

    @property
    def conflict_dialog(self) -> ConflictDialog | None: ...

    def widget(self) -> QWidget:
        """The window itself, as parent of the dialogs the helpers open."""
        ...

    def statusBar(self) -> QStatusBar: ...

    def reload(self) -> None: ...

    def edit(self) -> None: ...

    def form_edited(self) -> None: ...

    def has_unsaved_changes(self) -> bool: ...

    def save(
        self, settings: model.Settings, base: Stored | None, *, over: bool = False
    ) -> bool: ...

    def record(
        self, action: audit.Action, detail: str = "", fields_changed: tuple[str, ...] = ()
    ) -> str | None: ...

    def trail_changed(self) -> None: ...


def bring_up(view: QWidget) -> None:
    """Show a modeless view, or bring it to the front if it is open already."""
    if view.isVisible():
        view.raise_()
    else:
        view.show()
    view.activateWindow()
