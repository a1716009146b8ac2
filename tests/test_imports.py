"""Qt stays in the window: the core and the command line never import it.

The settings model, the store, the mail code and the command line must work on
a server without a display, and ``show`` must start fast; so only
``configurator/ui/`` and ``configurator/app.py`` may import PySide6, and a
plain ``show`` loads neither Qt nor TLS nor the keyring library.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from configurator import model
from configurator.store import Store

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "configurator"
QT_PACKAGES = frozenset({"PySide6", "shiboken6"})


def qt_imports(source: str) -> list[str]:
    """Every import of a Qt package in ``source``, including dynamic ``import_module`` calls."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = getattr(function, "attr", None) or getattr(function, "id", None)
            first = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                names = [first.value]
        found.extend(name for name in names if name.split(".")[0] in QT_PACKAGES)
    return found


def modules_without_qt() -> list[Path]:
    """Every module of the package except the window's own."""
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "ui" and path != PACKAGE / "app.py"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from PySide6 import QtCore",
        "import PySide6.QtCore",
        "from PySide6.QtWidgets import QWidget",
        "import shiboken6",
        "def f():\n    import PySide6.QtGui as gui\n",
        "import importlib\nimportlib.import_module('PySide6.QtWidgets')",
        "__import__('shiboken6')",
    ],
)
def test_the_scan_recognises_every_way_of_importing_qt(source: str) -> None:
    assert qt_imports(source)


def test_the_scan_ignores_other_imports() -> None:
    assert qt_imports("import os\nfrom configurator import model\nfrom . import ui") == []


def test_no_qt_below_ui() -> None:
    modules = modules_without_qt()
    assert PACKAGE / "model.py" in modules
    assert PACKAGE / "cli.py" in modules
    offenders = {
        str(path.relative_to(REPO)): found
        for path in modules
        if (found := qt_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


SHOW_DRIVER = """
import json, runpy, sys
sys.argv = ["configurator", *sys.argv[1:]]
try:
    runpy.run_module("configurator", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

NOT_FOR_SHOW = frozenset(
    {"PySide6", "shiboken6", "smtplib", "ssl", "_ssl", "keyring", "platformdirs"}
)


@pytest.mark.parametrize("args", [["show"], ["show", "--json"]])
def test_show_loads_no_qt_tls_or_keyring(data_dir: Path, args: list[str]) -> None:
    Store(data_dir).save(
        model.build(
            {
                "account_name": "Alerts",
                "account_email": "alerts@example.com",
                "server": "smtp.example.com",
                "username": "alerts",
                "password": "not shown",
            }
        )
    )
    completed = subprocess.run(
        [sys.executable, "-c", SHOW_DRIVER, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["code"] == 0, completed.stderr
    assert "configurator.store" in report["modules"]  # the real path was taken
    loaded = {name for name in report["modules"] if name.split(".")[0] in NOT_FOR_SHOW}
    assert loaded == set()


def test_test_loads_no_qt_and_show_no_mail_code(data_dir: Path) -> None:
    """``test`` runs a real check (nothing listens: it fails) without Qt; ``show`` no mail code."""
    import socket

    with socket.socket() as probe:  # a port on which nothing listens: the check fails fast
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Store(data_dir).save(
        model.build(
            {
                "account_name": "Alerts",
                "account_email": "alerts@example.com",
                "server": "127.0.0.1",
                "port": str(port),
                "username": "alerts",
                "password": "not shown",
            }
        )
    )
    loaded: dict[str, set[str]] = {}
    for command in ("test", "show"):
        completed = subprocess.run(
            [sys.executable, "-c", SHOW_DRIVER, command],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        report = json.loads(completed.stdout.splitlines()[-1])
        assert report["code"] == (6 if command == "test" else 0), completed.stderr
        loaded[command] = set(report["modules"])
    assert "configurator.mail.diagnose" in loaded["test"]
    assert {name for name in loaded["test"] if name.split(".")[0] in QT_PACKAGES} == set()
    assert {name for name in loaded["show"] if name.startswith("configurator.mail")} == set()


# -- start-up time ------------------------------------------------------------------
# Each of these would add milliseconds to every start (see benchmarks/startup.py):
# the parser (a plain show and a launch of the window do without it), dataclasses
# (it imports inspect), a second OpenSSL (hashlib, hmac), the writers' lock and the
# temporary files of saves, the audit trail and the rules of validation.

SLOW_FOR_SHOW = frozenset(
    {
        "argparse",
        "dataclasses",
        "inspect",
        "hashlib",
        "hmac",
        "filelock",
        "tempfile",
        "datetime",
        "configurator.cli_parser",
        "configurator.audit",
        "configurator.syntax",
    }
)

WINDOW_DRIVER = """
import json, os, sys
os.environ["CONFIGURATOR_STARTUP_PROBE"] = "1"
from configurator import app

def leave(application, code):  # the program ends its process here: report first
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}), flush=True)
    os._exit(code)

