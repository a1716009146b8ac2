"""Wiring for the window: ``create_window()`` for tests, ``run()`` for the command line.

Qt, the store and the window are imported inside the functions: the command
line imports this module only to launch the window, and every import saved
shortens the time until the window appears.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from configurator.ui.window import MainWindow

APP_NAME = "mail-server-configurator"
DISPLAY_NAME = "Mail Server Configurator"

#: When set (to anything), ``run`` prints ``startup-probe <monotonic ns>`` as soon as
#: the window has first been drawn, then quits: benchmarks/startup.py times launches
#: with it against a bare PySide6 window that reports the same moment the same way.
STARTUP_PROBE_ENV = "CONFIGURATOR_STARTUP_PROBE"


def create_window(data_dir: Path | None = None) -> MainWindow:
    """The main window over the store in ``data_dir`` (None: the usual place).

    A ``QApplication`` must exist.  Raises ``StoreError`` only for a
    configuration the window cannot work with at all (an unknown
    ``CONFIGURATOR_KEY_BACKEND``); unreadable settings open the window with a
    banner instead.
    """
    from configurator import paths
    from configurator.store import Store
    from configurator.ui.window import MainWindow

    return MainWindow(Store(paths.resolve_data_dir(data_dir)))


def application() -> QApplication:
    """The running ``QApplication``, created and named if there is none yet."""
    from PySide6.QtWidgets import QApplication

    from configurator import __version__, resources
    from configurator.ui import icons

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    # No display name: Qt would append it to every window title ("Unsaved Changes —
    # Mail Server Configurator"), twice over in the main window's own title.
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_NAME)
    app.setWindowIcon(icons.icon(resources.APP_ICON))
    return app


def run(data_dir: Path | None, *, self_test: bool = False) -> int:
    """Open the window and run until it closes, then end the process at once (``_leave``).

    With ``self_test`` the program starts exactly as a normal launch (loads
    the stored settings, builds and shows the window, loads every icon),
    then quits and returns: 0 when all of it worked, otherwise 1 with what
    failed on standard error.  Either way, 2 (returned) when the environment names an unknown key
    backend (``CONFIGURATOR_KEY_BACKEND``), as for any other usage error.
    """
    from configurator.errors import StoreError

    missing = missing_display()
    if missing is None:
        from configurator import qtlibs

        missing = qtlibs.problem()
    if missing is not None:
        print(f"configurator: {missing}", file=sys.stderr)
        return 1
    try:
        _import_before_qt(data_dir)
        app = application()
        window = create_window(data_dir)
    except StoreError as exc:
        print(f"configurator: {exc}", file=sys.stderr)
        if not self_test:
            _show_startup_error(str(exc))
        return 2
    except Exception as exc:
        if not self_test:
            raise
        print(f"configurator: self-test failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    binding = binding_problem()
    if binding is not None and not self_test:
        print(f"configurator: warning: {binding}", file=sys.stderr)
    window.show()
    if self_test:
        return _self_test(app, window)
    if os.environ.get(STARTUP_PROBE_ENV):
        _probe_first_paint(window)
    _leave(app, app.exec())


def _leave(app: QApplication, code: int) -> NoReturn:
    """End the process the moment the last window has closed.

    An orderly teardown of Python and Qt takes its time (0.05 to 2 s on busy
    machines) and waits for every worker thread: a check or a detection that
    was cancelled but is still unwinding, or work that cannot be interrupted,
    such as a keyring prompt.  Nothing is left to finish: saves and the
    audit trail are on disk when they return.  Only text copied to the
    clipboard (Copy Report) needs the application object: on X11, Qt hands
    it to the desktop's clipboard manager as that object is destroyed, so
    that it can still be pasted after the program has ended.
    """
    import contextlib
    import logging

    if app.clipboard().ownsClipboard():
        import shiboken6

        shiboken6.delete(app)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _import_before_qt(data_dir: Path | None) -> None:
    """Import the window's Qt-free modules before Qt itself, where importing is cheaper.

    Once loaded, PySide6 reads the source of every module imported after it
    (looking for ``from __feature__ import``; PYSIDE-2029).  Measured here:
    some 5 ms for the store and the decryption, some 8 ms for filelock's two
    dozen modules.  Each is loaded early only when the start needs it: the
    decryption when there is something to decrypt, filelock when temporary
    files of an interrupted save are left to clear under the store's lock
    (``Store.cleanup``), which is rare.
    """
    import importlib

    from configurator import paths, store

    directory = paths.resolve_data_dir(data_dir)
    # os.path.exists, not Path.exists: False, not PermissionError, where this user
    # may not look (the window then says so).
    if os.path.exists(directory / store.SETTINGS_FILE_NAME):
        importlib.import_module("cryptography.exceptions")
        importlib.import_module("cryptography.hazmat.primitives.ciphers.aead")
    if store.has_leftovers(directory):
        importlib.import_module("filelock")


def missing_display() -> str | None:
    """Say so when no graphical display can be reached (Qt would abort instead)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no graphical display is available (neither DISPLAY nor WAYLAND_DISPLAY is set). "
        "Use the command line instead (configurator --help), or, for --self-test on a "
        "headless machine, set QT_QPA_PLATFORM=offscreen."
    )


