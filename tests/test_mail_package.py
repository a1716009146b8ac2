"""The mail package's own rules: cheap to import, no Qt, secrets redacted, texts complete."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.smtp import secret_forms

from configurator.mail import errors
from configurator.mail.cancel import CancelToken
from configurator.mail.errors import Problem, explain
from configurator.mail.steps import Outcome, StepId, StepTracker
from configurator.mail.transcript import HIDDEN, Transcript, credential_forms

REPO = Path(__file__).resolve().parents[1]

MAIL = REPO / "configurator" / "mail"

HEAVY = ("ssl", "_ssl", "smtplib", "email", "cryptography", "concurrent", "PySide6", "shiboken6")


def test_importing_the_package_loads_neither_tls_nor_email_nor_qt() -> None:
    script = (
        "import json, sys; import configurator.mail; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    modules = json.loads(completed.stdout)
    assert "configurator.mail.diagnose" in modules
    assert [name for name in modules if name.split(".")[0] in HEAVY] == []


def _run_time_imports(tree: ast.Module) -> list[ast.ImportFrom | ast.Import]:
    """Every import that can run: those under ``if TYPE_CHECKING:`` never do."""
    found: list[ast.ImportFrom | ast.Import] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _mail_modules() -> dict[str, list[ast.ImportFrom | ast.Import]]:
    """Each module of the mail package (not its ``__init__``) and the imports it can run."""
    return {
        path.stem: _run_time_imports(ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(MAIL.glob("*.py"))
        if path.stem != "__init__"
    }


def _imported_mail_modules(node: ast.ImportFrom | ast.Import) -> list[tuple[str, list[str]]]:
    """The mail modules ``node`` imports, each with the names it takes from it."""
    prefix = "configurator.mail."
    if isinstance(node, ast.Import):
        return [(a.name.removeprefix(prefix), []) for a in node.names if a.name.startswith(prefix)]
    if node.module == "configurator.mail":
        return [(alias.name, []) for alias in node.names]
    if node.module is not None and node.module.startswith(prefix):
        return [(node.module.removeprefix(prefix), [alias.name for alias in node.names])]
    return []


def test_the_mail_modules_import_one_another_without_cycles() -> None:
    modules = _mail_modules()
    graph = {
        name: {target for node in imports for target, _ in _imported_mail_modules(node)}
        for name, imports in modules.items()
    }
    assert {"session", "classify", "tls", "probes", "connect", "auth"} <= set(graph)
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_no_mail_module_imports_a_private_name_of_another() -> None:
    private = [
        f"{name} imports {target}.{imported}"
        for name, imports in _mail_modules().items()
        for node in imports
        for target, names in _imported_mail_modules(node)
        for imported in names
        if imported.startswith("_")
    ]
    assert private == []


@pytest.mark.parametrize(
    ("username", "password"),
    [("alerts@example.org", "S3cret-Pa55word!"), ("usér", "pässwörd✓"), ("", "x y z")],
)
def test_every_wire_form_of_the_password_is_hidden(username: str, password: str) -> None:
    transcript = Transcript()
    transcript.add_secrets(credential_forms(username, password))
    forms = secret_forms(password, username)[:1] + secret_forms(password, username)[2:]

    for form in forms:
        transcript.client(f"AUTH PLAIN {form}")
        transcript.server(f"535 rejected {form}")
    text = "\n".join(line.text for line in transcript.lines())

    for form in forms:
        assert form not in text
    assert text.count(HIDDEN) == 2 * len(forms)


def test_nothing_is_hidden_without_a_password() -> None:
    transcript = Transcript()
    transcript.add_secrets(credential_forms("alerts", ""))

    assert transcript.redact("AUTH PLAIN abc") == "AUTH PLAIN abc"


def test_every_problem_has_a_summary_a_cause_and_a_fix() -> None:
    for problem in Problem:
        failure = explain(problem)
        assert failure.summary
        assert failure.summary == failure.summary.strip()
        assert failure.cause.endswith(".")
        assert failure.fix.endswith(".")


def test_the_phrases_the_contract_names() -> None:
    phrases = {
        Problem.AUTH_REJECTED: "authentication rejected",
        Problem.STARTTLS_NOT_OFFERED: "server does not offer STARTTLS",
        Problem.CERT_UNTRUSTED: "certificate not trusted",
        Problem.GREETING_TIMEOUT: "timed out waiting for the server greeting",
    }
    for problem, phrase in phrases.items():
        assert explain(problem).summary == phrase


def test_a_missing_text_value_shows_as_a_question_mark() -> None:
    failure = explain(Problem.CONNECTION_REFUSED, context={"port": 25})

    assert "port 25 of ?" in failure.cause


def test_a_failure_knows_whether_it_is_temporary() -> None:
    assert explain(Problem.AUTH_TEMPORARY, reply="454 4.7.0 try later").temporary
    assert not explain(Problem.AUTH_REJECTED, reply="535 5.7.8 no").temporary


def test_cancel_wakes_registered_callbacks_and_later_ones_at_once() -> None:
    token = CancelToken()
    calls: list[str] = []
    with token.on_cancel(lambda: calls.append("early")):
        token.cancel()
        token.cancel()
    with token.on_cancel(lambda: calls.append("late")):
        pass

    assert calls == ["early", "late"]
    with pytest.raises(errors.MailError) as caught:
        token.check()
    assert caught.value.problem is Problem.CANCELLED


def test_a_step_that_raises_is_failed_and_the_rest_are_skipped() -> None:
    def classify(exc: Exception, step: StepId) -> errors.MailError:
        return errors.MailError(explain(Problem.INTERNAL_ERROR, context={"detail": str(exc)}))

    tracker = StepTracker(
        [StepId.RESOLVE, StepId.CONNECT, StepId.GREETING],
        classify=classify,
        redact=lambda text: text.replace("secret", HIDDEN),
    )
    with tracker.run(StepId.RESOLVE) as step:
        step.detail = "found the secret address"
    with pytest.raises(errors.MailError) as caught, tracker.run(StepId.CONNECT):
        raise ValueError("broken")

    assert caught.value.step is StepId.CONNECT
    steps = tracker.steps()
    assert [step.outcome for step in steps] == [Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED]
    assert steps[0].detail == f"found the {HIDDEN} address"
    assert steps[1].detail == "unexpected error"
    assert steps[2].detail == "not run: Connect did not succeed"


def test_certificate_problems_are_told_by_the_problem_itself() -> None:
    """One home for which failures concern the certificate and which pinning resolves."""
    from configurator.mail import Problem

    certificate = {p for p in Problem if p.is_certificate}
    assert certificate == {p for p in Problem if p.value.startswith("cert_")}
    assert {p for p in Problem if p.pinnable} == {
        Problem.CERT_UNTRUSTED,
        Problem.CERT_WRONG_HOST,
        Problem.CERT_PIN_MISMATCH,
    }
    assert all(p.is_certificate for p in Problem if p.pinnable)
