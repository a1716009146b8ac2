"""Keeping windows tall enough for text that wraps, and never taller than the screen.

A top-level widget's minimum size ignores height-for-width: a message that
wraps onto more lines than the layout first planned for would be clipped
instead of growing the window.  ``fit_height`` corrects that; the windows
call it whenever their layout changes.

No window may grow past the screen's available area (a server check with its
conversation unfolded once ended 50 px below a 900 px screen, its Close
button out of reach).  So each window keeps its buttons outside a
``FitScroll`` that holds everything else (``scroll_body``): the scroll area
asks for all the height its content wants, ``fit_height`` grants it up to
the available height, and beyond that the content scrolls while the
buttons stay in view.  ``keep_on_screen`` moves a window that grew past an
edge back inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRect, QSize, Qt
from PySide6.QtWidgets import QBoxLayout, QFrame, QLayout, QScrollArea, QVBoxLayout, QWidget

if TYPE_CHECKING:
    # Only the views with lists need it; the main window imports this module at start.
    from PySide6.QtWidgets import QTreeWidget

#: Room for a title bar before the window manager has framed a window (then it is measured).
FRAME_GUESS = QSize(8, 40)
#: The least height a scrolling body shrinks to: a few lines stay readable.
MIN_BODY_HEIGHT = 96


class FitScroll(QScrollArea):
    """A frameless scroll area as tall as its content wants, yet willing to shrink and scroll."""

    def __init__(self, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scrollBody")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.content = content
        self.setWidgetResizable(True)
        self.setWidget(content)
        # The window's own background shows through, as before the body scrolled.
        self.viewport().setAutoFillBackground(False)
        content.setAutoFillBackground(False)
        content.installEventFilter(self)

    def content_height(self, width: int) -> int:
        content = self.content
        layout = content.layout()
        if layout is not None and layout.hasHeightForWidth():
            return layout.totalHeightForWidth(width)
        return content.sizeHint().height()

    def sizeHint(self) -> QSize:
        content = self.content
        # The width without a scroll bar: at the height asked for here, none is needed
        # (asked at the narrower width while one shows, the answer would keep it shown).
        frame = 2 * self.frameWidth()
        width = self.width() - frame if self.isVisible() else content.sizeHint().width()
        height = self.content_height(max(width, 1)) + frame
        return QSize(content.sizeHint().width(), height)

    def minimumSizeHint(self) -> QSize:
        least = self.content.minimumSizeHint()
        return QSize(least.width(), min(MIN_BODY_HEIGHT, self.sizeHint().height()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The content's needs changed: so did this area's size hint, which the window
        # reads.  The window refits now rather than some event-loop turns later, which
        # would show a scroll bar for a moment each time a message appears.
        if watched is self.content and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
            window = self.window()
            if window is not self and window.isVisible():
                QCoreApplication.sendEvent(window, QEvent(QEvent.Type.LayoutRequest))
        return super().eventFilter(watched, event)


def scroll_body(widget: QWidget, keep: int = 1) -> FitScroll:
    """Move all but the last ``keep`` items of ``widget``'s box layout into a ``FitScroll``.

    The kept items (the button row) stay below it, always in view.
    """
    outer = widget.layout()
    assert isinstance(outer, QBoxLayout)
    content = QWidget()
    content.setObjectName("scrollBodyContent")
    inner = QVBoxLayout(content)
    inner.setContentsMargins(0, 0, 0, 0)
    inner.setSpacing(outer.spacing())
    moved = outer.count() - keep
    for _ in range(moved):
        stretch = outer.stretch(0)
        first = outer.itemAt(0)
        assert first is not None
        child = first.widget()
        if child is not None:
            # removeWidget deletes the old layout item first: a widget keeps a link to
            # one item only, and a new item made while the old lives would never learn
            # that the widget's height changed.
            alignment = first.alignment()
            outer.removeWidget(child)
            inner.addWidget(child, stretch, alignment)
            continue
        item = outer.takeAt(0)
        assert item is not None
        sublayout = item.layout()
        if sublayout is not None:
            inner.addLayout(sublayout, stretch)
        else:
            inner.addItem(item)
            inner.setStretch(inner.count() - 1, stretch)
    area = FitScroll(content)
    outer.insertWidget(0, area, 1)
    return area


def frame_size(window: QWidget) -> QSize:
    """What the window manager adds around ``window`` (guessed until it has framed it)."""
    if window.isVisible():
        frame = window.frameGeometry().size() - window.geometry().size()
        if frame.height() > 0:
            return frame
    return FRAME_GUESS


def available(window: QWidget) -> QSize:
    """The largest size ``window`` may take, its frame included, on its screen."""
    area: QRect = window.screen().availableGeometry()
    return area.size() - frame_size(window)


def fit_size(window: QWidget, width: int, height: int) -> None:
    """Resize ``window`` to ``width`` x ``height``, or less where the screen is smaller."""
    room = available(window)
    window.resize(min(width, room.width()), min(height, room.height()))


def keep_on_screen(window: QWidget) -> None:
    """Move a shown window whose frame crosses an edge of the available area back inside."""
    if not window.isVisible():
        return
    area = window.screen().availableGeometry()
    frame = window.frameGeometry()
    x = max(area.left(), min(frame.left(), area.right() + 1 - frame.width()))
    y = max(area.top(), min(frame.top(), area.bottom() + 1 - frame.height()))
    if (x, y) != (frame.left(), frame.top()):
        window.move(x, y)


def fit_height(window: QWidget, inner: QWidget | None = None) -> None:
    """Give ``window`` the height its layout needs at its width, up to the screen's.

    ``inner`` is the widget whose layout decides (a main window's central
    widget); what ``window`` has around it (toolbar, status bar) is added.
    """
    inner = inner if inner is not None else window
    layout: QLayout | None = inner.layout()
    if layout is None:
        return
    margins = inner.contentsMargins()
    width = inner.width() - margins.left() - margins.right()
    if layout.hasHeightForWidth():
        needed = layout.totalHeightForWidth(width)
    else:
        needed = layout.totalSizeHint().height()
    needed += margins.top() + margins.bottom()
    if inner is not window:
        needed += window.height() - inner.height()
    room = available(window).height()
    wanted = min(needed, room)
    grown = wanted > window.height()
    if wanted > 0 and wanted != window.minimumHeight():
        window.setMinimumHeight(wanted)
    if window.height() > room:
        window.resize(window.width(), room)
        grown = True
    if grown:  # a window the user moved is left where it is, unless it just grew
        keep_on_screen(window)


def refits(event: QEvent) -> bool:
    """Whether ``event`` may have changed the height a layout needs."""
    return event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize, QEvent.Type.Show)


def show_all_rows(tree: QTreeWidget) -> None:
    """Make a short list exactly tall enough for all its rows (no scroll bar, no gap)."""
    rows = tree.topLevelItemCount()
    row_height = tree.sizeHintForRow(0) if rows else tree.fontMetrics().height() + 4
    header = tree.header().sizeHint().height() if not tree.isHeaderHidden() else 0
    frame = 2 * tree.frameWidth()
    tree.setFixedHeight(header + max(rows, 1) * row_height + frame + 2)
