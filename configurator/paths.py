"""Which data directory to use: ``--system``, ``--data-dir``, the environment or platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "mail-server-configurator"
DATA_DIR_ENV = "CONFIGURATOR_DATA_DIR"
# For packagers (a distribution's own location) and tests (a temporary one):
# platformdirs offers no way to move the site data directory.
SYSTEM_DIR_ENV = "CONFIGURATOR_SYSTEM_DIR"
_XDG_DATA_DIRS = "XDG_DATA_DIRS"


def default_data_dir() -> Path:
    """The per-user data directory of this platform (platformdirs, imported lazily)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=False))


def system_data_dir() -> Path:
    """The system-wide store: ``$CONFIGURATOR_SYSTEM_DIR``, else platformdirs' site data directory.

    That is /usr/local/share/mail-server-configurator on Linux, /Library/Application
    Support/mail-server-configurator on macOS and C:\\ProgramData\\mail-server-configurator
    on Windows.  platformdirs would take the first entry of ``$XDG_DATA_DIRS``
    instead, which desktop sessions set to a list of their own (and sudo
    clears): every account must find the same store, so it is left out.
    """
    from_env = os.environ.get(SYSTEM_DIR_ENV, "")
    if from_env:
        return Path(from_env).expanduser().absolute()
    import platformdirs

    saved = os.environ.pop(_XDG_DATA_DIRS, None)
    try:
        return Path(platformdirs.site_data_dir(APP_NAME, appauthor=False))
    finally:
        if saved is not None:
            os.environ[_XDG_DATA_DIRS] = saved


def resolve_data_dir(
    explicit: str | os.PathLike[str] | None = None, *, system: bool = False
) -> Path:
    """The system store if ``system``, else ``explicit``, ``$CONFIGURATOR_DATA_DIR`` or default."""
    if system:
        return system_data_dir()
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser().absolute()
    from_env = os.environ.get(DATA_DIR_ENV, "")
    if from_env:
        return Path(from_env).expanduser().absolute()
    return default_data_dir()
