"""The installer bundle, what installers take from resources/, and the startup probe.

The icons, the .desktop entry, the spec's lists and the probe that
benchmarks/startup.py times the window with are checked on every run.  The
built bundle is checked when ``CONFIGURATOR_BUNDLE`` names its executable (CI
builds it from ``configurator.spec`` and sets it): the bundled program is
started the way users start it, against this test's fresh data directory, so
a module, plugin, library or resource the spec failed to collect fails here.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QLibraryInfo, QSize
from PySide6.QtGui import QImage, QImageReader
from support import secrets, tools
from support.secretservice import SecretService
from support.smtp import PASSWORD as SMTP_PASSWORD
from support.smtp import USERNAME, Pki, StartServer, make_settings

from configurator import __version__, app, keys
from configurator.store import Store

pytest_plugins = ["support.smtp", "support.secretservice"]

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
SPEC = ROOT / "configurator.spec"
BUNDLE_ENV = "CONFIGURATOR_BUNDLE"
BUNDLE_SIZE_LIMIT_MIB = 125
PASSWORD = "bundle-Geheimnis-7"
SETTINGS = {
    "account_name": "Security Monitoring",
    "account_email": "alerts@example.com",
    "server": "smtp.example.com",
    "port": "587",
    "security": "starttls",
    "auth": "login_plain",
    "username": "alerts@example.com",
}


# -- the spec -------------------------------------------------------------------


def spec_constant(name: str) -> object:
    """A literal assigned at the top level of configurator.spec."""
    for node in ast.parse(SPEC.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned in {SPEC.name}")


def this_platform() -> str:
    return "linux" if sys.platform.startswith("linux") else sys.platform


def test_every_qt_plugin_the_spec_keeps_exists_in_the_installed_pyside6() -> None:
    """A plugin renamed by a PySide6 upgrade would otherwise vanish from the bundle unnoticed."""
    plugins = spec_constant("QT_PLUGINS_BY_PLATFORM")
    assert isinstance(plugins, dict)
    plugin_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    available = {
        str(path.relative_to(plugin_dir).with_suffix("")) for path in plugin_dir.rglob("*")
    }
    kept = plugins[this_platform()]
    assert kept
    assert sorted(kept - available) == []


def test_the_runtime_hooks_the_spec_skips_are_pyinstallers() -> None:
    """If PyInstaller renamed them, the skip would silently stop working and Qt load for `show`."""
    pyinstaller = pytest.importorskip("PyInstaller")
    skipped = spec_constant("SKIPPED_RUNTIME_HOOKS")
    assert isinstance(skipped, set)
    hooks = Path(pyinstaller.__file__).parent / "hooks" / "rthooks"
    assert sorted(name for name in skipped if not (hooks / f"{name}.py").is_file()) == []


# -- icons and the desktop entry --------------------------------------------------


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(RESOURCES / "configurator.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_desktop_entry_starts_the_program_under_the_name_the_window_gives() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == app.DISPLAY_NAME
    assert entry["Exec"] == "configurator"
    assert entry["TryExec"] == "configurator"
    assert entry["Terminal"] == "false"
    # Desktops match windows to entries by these (Wayland app id, X11 WM_CLASS).
    assert entry["Icon"] == app.APP_NAME
    assert entry["StartupWMClass"] == app.APP_NAME
    assert entry["Categories"].endswith(";")
    assert entry["Keywords"].endswith(";")


@tools.needs("desktop-file-validate", packages="desktop-file-utils")
def test_the_desktop_entry_passes_the_freedesktop_validator() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(RESOURCES / "configurator.desktop")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_each_png_icon_has_its_size_and_a_transparent_background(size: int) -> None:
    image = QImage(str(RESOURCES / f"app-{size}.png"))
    assert image.size() == QSize(size, size)
    assert image.hasAlphaChannel()
    assert image.pixelColor(0, 0).alpha() == 0
    assert image.pixelColor(size // 2, size // 2).alpha() == 255


def icon_sizes(name: str) -> list[int]:
    """The image sizes in an .ico or .icns file, as Qt's own readers find them."""
    reader = QImageReader(str(RESOURCES / name))
    sizes = []
    for index in range(reader.imageCount()):
        assert reader.jumpToImage(index)
        image = reader.read()
        assert not image.isNull(), reader.errorString()
        assert image.width() == image.height()
        sizes.append(image.width())
    return sorted(sizes)


