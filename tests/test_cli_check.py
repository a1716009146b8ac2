"""``configurator test`` and ``configurator detect`` against real mail servers on 127.0.0.1.

The settings are stored encrypted in this test's data directory, the command
runs as a real subprocess (``python -m configurator``), and the local aiosmtpd
server records what really arrived.  ``detect`` always probes the standard
ports 465, 587 and 25, which local test servers cannot take; its proposals are
therefore tested in-process with the list of candidates pointed at the test
servers, and as a subprocess only where nothing listens on those ports.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import os
import pty
import select
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.smtp import (
    PASSWORD,
    USERNAME,
    Pki,
    Server,
    StartServer,
    assert_no_secret,
    free_port,
    leaf_fingerprint,
    make_settings,
)

from configurator import cli, mail, preferences
from configurator.mail import Candidate
from configurator.model import Auth, Security, Settings
from configurator.store import Store

pytest_plugins = ["support.smtp"]

REPO = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "configurator"]
USERS = {USERNAME: PASSWORD}
WRONG_PASSWORD = "Wr0ng-but-Secret-7"
RECIPIENT = "soc-team@example.net"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(*args: str, timeout: float = 60) -> Result:
    """Run the command line; no call may end in a traceback or show a stored password."""
    started = time.monotonic()
    completed = subprocess.run(
        [*COMMAND, *args], capture_output=True, cwd=REPO, timeout=timeout, check=False
    )
    result = Result(
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8"),
        time.monotonic() - started,
    )
    assert "Traceback" not in result.stderr, result.stderr
    for password in (PASSWORD, WRONG_PASSWORD):
        assert_no_secret(password, USERNAME, result.stdout, result.stderr)
    return result


def store(data_dir: Path, settings: Settings) -> int:
    """Save ``settings`` as Submit would; return the revision."""
    return Store(data_dir).save(settings).revision


def stored(data_dir: Path) -> Settings:
    loaded = Store(data_dir).load()
    assert loaded is not None
    return loaded.settings


def stored_revision(data_dir: Path) -> int:
    loaded = Store(data_dir).load()
    assert loaded is not None
    return loaded.revision


def good_settings(server: Server, pki: Pki, **changes: object) -> Settings:
    return make_settings(server.port, ca_file=str(pki.ca_file), **changes)


@pytest.fixture
def starttls(smtp_server: StartServer) -> Server:
    """STARTTLS required, AUTH after TLS: the usual submission server."""
    return smtp_server(tls="starttls", users=USERS)


def step_lines(stdout: str) -> dict[str, str]:
    """The final line of each step, by title (the "running" lines left out)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        outcome, _, rest = line.partition(" ")
        if outcome in ("passed", "FAILED", "skipped", "cancelled"):
            for step_id in mail.StepId:
                if rest.lstrip().startswith(step_id.label):
                    found[step_id.label] = line
    return found


# -- nothing to check --------------------------------------------------------------