def binding_problem() -> str | None:
    """Say whether the installed Qt binding corrupts Python's reference counts.

    PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every
    call of a Qt method that returns nothing; after some thousands of calls
    the interpreter aborts ("deallocating None").  From Python 3.12 on
    ``None`` is immortal and the defect is harmless.
    """
    if sys.version_info >= (3, 12):
        return None
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject

    probe = QObject()
    calls = 200
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")
    lost = before - sys.getrefcount(None)
    if lost < calls // 2:
        return None
    return (
        f"PySide6 {pyside_version} loses a reference to None on each Qt call on Python "
        f"{sys.version_info.major}.{sys.version_info.minor}; the program would abort "
        "after a while. Install another PySide6 version (6.11 works) or use Python 3.12+."
    )


def _self_test(app: QApplication, window: MainWindow) -> int:
    from configurator import resources
    from configurator.ui import icons
    from configurator.ui.modes import Mode

    problems = icons.check_all()
    binding = binding_problem()
    if binding is not None:
        problems.append(binding)
    app.processEvents()
    if not window.isVisible():
        problems.append("the main window did not appear")
    mode = window.mode.title if window.mode is not None else "none"
    store_path = window.store.path
    explained = (
        f"{window.banner.title()}: {window.banner.text()}"
        if window.banner.isVisibleTo(window) and window.mode in (Mode.REFUSED, Mode.UNREADABLE)
        else None
    )
    window.close_without_asking()
    app.processEvents()
    # Destroyed here, on the GUI thread: left to Python's garbage collector, a window
    # (with its file watcher) could be freed on whatever thread happens to collect.
    import shiboken6

    shiboken6.delete(window)
    if problems:
        for problem in problems:
            print(f"configurator: self-test failed: {problem}", file=sys.stderr)
        return 1
    print(
        f"self-test passed: window shown ({mode}), {len(resources.ICON_NAMES)} icons loaded, "
        f"settings in {store_path}"
    )
    if explained is not None:
        # The program works; what the window tells the user about the store is said here too.
        print(f"configurator: {explained}", file=sys.stderr)
    return 0


def _probe_first_paint(window: MainWindow) -> None:
    """Report the moment the window is first drawn, then close it (startup timing).

    The report waits for the event loop's next turn after the first paint, so
    that the whole frame has been painted and handed to the window system.
    """
    import time

    from PySide6.QtCore import QEvent, QObject, QTimer

    def report() -> None:
        print(f"startup-probe {time.monotonic_ns()}", flush=True)
        window.close_without_asking()

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                watched.removeEventFilter(self)
                QTimer.singleShot(0, report)
            return False

    window.installEventFilter(FirstPaint(window))


def _show_startup_error(message: str) -> None:
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.critical(None, DISPLAY_NAME, message)
