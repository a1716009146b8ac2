"""Keeping windows tall enough for text that wraps.

A top-level widget's minimum size ignores height-for-width: a message that
wraps onto more lines than the layout first planned for would be clipped
instead of growing the window.  ``fit_height`` corrects that; the dialogs
call it whenever their layout changes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QTreeWidget, QWidget


def fit_height(widget: QWidget) -> None:
    """Raise ``widget``'s minimum height to what its layout needs at the current width."""
    layout = widget.layout()
    if layout is None or not layout.hasHeightForWidth():
        return
    margins = widget.contentsMargins()
    width = widget.width() - margins.left() - margins.right()
    needed = layout.totalHeightForWidth(width) + margins.top() + margins.bottom()
    if needed > 0 and needed != widget.minimumHeight():
        widget.setMinimumHeight(needed)


def refits(event: QEvent) -> bool:
    """Whether ``event`` may have changed the height a layout needs."""
    return event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize)


def show_all_rows(tree: QTreeWidget) -> None:
    """Make a short list exactly tall enough for all its rows (no scroll bar, no gap)."""
    rows = tree.topLevelItemCount()
    row_height = tree.sizeHintForRow(0) if rows else tree.fontMetrics().height() + 4
    header = tree.header().sizeHint().height() if not tree.isHeaderHidden() else 0
    frame = 2 * tree.frameWidth()
    tree.setFixedHeight(header + max(rows, 1) * row_height + frame + 2)