@pytest.mark.usefixtures("qapp")
def test_the_windows_icon_holds_every_size_up_to_256() -> None:
    assert icon_sizes("app.ico") == [16, 24, 32, 48, 64, 128, 256]


@pytest.mark.usefixtures("qapp")
def test_the_macos_icon_holds_every_size_up_to_1024() -> None:
    assert set(icon_sizes("app.icns")) == {16, 32, 64, 128, 256, 512, 1024}


@pytest.mark.usefixtures("qapp")
def test_the_rendered_icons_still_show_app_svg() -> None:
    """resources/render_icons.py was run after the last change to app.svg."""
    from PySide6.QtSvg import QSvgRenderer

    sys.path.insert(0, str(RESOURCES))
    try:
        import render_icons
    finally:
        sys.path.remove(str(RESOURCES))
    fresh = QImage.fromData(render_icons.render(QSvgRenderer(str(RESOURCES / "app.svg")), 64))
    stored = QImage(str(RESOURCES / "app-64.png"))
    difference = sum(
        abs(fresh.pixelColor(x, y).alpha() - stored.pixelColor(x, y).alpha())
        for x in range(64)
        for y in range(64)
    )
    assert difference / (64 * 64) < 4  # antialiasing may differ between Qt versions


# -- the startup probe ------------------------------------------------------------


def test_the_startup_probe_reports_when_the_window_was_first_drawn(data_dir: Path) -> None:
    before = time.monotonic_ns()
    result = subprocess.run(
        [sys.executable, "-m", "configurator"],
        capture_output=True,
        text=True,
        env={**os.environ, app.STARTUP_PROBE_ENV: "1"},
        timeout=60,
        check=False,
    )
    after = time.monotonic_ns()
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    label, reported = line.split()
    assert label == "startup-probe"
    assert before < int(reported) < after
    assert not data_dir.exists()  # a look at the window changes nothing


