"""Notice when the stored settings change on disk (another window, the command line).

A save replaces ``settings.enc`` by renaming a temporary file over it, which
ends any watch on the old file; so the data directory itself is watched, and
the file paths are added again after every change.  A copy written in place
(a restored backup) is seen through the watch on the file.  While the data
directory does not exist yet, its nearest existing parent is watched until
it appears.

The directory also holds files that change for other reasons (the audit
trail, lock files), and one save touches it several times: events are
gathered for ``DEBOUNCE_MS`` and ``changed`` is emitted only when the
watched files' contents really differ from what was last seen.  Only a
digest of each file is kept, never its contents: one of them is a key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

DEBOUNCE_MS = 200

Signature = tuple[bytes | None, ...]


class SettingsWatcher(QObject):
    """Emits ``changed`` (on the GUI thread) when one of ``names`` in ``data_dir`` changes."""

    changed = Signal()

    def __init__(self, data_dir: Path, names: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.paths = tuple(self.data_dir / name for name in names)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._touched)
        self._watcher.fileChanged.connect(self._touched)
        self._timer = QTimer(self)
        self._timer.setObjectName("settingsWatcherDebounce")
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._settle)
        self._seen = self.signature()
        self._watch()

    def signature(self) -> Signature:
        """A digest of each watched file (``None`` for one that is missing or unreadable)."""
        # cryptography's SHA-256, already loaded to decrypt: hashlib would load OpenSSL again.
        from cryptography.hazmat.primitives import hashes

        found: list[bytes | None] = []
        for path in self.paths:
            try:
                content = path.read_bytes()
            except OSError:
                found.append(None)
                continue
            digest = hashes.Hash(hashes.SHA256())
            digest.update(content)
            found.append(digest.finalize())
        return tuple(found)

    def watched(self) -> list[str]:
        """The paths being watched right now (for tests and diagnosis)."""
        return [*self._watcher.directories(), *self._watcher.files()]

    def _watch(self) -> None:
        """Watch the data directory (or the parent it will appear in) and the existing files.

        A directory this user may not look into is watched through its parent, as
        an absent one is: it cannot be watched itself, and its files cannot even
        be tested for existence (``Path.is_file`` raises PermissionError).
        """
        wanted: list[str] = []
        if self.data_dir.is_dir() and os.access(self.data_dir, os.R_OK | os.X_OK):
            wanted.append(str(self.data_dir))
            wanted += [str(path) for path in self.paths if path.is_file()]
        else:
            parent = next((p for p in self.data_dir.parents if p.is_dir()), None)
            if parent is not None:
                wanted.append(str(parent))
        current = set(self.watched())
        stale = [path for path in current if path not in wanted]
        if stale:
            self._watcher.removePaths(stale)
        missing = [path for path in wanted if path not in current]
        if missing:
            self._watcher.addPaths(missing)

    def _touched(self, _path: str) -> None:
        self._timer.start()  # restarts: one check after the burst of events

    def _settle(self) -> None:
        self._watch()
        now = self.signature()
        if now != self._seen:
            self._seen = now
            self.changed.emit()
