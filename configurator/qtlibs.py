"""Whether Qt can load on this Linux system, checked before Qt tries (it would abort).

A desktop without ``libxcb-cursor0`` (or another library Qt's X11 platform
plugin needs) makes Qt abort with "Could not load the Qt platform plugin
"xcb" in "" even though it was found" and exit status 134 -- which names
neither the library nor the package.  Here the platform plugin Qt is about
to use is loaded with the system's dynamic loader first: the loader resolves
every library it needs (Qt's own among them), exactly as Qt would.  Qt then
finds the libraries already loaded, so the check costs nothing measurable
when everything is present.  Only when something is missing does it ask
``ldd`` for the full list and name the Debian/Ubuntu packages to install.

No Qt module is imported here: the check must be able to fail without Qt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Debian and Ubuntu package of each library Qt's X11 plugin and Qt itself need
# from the system (the PySide6 wheels carry Qt's own libraries).
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}


def problem() -> str | None:
    """Say which libraries Qt cannot load here and how to install them; ``None`` if all load."""
    if not sys.platform.startswith("linux"):
        return None
    targets = _targets()
    if not targets:
        return None
    # ctypes' own loader, without the rest of ctypes (a few milliseconds to import).
    from _ctypes import dlopen

    for target in targets:
        try:
            # Lazy binding: only the libraries are resolved now, symbols when Qt uses them.
            dlopen(str(target), os.RTLD_LAZY)
        except OSError as exc:
            missing = missing_libraries(target) or _named_missing(str(exc))
            if missing:
                return explain(missing, target)
            # Not a missing library (a library too old for Qt, say): the loader's words.
            return (
                f"the window cannot start: Qt's platform plugin {target} cannot be loaded: "
                f"{exc}. The command line works without it (configurator --help)."
            )
    return None


def explain(missing: list[str], target: Path) -> str:
    """The message for libraries ``missing`` when loading ``target``."""
    names = ", ".join(missing)
    qt_own = [name for name in missing if name.startswith("libQt6")]
    if qt_own:
        return (
            f"the window cannot start: Qt's own libraries ({', '.join(qt_own)}) cannot be "
            f"found for {target}. The installation of PySide6 is incomplete: reinstall it "
            "(pip install --force-reinstall PySide6-Essentials), or the program. The command "
            "line works without them (configurator --help)."
        )
    packages = sorted({DEBIAN_PACKAGES[name] for name in missing if name in DEBIAN_PACKAGES})
    unknown = [name for name in missing if name not in DEBIAN_PACKAGES]
    text = (
        f"the window cannot start: Qt needs system libraries that are missing: {names} "
        f"(for {target.name}). "
    )
    example = unknown[0] if unknown else missing[0]
    provides = (
        "the package that provides each "
        f"(Fedora/RHEL: dnf provides '*/{example}'; Debian: apt-file search {example})"
    )
    if packages:
        text += (
            f"On Debian or Ubuntu: sudo apt-get install {' '.join(packages)}. "
            f"Elsewhere install {provides}. "
        )
    else:
        text += f"Install {provides}. "
    return text + "The command line works without them (configurator --help)."


def missing_libraries(target: Path) -> list[str]:
    """Every library ``target`` needs that the loader cannot find (``ldd``), in its order."""
    import shutil
    import subprocess

    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        listing = subprocess.run(
            [ldd, str(target)], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing: list[str] = []
    for line in listing.splitlines():
        name, _, where = line.strip().partition(" => ")
        if where.strip() == "not found" and name not in missing:
            missing.append(name)
    return missing


def _named_missing(error: str) -> list[str]:
    """The library the loader names in "libx.so.1: cannot open shared object file: ..."."""
    name, _, rest = error.partition(":")
    return [name.strip()] if "cannot open shared object file" in rest else []


def _targets() -> list[Path]:
    """Qt's widgets library and the platform plugin Qt is about to load, where they are."""
    qt_dir = _pyside_qt_dir()
    if qt_dir is None:
        return []
    targets = [qt_dir / "lib" / "libQt6Widgets.so.6"]
    plugin = _platform_plugin(qt_dir)
    if plugin is not None:
        targets.append(plugin)
    return [target for target in targets if target.is_file()]


def _pyside_qt_dir() -> Path | None:
    """PySide6's Qt folder (in the package, or in the bundle), found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def _platform_plugin(qt_dir: Path) -> Path | None:
    """The platform plugin Qt will load: QT_QPA_PLATFORM's, else X11's outside Wayland."""
    requested = os.environ.get("QT_QPA_PLATFORM", "")
    if requested:
        # "xcb:option=value" adds options; "wayland;xcb" lists fallbacks, which Qt
        # tries in turn: only a single choice is checked.
        if ";" in requested:
            return None
        name = requested.split(":")[0].strip()
    elif os.environ.get("WAYLAND_DISPLAY"):
        return None  # Qt may choose Wayland, and X11 (XWayland) if that fails
    else:
        name = "xcb"
    if not name:
        return None
    folders = [
        Path(folder)
        for folder in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep)
        if folder
    ]
    folders += [
        Path(folder) / "platforms"
        for folder in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep)
        if folder
    ]
    folders.append(qt_dir / "plugins" / "platforms")
    for folder in folders:
        plugin = folder / f"libq{name}.so"
        if plugin.is_file():
            return plugin
    return None