# -- the built bundle -------------------------------------------------------------


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The bundle's executable; the tests are skipped unless CONFIGURATOR_BUNDLE names one."""
    configured = os.environ.get(BUNDLE_ENV)
    if not configured:
        pytest.skip(f"no bundle to test: build one and set {BUNDLE_ENV}")
    executable = Path(configured).absolute()
    assert executable.is_file(), f"{BUNDLE_ENV}={configured} does not exist"
    return executable


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(bundle: Path, *args: str, stdin: str = "", env: Mapping[str, str] | None = None) -> Result:
    """Run the bundled program; no call may end in a traceback or show the password."""
    completed = subprocess.run(
        [str(bundle), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    result = Result(completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def store_settings(bundle: Path) -> Result:
    """``configurator set`` with every basic setting, the password on standard input."""
    secrets.secret(PASSWORD)  # searched for in everything the test shows
    options = [
        part for key, value in SETTINGS.items() for part in (f"--{key.replace('_', '-')}", value)
    ]
    return run(bundle, "set", *options, "--password-stdin", stdin=PASSWORD + "\n")


def test_the_bundle_prints_its_version(bundle: Path) -> None:
    result = run(bundle, "--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"configurator {__version__}")


def test_the_self_test_passes_on_an_empty_data_directory(bundle: Path, data_dir: Path) -> None:
    result = run(bundle, "--self-test")
    assert result.returncode == 0, result.stderr
    assert "self-test passed: window shown (New settings), 2 icons loaded" in result.stdout
    assert not data_dir.exists()


def test_show_with_nothing_stored_exits_3(bundle: Path, data_dir: Path) -> None:
    result = run(bundle, "show")
    assert result.returncode == 3
    assert "No mail server settings are stored" in result.stderr


def test_settings_stored_by_the_bundle_open_in_the_window_and_in_the_package(
    bundle: Path, data_dir: Path
) -> None:
    assert store_settings(bundle).returncode == 0
    shown = run(bundle, "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        **SETTINGS,
        "port": int(SETTINGS["port"]),
        "password_set": True,
    }
    result = run(bundle, "--self-test")
    assert result.returncode == 0, result.stderr
    assert "window shown (Read-only)" in result.stdout
    # The same file format as the package's own store.
    stored = Store(data_dir).load()
    assert stored is not None
    same_password = stored.settings.password == PASSWORD  # compared without showing it
    assert same_password


def test_the_bundle_checks_a_real_server_over_starttls(
    bundle: Path, data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    """The mail package, ssl and the certificate checks made it into the bundle."""
    server = smtp_server(tls="starttls", users={USERNAME: SMTP_PASSWORD})
    Store(data_dir).save(make_settings(server.port, ca_file=str(pki.ca_file)))

    result = run(bundle, "test", "--to", "soc-team@example.net")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed: every step succeeded" in result.stdout
    assert [message.rcpt_tos for message in server.recorder.messages] == [["soc-team@example.net"]]


def test_show_does_not_load_qt_in_the_bundle(bundle: Path, data_dir: Path) -> None:
    """The command line stays free of Qt in the bundle too (PyInstaller's own hook loads it)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the loader's trace (LD_DEBUG) is glibc's")
    assert store_settings(bundle).returncode == 0
    traced = {"LD_DEBUG": "files"}
    show = run(bundle, "show", env=traced)
    window = run(bundle, "--self-test", env=traced)
    assert show.returncode == window.returncode == 0
    assert "libQt6Core" in window.stderr  # the trace does show Qt when it is loaded
    assert "libQt6Core" not in show.stderr


PROBE_BACKEND = '''
import json, os, sys
from importlib.metadata import entry_points
import keyring.backend
import keyring.errors


class Probe(keyring.backend.KeyringBackend):
    """Records, from inside the bundle, which keyring backends it can find."""

    priority = 1

    def __init__(self):
        super().__init__()
        keyring.backend._load_plugins()
        report = {
            "frozen": bool(getattr(sys, "frozen", False)),
            "entry_points": sorted(ep.name for ep in entry_points(group="keyring.backends")),
            "backends": sorted(
                f"{cls.__module__}.{cls.__name__}"
                for cls in keyring.backend.KeyringBackend._classes
            ),
        }
        with open(os.environ["PROBE_REPORT"], "w") as report_file:
            json.dump(report, report_file)

    def get_password(self, service, username):
        return None

    def set_password(self, service, username, password):
        raise keyring.errors.PasswordSetError("probe only")

    def delete_password(self, service, username):
        raise keyring.errors.PasswordDeleteError("probe only")
'''


def test_the_bundle_finds_the_keyring_backends(bundle: Path, tmp_path: Path) -> None:
    """keyring issue 324: frozen programs have lost every backend before.

    keyring's own configuration file loads a probe into the bundled
    interpreter, which lists the backends keyring finds there.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("the keyring configuration lives in XDG_CONFIG_HOME on Linux only")
    (tmp_path / "probe" / "keyring_probe.py").parent.mkdir()
    (tmp_path / "probe" / "keyring_probe.py").write_text(PROBE_BACKEND, encoding="utf-8")
    config = tmp_path / "config" / "python_keyring" / "keyringrc.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"[backend]\ndefault-keyring = keyring_probe.Probe\nkeyring-path = {tmp_path / 'probe'}\n",
        encoding="utf-8",
    )
    report_path = tmp_path / "report.json"
    env = dict(os.environ)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PROBE_REPORT=str(report_path),
        CONFIGURATOR_KEY_BACKEND="keyring",
    )
    options = ["--account-name", "A", "--account-email", "a@example.com"]
    result = subprocess.run(
        [str(bundle), "set", *options, "--server", "smtp.example.com", "--auth", "none"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1  # the probe refuses to store the key
    assert "PasswordSetError" in result.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["frozen"] is True
    assert {"SecretService", "KWallet", "libsecret", "macOS", "Windows"} <= set(
        report["entry_points"]
    )
    assert "keyring.backends.SecretService.Keyring" in report["backends"]


def test_the_bundle_keeps_the_data_key_in_a_real_secret_service(
    bundle: Path, data_dir: Path, secret_service: SecretService
) -> None:
    """Store, read and crypto-erase a key in GNOME Keyring, all through the bundle."""
    in_keyring = {keys.BACKEND_ENV: "keyring"}
    entry = {"service": keys.KEYRING_SERVICE, "username": str(data_dir.resolve())}
    options = ["--account-name", "A", "--account-email", "a@example.com"]
    stored = run(
        bundle, "set", *options, "--server", "smtp.example.com", "--auth", "none", env=in_keyring
    )
    assert stored.returncode == 0, stored.stderr
    shown = run(bundle, "show", env=in_keyring)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"Data key:\s+the OS keyring", shown.stdout), shown.stdout
    assert secret_service.lookup(**entry) is not None
    assert not (data_dir / keys.KEY_FILE_NAME).exists()
    window = run(bundle, "--self-test", env=in_keyring)
    assert "window shown (Read-only)" in window.stdout, window.stdout + window.stderr

    reset = run(bundle, "reset", "--yes", env=in_keyring)
    assert (reset.returncode, reset.stderr) == (0, "")
    assert secret_service.lookup(**entry) is None
    assert run(bundle, "show", env=in_keyring).returncode == 3


@tools.needs("xvfb-run", "xauth", packages="xvfb xauth")
def test_the_self_test_passes_on_an_x11_display(bundle: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    result = subprocess.run(
        ["xvfb-run", "-a", str(bundle), "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout


@pytest.fixture
def wayland_display(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A headless Weston compositor; the environment that reaches it."""
    if shutil.which("weston") is None:
        pytest.skip("needs weston")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        key: value for key, value in os.environ.items() if key not in ("QT_QPA_PLATFORM", "DISPLAY")
    }
    env["XDG_RUNTIME_DIR"] = str(runtime)
    compositor = subprocess.Popen(
        ["weston", "--backend=headless-backend.so", "--socket=test-wayland", "--idle-time=0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (runtime / "test-wayland").exists():
            assert compositor.poll() is None, "weston stopped"
            assert time.monotonic() < deadline, "weston did not start"
            time.sleep(0.05)
        yield {**env, "WAYLAND_DISPLAY": "test-wayland"}
    finally:
        compositor.send_signal(signal.SIGTERM)
        compositor.wait(timeout=20)


def test_the_self_test_passes_on_a_wayland_display(
    bundle: Path, wayland_display: dict[str, str]
) -> None:
    result = subprocess.run(
        [str(bundle), "--self-test"],
        capture_output=True,
        text=True,
        env={**wayland_display, "QT_LOGGING_RULES": "qt.qpa.wayland.debug=true"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using the 'xdg-shell' shell integration" in result.stderr
    assert "self-test passed" in result.stdout


# -- what the bundle holds --------------------------------------------------------


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]


def test_the_linux_bundle_is_small(bundle: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the size limit is the Linux folder's")
    size = sum(path.stat().st_size for path in files_in(bundle.parent)) / 1024**2
    assert size <= BUNDLE_SIZE_LIMIT_MIB


def test_the_bundle_holds_the_kept_qt_plugins_and_no_translations(bundle: Path) -> None:
    internal = bundle.parent / "_internal"
    plugins = [path for path in internal.rglob("*") if "plugins" in path.parts and path.is_file()]
    found = {
        path.relative_to(next(p for p in path.parents if p.name == "plugins"))
        .with_suffix("")
        .as_posix()
        for path in plugins
    }
    kept = spec_constant("QT_PLUGINS_BY_PLATFORM")
    assert isinstance(kept, dict)
    assert found == kept[this_platform()]
    assert list(internal.rglob("*.qm")) == []


def test_every_link_in_the_bundle_leads_somewhere(bundle: Path) -> None:
    dangling = [
        path for path in bundle.parent.rglob("*") if path.is_symlink() and not path.exists()
    ]
    assert dangling == []


def test_qt_and_python_find_all_their_libraries_inside_the_bundle(bundle: Path) -> None:
    """Nothing the spec dropped is still needed by what it kept."""
    if not sys.platform.startswith("linux"):
        pytest.skip("checked with ldd")
    ours = re.compile(r"^\s*(lib(Qt6|pyside6|shiboken6|icu|python)\S*) => (.*)$")
    missing = []
    for library in files_in(bundle.parent):
        if ".so" not in library.name:
            continue
        listing = subprocess.run(
            ["ldd", str(library)], capture_output=True, text=True, check=False
        ).stdout
        for line in listing.splitlines():
            match = ours.match(line)
            if match and not match.group(3).startswith(str(bundle.parent)):
                missing.append(f"{library.name}: {match.group(1)} => {match.group(3)}")
    assert missing == []


def test_the_bundle_names_a_missing_system_library_before_qt_aborts(
    bundle: Path, tmp_path: Path
) -> None:
    """Qt's X11 plugin, copied so that it needs a library no system has: said, not aborted."""
    plugins = tmp_path / "platforms"
    plugins.mkdir()
    original = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    blob = (original / "libqxcb.so").read_bytes()
    needed, absent = b"libxcb-cursor.so.0\0", b"libxcb-cursor.so.9\0"
    assert blob.count(needed) == 1
    (plugins / "libqxcb.so").write_bytes(blob.replace(needed, absent))
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":97", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugins))

    result = subprocess.run(
        [str(bundle), "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert "Qt needs system libraries that are missing: libxcb-cursor.so.9" in result.stderr
    assert "Could not load the Qt platform plugin" not in result.stderr