app._leave = leave
from configurator.cli import main
main([])
"""

# PySide6 itself imports argparse, inspect and tempfile; these it does not.
SLOW_FOR_THE_WINDOW = frozenset(
    {
        "dataclasses",
        "hashlib",
        "hmac",
        "filelock",
        "configurator.cli_parser",
        "configurator.mail",
        "configurator.syntax",
        "configurator.ui.check_dialog",
        "configurator.ui.conflict_dialog",
        "configurator.ui.detect",
        "configurator.ui.dialogs",
        "configurator.ui.history",
    }
)


def _saved(data_dir: Path) -> None:
    Store(data_dir).save(
        model.build(
            {
                "account_name": "Alerts",
                "account_email": "alerts@example.com",
                "server": "smtp.example.com",
                "username": "alerts",
                "password": "not shown",
            }
        )
    )


def _modules_loaded(code: str, *args: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["code"] == 0, completed.stderr
    return set(report["modules"])


@pytest.mark.parametrize("args", [["show"], ["show", "--json"]])
def test_a_plain_show_loads_nothing_it_can_do_without(data_dir: Path, args: list[str]) -> None:
    _saved(data_dir)
    loaded = _modules_loaded(SHOW_DRIVER, *args)
    assert "configurator.store" in loaded
    assert loaded & SLOW_FOR_SHOW == set()


def test_the_window_starts_without_what_it_can_do_without(data_dir: Path) -> None:
    _saved(data_dir)
    loaded = _modules_loaded(WINDOW_DRIVER)
    assert "configurator.ui.window" in loaded
    assert loaded & SLOW_FOR_THE_WINDOW == set()


# -- the import graph ------------------------------------------------------------------
# Every import counts, at the top, inside functions and for type checking alone: a
# helper of the window that imported the window would let neither load without the
# other, and a cycle is the first step to a tangle nobody can split.


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_by(path: Path) -> set[str]:
    """The modules (and names, which may be modules) that ``path`` imports anywhere."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports."""
    modules = package_modules()
    return {
        name: {other for other in imported_by(path) if other in modules and other != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import one another, round about (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "configurator.ui.window" in graph["configurator.app"]  # inside a function
    assert "configurator.ui.check_controller" in graph["configurator.ui.window"]
    assert "configurator.ui.host" in graph["configurator.ui.check_controller"]


def test_import_graph_has_no_cycles() -> None:
    """Every layer imports only those below it: no helper imports the window, no
    command the dispatcher, and no module of the mail package one that imports it."""
    assert cycles(import_graph()) == []


def test_the_edit_session_imports_no_qt() -> None:
    """Nor does any module it imports: the session is tested, and may be used, without Qt."""
    graph, modules = import_graph(), package_modules()
    reached: set[str] = set()
    todo = ["configurator.ui.session"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    assert "configurator.ui.modes" in reached
    offenders = {
        name: found
        for name in reached
        if (found := qt_imports(modules[name].read_text(encoding="utf-8")))
    }
    assert offenders == {}
    loaded = _modules_loaded(
        "import json, sys; import configurator.ui.session; "
        'print(json.dumps({"code": 0, "modules": sorted(sys.modules)}))'
    )
    assert "configurator.ui.session" in loaded
    assert {name for name in loaded if name.split(".")[0] in QT_PACKAGES} == set()
