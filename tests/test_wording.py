"""Phrases the window's parts share."""

from __future__ import annotations

from configurator.ui.wording import fields_need_attention


def test_one_field_and_several_fields_are_counted_in_plain_words() -> None:
    assert fields_need_attention(1) == "1 field needs attention"
    assert fields_need_attention(3) == "3 fields need attention"
