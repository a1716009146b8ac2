"""How fast the configurator starts, next to what a bare program needs, and how big the bundle is.

Run from the repository with the project's virtualenv::

    .venv/bin/python benchmarks/startup.py            # 21 rounds, offscreen
    .venv/bin/python benchmarks/startup.py --check    # exit 1 if a target is missed

Every round runs each command once, in a shuffled order, so that a busy
moment of the machine hits all of them alike; the table shows medians.  The
ratios are taken between medians of the same run, never against figures from
another day.

- **Window**: from just before the process is started until the window has
  first been drawn.  The configurator reports that moment itself when
  ``CONFIGURATOR_STARTUP_PROBE`` is set; ``bare_window.py`` (the same widgets
  and the same decryption in one plain file) reports it the same way.  Both
  read the same encrypted settings, so both open read-only with the same
  values.  Target: within 1.15x of the bare window.
- **show**: ``configurator show`` from process start to exit, against
  ``python -c "import cryptography.hazmat.primitives.ciphers.aead"``, the
  import no reading of the settings can avoid.  Target: within 1.5x.
- **window, with audit trail**: the same start over the same settings with the
  audit trail that saving them through the program leaves (``AUDIT_RECORDS``
  records, which the window reads and verifies to show who changed the
  settings last).  For information: the bare file has no such feature.
- **exit**: from the moment the window is closed (right after the probe's
  report) until the process has ended, for every window start above.  The
  configurator ends its process as soon as its last window has closed.
  Target: 100 ms.  The bare file ends as Python and Qt usually do (an
  orderly teardown), for comparison.
- **Bundle**: the same two measurements for ``dist/configurator/configurator``
  when it has been built (``pyinstaller configurator.spec``), and its size.

The settings are stored in a temporary directory with the key in
``settings.key``, and the audit trail's key in ``audit.key`` (a keyring lookup
would time the keyring service, not this program).  Qt draws offscreen unless
``--platform`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE_WINDOW = Path(__file__).resolve().parent / "bare_window.py"
EXE_SUFFIX = ".exe" if os.name == "nt" else ""
DEFAULT_BUNDLE = ROOT / "dist" / "configurator" / f"configurator{EXE_SUFFIX}"
PROBE_PREFIX = "startup-probe "
MIB = 1024 * 1024
CRYPTO_IMPORT = "import cryptography.hazmat.primitives.ciphers.aead"
WINDOW_TARGET = 1.15
SHOW_TARGET = 1.5
BUNDLE_SIZE_TARGET_MIB = 125.0
EXIT_TARGET_S = 0.100
AUDIT_RECORDS = 20

WINDOW = "window: configurator"
WINDOW_TRAIL = "window: with audit trail"
BARE = "window: bare PySide6 file"
SHOW = "show: configurator"
IMPORT = "python -c 'import …aead'"
BUNDLE_WINDOW = "window: bundle"
BUNDLE_SHOW = "show: bundle"
# Each measurement compared with its yardstick (short name), and the ratio it must stay within.
RATIOS: dict[str, tuple[str, str, float | None]] = {
    WINDOW: (BARE, "bare window", WINDOW_TARGET),
    WINDOW_TRAIL: (BARE, "bare window", None),
    SHOW: (IMPORT, "aead import", SHOW_TARGET),
    BUNDLE_WINDOW: (BARE, "bare window", None),
    BUNDLE_SHOW: (IMPORT, "aead import", None),
}

# The configurator's window, counted by the bare file's own function.
INVENTORY = """
import json, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from configurator.app import create_window
sys.path.insert(0, sys.argv[2])
from bare_window import widget_inventory
app = QApplication(sys.argv[:1])
print(json.dumps(widget_inventory(create_window(Path(sys.argv[1]))), sort_keys=True))
"""


@dataclass
class Command:
    """One thing to time: a command line, and whether it reports its own end (probe)."""

    name: str
    argv: list[str]
    probe: bool
    env: dict[str, str] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    # From the window's close (the probe's report) to the end of the process.
    exit_samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def time_once(command: Command, env: dict[str, str]) -> tuple[float, float | None]:
    """Seconds from just before the start until the probe line (or the exit).

    Also, for a probed window, seconds from its close (the probe line) until the
    process has ended; None for other commands.
    """
    full_env = {**env, **command.env}
    with tempfile.TemporaryFile() as errors:
        start = time.monotonic_ns()
        if command.probe:
            with subprocess.Popen(
                command.argv, env=full_env, stdout=subprocess.PIPE, stderr=errors, text=True
            ) as process:
                assert process.stdout is not None
                lines = list(process.stdout)
                code = process.wait(timeout=60)
                exited = time.monotonic_ns()
            reported = [
                int(line[len(PROBE_PREFIX) :]) for line in lines if line.startswith(PROBE_PREFIX)
            ]
            end = reported[0] if reported else None
        else:
            code = subprocess.run(
                command.argv, env=full_env, stdout=subprocess.DEVNULL, stderr=errors, check=False
            ).returncode
            end = exited = time.monotonic_ns()
        if code != 0 or end is None:
            errors.seek(0)
            detail = errors.read().decode("utf-8", "replace").strip()
            raise RuntimeError(f"{command.name}: exit {code}, no time reported\n{detail}")
    return (end - start) / 1e9, (exited - end) / 1e9 if command.probe else None


def store_settings(data_dir: Path) -> None:
    """Store realistic settings, sealed with a key in settings.key."""
    sys.path.insert(0, str(ROOT))
    from configurator import model
    from configurator.store import Store

    settings = model.build(
        {
            "account_name": "Security Monitoring",
            "account_email": "alerts@example.com",
            "server": "smtp.example.com",
            "port": 587,
            "security": "starttls",
            "auth": "login_plain",
            "username": "alerts@example.com",
            "password": "benchmark-password",
        }
    )
    Store(data_dir, "file").save(settings)


def store_settings_with_trail(data_dir: Path) -> None:
    """The same settings, with the audit trail that saving them in the program leaves."""
    from configurator import audit

    store_settings(data_dir)
    for revision in range(1, AUDIT_RECORDS + 1):
        fields = ("port", "security") if revision % 2 else ("password",)
        warning = audit.record(
            data_dir,
            "submit",
            fields_changed=fields,
            detail=f"revision {revision}",
            key_backend="file",
        )
        if warning is not None:
            raise RuntimeError(warning)


def program_argv() -> list[str]:
    """The installed console script beside this interpreter, as users start it."""
    script = Path(sys.executable).parent / (
        "configurator.exe" if os.name == "nt" else "configurator"
    )
    return [str(script)] if script.exists() else [sys.executable, "-m", "configurator"]


def same_widgets(data_dir: Path, env: dict[str, str]) -> tuple[bool, str]:
    """Whether the configurator's window and the bare one hold the same widgets."""
    runs = [
        [sys.executable, "-c", INVENTORY, str(data_dir), str(BARE_WINDOW.parent)],
        [sys.executable, str(BARE_WINDOW), str(data_dir), str(ROOT / "resources"), "--inventory"],
    ]
    found = []
    for argv in runs:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        found.append(json.loads(out.stdout.splitlines()[-1]))
    program, bare = found
    if program == bare:
        total = sum(count for count, _ in program.values())
        shown = sum(visible for _, visible in program.values())
        return True, f"the same {total} widgets in each window, {shown} of them shown"
    differences = {
        name: (program.get(name, 0), bare.get(name, 0))
        for name in sorted(set(program) | set(bare))
        if program.get(name, 0) != bare.get(name, 0)
    }
    return False, f"the windows differ ([widgets, shown] in program, bare): {differences}"


