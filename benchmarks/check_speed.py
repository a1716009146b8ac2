"""What the step-by-step check costs next to the plainest possible login with smtplib.

Run from the repository with the project's virtualenv (aiosmtpd and trustme
come with the ``test`` extra)::

    .venv/bin/python benchmarks/check_speed.py              # 31 rounds
    .venv/bin/python benchmarks/check_speed.py --rounds 101

One local aiosmtpd server on 127.0.0.1 requires STARTTLS and offers AUTH; its
certificate comes from a throwaway trustme CA written to a file, which every
client trusts as its CA file.  Each round runs every variant once, in a
shuffled order, so that a busy moment of the machine hits all of them alike;
the table shows medians and the ratio to the bare smtplib login.

- **check**: ``mail.run_check(settings)`` without a recipient, as
  ``configurator test`` runs it: resolve, connect, greeting, EHLO, STARTTLS
  with certificate verification and description, EHLO, AUTH PLAIN, MAIL FROM,
  RSET, QUIT, with the transcript, the step timings and the redaction.
- **smtplib, same trust**: ``SMTP(host, port, timeout)``,
  ``starttls(context)``, ``login()``, ``quit()``, with a context that trusts
  what the check trusts: the system's authorities and the CA file.  Built in
  each round, as every check builds its own.
- **smtplib, same trust + sender**: the same plus ``MAIL FROM`` and ``RSET``,
  the two commands the check sends beyond a login: equal protocol work.
- **smtplib, CA file only**: ``ssl.create_default_context(cafile=...)``, the
  shortest bare client.  It trusts the CA file alone and so skips loading the
  system's trust store -- which is most of the difference to the check.

Everything runs in this one process after a warm-up round, so imports are not
timed; the server's own work is part of every variant alike.  The last column
is the check's median divided by the variant's.
"""

from __future__ import annotations

import argparse
import logging
import random
import smtplib
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configurator import mail
from configurator.model import Auth, Security, Settings

USERNAME = "alerts@example.org"
PASSWORD = "Benchmark-Pa55word"  # noqa: S105 -- the local test server's account
TIMEOUT = 10.0
CHECK = "check (mail.run_check)"


class Handler:
    """Accepts every sender; the benchmark never sends a message."""

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        return "250 OK"


def authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    # handled=False: aiosmtpd then sends the reply itself, success or not.
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USERNAME
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(ca: trustme.CA) -> tuple[Controller, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    port = free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        server_hostname="bench.test.invalid",  # avoids a slow getfqdn()
        authenticator=authenticate,
        tls_context=context,
        require_starttls=True,
        ready_timeout=5.0,
    )
    controller.start()
    return controller, port


def smtplib_login(port: int, ca_file: str, *, system_cas: bool, sender: bool) -> None:
    if system_cas:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=ca_file)
    else:
        context = ssl.create_default_context(cafile=ca_file)
    with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
        client.starttls(context=context)
        client.login(USERNAME, PASSWORD)
        if sender:
            client.mail(USERNAME)
            client.rset()
        client.quit()


def check(settings: Settings) -> None:
    result = mail.run_check(settings)
    if not result.passed:
        raise SystemExit(f"the check failed: {result.failure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31, help="rounds to time (default 31)")
    args = parser.parse_args()
    # aiosmtpd 1.4.6 logs a warning about its own deprecated attribute on every login.
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as scratch:
        ca_file = str(Path(scratch) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        controller, port = start_server(ca)
        try:
            settings = Settings(
                account_name="Benchmark",
                account_email=USERNAME,
                server="127.0.0.1",
                port=port,
                security=Security.STARTTLS,
                auth=Auth.LOGIN_PLAIN,
                username=USERNAME,
                password=PASSWORD,
                ca_file=ca_file,
                timeout=TIMEOUT,
            )
            variants: dict[str, Callable[[], None]] = {
                CHECK: lambda: check(settings),
                "smtplib, same trust": lambda: smtplib_login(
                    port, ca_file, system_cas=True, sender=False
                ),
                "smtplib, same trust + sender": lambda: smtplib_login(
                    port, ca_file, system_cas=True, sender=True
                ),
                "smtplib, CA file only": lambda: smtplib_login(
                    port, ca_file, system_cas=False, sender=False
                ),
            }
            times: dict[str, list[float]] = {name: [] for name in variants}
            for run in variants.values():  # warm-up: imports, first connections
                run()
            order = list(variants)
            for _ in range(args.rounds):
                random.shuffle(order)
                for name in order:
                    started = time.perf_counter()
                    variants[name]()
                    times[name].append(time.perf_counter() - started)
        finally:
            controller.stop()

    check_median = statistics.median(times[CHECK])
    print(f"{args.rounds} rounds, STARTTLS + AUTH PLAIN against aiosmtpd on 127.0.0.1")
    print(f"{'variant':<30}{'median':>10}{'min':>10}{'max':>10}{'check/this':>12}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"{name:<30}{median * 1000:>8.1f}ms{min(samples) * 1000:>8.1f}ms"
            f"{max(samples) * 1000:>8.1f}ms{check_median / median:>11.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
