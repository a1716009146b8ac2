"""The window follows changes made on disk by another window or program.

Read-only: it reloads within a second and says so.  Edit: the form stays as
the user left it, and a banner says Submit will ask.  Unreadable: a repair
on disk is noticed.  Every change is a real save through another ``Store``
(or another window) in the same data directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from support.window import (
    STORED,
    OpenWindow,
    line,
    save_elsewhere,
    type_into,
)

from configurator import audit
from configurator.store import Store
from configurator.ui.banner import Kind
from configurator.ui.modes import Mode
from configurator.ui.session import CHANGED_ELSEWHERE, RELOADED
from configurator.ui.watcher import SettingsWatcher
from configurator.ui.window import MainWindow

SOON_MS = 1000  # "within a second"

pytest_plugins = ["support.window"]


def status(window: MainWindow) -> str:
    return window.statusBar().currentMessage()


def test_read_only_reloads_what_was_saved_elsewhere(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    assert window.mode is Mode.READ_ONLY

    save_elsewhere(data_dir, server="elsewhere.example.com")

    qtbot.waitUntil(
        lambda: line(window, "server").text() == "elsewhere.example.com", timeout=SOON_MS
    )
    assert window.mode is Mode.READ_ONLY
    assert status(window) == RELOADED
    assert window.stored is not None
    assert window.stored.revision == 2


def test_edit_mode_keeps_the_form_and_shows_a_banner(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    window.edit()
    type_into(qtbot, line(window, "server"), "mine.example.com")

    save_elsewhere(data_dir, server="elsewhere.example.com")

    qtbot.waitUntil(window.banner.isVisible, timeout=SOON_MS)
    assert window.banner.title() == CHANGED_ELSEWHERE
    assert window.banner.kind is Kind.INFO
    assert window.mode is Mode.EDIT
    assert line(window, "server").text() == "mine.example.com"
    assert window.isWindowModified()


def test_two_windows_a_save_in_one_is_shown_in_the_other(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    editing, watching = open_window(), open_window()
    editing.edit()
    type_into(qtbot, line(editing, "server"), "new.example.com")

    qtbot.mouseClick(editing.submit_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: line(watching, "server").text() == "new.example.com", timeout=SOON_MS)
    assert status(watching) == RELOADED
    # The window that saved does not take its own save for someone else's.
    qtbot.wait(2 * 200 + 100)
    assert status(editing) != RELOADED
    assert editing.mode is Mode.READ_ONLY


def test_a_window_in_write_mode_without_input_shows_settings_saved_elsewhere(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    """The data directory does not even exist when the window opens."""
    assert not data_dir.exists()
    window = open_window()
    assert window.mode is Mode.WRITE

    Store(data_dir).save(STORED)

    qtbot.waitUntil(lambda: window.mode is Mode.READ_ONLY, timeout=SOON_MS)
    assert line(window, "server").text() == STORED.server


def test_a_window_in_write_mode_with_input_keeps_it(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    window = open_window()
    type_into(qtbot, line(window, "server"), "mine.example.com")

    Store(data_dir).save(STORED)

    qtbot.waitUntil(lambda: window.banner.title() == CHANGED_ELSEWHERE, timeout=SOON_MS)
    assert window.mode is Mode.WRITE
    assert line(window, "server").text() == "mine.example.com"


def test_a_reset_elsewhere_returns_a_read_only_window_to_write_mode(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()

    Store(data_dir).reset()

    qtbot.waitUntil(lambda: window.mode is Mode.WRITE, timeout=SOON_MS)
    assert line(window, "server").text() == ""


def test_a_repaired_key_is_noticed_in_unreadable_mode(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path, tmp_path: Path
) -> None:
    Store(data_dir).save(STORED)
    kept = tmp_path / "settings.key.backup"
    shutil.move(data_dir / "settings.key", kept)
    window = open_window()
    assert window.mode is Mode.UNREADABLE

    shutil.copy2(kept, data_dir / "settings.key")

    qtbot.waitUntil(lambda: window.mode is Mode.READ_ONLY, timeout=SOON_MS)
    assert line(window, "server").text() == STORED.server
    assert status(window) == RELOADED


def test_a_damaged_file_is_noticed_in_read_only_mode(
    qtbot: QtBot, open_window: OpenWindow, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    window = open_window()
    path = data_dir / "settings.enc"
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x01

    path.write_bytes(bytes(blob))  # in place, not by rename: the watch on the file sees it

    qtbot.waitUntil(lambda: window.mode is Mode.UNREADABLE, timeout=SOON_MS)
    assert path.read_bytes() == bytes(blob)  # never repaired or replaced unasked


def test_the_audit_trail_and_lock_files_do_not_count_as_changes(
    qtbot: QtBot, data_dir: Path
) -> None:
    Store(data_dir).save(STORED)
    watcher = SettingsWatcher(data_dir, ("settings.enc", "settings.key"))
    seen: list[None] = []
    watcher.changed.connect(lambda: seen.append(None))
    assert str(data_dir) in watcher.watched()

    assert audit.record(data_dir, audit.Action.CHECK, detail="passed") is None
    (data_dir / "unrelated.txt").write_text("x")
    qtbot.wait(600)
    assert seen == []

    with qtbot.waitSignal(watcher.changed, timeout=SOON_MS):
        save_elsewhere(data_dir, port=2525)


def test_a_burst_of_saves_is_one_change(qtbot: QtBot, data_dir: Path) -> None:
    Store(data_dir).save(STORED)
    watcher = SettingsWatcher(data_dir, ("settings.enc", "settings.key"))
    seen: list[None] = []
    watcher.changed.connect(lambda: seen.append(None))

    for port in (2525, 2526, 2527, 2528):
        save_elsewhere(data_dir, port=port)
        qtbot.wait(40)  # the events of each save arrive before the next one
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=SOON_MS)
    qtbot.wait(400)

    assert len(seen) == 1
