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


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those only for the type checker."""
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in typing_only
    ]


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (function-level imports included)."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in paths else base)
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle in ``graph`` as a list of modules, or an empty list."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_the_command_modules() -> None:
    graph = import_graph()
    assert "configurator.console" in graph["configurator.commands.show"]
    assert "configurator.cli_parser" in graph["configurator.cli"]  # a function-level import


# Helpers of the window that still import constants from it; they go when the
# window's state moves into its own object. Remove an entry as soon as it can go.
_KNOWN_BACK_EDGES = {
    ("configurator.ui.check_controller", "configurator.ui.window"),
    ("configurator.ui.reload", "configurator.ui.window"),
}


def test_import_graph_has_no_cycles() -> None:
    """Every layer imports only those below it: the commands never import the dispatcher."""
    graph = import_graph()
    for importer, imported in _KNOWN_BACK_EDGES:
        graph[importer].discard(imported)
    assert find_cycle(graph) == []
