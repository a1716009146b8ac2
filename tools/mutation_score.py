"""Mutation score of the code that guards secrets: do the tests notice when it breaks?

Uses mutmut (``pip install -e ".[mutation]"``).  For each module below it
prepares a workspace ``mutants/<module>/`` (a copy of the package, the tests
and ``pyproject.toml`` with a ``[tool.mutmut]`` section naming that module and
its own test files), runs ``mutmut run`` there under ``nice``, and reads the
results mutmut leaves.  mutmut runs, for each mutant, only the tests of those
files that reached the mutated function.

A mutant counts as *killed* when a test failed, timed out or crashed with it,
and as *surviving* when every test passed or no test reached it.  Mutants
listed in ``mutation_equivalents.toml`` (next to this script) behave exactly
as the original code and are left out of the score; each entry names the
change it was reviewed for, so that an entry whose mutant has since changed
is reported as stale instead of hiding a different mutant.

    .venv/bin/python tools/mutation_score.py                 # every module
    .venv/bin/python tools/mutation_score.py store keys      # some modules
    .venv/bin/python tools/mutation_score.py --report        # last results only
    .venv/bin/python tools/mutation_score.py --report --survivors   # what survived
    .venv/bin/python tools/mutation_score.py --again store   # rerun survivors, current tests
    .venv/bin/python tools/mutation_score.py --entry NAME    # an equivalents entry to fill

``--again`` keeps the results of mutants already killed: tests are only ever
added between runs.  After a change to a mutated module run it afresh.

Exits 1 when the overall score is below ``--minimum`` (90 % by default).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.toml"

# mutmut's exit codes for a mutant (mutmut.stats.status_by_exit_code).
KILLED_CODES = {1, 3, 36, 24, -24, 152, 255, -11, -9}  # failed, error, timeout, crash
SURVIVED_CODES = {0, 5, 33}  # every test passed, or no test reached the mutant
SEP = "\u01c1"  # mutmut's separator between class and method in a mutant's name


@dataclass(frozen=True)
class Module:
    """One module to mutate, the tests that concern it, and which functions count."""

    name: str
    source: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ("*",)
    deselect: tuple[str, ...] = ()

    @property
    def dotted(self) -> str:
        return self.source.removesuffix(".py").replace("/", ".")

    def patterns(self) -> list[str]:
        """mutmut mutant-name patterns for the functions that count."""
        return [f"{self.dotted}.{function}__mutmut_*" for function in self.functions]


def _methods(cls: str, *names: str) -> tuple[str, ...]:
    return tuple(f"x{SEP}{cls}{SEP}{name}" for name in names)


MAIL_TESTS = ("tests/test_mail_*.py",)
# Counts the modules that importing the package loads: mutmut's trampolines
# in the mutated copy load more, so this test fails for every mutant alike.
IMPORT_COST = (
    "tests/test_mail_package.py::test_importing_the_package_loads_neither_tls_nor_email_nor_qt",
)

# Kills writers a few milliseconds after starting them and expects some to
# have written: the mutated copy imports more slowly, so none has.
KILL_TIMING = (
    "tests/test_audit.py::test_a_writer_killed_at_any_moment_never_damages_earlier_records",
)

MODULES = (
    Module("channel", "configurator/mail/channel.py", MAIL_TESTS, deselect=IMPORT_COST),
    Module("tls", "configurator/mail/tls.py", MAIL_TESTS, deselect=IMPORT_COST),
    Module(
        # Only the TLS and login steps of the session: the rest (connecting,
        # greeting, sending) does not handle secrets.
        "session",
        "configurator/mail/session.py",
        MAIL_TESTS,
        deselect=IMPORT_COST,
        functions=_methods(
            "Session", "_starttls", "_authenticate", "_secure", "_tls_summary", "_certificate_error"
        ),
    ),
    Module(
        # Only how TLS and login failures are explained.
        "classify",
        "configurator/mail/classify.py",
        MAIL_TESTS,
        deselect=IMPORT_COST,
        functions=("x_ssl_reason", *_methods("Explainer", "auth_failure", "access_refused")),
    ),
    Module(
        # The certificate fetch and the TLS/plain-text probes behind the advice.
        "probes",
        "configurator/mail/probes.py",
        MAIL_TESTS,
        deselect=IMPORT_COST,
        functions=_methods("Probes", "fetch_certificate", "speaks_tls", "greets_in_plain"),
    ),
    Module("auth", "configurator/mail/auth.py", MAIL_TESTS, deselect=IMPORT_COST),
    Module("certificate", "configurator/mail/certificate.py", MAIL_TESTS, deselect=IMPORT_COST),
    Module("store", "configurator/store.py", ("tests/test_store*.py", "tests/test_bitflip.py")),
    Module("keys", "configurator/keys.py", ("tests/test_keys*.py",)),
    Module(
        "fsutil",
        "configurator/fsutil.py",
        # The store and the CA file reach its safe open and trust checks in-process.
        ("tests/test_fsutil*.py", "tests/test_store*.py", "tests/test_mail_ca_file.py"),
    ),
    Module("audit", "configurator/audit.py", ("tests/test_audit*.py",), deselect=KILL_TIMING),
)


@dataclass(frozen=True)
class Equivalent:
    mutant: str
    change: str
    reason: str


@dataclass
class Tally:
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    unchecked: int = 0

    @property
    def counted(self) -> int:
        return self.killed + self.survived

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0

    def add(self, other: Tally) -> None:
        self.killed += other.killed
        self.survived += other.survived
        self.equivalent += other.equivalent
        self.unchecked += other.unchecked


def test_files(module: Module) -> list[str]:
    found: set[str] = set()
    for pattern in module.tests:
        found.update(str(path.relative_to(ROOT)) for path in ROOT.glob(pattern))
    return sorted(found)


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def prepare(module: Module) -> Path:
    """A fresh workspace: the package, the tests, and a config for this module."""
    workspace = WORK / module.name
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for folder in ("configurator", "tests", "resources"):
        shutil.copytree(ROOT / folder, workspace / folder, ignore=ignore)
    pytest_args = ["-p", "no:cacheprovider"]
    for test in module.deselect:
        pytest_args += ["--deselect", test]
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["configurator"]\n'
        f"only_mutate = {_toml_list([module.source])}\n"
        'also_copy = ["resources"]\n'
        f"pytest_add_cli_args_test_selection = {_toml_list(test_files(module))}\n"
        f"pytest_add_cli_args = {_toml_list(pytest_args)}\n"
        "use_git_change_detection = false\n"
        "track_dependencies = false\n"
    )
    (workspace / "pyproject.toml").write_text(config, encoding="utf-8")
    return workspace


def refresh_tests(module: Module) -> Path:
    """Bring the current tests into an existing workspace (after tests were added)."""
    workspace = WORK / module.name
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for target in (workspace / "tests", workspace / "mutants" / "tests"):
        shutil.copytree(ROOT / "tests", target, ignore=ignore, dirs_exist_ok=True)
    config = (workspace / "pyproject.toml").read_text(encoding="utf-8")
    lines = [
        f"pytest_add_cli_args_test_selection = {_toml_list(test_files(module))}"
        if line.startswith("pytest_add_cli_args_test_selection")
        else line
        for line in config.splitlines()
    ]
    (workspace / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy2(workspace / "pyproject.toml", workspace / "mutants" / "pyproject.toml")
    return workspace


def run(module: Module, max_children: int, *, again: bool = False) -> float:
    """Run mutmut for one module; the seconds it took.

    ``again``: keep the last results and test only the mutants that survived
    them, with the tests as they are now.
    """
    names = module.patterns()
    if again:
        before = exit_codes(module)
        names = [name for name, code in before.items() if code not in KILLED_CODES]
        if not names:
            return 0.0
        workspace = refresh_tests(module)
        (workspace / "results.json").write_text(json.dumps(before, indent=0), encoding="utf-8")
    else:
        workspace = prepare(module)
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    # Subprocesses the tests start (the command line) import the mutated copy too.
    # It must exist before mutmut starts: Python caches a missing path entry
    # as such, and the tests would then import the original package.
    (workspace / "mutants").mkdir(exist_ok=True)
    env["PYTHONPATH"] = str(workspace / "mutants")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # The console script, not ``python -m mutmut``: as ``__main__`` its module
    # would be loaded twice, and the test-to-function map stays empty.
    mutmut = Path(sys.executable).with_name("mutmut")
    command = ["nice", "-n", "10", str(mutmut), "run"]
    command += ["--max-children", str(max_children), *names]
    log = workspace / ("mutmut-again.log" if again else "mutmut.log")
    print(f"{module.name}: mutating {module.source}; log in {log.relative_to(ROOT)}", flush=True)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(
            command, cwd=workspace, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    elapsed = time.monotonic() - started
    # mutmut forgets the results of mutants it was not asked to run: keep them.
    kept = exit_codes(module)
    (workspace / "results.json").write_text(json.dumps(kept, indent=0), encoding="utf-8")
    if result.returncode != 0:
        print(f"{module.name}: mutmut exited with {result.returncode}; see {log}", flush=True)
    return elapsed


def exit_codes(module: Module) -> dict[str, int | None]:
    """The result of each counted mutant: the last run's, over earlier ones (``--again``)."""
    kept = WORK / module.name / "results.json"
    codes: dict[str, int | None] = {}
    if kept.exists():
        codes.update(json.loads(kept.read_text(encoding="utf-8")))
    meta = WORK / module.name / "mutants" / (module.source + ".meta")
    if meta.exists():
        latest = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        codes.update({name: code for name, code in latest.items() if code is not None})
        codes.update({name: None for name in latest if name not in codes})
    patterns = module.patterns()
    return {
        name: code
        for name, code in codes.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }


