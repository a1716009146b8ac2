"""Phrases the window's parts share, so that Submit and Test say the same thing."""

from __future__ import annotations


def fields_need_attention(count: int) -> str:
    """``"1 field needs attention"`` or ``"3 fields need attention"``."""
    fields = "1 field needs" if count == 1 else f"{count} fields need"
    return f"{fields} attention"
