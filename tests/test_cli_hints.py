"""Every command a message suggests names the store this call used, and works when pasted.

A hint that drops ``--data-dir`` or ``--system`` would act on the default
store: resetting the wrong settings is worse than no hint.  Each test takes
the hint from the real output, runs it in a shell whose environment points
somewhere else (as another terminal, a ticket or ``sudo`` would), and checks
that it acted on the store the first call used.  A store chosen through
``CONFIGURATOR_DATA_DIR`` is repeated as ``--data-dir``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.smtp import Pki, StartServer

from configurator import store

pytest_plugins = ["support.smtp"]

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
SETTINGS = [
    "--account-name=Monitoring",
    "--account-email=alerts@example.com",
    "--server=127.0.0.1",
    "--port=1",  # nothing listens there: test and detect fail fast
    "--security=starttls",
    "--auth=none",
    "--timeout=2",
]
AS_ROOT = os.name == "posix" and os.geteuid() == 0


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(args: list[str], env: Mapping[str, str]) -> Result:
    completed = subprocess.run(
        [*COMMAND, *args], capture_output=True, cwd=REPO, env=dict(env), timeout=60, check=False
    )
    result = Result(completed.returncode, completed.stdout.decode(), completed.stderr.decode())
    assert "Traceback" not in result.stderr, result.stderr
    return result


@dataclass(frozen=True)
class Selection:
    """How a call chose its store, the store itself, and the words that choose it."""

    name: str
    options: list[str]  # given on the command line
    env: dict[str, str]  # the environment of the call
    directory: Path  # where the store is
    expected: list[str]  # what a hint must say between "configurator" and the command


# A path a shell would split or misread unless quoted.
AWKWARD = "my data/it's $HOME"


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """Another store, where the environment of the pasted hint points."""
    return tmp_path / "other"


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CONFIGURATOR_DATA_DIR"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["CONFIGURATOR_SYSTEM_DIR"] = str(tmp_path / "system")
    return env


def selections(tmp_path: Path, other: Path) -> Iterator[Selection]:
    env = base_env(tmp_path)
    chosen = tmp_path / AWKWARD
    yield Selection(
        "option",
        ["--data-dir", str(chosen)],
        {**env, "CONFIGURATOR_DATA_DIR": str(other)},  # the option wins over the variable
        chosen,
        ["--data-dir", str(chosen)],
    )
    yield Selection(
        "environment",
        [],
        {**env, "CONFIGURATOR_DATA_DIR": str(chosen)},
        chosen,
        ["--data-dir", str(chosen)],
    )
    yield Selection("default", [], env, tmp_path / "xdg" / "mail-server-configurator", [])
    if AS_ROOT:  # only root may write the system-wide store
        yield Selection("system", ["--system"], env, tmp_path / "system", ["--system"])


SELECTIONS = ["option", "environment", "default", "system"]


@pytest.fixture(params=SELECTIONS)
def selection(request: pytest.FixtureRequest, tmp_path: Path, other: Path) -> Selection:
    found = {s.name: s for s in selections(tmp_path, other)}
    if request.param not in found:
        pytest.skip("the system-wide store can only be written as root")
    return found[request.param]


def save(selection: Selection, *options: str) -> None:
    result = run([*selection.options, "set", *SETTINGS, *options], selection.env)
    assert result.returncode == 0, result.stderr
    assert (selection.directory / store.SETTINGS_FILE_NAME).exists()


def tamper(directory: Path) -> None:
    path = directory / store.SETTINGS_FILE_NAME
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))


def hint_after(text: str, marker: str) -> list[str]:
    """The command line that follows ``marker`` to the end of its line, split as a shell would."""
    [line] = [line for line in text.splitlines() if marker in line]
    words = shlex.split(line.split(marker, 1)[1])
    assert words[0] == "configurator", line
    return words[1:]


def elsewhere(selection: Selection, other: Path) -> dict[str, str]:
    """The environment of another shell: CONFIGURATOR_DATA_DIR points at another store."""
    if selection.name == "default":
        return selection.env  # the default store is found without any variable
    return {**selection.env, "CONFIGURATOR_DATA_DIR": str(other)}


@pytest.mark.parametrize(
    "command", [["show"], ["show", "--json"], ["set", "--port", "25"], ["test"], ["detect"]]
)
def test_the_reset_hint_for_unreadable_settings_names_the_store(
    selection: Selection, other: Path, command: list[str]
) -> None:
    save(selection)
    save_other = run(["set", *SETTINGS], {**selection.env, "CONFIGURATOR_DATA_DIR": str(other)})
    assert save_other.returncode == 0
    tamper(selection.directory)

    result = run([*selection.options, *command], selection.env)

    assert result.returncode == 4
    words = hint_after(result.stderr, "To discard them and start again:")
    assert words == [*selection.expected, "reset"]

    # Pasted in another shell it refuses (no terminal), naming the same store again ...
    pasted = run(words, elsewhere(selection, other))
    assert pasted.returncode == 2
    confirmed = hint_after(pasted.stderr, "To confirm it, run:")
    assert confirmed == [*selection.expected, "reset", "--yes"]
    # ... and that hint resets exactly this store, not the other one.
    done = run(confirmed, elsewhere(selection, other))
    assert done.returncode == 0, done.stderr
    assert not (selection.directory / store.SETTINGS_FILE_NAME).exists()
    assert (other / store.SETTINGS_FILE_NAME).exists()


@pytest.mark.parametrize("command", [["show"], ["test"], ["detect"]])
def test_the_hint_when_nothing_is_stored_names_the_store(
    selection: Selection, other: Path, command: list[str]
) -> None:
    result = run([*selection.options, *command], selection.env)

    assert result.returncode == 3
    window = hint_after(result.stderr, "Store them in the window:")
    assert window == selection.expected
    words = hint_after(result.stderr, "set --help':")
    assert words == [*selection.expected, "set"]
    # Following it (with the options it leaves to the user) stores into this store.
    stored = run([*words, *SETTINGS], elsewhere(selection, other))
    assert stored.returncode == 0, stored.stderr
    assert (selection.directory / store.SETTINGS_FILE_NAME).exists()
    assert not other.exists()


def test_the_refused_reset_names_the_store(selection: Selection, other: Path) -> None:
    save(selection)

    refused = run([*selection.options, "reset"], selection.env)

    assert refused.returncode == 2
    words = hint_after(refused.stderr, "To confirm it, run:")
    assert words == [*selection.expected, "reset", "--yes"]
    done = run(words, elsewhere(selection, other))
    assert done.returncode == 0, done.stderr
    assert not (selection.directory / store.SETTINGS_FILE_NAME).exists()


def test_detect_names_the_store_in_its_hint(selection: Selection, other: Path) -> None:
    save(selection)

    found = run([*selection.options, "detect"], selection.env)

    assert found.returncode == 6
    words = hint_after(found.stdout, "step by step, run:")
    assert words == [*selection.expected, "test"]


def test_the_default_store_needs_no_option(tmp_path: Path, other: Path) -> None:
    """Named explicitly (as --data-dir) the default store still gets the short hint."""
    env = base_env(tmp_path)
    default = tmp_path / "xdg" / "mail-server-configurator"
    result = run(["--data-dir", str(default), "show"], env)
    assert result.returncode == 3
    assert hint_after(result.stderr, "set --help':") == ["set"]


def test_the_certificate_hints_of_a_check_name_the_store(
    selection: Selection, other: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", cert=pki.untrusted)
    save(selection, f"--port={server.port}", "--timeout=5")

    checked = run([*selection.options, "test"], selection.env)

    assert checked.returncode == 6
    [pin] = [line for line in checked.stdout.splitlines() if "--tls-fingerprint" in line]
    words = shlex.split(pin)
    assert words[: 1 + len(selection.expected)] == ["configurator", *selection.expected]
    [trust] = [line for line in checked.stdout.splitlines() if "--ca-file" in line]
    assert shlex.split(trust)[1:-3] == selection.expected
    # Pasted in another shell, the pin goes to this store, and its check passes.
    pinned = run(words[1:], elsewhere(selection, other))
    assert pinned.returncode == 0, pinned.stderr
    assert run([*selection.options, "test"], selection.env).returncode == 0