def changes(module: Module) -> dict[str, str]:
    """For each mutant, its change as ``old line -> new line`` (from mutmut's mutated copy)."""
    path = WORK / module.name / "mutants" / module.source
    if not path.exists():
        return {}
    source = path.read_text(encoding="utf-8")
    functions: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # Methods are stored as ``xǁClassǁname__mutmut_N`` inside the class.
            functions[node.name] = ast.unparse(node)
    prefix = module.dotted + "."
    result: dict[str, str] = {}
    for name, mutated in functions.items():
        base, marker, _ = name.rpartition("__mutmut_")
        if not marker or name.endswith("__mutmut_orig"):
            continue
        original = functions.get(base + "__mutmut_orig")
        if original is None:
            continue
        old = original.replace(base + "__mutmut_orig", base).splitlines()
        new = mutated.replace(name, base).splitlines()
        removed = [line.strip() for line in old if line not in new]
        added = [line.strip() for line in new if line not in old]
        if not removed and not added:
            diff = [d for d in difflib.ndiff(old, new) if d[:1] in "+-"]
            removed = [d[2:].strip() for d in diff if d.startswith("-")]
            added = [d[2:].strip() for d in diff if d.startswith("+")]
        result[prefix + name] = " / ".join(removed) + "  ->  " + " / ".join(added)
    return result