@pytest.mark.parametrize("args", [["test"], ["test", "--json"], ["detect"], ["detect", "--json"]])
def test_with_nothing_stored_exits_3(data_dir: Path, args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 3
    assert result.stdout == ""
    assert "No mail server settings are stored" in result.stderr
    assert not data_dir.exists()


@pytest.mark.parametrize("command", ["test", "detect"])
def test_an_unreadable_store_exits_4(data_dir: Path, command: str) -> None:
    store(data_dir, make_settings(free_port()))
    (data_dir / "settings.key").unlink()
    result = run_cli(command)
    assert result.returncode == 4
    assert result.stdout == ""


# -- test: passing -----------------------------------------------------------------


def test_every_step_is_printed_as_it_runs_and_all_pass(
    data_dir: Path, starttls: Server, pki: Pki
) -> None:
    settings = good_settings(starttls, pki)
    store(data_dir, settings)

    result = run_cli("test")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # Piped output: plain lines, nothing rewritten in place.
    assert "\r" not in result.stdout
    assert "\x1b" not in result.stdout
    titles = [step.label for step in mail.plan_steps(settings)]
    finals = step_lines(result.stdout)
    assert list(finals) == titles
    for title in titles[:7]:
        running = lines.index(f"running   {title} ...")
        assert running < lines.index(finals[title])
        assert finals[title].startswith("passed ")
        assert finals[title].split()[-1] != "s"
    assert "220 smtp.test.invalid" in finals["Server greeting"]
    assert "235 2.7.0 Authentication successful" in finals["Authentication"]
    assert finals["Recipient accepted"].startswith("skipped ")
    assert finals["Message sent"].startswith("skipped ")
    assert "Passed: every step succeeded" in result.stdout
    assert starttls.recorder.messages == []  # no --to, no e-mail
    assert starttls.auth_attempts == [("PLAIN", USERNAME)]
    assert stored(data_dir) == settings  # nothing was changed


def test_each_step_line_carries_its_time(data_dir: Path, starttls: Server, pki: Pki) -> None:
    store(data_dir, good_settings(starttls, pki))
    finals = step_lines(run_cli("test").stdout)
    for title in ("Connect", "Server greeting", "TLS", "Authentication"):
        seconds = finals[title].split(title, 1)[1].split()[0]
        assert float(seconds) >= 0
        assert finals[title].split(title, 1)[1].split()[1] == "s"


def test_to_sends_a_real_message_and_remembers_the_recipient(
    data_dir: Path, starttls: Server, pki: Pki, preferences_file: Path
) -> None:
    store(data_dir, good_settings(starttls, pki))
    before = (data_dir / "settings.enc").read_bytes()

    result = run_cli("test", "--to", RECIPIENT)

    assert result.returncode == 0, result.stdout + result.stderr
    [received] = starttls.recorder.messages
    assert received.rcpt_tos == [RECIPIENT]
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert message["Subject"] == mail.TEST_SUBJECT
    assert message["To"] == RECIPIENT
    finals = step_lines(result.stdout)
    assert finals["Message sent"].startswith("passed ")
    assert "250 2.0.0 Ok: queued as TEST0001" in finals["Message sent"]
    assert f"Remembered {RECIPIENT} as your Test Recipient" in result.stdout
    assert str(preferences_file) in result.stdout

    # A check only looks: the settings are as they were, the recipient is a preference.
    assert (data_dir / "settings.enc").read_bytes() == before
    assert json.loads(preferences_file.read_text()) == {"test_recipient": RECIPIENT}
    assert stat.S_IMODE(preferences_file.stat().st_mode) == 0o600

    again = run_cli("test", "--to")  # without an address: the remembered one
    assert again.returncode == 0, again.stdout + again.stderr
    assert [message.rcpt_tos for message in starttls.recorder.messages] == [
        [RECIPIENT],
        [RECIPIENT],
    ]


def test_to_without_an_address_and_none_remembered_is_invalid(
    data_dir: Path, starttls: Server, pki: Pki
) -> None:
    store(data_dir, good_settings(starttls, pki))
    result = run_cli("test", "--to")
    assert result.returncode == 5
    assert result.stderr.startswith("Test Recipient: ")
    assert starttls.recorder.messages == []


def test_the_remembered_recipient_comes_before_the_stored_one(
    data_dir: Path, starttls: Server, pki: Pki, preferences_file: Path
) -> None:
    store(data_dir, dataclasses.replace(good_settings(starttls, pki), test_recipient=RECIPIENT))
    mine = "mine@recipients.example.net"

    first = run_cli("test", "--to")  # nothing remembered yet: the stored Test Recipient
    assert first.returncode == 0, first.stdout + first.stderr
    assert run_cli("test", "--to", mine).returncode == 0
    again = run_cli("test", "--to")

    assert again.returncode == 0, again.stdout + again.stderr
    assert [message.rcpt_tos for message in starttls.recorder.messages] == [
        [RECIPIENT],
        [mine],
        [mine],
    ]
    assert stored(data_dir).test_recipient == RECIPIENT  # never changed by a check
    assert json.loads(preferences_file.read_text()) == {"test_recipient": mine}


def test_a_recipient_the_server_refuses_is_not_remembered(
    data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, refused_recipients=frozenset({RECIPIENT}))
    revision = store(data_dir, good_settings(server, pki))

    result = run_cli("test", "--to", RECIPIENT)

    assert result.returncode == 6
    assert 'FAILED at "Recipient accepted": recipient address refused.' in result.stdout
    assert "550 5.1.1" in result.stdout
    assert "not remembered" in result.stderr
    assert stored_revision(data_dir) == revision


def test_remembering_may_fail_without_failing_the_test(
    data_dir: Path,
    smtp_server: StartServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Preferences that cannot be written: the check still passes, and says so in a note."""
    server = smtp_server(tls="none")
    settings = make_settings(
        server.port, security=Security.NONE, auth=Auth.NONE, username="", password=""
    )
    revision = store(data_dir, settings)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the configuration directory would be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))

    result = run_cli("test", "--to", RECIPIENT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.recorder.messages) == 1
    assert f"Note: {RECIPIENT} was not remembered as your Test Recipient" in result.stderr
    assert result.stdout.startswith(f"Checking 127.0.0.1 port {server.port} with no encryption ")
    assert str(blocked) in result.stderr
    assert stored_revision(data_dir) == revision


def test_a_check_from_a_reader_remembers_its_recipient_all_the_same(
    data_dir: Path, smtp_server: StartServer, preferences_file: Path
) -> None:
    """The settings may be read-only for this account: the preference is its own."""
    server = smtp_server(tls="none")
    settings = make_settings(
        server.port, security=Security.NONE, auth=Auth.NONE, username="", password=""
    )
    store(data_dir, settings)
    before = (data_dir / "settings.enc").read_bytes()
    (data_dir / "settings.enc").chmod(0o400)
    data_dir.chmod(0o500)
    try:
        result = run_cli("test", "--to", RECIPIENT)
    finally:
        data_dir.chmod(0o700)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not remembered" not in result.stderr
    assert preferences.remembered_recipient() == RECIPIENT
    assert (data_dir / "settings.enc").read_bytes() == before


def test_json_of_a_passing_check_is_one_object_and_nothing_else(
    data_dir: Path, starttls: Server, pki: Pki
) -> None:
    settings = good_settings(starttls, pki)
    store(data_dir, settings)

    result = run_cli("test", "--json", "--to", RECIPIENT)

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["passed"] is True
    assert data["failed_step"] is None
    assert data["failure"] is None
    assert data["recipient"] == RECIPIENT
    assert [step["id"] for step in data["steps"]] == [s.value for s in mail.plan_steps(settings)]
    assert {step["outcome"] for step in data["steps"]} == {"passed"}
    assert all(
        set(step) >= {"id", "title", "outcome", "duration", "reply"} for step in data["steps"]
    )
    assert data["certificate"]["fingerprint_sha256"] == leaf_fingerprint(pki.good)
    assert "Remembered" not in result.stdout  # the note does not spoil the JSON
    assert stored(data_dir).test_recipient == ""
    assert preferences.remembered_recipient() == RECIPIENT


# -- test: failing -----------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--transcript"], ["--json"]])
def test_wrong_password_is_authentication_rejected_and_never_shown(
    data_dir: Path, starttls: Server, pki: Pki, extra: list[str]
) -> None:
    store(data_dir, good_settings(starttls, pki, password=WRONG_PASSWORD))

    result = run_cli("test", *extra)  # run_cli checks every form of the password

    assert result.returncode == 6
    assert starttls.auth_attempts == [("PLAIN", USERNAME)]  # it was really tried
    if extra == ["--json"]:
        data = json.loads(result.stdout)
        assert data["passed"] is False
        assert data["failed_step"] == "auth"
        assert data["failure"]["problem"] == "auth_rejected"
        assert data["failure"]["summary"] == "authentication rejected"
        assert data["failure"]["fix"]
        assert any(line["text"] == "AUTH PLAIN [hidden]" for line in data["transcript"])
        return
    assert 'FAILED at "Authentication": authentication rejected.' in result.stdout
    assert "Cause: " in result.stdout
    assert "Fix:   Check User Name" in result.stdout
    assert "Server reply: 535" in result.stdout
    assert step_lines(result.stdout)["Sender accepted"].startswith("skipped ")
    if extra == ["--transcript"]:
        transcript = result.stdout.split("Transcript (passwords hidden):", 1)[1]
        assert "C: AUTH PLAIN [hidden]" in transcript
        assert "S: 535" in transcript


def test_a_silent_server_times_out_waiting_for_the_greeting(
    data_dir: Path, silent_port: int
) -> None:
    store(data_dir, make_settings(silent_port, timeout=60.0))

    result = run_cli("test", "--timeout", "1")  # overrides the stored 60 s

    assert result.returncode == 6
    assert result.seconds < 8
    assert 'FAILED at "Server greeting": timed out waiting for the server greeting.' in (
        result.stdout
    )
    assert "waiting up to 1 s per step" in result.stdout
    assert stored(data_dir).timeout == 60.0  # --timeout is for this run only


def test_nothing_listening_is_connection_refused(data_dir: Path) -> None:
    store(data_dir, make_settings(free_port()))
    result = run_cli("test", "--json")
    assert result.returncode == 6
    data = json.loads(result.stdout)
    assert data["failed_step"] == "connect"
    assert data["failure"]["summary"] == "connection refused"
    text = run_cli("test")
    assert text.returncode == 6
    assert 'FAILED at "Connect": connection refused.' in text.stdout


def test_a_server_without_starttls_fails_before_any_login(
    data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="none", users=USERS, auth_over_plain=True)
    store(data_dir, good_settings(server, pki))

    result = run_cli("test")

    assert result.returncode == 6
    assert 'FAILED at "TLS": server does not offer STARTTLS.' in result.stdout
    assert server.auth_attempts == []
    assert server.recorder.received_auth == []


def test_an_untrusted_certificate_is_shown_with_the_commands_that_trust_it(
    data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    server = smtp_server(tls="starttls", users=USERS, cert=pki.untrusted)
    store(data_dir, good_settings(server, pki))

    result = run_cli("test")

    assert result.returncode == 6
    assert 'FAILED at "TLS": certificate not trusted.' in result.stdout
    fingerprint = leaf_fingerprint(pki.untrusted)
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert f"SHA-256:  {colons}" in result.stdout
    [issuer] = [line for line in result.stdout.splitlines() if line.startswith("  Issuer:")]
    assert "O=Unknown CA" in issuer
    # The store came from CONFIGURATOR_DATA_DIR: the hints name it, to work in any shell.
    assert f"configurator --data-dir {data_dir} set --ca-file" in result.stdout
    assert server.auth_attempts == []
    [pin] = [line for line in result.stdout.splitlines() if "--tls-fingerprint" in line]
    assert pin.split()[-1] == fingerprint

    # The printed advice works: pin the certificate, and the check passes.
    applied = run_cli(*shlex.split(pin)[1:])
    assert applied.returncode == 0, applied.stderr
    assert run_cli("test").returncode == 0
    assert server.auth_attempts == [("PLAIN", USERNAME)]


# -- test: invalid options ---------------------------------------------------------


@pytest.mark.parametrize("address", ["not-an-address", "admin@", "two@at@example.com", " a@b.c"])
def test_an_invalid_recipient_is_refused_before_connecting(
    data_dir: Path, starttls: Server, pki: Pki, address: str
) -> None:
    revision = store(data_dir, good_settings(starttls, pki))
    result = run_cli("test", "--to", address)
    assert result.returncode == 5
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Test Recipient: ")
    assert starttls.recorder.commands == []  # never connected
    assert stored_revision(data_dir) == revision


@pytest.mark.parametrize("value", ["0", "0.5", "301", "-3", "abc", "nan", "inf", ""])
def test_an_invalid_timeout_is_refused(data_dir: Path, value: str) -> None:
    store(data_dir, make_settings(free_port()))
    result = run_cli("test", "--timeout", value)
    assert result.returncode == 5
    assert result.stderr.splitlines() == ["Timeout: must be a number of seconds from 1 to 300"]


def test_both_bad_options_are_reported_together(data_dir: Path) -> None:
    store(data_dir, make_settings(free_port()))
    result = run_cli("test", "--timeout", "0", "--to", "nobody")
    assert result.returncode == 5
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Timeout", "Test Recipient"]


# -- test: interrupting ------------------------------------------------------------


def test_ctrl_c_cancels_a_hanging_check_cleanly(data_dir: Path, silent_port: int) -> None:
    store(data_dir, make_settings(silent_port, timeout=60.0))
    process = subprocess.Popen(
        [*COMMAND, "test"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    try:
        assert process.stdout is not None
        seen = b""
        while b"running   Server greeting" not in seen:
            line = process.stdout.readline()
            assert line, seen
            seen += line
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert time.monotonic() - interrupted < 5
    output = (seen + stdout).decode()
    errors = stderr.decode()
    assert "Traceback" not in errors
    assert "KeyboardInterrupt" not in errors
    assert step_lines(output)["Server greeting"].startswith("cancelled ")
    assert 'Cancelled during "Server greeting".' in output
    assert "cancelled" in errors


# -- test: on a terminal -----------------------------------------------------------


def read_all(master: int, timeout: float = 30.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the program has closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data


def test_on_a_terminal_the_running_line_is_rewritten(
    data_dir: Path, starttls: Server, pki: Pki
) -> None:
    store(data_dir, good_settings(starttls, pki))
    master, slave = pty.openpty()
    env = {key: value for key, value in os.environ.items() if key != "TERM"}
    env["TERM"] = "xterm"
    try:
        process = subprocess.Popen(
            [*COMMAND, "test"], stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env
        )
    finally:
        os.close(slave)
    try:
        output = read_all(master).decode("utf-8", "replace")
        returncode = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 0, output
    assert "running   Authentication ...\r\x1b[Kpassed    Authentication" in output
    # What stays on the screen: no "running" line is left behind.
    screen = [line.rsplit("\r\x1b[K", 1)[-1] for line in output.split("\r\n")]
    assert not [line for line in screen if line.startswith("running")]


# -- detect: the standard ports (subprocess) ---------------------------------------


def standard_ports_closed() -> bool:
    for port in (465, 587, 25):
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_detect_with_nothing_listening_finds_nothing(data_dir: Path, extra: list[str]) -> None:
    if not standard_ports_closed():
        pytest.skip("a mail service listens on 127.0.0.1 here")
    store(data_dir, make_settings(587))

    result = run_cli("detect", *extra)

    assert result.returncode == 6
    assert result.seconds < 15
    if extra:
        data = json.loads(result.stdout)
        assert data["found"] is False
        assert data["best"] is None
        assert [(p["port"], p["verdict"]) for p in data["probes"]] == [
            (587, "failed"),  # the stored combination comes first
            (465, "failed"),
            (25, "failed"),
        ]
        assert {p["failure"]["problem"] for p in data["probes"]} == {"connection_refused"}
        return
    for label in ("SSL/TLS on port 465", "STARTTLS on port 587", "STARTTLS on port 25"):
        probes = [line for line in result.stdout.splitlines() if line.startswith("failed ")]
        [line] = [line for line in probes if label in line]
        assert line.endswith("connection refused")
    assert "No combination works (connection refused). Tried: STARTTLS on port 587" in (
        result.stdout
    )


def test_detect_help_and_test_help_describe_the_options() -> None:
    test_help = run_cli("test", "--help").stdout
    for text in ("--to", "--timeout", "--json", "--transcript", "configurator --help"):
        assert text in test_help
    detect_help = run_cli("detect", "--help").stdout
    for text in ("--json", "--apply", "--allow-unencrypted", "the stored port"):
        assert text in " ".join(detect_help.split())


def test_allow_unencrypted_needs_apply(data_dir: Path) -> None:
    store(data_dir, make_settings(free_port()))
    result = run_cli("detect", "--allow-unencrypted")
    assert result.returncode == 2
    assert "--apply" in result.stderr


# -- detect: proposals (in-process, candidates pointed at the test servers) --------


@dataclass
class Detection:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def candidates(monkeypatch: pytest.MonkeyPatch) -> list[Candidate]:
    """The candidates ``detect`` tries, replaced for the test."""
    chosen: list[Candidate] = []
    monkeypatch.setattr(mail, "DEFAULT_CANDIDATES", chosen)
    return chosen


def detect(capsys: pytest.CaptureFixture[str], *args: str) -> Detection:
    code = cli.main(["detect", *args])
    captured = capsys.readouterr()
    for password in (PASSWORD, WRONG_PASSWORD):
        assert_no_secret(password, USERNAME, captured.out, captured.err)
    return Detection(code, captured.out, captured.err)


def test_detect_proposes_the_best_working_combination_with_the_command(
    data_dir: Path,
    smtp_server: StartServer,
    pki: Pki,
    candidates: list[Candidate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    starttls = smtp_server(tls="starttls", users=USERS)
    refused = free_port()
    candidates += [
        Candidate(refused, Security.SSL_TLS),
        Candidate(starttls.port, Security.STARTTLS),
    ]
    settings = make_settings(refused, security=Security.SSL_TLS, ca_file=str(pki.ca_file))
    revision = store(data_dir, settings)

    found = detect(capsys)

    assert found.code == 0, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    [good] = [line for line in lines if line.startswith("works ")]
    assert f"STARTTLS on port {starttls.port}" in good
    assert good.endswith("the login was accepted")
    [bad] = [line for line in lines if line.startswith("failed ")]
    assert f"SSL/TLS on port {refused}" in bad
    assert bad.endswith("connection refused")
    assert f"Best: STARTTLS on port {starttls.port} works and the login was accepted." in lines
    use = f"configurator --data-dir {data_dir} set --port {starttls.port} --security starttls"
    assert f"To use it: {use}" in lines
    assert starttls.auth_attempts == [("PLAIN", USERNAME)]
    assert stored_revision(data_dir) == revision


def test_detect_apply_stores_the_best_combination(
    data_dir: Path,
    smtp_server: StartServer,
    pki: Pki,
    candidates: list[Candidate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    implicit = smtp_server(tls="implicit", users=USERS)
    candidates += [Candidate(implicit.port, Security.SSL_TLS)]
    settings = make_settings(free_port(), ca_file=str(pki.ca_file))
    store(data_dir, settings)

    found = detect(capsys, "--apply")

    assert found.code == 0, found.stdout + found.stderr
    assert "Stored Server Port" in found.stdout
    after = stored(data_dir)
    assert (after.port, after.security) == (implicit.port, Security.SSL_TLS)
    assert after == dataclasses.replace(settings, port=implicit.port, security=Security.SSL_TLS)

    again = detect(capsys)  # now the stored settings are the proposal
    assert again.code == 0
    assert "The stored settings already use it." in again.stdout
    assert "To use it" not in again.stdout


def test_detect_json_is_one_object_with_every_probe(
    data_dir: Path,
    smtp_server: StartServer,
    pki: Pki,
    candidates: list[Candidate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    starttls = smtp_server(tls="starttls", users=USERS)
    candidates += [
        Candidate(free_port(), Security.SSL_TLS),
        Candidate(starttls.port, Security.STARTTLS),
    ]
    store(data_dir, make_settings(starttls.port, ca_file=str(pki.ca_file)))

    found = detect(capsys, "--json", "--apply")

    assert found.code == 0, found.stderr
    data = json.loads(found.stdout)
    assert data["found"] is True
    assert data["best"] == {"port": starttls.port, "security": "starttls"}
    assert data["applied"] == {"port": starttls.port, "security": "starttls"}
    # The stored combination is tried first.
    assert [probe["verdict"] for probe in data["probes"]] == ["works", "failed"]
    assert data["probes"][0]["auth_verified"] is True
    assert data["probes"][0]["certificate"]["fingerprint_sha256"] == leaf_fingerprint(pki.good)


def test_detect_warns_about_an_unencrypted_only_server_and_applies_it_only_when_allowed(
    data_dir: Path,
    smtp_server: StartServer,
    candidates: list[Candidate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = smtp_server(tls="none", users=USERS, auth_over_plain=True)
    candidates += [Candidate(plain.port, Security.STARTTLS)]
    settings = make_settings(free_port(), security=Security.SSL_TLS)
    revision = store(data_dir, settings)

    found = detect(capsys)

    assert found.code == 6
    assert "WARNING: Only an unencrypted connection works" in found.stdout
    assert f"--data-dir {data_dir} set --port {plain.port} --security none" in found.stdout
    assert plain.auth_attempts == []  # no password over a plain connection, ever

    refused = detect(capsys, "--apply")
    assert refused.code == 6
    assert "--allow-unencrypted" in refused.stderr
    assert stored_revision(data_dir) == revision

    allowed = detect(capsys, "--apply", "--allow-unencrypted")
    assert allowed.code == 0, allowed.stderr
    after = stored(data_dir)
    assert (after.port, after.security) == (plain.port, Security.NONE)
    assert "sends the user name and password unencrypted" in allowed.stderr
    assert plain.auth_attempts == []


def test_ctrl_c_cancels_detection_cleanly(
    data_dir: Path,
    silent_port: int,
    candidates: list[Candidate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    candidates += [
        Candidate(silent_port, Security.SSL_TLS),
        Candidate(silent_port, Security.STARTTLS),
    ]
    store(data_dir, make_settings(silent_port, timeout=60.0))
    # SIGINT to this very process: the command's main thread receives it, as on Ctrl+C.
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        found = detect(capsys)
    finally:
        timer.cancel()
    assert found.code == 130
    assert time.monotonic() - started < 8
    assert "cancelled" in found.stderr
    assert "Traceback" not in found.stderr


def test_detect_never_sends_the_password_in_clear_to_find_out(
    data_dir: Path,
    smtp_server: StartServer,
    pki: Pki,
    candidates: list[Candidate],
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = smtp_server(tls="none", users=USERS, auth_over_plain=True)
    implicit = smtp_server(tls="implicit", users={USERNAME: "another password"})
    candidates += [
        Candidate(implicit.port, Security.SSL_TLS),
        Candidate(plain.port, Security.STARTTLS),
    ]
    store(
        data_dir, make_settings(implicit.port, security=Security.SSL_TLS, ca_file=str(pki.ca_file))
    )

    found = detect(capsys, "--json")

    data = json.loads(found.stdout)
    assert data["probes"][0]["failure"]["problem"] == "auth_rejected"
    assert data["probes"][1]["verdict"] == "unencrypted"
    assert plain.auth_attempts == []
    assert found.code == 6


# -- detect tries the stored port ------------------------------------------------------


def test_detect_finds_a_server_on_its_own_port_that_test_just_passed(
    data_dir: Path, smtp_server: StartServer, pki: Pki
) -> None:
    """The usual ports (465, 587, 25) answer nothing here; the stored random port does."""
    server = smtp_server(tls="starttls", users=USERS)
    store(data_dir, good_settings(server, pki))
    assert run_cli("test").returncode == 0

    found = run_cli("detect")

    assert found.returncode == 0, found.stdout + found.stderr
    stored_label = f"STARTTLS on port {server.port}"
    heading = found.stdout.splitlines()[0]
    assert heading.endswith(
        f"{stored_label}, SSL/TLS on port 465, STARTTLS on port 587, STARTTLS on port 25."
    )
    assert f"Best: {stored_label} works and the login was accepted." in found.stdout
    assert "The stored settings already use it." in found.stdout
    assert "Nothing works" not in found.stdout

    data = json.loads(run_cli("detect", "--json").stdout)
    assert data["found"] is True
    assert data["best"] == {"port": server.port, "security": "starttls"}
    assert data["tried"] == [
        {"port": server.port, "security": "starttls"},
        {"port": 465, "security": "ssl_tls"},
        {"port": 587, "security": "starttls"},
        {"port": 25, "security": "starttls"},
    ]
    assert [probe["port"] for probe in data["probes"]] == [server.port, 465, 587, 25]


def test_detect_says_which_ports_it_tried_when_nothing_works(data_dir: Path) -> None:
    if not standard_ports_closed():
        pytest.skip("a mail service listens on 127.0.0.1 here")
    port = free_port()
    store(data_dir, make_settings(port, security=Security.SSL_TLS))

    found = run_cli("detect")

    assert found.returncode == 6
    tried = (
        f"SSL/TLS on port {port}, SSL/TLS on port 465, STARTTLS on port 587, STARTTLS on port 25"
    )
    assert f"Tried: {tried}." in found.stdout
    assert json.loads(run_cli("detect", "--json").stdout)["tried"][0] == {
        "port": port,
        "security": "ssl_tls",
    }


def test_detect_tries_a_stored_port_without_encryption_with_starttls_and_sends_no_password(
    data_dir: Path, smtp_server: StartServer
) -> None:
    plain = smtp_server(tls="none", users=USERS, auth_over_plain=True)
    store(data_dir, make_settings(plain.port, security=Security.NONE))

    found = run_cli("detect")

    assert found.returncode == 6  # nothing encrypted works: a warning, not "nothing works"
    assert (
        f"Only an unencrypted connection works (no encryption on port {plain.port})" in found.stdout
    )
    assert "No combination works" not in found.stdout
    assert plain.auth_attempts == []
