"""The mail package's own rules: cheap to import, no Qt, secrets redacted, texts complete."""

from __future__ import annotations

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