def load_equivalents() -> dict[str, Equivalent]:
    data = tomllib.loads(EQUIVALENTS.read_text(encoding="utf-8"))
    return {
        entry["mutant"]: Equivalent(entry["mutant"], entry["change"], entry["reason"])
        for entry in data.get("equivalent", [])
    }


def tally(
    module: Module, equivalents: dict[str, Equivalent], *, show: bool, problems: list[str]
) -> Tally:
    codes = exit_codes(module)
    described = changes(module)
    count = Tally()
    for name, code in sorted(codes.items(), key=lambda item: _order(item[0])):
        change = described.get(name, "?")
        entry = equivalents.get(name)
        if entry is not None and entry.change != change:
            problems.append(f"stale equivalent entry {name}: now {change!r}")
            entry = None
        if code in KILLED_CODES:
            count.killed += 1
            if entry is not None:
                problems.append(f"listed as equivalent but killed: {name}")
        elif entry is not None:
            count.equivalent += 1
        elif code in SURVIVED_CODES:
            count.survived += 1
            if show:
                status = "no test reached it" if code in (5, 33) else "survived"
                print(f"  {status}: {name}\n      {change}")
        else:
            count.unchecked += 1
    return count


def _order(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number) if number.isdigit() else 0


def report(modules: list[Module], *, show: bool, elapsed: dict[str, float]) -> Tally:
    equivalents = load_equivalents()
    known = {name for module in MODULES for name in exit_codes(module)}
    # Only modules with results can tell whether an entry still names a mutant.
    measured = tuple(f"{m.dotted}." for m in MODULES if any(exit_codes(m)))
    problems: list[str] = []
    total = Tally()
    rows: list[str] = []
    for module in modules:
        if show:
            print(f"{module.name}:")
        count = tally(module, equivalents, show=show, problems=problems)
        total.add(count)
        seconds = f"{elapsed[module.name]:7.0f}" if module.name in elapsed else "      -"
        rows.append(
            f"{module.name:<12}{count.killed:>7}{count.survived:>9}{count.equivalent:>11}"
            f"{count.unchecked:>10}{count.score:>8.1f} %{seconds}"
        )
    if known:
        problems += [
            f"equivalent entry names no mutant: {n}"
            for n in equivalents
            if n not in known and n.startswith(measured)
        ]
    print(
        f"{'module':<12}{'killed':>7}{'survived':>9}{'equivalent':>11}{'unchecked':>10}"
        f"{'score':>10}{'seconds':>8}"
    )
    print("\n".join(rows))
    print(
        f"{'overall':<12}{total.killed:>7}{total.survived:>9}{total.equivalent:>11}"
        f"{total.unchecked:>10}{total.score:>8.1f} %"
        + (f"{sum(elapsed.values()):7.0f}" if elapsed else "")
    )
    for problem in problems:
        print("warning:", problem)
    return total


