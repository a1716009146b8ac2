"""CI itself: ``.ci/run`` stops at the first failing step, and nothing that must run can skip.

``.ci/run`` is run here for real, on throwaway projects made to fail: an
install whose requirement cannot be met, a test run that collects nothing.
Neither may let the run go on to the next step.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import accounts, tools

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
CI_RUN = ROOT / ".ci" / "run"
UNSATISFIABLE = "configurator-ci-test-no-such-distribution"


def ci_run(
    project: Path, *steps: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``.ci/run STEPS`` in ``project``, which holds a copy of the real script."""
    (project / ".ci").mkdir(exist_ok=True)
    shutil.copy2(CI_RUN, project / ".ci" / "run")
    return subprocess.run(
        ["bash", str(project / ".ci" / "run"), *steps],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def function_body(script: str, name: str) -> list[str]:
    """The commands of shell function ``name`` in ``script``, comments left out."""
    match = re.search(rf"^{name}\(\) {{\n(.*?)^}}", script, re.MULTILINE | re.DOTALL)
    assert match is not None, f"{name} is not defined in .ci/run"
    lines = (line.strip() for line in match.group(1).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def readme_test_command() -> list[str]:
    """The first shell block of the README's "Develop" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    develop = readme.split("\n## Develop\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", develop, re.DOTALL)
    assert match is not None, "no shell block in the README's Develop section"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


# -- the script ----------------------------------------------------------------------


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    script = CI_RUN.read_text(encoding="utf-8")
    ci = function_body(script, "step_install") + function_body(script, "step_test")
    assert ci == readme_test_command()
    assert ci == [
        "python3 -m venv .venv",
        '.venv/bin/pip install -e ".[test]"',
        ".venv/bin/python -m pytest",
    ]


def test_ci_chains_no_commands() -> None:
    """Under ``set -e`` a failure inside ``a && b`` (but at its end) does not stop bash."""
    script = CI_RUN.read_text(encoding="utf-8")
    assert script.splitlines()[:20].count("set -euo pipefail") == 1
    commands = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert [line for line in commands if "&&" in line] == []


@pytest.mark.slow
def test_an_install_that_fails_stops_the_run(tmp_path: Path) -> None:
    """The install step against a requirement no index can meet: no test step, no pass."""
    (tmp_path / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["{UNSATISFIABLE}==0"]\nbuild-backend = "hatchling.build"\n'
        '\n[project]\nname = "ci-probe"\nversion = "0"\n',
        encoding="utf-8",
    )
    # No index at all: pip fails here, at once, without the network.
    result = ci_run(tmp_path, "install", "test", env={"PIP_NO_INDEX": "1"})
    assert result.returncode != 0
    assert "== .ci/run: install\n" in result.stdout
    assert UNSATISFIABLE in result.stderr
    assert "== .ci/run: test" not in result.stdout
    assert "passed" not in result.stdout


def test_a_test_run_that_collects_nothing_fails_the_run(tmp_path: Path) -> None:
    """pytest's exit 5 (no tests collected) is a failure, and ends the run."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n', encoding="utf-8"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text("VALUE = 1\n", encoding="utf-8")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)

    result = ci_run(tmp_path, "test", "lint")

    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "no tests ran" in result.stdout
    assert "== .ci/run: lint" not in result.stdout


def test_an_unknown_step_runs_nothing(tmp_path: Path) -> None:
    result = ci_run(tmp_path, "test", "deploy")
    assert result.returncode == 2
    assert "Unknown step 'deploy'" in result.stderr
    assert "== .ci/run:" not in result.stdout


# -- what may not skip in CI ---------------------------------------------------------

INNER_TESTS = """
import pytest
from support import tools

@tools.needs("configurator-no-such-program", packages="no-such-package")
def test_marked():
    pass

def test_asks_inside():
    tools.require("configurator-no-such-program", packages="no-such-package")

def test_skips_for_another_reason():
    pytest.skip("only on another platform")
"""


@pytest.mark.parametrize("ci", ["true", None])
def test_in_ci_a_test_may_not_skip_for_want_of_a_program(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    shutil.copytree(TESTS / "support", pytester.path / "support")
    pytester.makeconftest((TESTS / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_inner=INNER_TESTS)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfEs")

    if ci is None:
        result.assert_outcomes(skipped=3)
        result.stdout.fnmatch_lines([f"*{tools.MISSING} configurator-no-such-program*"])
    else:
        # A skip mark acts in the setup: an error there, a failure in the test itself.
        result.assert_outcomes(failed=1, errors=1, skipped=1)
        result.stdout.fnmatch_lines_random(
            [
                "ERROR test_inner.py::test_marked - *",
                "FAILED test_inner.py::test_asks_inside - *",
                "Skipped: needs a program that is not installed: configurator-no-such-program "
                "(Debian: apt-get install no-such-package), and CI must install it (see .ci/run)",
            ]
        )


def test_ci_installs_every_program_the_real_keyring_tests_need() -> None:
    from support import secretservice

    script = CI_RUN.read_text(encoding="utf-8")
    listed = re.search(r"^PROGRAMS=\((.*?)^\)", script, re.MULTILINE | re.DOTALL)
    assert listed is not None
    programs = listed.group(1).split()[::2]
    needed = [*secretservice.PROGRAMS, "desktop-file-validate", "xvfb-run"]
    assert [program for program in needed if program not in programs] == []


# -- the unprivileged run ------------------------------------------------------------


def permission_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "permission_run", ROOT / ".ci" / "permission_run.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("inner", "wrong"),
    [
        (["pass", f"pytest.skip({accounts.ONLY_AS_ROOT!r})"], []),
        (
            [
                f"pytest.skip({accounts.ONLY_AS_ROOT!r})",
                f"pytest.skip({accounts.NOT_AS_ROOT!r})",
                "pytest.skip('elsewhere')",
                "assert False",
            ],
            [
                "test_inner::test_1: skipped",
                "test_inner::test_2: skipped",
                "test_inner::test_3: failure",
                "no permission test passed",
            ],
        ),
    ],
    ids=["ran", "did-not-run"],
)
def test_the_unprivileged_run_counts_only_tests_that_ran(
    pytester: pytest.Pytester, inner: list[str], wrong: list[str]
) -> None:
    """CI's check of the permission tests run as ``nobody``: none skipped but the root-only."""
    tests = "\n".join(f"def test_{number}():\n    {body}\n" for number, body in enumerate(inner))
    pytester.makepyfile(test_inner="import pytest\n\n" + tests)
    report = pytester.path / "report.xml"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--junitxml={report}")

    summary, found = permission_run().problems(report)

    assert [problem.split(" (")[0] for problem in found] == wrong
    assert summary.startswith("as an unprivileged account: ")