def folder_size(path: Path) -> tuple[float, int]:
    """Size in MiB of the files under ``path`` (links not followed), and their number."""
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files) / MIB, len(files)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return (
        f"{cpu}, {os.cpu_count()} logical CPUs; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; PySide6 {version('PySide6-Essentials')}; "
        f"cryptography {version('cryptography')}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=21, help="timed runs of each command")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument(
        "--bundle",
        type=Path,
        default=DEFAULT_BUNDLE,
        help="the bundle's executable (default: dist/configurator/configurator, if built)",
    )
    parser.add_argument("--platform", default="offscreen", help="QT_QPA_PLATFORM for the windows")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="configurator-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        store_settings(data_dir)
        trail_dir = Path(scratch) / "with-trail"
        store_settings_with_trail(trail_dir)
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": args.platform,
            "CONFIGURATOR_DATA_DIR": str(data_dir),
            "CONFIGURATOR_KEY_BACKEND": "auto",
        }
        for variable in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
            env.pop(variable, None)
        probe = {"CONFIGURATOR_STARTUP_PROBE": "1"}
        program = program_argv()
        # Imported, not run as a script: a script is compiled on every start,
        # while the program's modules come from cached bytecode.
        start_bare = (
            f"import sys; sys.path.append({str(BARE_WINDOW.parent)!r}); "
            "import bare_window; sys.exit(bare_window.main())"
        )
        bare = [sys.executable, "-c", start_bare, str(data_dir), str(ROOT / "resources")]
        commands = [
            Command(WINDOW, program, probe=True, env=probe),
            Command(BARE, bare, probe=True),
            Command(
                WINDOW_TRAIL,
                program,
                probe=True,
                env={**probe, "CONFIGURATOR_DATA_DIR": str(trail_dir)},
            ),
            Command(SHOW, [*program, "show"], probe=False),
            Command(IMPORT, [sys.executable, "-c", CRYPTO_IMPORT], probe=False),
            Command("python -c pass", [sys.executable, "-c", "pass"], probe=False),
        ]
        bundle = args.bundle if args.bundle.exists() else None
        if bundle is not None:
            commands += [
                Command(BUNDLE_WINDOW, [str(bundle)], probe=True, env=probe),
                Command(BUNDLE_SHOW, [str(bundle), "show"], probe=False),
            ]

        widgets_match, widgets_note = same_widgets(data_dir, env)
        for _ in range(args.warmup):
            for command in commands:
                time_once(command, env)
        order = random.Random(5)  # noqa: S311 (shuffling, not secrets)
        for _ in range(args.rounds):
            for command in order.sample(commands, len(commands)):
                took, exit_delay = time_once(command, env)
                command.samples.append(took)
                if exit_delay is not None:
                    command.exit_samples.append(exit_delay)

    by_name = {command.name: command for command in commands}
    missed: list[str] = []
    print(f"Machine: {machine()}")
    print(f"Qt platform: {args.platform}; {args.rounds} rounds; milliseconds")
    print(f"Widgets: {widgets_note}")
    print()
    print(f"| {'what':<26} | {'median':>6} | {'min':>6} | {'ratio':<17} | {'target':>6} |")
    print(f"|{'-' * 28}|{'-' * 7}:|{'-' * 7}:|{'-' * 19}|{'-' * 7}:|")
    for command in commands:
        ratio_text, target_text = "", ""
        if command.name in RATIOS:
            base_name, label, target = RATIOS[command.name]
            ratio = command.median / by_name[base_name].median
            ratio_text = f"{ratio:.2f}x {label}"
            if target is not None:
                target_text = f"{target:.2f}x"
                if ratio > target:
                    missed.append(f"{command.name}: {ratio:.2f}x > {target:.2f}x")
        print(
            f"| {command.name:<26} | {command.median * 1000:6.1f} "
            f"| {min(command.samples) * 1000:6.1f} | {ratio_text:<17} | {target_text:>6} |"
        )
    for command in commands:
        if not command.exit_samples:
            continue
        name = "exit: " + command.name.removeprefix("window: ")
        delay = statistics.median(command.exit_samples)
        target_text = ""
        if command.name != BARE:
            target_text = f"{EXIT_TARGET_S * 1000:.0f} ms"
            if delay > EXIT_TARGET_S:
                missed.append(f"{name}: {delay * 1000:.0f} ms > {target_text}")
        print(
            f"| {name:<26} | {delay * 1000:6.1f} | {min(command.exit_samples) * 1000:6.1f} "
            f"| {'close to its end':<17} | {target_text:>6} |"
        )
    if bundle is not None:
        size, count = folder_size(bundle.parent)
        print()
        print(f"Bundle {bundle.parent}: {size:.1f} MiB in {count} files")
        if size > BUNDLE_SIZE_TARGET_MIB:
            missed.append(f"bundle: {size:.1f} MiB > {BUNDLE_SIZE_TARGET_MIB:.0f} MiB")
    if not widgets_match:
        missed.append("the bare window no longer has the configurator's widgets")
    for problem in missed:
        print(f"Target missed: {problem}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
