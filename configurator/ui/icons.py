"""Icons: SVG files from the program's resources, and status icons drawn in code."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

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


# -- drawn status icons ----------------------------------------------------------

#: Colours of the step outcomes: green passed, red failed, blue running, grey not run.
_OUTCOME_COLORS: dict[str, str] = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#9e9e9e",
    "skipped": "#9e9e9e",
    "cancelled": "#e65100",
    "warning": "#e08a00",
}

_OUTCOME_ICONS: dict[str, QIcon] = {}


def outcome_icon(outcome: str) -> QIcon:
    """A small round icon for a step outcome (``mail.Outcome`` value) or "warning".

    Drawn rather than loaded: these icons say whether a check passed, so they
    must show even where Qt cannot draw SVG files.
    """
    if outcome not in _OUTCOME_COLORS:
        raise ValueError(f"no icon for outcome {outcome!r}")
    cached = _OUTCOME_ICONS.get(outcome)
    if cached is not None:
        return cached
    drawn = QIcon()
    for size in (16, 20, 24, 32, 48):
        drawn.addPixmap(_draw_outcome(outcome, size))
    _OUTCOME_ICONS[outcome] = drawn
    return drawn


def _draw_outcome(outcome: str, size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    color = QColor(_OUTCOME_COLORS[outcome])
    white = QColor("#ffffff")
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        unit = size / 16.0
        stroke = QPen(white, 1.8 * unit)
        stroke.setCapStyle(Qt.PenCapStyle.RoundCap)
        stroke.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        disc = QRectF(1 * unit, 1 * unit, 14 * unit, 14 * unit)
        if outcome == "warning":
            triangle = QPainterPath()
            triangle.moveTo(8 * unit, 1 * unit)
            triangle.lineTo(15.2 * unit, 14.5 * unit)
            triangle.lineTo(0.8 * unit, 14.5 * unit)
            triangle.closeSubpath()
            painter.fillPath(triangle, color)
            painter.setPen(stroke)
            painter.drawLine(QPointF(8 * unit, 5.5 * unit), QPointF(8 * unit, 9.5 * unit))
            painter.drawPoint(QPointF(8 * unit, 12.2 * unit))
            return pixmap
        if outcome in ("pending", "running"):
            # Hollow: nothing has happened yet (pending) or is happening (running).
            ring = QPen(color, 1.6 * unit)
            painter.setPen(ring)
            painter.drawEllipse(disc.adjusted(0.8 * unit, 0.8 * unit, -0.8 * unit, -0.8 * unit))
            if outcome == "running":
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(color)
                for x in (5.0, 8.0, 11.0):
                    painter.drawEllipse(QPointF(x * unit, 8 * unit), 1.1 * unit, 1.1 * unit)
            return pixmap
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawEllipse(disc)
        painter.setPen(stroke)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if outcome == "passed":
            tick = QPainterPath()
            tick.moveTo(4.6 * unit, 8.3 * unit)
            tick.lineTo(7.0 * unit, 10.7 * unit)
            tick.lineTo(11.5 * unit, 5.6 * unit)
            painter.drawPath(tick)
        elif outcome == "failed":
            painter.drawLine(QPointF(5.3 * unit, 5.3 * unit), QPointF(10.7 * unit, 10.7 * unit))
            painter.drawLine(QPointF(10.7 * unit, 5.3 * unit), QPointF(5.3 * unit, 10.7 * unit))
        elif outcome == "cancelled":
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(white)
            painter.drawRect(QRectF(5.5 * unit, 5.5 * unit, 5 * unit, 5 * unit))
        else:  # skipped
            painter.drawLine(QPointF(5 * unit, 8 * unit), QPointF(11 * unit, 8 * unit))
    finally:
        painter.end()
    return pixmap


def history_icon(color: QColor) -> QIcon:
    """A clock face for the History action, drawn in ``color`` (the toolbar's text colour)."""
    drawn = QIcon()
    for size in (16, 20, 24, 32, 48):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            unit = size / 16.0
            pen = QPen(color, 1.4 * unit)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QRectF(1.7 * unit, 1.7 * unit, 12.6 * unit, 12.6 * unit))
            middle = QPointF(8 * unit, 8 * unit)
            painter.drawLine(middle, QPointF(8 * unit, 4.3 * unit))
            painter.drawLine(middle, QPointF(10.8 * unit, 9.7 * unit))
        finally:
            painter.end()
        drawn.addPixmap(pixmap)
    return drawn