def print_entries(names: list[str]) -> int:
    described: dict[str, str] = {}
    for module in MODULES:
        described.update(changes(module))
    for name in names:
        if name not in described:
            print(f"no such mutant in the last results: {name}", file=sys.stderr)
            return 1
        print("\n[[equivalent]]")
        print(f"mutant = {json.dumps(name, ensure_ascii=False)}")
        print(f"change = {json.dumps(described[name], ensure_ascii=False)}")
        print('reason = ""')
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to run (default: all)")
    parser.add_argument("--report", action="store_true", help="only report the last results")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    parser.add_argument(
        "--again", action="store_true", help="test only the last survivors, with the current tests"
    )
    parser.add_argument(
        "--entry",
        metavar="MUTANT",
        action="append",
        default=[],
        help="print an equivalents-file entry for MUTANT (to review and fill in the reason)",
    )
    parser.add_argument("--children", type=int, default=2, help="parallel mutants (default 2)")
    parser.add_argument("--minimum", type=float, default=90.0, help="lowest passing score, %%")
    args = parser.parse_args(argv)
    by_name = {module.name: module for module in MODULES}
    unknown = [name for name in args.modules if name not in by_name]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(by_name)}")
    modules = [by_name[name] for name in args.modules] or list(MODULES)
    if args.entry:
        return print_entries(args.entry)
    elapsed: dict[str, float] = {}
    if not args.report:
        for module in modules:
            elapsed[module.name] = run(module, args.children, again=args.again)
    total = report(modules, show=args.survivors, elapsed=elapsed)
    return 0 if total.score >= args.minimum and not total.unchecked else 1


if __name__ == "__main__":
    sys.exit(main())
