"""Resources are found the same way from a checkout, a wheel and a PyInstaller bundle."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtWidgets import QApplication

from configurator import resources
from configurator.ui import icons

ROOT = Path(__file__).resolve().parent.parent


def load_copy(package_dir: Path) -> ModuleType:
    """Import a copy of ``configurator/resources.py`` placed in ``package_dir``."""
    package_dir.mkdir(parents=True, exist_ok=True)
    target = package_dir / "resources.py"
    shutil.copy(Path(resources.__file__), target)
    spec = importlib.util.spec_from_file_location("resources_copy", target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", resources.ICON_NAMES)
def test_each_icon_is_found_in_the_checkout(name: str) -> None:
    path = resources.resource_path(name)
    assert path == ROOT / "resources" / name
    assert path.is_file()


@pytest.mark.parametrize("name", resources.ICON_NAMES)
def test_each_icon_is_well_formed_svg(name: str) -> None:
    root = ET.parse(resources.resource_path(name)).getroot()  # noqa: S314 (our own file)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")


@pytest.mark.usefixtures("qapp")
@pytest.mark.parametrize("name", resources.ICON_NAMES)
def test_each_icon_loads_and_draws(name: str) -> None:
    icon = icons.check_icon(name)
    assert not icon.isNull()
    image = icon.pixmap(32, 32).toImage()
    assert not image.isNull()
    assert any(image.pixelColor(x, y).alpha() > 0 for x in range(32) for y in range(32))


def test_check_all_finds_no_problem(qapp: QApplication) -> None:
    assert icons.check_all() == []


def test_a_missing_icon_is_reported(qapp: QApplication) -> None:
    assert icons.icon("no-such-icon.svg").isNull()
    with pytest.raises(icons.IconError, match=r"no-such-icon\.svg"):
        icons.check_icon("no-such-icon.svg")


def test_installed_wheel_layout(tmp_path: Path) -> None:
    """The wheel force-includes resources/ as configurator/resources/."""
    package = tmp_path / "site-packages" / "configurator"
    (package / "resources").mkdir(parents=True)
    (package / "resources" / "app.svg").write_text("<svg/>", encoding="utf-8")
    module = load_copy(package)
    assert module.resource_path("app.svg") == package / "resources" / "app.svg"


def test_pyinstaller_bundle_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "configurator" / "resources").mkdir(parents=True)
    (bundle / "configurator" / "resources" / "edit.svg").write_text("<svg/>", encoding="utf-8")
    module = load_copy(tmp_path / "elsewhere" / "configurator")
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert module.resource_path("edit.svg") == bundle / "configurator" / "resources" / "edit.svg"


def test_the_package_directory_comes_before_the_checkout(tmp_path: Path) -> None:
    package = tmp_path / "repo" / "configurator"
    for directory in (package / "resources", tmp_path / "repo" / "resources"):
        directory.mkdir(parents=True)
        (directory / "app.svg").write_text("<svg/>", encoding="utf-8")
    module = load_copy(package)
    assert module.resource_path("app.svg") == package / "resources" / "app.svg"


def test_a_missing_resource_names_where_it_was_looked_for(tmp_path: Path) -> None:
    module = load_copy(tmp_path / "configurator")
    with pytest.raises(FileNotFoundError) as raised:
        module.resource_path("app.svg")
    assert str(tmp_path / "configurator" / "resources") in str(raised.value)
    assert str(tmp_path / "resources") in str(raised.value)


@pytest.mark.parametrize("name", ["", "../pyproject.toml", "/etc/passwd", "a/../../b"])
def test_names_outside_the_resources_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a resource name"):
        resources.resource_path(name)


def test_the_wheel_ships_the_resources() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    force_include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force_include["resources"] == "configurator/resources"


def test_finding_a_resource_imports_no_qt() -> None:
    code = (
        "import sys, configurator.resources as r; r.resource_path('app.svg'); "
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
