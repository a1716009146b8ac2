"""Which data directory to use: ``--data-dir``, else the environment, else platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "mail-server-configurator"
DATA_DIR_ENV = "CONFIGURATOR_DATA_DIR"


def default_data_dir() -> Path:
    """The per-user data directory of this platform (platformdirs, imported lazily)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False, roaming=False))


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit`` if given, else ``$CONFIGURATOR_DATA_DIR``, else the platform default."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser().absolute()
    from_env = os.environ.get(DATA_DIR_ENV, "")
    if from_env:
        return Path(from_env).expanduser().absolute()
    return default_data_dir()
