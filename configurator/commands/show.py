"""``show``: print the stored settings, never the password; the quick path calls ``show_stored``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from configurator import model
from configurator.commands import common
from configurator.console import Exit
from configurator.errors import SettingsUnreadable

if TYPE_CHECKING:
    import argparse

    from configurator.console import Console
    from configurator.store import Store


def run(args: argparse.Namespace, store: Store, console: Console) -> int:
    return show_stored(store, console, as_json=args.json)


def show_stored(store: Store, console: Console, *, as_json: bool) -> int:
    try:
        stored = store.load()
    except SettingsUnreadable as exc:
        return common.report_unreadable(exc, store, console)
    if stored is None:
        console.err(f"No mail server settings are stored in {store.data_dir}.")
        common.tell_how_to_store(store, console)
        return Exit.NOT_CONFIGURED
    if as_json:
        console.out(json.dumps(public_settings(stored.settings), indent=2))
        return Exit.OK

    from configurator import keys

    settings = stored.settings
    rows = [
        (spec.label, spec.type.describe(getattr(settings, spec.key)))
        for spec in model.FIELDS
        if not spec.advanced or _differs_from_default(settings, spec.key)
    ]
    place = [
        ("Stored in", str(store.path)),
        ("Data key", keys.store_for(stored.key_location, store.data_dir).describe()),
        ("Revision", f"{stored.revision}, saved {stored.saved_at or 'at an unknown time'}"),
    ]
    if store.shared:
        place.insert(1, ("Scope", store.scope()))
    width = max(len(label) for label, _ in rows + place) + 1
    common.print_fields(console, rows, width)
    console.out()
    common.print_fields(console, place, width)
    return Exit.OK


def public_settings(settings: model.Settings) -> dict[str, object]:
    """What ``show --json`` prints: the basic fields, ``password_set``, changed advanced ones."""
    everything = settings.public_dict()
    data = {
        spec.key: everything[spec.key]
        for spec in model.FIELDS
        if not spec.advanced and not spec.secret
    }
    data["password_set"] = settings.password_set
    for spec in model.FIELDS:
        if spec.advanced and _differs_from_default(settings, spec.key):
            data[spec.key] = everything[spec.key]
    return data


def _differs_from_default(settings: model.Settings, key: str) -> bool:
    return bool(getattr(settings, key) != getattr(type(settings)(), key))
