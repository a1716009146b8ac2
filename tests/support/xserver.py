"""A real X server with a window manager, for the tests the offscreen platform cannot judge.

Qt's offscreen platform has no platform key bindings (on xcb a line edit
takes Ctrl+E for "end of line"), no window manager placing and framing
windows, and an 800x600 screen.  ``x_display`` starts ``Xvfb`` with one
screen of the given size and ``openbox`` on it, and yields the display name
for a subprocess to use with ``QT_QPA_PLATFORM=xcb``.  Both programs are
stopped afterwards, by their own process ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

#: What the X tests need; a test skips, naming them, when one is missing.
PROGRAMS = ("Xvfb", "openbox")
#: How long a server or the window manager may take to come up on a busy machine.
START_TIMEOUT = 30.0


def missing_programs() -> list[str]:
    return [program for program in PROGRAMS if shutil.which(program) is None]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_window_manager(display: str, openbox: subprocess.Popen[bytes]) -> None:
    """Wait until openbox manages the screen (it announces itself on the root window)."""
    if shutil.which("xprop") is None:
        time.sleep(1.0)  # no way to ask: give it the time it needs on a quiet machine
        return
    deadline = time.monotonic() + START_TIMEOUT
    env = {**os.environ, "DISPLAY": display}
    while time.monotonic() < deadline:
        if openbox.poll() is not None:
            raise RuntimeError(f"openbox ended with exit code {openbox.returncode}")
        found = subprocess.run(
            ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if "window id" in found.stdout:
            return
        time.sleep(0.05)
    raise RuntimeError("openbox did not take over the screen in time")


@contextlib.contextmanager
def x_display(width: int = 1280, height: int = 900) -> Iterator[str]:
    """Xvfb with one ``width`` x ``height`` screen and openbox on it; yields ``":N"``."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    openbox: subprocess.Popen[bytes] | None = None
    try:
        with os.fdopen(read_end, "rb") as announced:
            number = announced.readline().strip().decode()
        if not number.isdigit():
            raise RuntimeError("Xvfb did not start (no display number announced)")
        display = f":{number}"
        openbox = subprocess.Popen(
            ["openbox", "--sm-disable"],
            env={**os.environ, "DISPLAY": display},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_window_manager(display, openbox)
        yield display
    finally:
        if openbox is not None:
            _stop(openbox)
        _stop(server)
