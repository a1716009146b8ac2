"""The tests marked ``x11``, run again on a real X server with a window manager.

The suite runs on Qt's offscreen platform, which hides what only a real
desktop does: the platform's key bindings (a line edit claims Ctrl+E on
X11), a window manager framing and placing windows, the title it shows, a
screen of a real size.  Here Xvfb (one 1280x900 screen) and openbox are
started, and pytest runs the ``x11`` tests in a subprocess with
``QT_QPA_PLATFORM=xcb``.  Skipped, naming what is missing, when Xvfb or
openbox is not installed (a failure in CI: ``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import tools
from support.xserver import PROGRAMS, x_display

ROOT = Path(__file__).resolve().parent.parent
SCREEN = (1280, 900)


def test_the_x11_tests_pass_on_a_real_x_server() -> None:
    # xdotool and xprop serve the real-keystroke and title tests inside the run.
    tools.require(*PROGRAMS, "xdotool", "xprop", packages="xvfb openbox xdotool x11-utils")
    with x_display(*SCREEN) as display:
        env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display}
        env.pop("WAYLAND_DISPLAY", None)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "x11", "-p", "no:cacheprovider", "-q", "tests"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    output = result.stdout[-8000:] + result.stderr[-4000:]
    assert result.returncode == 0, output
    assert " passed" in result.stdout, output
