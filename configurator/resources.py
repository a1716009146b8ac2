"""Find the program's resource files (icons) wherever the program was installed.

Three layouts must work the same way:

- an installed wheel: ``pyproject.toml`` force-includes the repository's
  ``resources/`` as ``configurator/resources/`` inside the package;
- a PyInstaller bundle: the spec puts them at ``configurator/resources`` under
  the bundle directory (``sys._MEIPASS``), which is again beside this module;
- a source checkout: the repository's own ``resources/`` next to the package.

No Qt here, so that the command line and the tests can ask for a path cheaply.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: Every icon the window loads; the self-test checks that each one can be drawn.
ICON_NAMES: tuple[str, ...] = ("app.svg", "edit.svg")

APP_ICON = "app.svg"
EDIT_ICON = "edit.svg"


def resource_dirs() -> list[Path]:
    """The directories searched, in order."""
    package_dir = Path(__file__).resolve().parent
    candidates = [package_dir / "resources"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "configurator" / "resources")
    candidates.append(package_dir.parent / "resources")
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def resource_path(name: str) -> Path:
    """The path of resource ``name``; ``FileNotFoundError`` says where it was looked for."""
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"not a resource name: {name!r}")
    searched = resource_dirs()
    for directory in searched:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    places = ", ".join(str(directory) for directory in searched)
    raise FileNotFoundError(f"The resource {name} is missing (looked in {places}).")
