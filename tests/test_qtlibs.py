"""Missing system libraries are named, with the package to install, before Qt aborts.

Real launches (``configurator --self-test``) over real copies of Qt's X11
platform plugin whose dependencies cannot be resolved: one copied away from
Qt's own libraries, and ones whose recorded dependency was renamed to a
library that is not installed.  Qt itself would abort with status 134 and
"Could not load the Qt platform plugin"; the configurator must say which
library is missing and which package provides it, and exit 1.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from configurator import qtlibs

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the dynamic loader of Linux"
)

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCY = b"libxcb-cursor.so.0"  # one that the X11 plugin records by name


def qt_dir() -> Path:
    spec = importlib.util.find_spec("PySide6")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def xcb_plugin() -> Path:
    return qt_dir() / "plugins" / "platforms" / "libqxcb.so"


def loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def launch(plugin_dir: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Start the window as from a desktop on X11, with Qt looking for plugins in ``plugin_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(
        DISPLAY=":97",  # never reached: the check comes first
        QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin_dir),
        CONFIGURATOR_DATA_DIR=str(data_dir),
    )
    return subprocess.run(
        [sys.executable, "-m", "configurator", "--self-test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def plugin_needing(tmp_path: Path, dependency: bytes) -> Path:
    """A copy of the X11 plugin that needs ``dependency`` instead of libxcb-cursor.so.0.

    Qt's own libraries stay reachable (its search path, ``$ORIGIN/../../lib``,
    leads to them), so that only the renamed library is missing.
    """
    assert len(dependency) == len(DEPENDENCY)  # a name of the same length fits in place
    root = tmp_path / "qt"
    (root / "plugins" / "platforms").mkdir(parents=True)
    (root / "lib").symlink_to(qt_dir() / "lib")
    blob = xcb_plugin().read_bytes()
    assert blob.count(DEPENDENCY + b"\0") == 1
    plugin = root / "plugins" / "platforms" / "libqxcb.so"
    plugin.write_bytes(blob.replace(DEPENDENCY + b"\0", dependency + b"\0"))
    return plugin.parent


def test_a_missing_system_library_is_named_with_its_package(tmp_path: Path, data_dir: Path) -> None:
    missing = "libxcb-xinput.so.0"
    if loadable(missing):
        pytest.skip(f"{missing} is installed here")

    result = launch(plugin_needing(tmp_path, missing.encode()), data_dir)

    assert result.returncode == 1, result.stderr
    assert f"Qt needs system libraries that are missing: {missing}" in result.stderr
    assert "On Debian or Ubuntu: sudo apt-get install libxcb-xinput0. Elsewhere" in result.stderr
    assert "Could not load the Qt platform plugin" not in result.stderr
    assert result.stdout == ""


def test_a_library_without_a_known_package_gets_the_general_hint(
    tmp_path: Path, data_dir: Path
) -> None:
    missing = "libxcb-cursor.so.9"
    assert not loadable(missing)

    result = launch(plugin_needing(tmp_path, missing.encode()), data_dir)

    assert result.returncode == 1, result.stderr
    assert f"missing: {missing} (for libqxcb.so)" in result.stderr
    assert "apt-get install" not in result.stderr
    assert "Install the package that provides each" in result.stderr
    assert f"dnf provides '*/{missing}'" in result.stderr
    assert f"apt-file search {missing}" in result.stderr


def test_qt_s_own_libraries_missing_means_reinstalling_pyside6(
    tmp_path: Path, data_dir: Path
) -> None:
    """The plugin copied alone: Qt's libraries, which it finds beside itself, are not there."""
    alone = tmp_path / "platforms"
    alone.mkdir()
    shutil.copy2(xcb_plugin(), alone)

    result = launch(alone, data_dir)

    assert result.returncode == 1, result.stderr
    assert "libQt6XcbQpa.so.6" in result.stderr
    assert "reinstall it (pip install --force-reinstall PySide6-Essentials)" in result.stderr


def test_nothing_is_reported_when_everything_loads() -> None:
    code = "from configurator import qtlibs; print(qtlibs.problem())"
    for platform in ("xcb", "offscreen"):
        env = {**os.environ, "QT_QPA_PLATFORM": platform}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert result.stdout == "None\n", result.stderr


@pytest.mark.parametrize(
    ("environment", "plugin"),
    [
        ({"QT_QPA_PLATFORM": "xcb"}, "libqxcb.so"),
        ({"QT_QPA_PLATFORM": "xcb:nograb"}, "libqxcb.so"),
        ({"QT_QPA_PLATFORM": "offscreen"}, "libqoffscreen.so"),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, None),  # Qt tries each in turn
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, None),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, None),  # Qt's choice
        ({"XDG_SESSION_TYPE": "x11"}, "libqxcb.so"),
        ({"QT_QPA_PLATFORM": "nosuchplatform"}, None),
    ],
)
def test_the_plugin_checked_is_the_one_qt_will_load(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], plugin: str | None
) -> None:
    for name in (
        "QT_QPA_PLATFORM",
        "XDG_SESSION_TYPE",
        "WAYLAND_DISPLAY",
        "QT_QPA_PLATFORM_PLUGIN_PATH",
        "QT_PLUGIN_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    found = qtlibs._platform_plugin(qt_dir())
    assert (found.name if found is not None else None) == plugin


def test_the_check_reads_ldd_s_list_of_every_missing_library(tmp_path: Path) -> None:
    if shutil.which("ldd") is None:
        pytest.skip("no ldd here")
    alone = tmp_path / "libqxcb.so"
    shutil.copy2(xcb_plugin(), alone)
    missing = qtlibs.missing_libraries(alone)
    assert missing[:3] == ["libQt6XcbQpa.so.6", "libQt6Gui.so.6", "libQt6Core.so.6"]
    assert all(name.startswith("libQt6") for name in missing)


def test_a_plugin_that_fails_for_another_reason_is_reported_in_the_loader_s_words(
    tmp_path: Path, data_dir: Path
) -> None:
    """Not a library at all (a damaged file): no package can be named, the loader's error is."""
    plugins = tmp_path / "platforms"
    plugins.mkdir()
    (plugins / "libqxcb.so").write_bytes(b"\x7fELF damaged")

    result = launch(plugins, data_dir)

    assert result.returncode == 1, result.stderr
    assert f"Qt's platform plugin {plugins / 'libqxcb.so'} cannot be loaded: " in result.stderr
    assert "apt-get" not in result.stderr
