"""Icons from the program's resources (SVG, drawn by Qt's SVG icon engine)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from configurator import resources


class IconError(RuntimeError):
    """An icon file is missing or cannot be drawn (for example, no SVG support)."""


def icon(name: str) -> QIcon:
    """The icon ``name`` (a file in resources/); an empty icon if it cannot be loaded.

    The window must still open without an icon; the self-test uses
    ``check_icon`` to report the problem instead.
    """
    try:
        return QIcon(str(resources.resource_path(name)))
    except FileNotFoundError:
        return QIcon()


def check_icon(name: str) -> QIcon:
    """Load icon ``name`` and prove it can be drawn; raise ``IconError`` if not."""
    try:
        path = resources.resource_path(name)
    except FileNotFoundError as exc:
        raise IconError(str(exc)) from None
    loaded = QIcon(str(path))
    if loaded.isNull() or loaded.pixmap(32, 32).isNull():
        raise IconError(f"The icon {path} cannot be drawn (is Qt's SVG support missing?).")
    return loaded


def check_all() -> list[str]:
    """Load every icon of the program; return one message per icon that failed."""
    problems: list[str] = []
    for name in resources.ICON_NAMES:
        try:
            check_icon(name)
        except IconError as exc:
            problems.append(str(exc))
    return problems
