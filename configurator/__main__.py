"""``python -m configurator`` and the ``configurator`` console script."""

from __future__ import annotations

import sys

from configurator.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
