"""Colours the window's parts share, so that an error looks the same everywhere."""

from __future__ import annotations

#: Text that says something is wrong: a field's error, a refused recipient, an unverified entry.
ERROR_COLOR = "#b3261e"
