"""The command line's parser: every command and option of ``configurator``, with its help.

The options of ``set`` are generated from ``model.FIELDS`` so that a new
field cannot be forgotten here.  ``configurator.cli`` imports this module
only when a call needs the parser: argparse, its help formatting and its
translations add some 5 ms to a call (a sixth of ``configurator show``), so a
launch of the window and a plain ``show`` are answered without them
(``cli._QUICK_CALLS``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn

from configurator import __version__, model
from configurator.console import PROG, exit_code_table

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    _Commands = argparse._SubParsersAction["_Parser"]

EPILOG = (
    exit_code_table()
    + """\

environment:
  CONFIGURATOR_DATA_DIR     the data directory, unless --data-dir or --system
                            is given (default: the per-user data directory)
  CONFIGURATOR_KEY_BACKEND  where the data key lives: auto (default; the OS
                            keyring when a usable one exists, else the file
                            settings.key beside the settings), keyring or file;
                            the system-wide store always uses the file
  CONFIGURATOR_SYSTEM_DIR   the directory --system uses, for packagers (a
                            distribution's own location) and tests (default:
                            the site data directory, see below)

system-wide store (--system):
  platformdirs' site data directory: /usr/local/share/mail-server-configurator
  on Linux, /Library/Application Support/mail-server-configurator on macOS,
  C:\\ProgramData\\mail-server-configurator on Windows. Only root (the owner of
  the directory) may change it; root and the members of the group of its
  settings.key may read it; everyone else is refused, with the reason.
  Directory 0755, settings.enc 0644 (sealed), settings.key 0640 with the
  directory's group: to share the settings with a group, chgrp the directory
  and settings.key to it. The data key is always in settings.key, never in a
  keyring; the audit trail is root's alone. On Windows the folder's access
  control lists are not managed: set them yourself.
"""
)

SYSTEM_HELP = (
    "use the system-wide store instead of your own (see 'system-wide store' below); "
    "cannot be combined with --data-dir"
)


class _Parser(argparse.ArgumentParser):
    """Lets a reader going away be noticed (argparse drops the error and the rest of the text).

    ``cli.main`` then ends the call quietly, as for any other output.
    """

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            stream = file or sys.stderr
            stream.write(message)
            flush = getattr(stream, "flush", None)
            if flush is not None:
                flush()


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose, but keeps text laid out by hand (the exit code table) as it is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        import textwrap

        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )

    def _split_lines(self, text: str, width: int) -> list[str]:
        """Never break a path or an option name at one of its hyphens (nor in ``_fill_text``)."""
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _RefuseArgvSecret(argparse.Action):
    """``--password VALUE`` is refused without echoing the value.

    A password in argv is visible to every user through the process list and
    lands in shell history, so it is accepted only on standard input.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.error(
            f"{option_string} is not accepted: a password on the command line can be seen "
            f"by other users and is kept in shell history. Use {option_string}-stdin and "
            "pass the password on standard input."
        )


# The end of every command's help: the options that choose the store, the environment
# and the exit codes are described once, in "configurator --help".
_COMMAND_EPILOG = f"Store options, environment and exit codes: {PROG} --help"


def _subparser(
    commands: _Commands,
    name: str,
    summary: str,
    description: str,
    common: _Parser,
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        parents=[common],
        help=summary,
        description=description,
        epilog=_COMMAND_EPILOG,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )


def _add_field_options(parser: argparse.ArgumentParser) -> None:
    """One option per field of ``model.FIELDS``; secrets only through standard input."""
    basic = parser.add_argument_group("settings")
    advanced = parser.add_argument_group("advanced settings")
    for spec in model.FIELDS:
        group = advanced if spec.advanced else basic
        text = spec.help.replace("%", "%%")
        if spec.secret:
            group.add_argument(
                f"{spec.cli_option}-stdin",
                dest=f"{spec.key}_stdin",
                action="store_true",
                help=f"{text} Read from the first line of standard input (without its line "
                "ending); on a terminal it is asked for without echo. Never give it as an "
                "argument.",
            )
            group.add_argument(
                spec.cli_option, nargs="?", action=_RefuseArgvSecret, help=argparse.SUPPRESS
            )
            continue
        if spec.choices:
            names = ", ".join(f"{choice.value} ({choice.label})" for choice in spec.choices)
            group.add_argument(
                spec.cli_option,
                dest=spec.key,
                choices=[choice.value for choice in spec.choices],
                help=f"{text} One of: {names}.",
            )
        else:
            group.add_argument(spec.cli_option, dest=spec.key, metavar=spec.metavar, help=text)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``--data-dir`` is accepted before and after the command."""
    common = _Parser(add_help=False, allow_abbrev=False)
    data_dir_help = (
        "the data directory holding settings.enc (and settings.key); "
        "default: $CONFIGURATOR_DATA_DIR, else the per-user data directory. Like --system, "
        "it may also follow the command"
    )
    # Accepted after the command too, where they override the top-level value (absent,
    # SUPPRESS keeps it); described only in the top-level help, as are all common options.
    common.add_argument(
        "--data-dir", metavar="PATH", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    common.add_argument(
        "--system", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    parser = _Parser(
        prog=PROG,
        description="Set up the outgoing mail server (SMTP) that carries the security "
        "platform's alert e-mails. Without a command the configuration window opens.",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start exactly as a normal launch (load the settings, build and show the window, "
        "load every icon), then quit; exit 0 when all of that worked",
    )
    parser.add_argument("--data-dir", metavar="PATH", default=None, help=data_dir_help)
    parser.add_argument("--system", action="store_true", default=False, help=SYSTEM_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    show = _subparser(
        commands,
        "show",
        "print the stored settings (never the password)",
        "Print the stored mail server settings. The password is never printed; only "
        "whether one is set.",
        common,
    )
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: account_name, account_email, server, port, security, "
        "auth, username, password_set, and the advanced settings that differ from their "
        "defaults",
    )

    set_ = _subparser(
        commands,
        "set",
        "validate and store settings",
        "Validate and store mail server settings, exactly as Submit in the window does. "
        "An option not given keeps its stored value; an option given with an empty value "
        "('') makes it empty. Nothing is written unless every value is valid.",
        common,
    )
    _add_field_options(set_)

    reset = _subparser(
        commands,
        "reset",
        "delete the stored settings and destroy their data key",
        "Delete the stored settings and destroy the data key that sealed them, so that "
        "no copy of the old settings file can be decrypted any more. Alert e-mail cannot "
        "be sent until new settings are stored. Asks for confirmation on a terminal.",
        common,
    )
    reset.add_argument("--yes", action="store_true", help="confirm without asking")
    _add_test_parser(commands, common)
    _add_detect_parser(commands, common)
    _add_audit_parser(commands, common)
    return parser


def _add_audit_parser(
    commands: _Commands,
    common: _Parser,
) -> None:
    audit = _subparser(
        commands,
        "audit",
        "print the audit trail and whether it is intact",
        "Print the audit trail of the data directory, oldest first: every save, reset, "
        "failed unlock and mail server check, with its time, the account that did it, the "
        "keys of the fields that changed (never their values; the password only as "
        "'password') and a detail. Then say whether the chain of records is intact: a "
        "record that was changed, removed, reordered or inserted is found and named. "
        "Exit 0 when intact, 4 when not (or when it cannot be read or verified).",
        common,
    )
    audit.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: path, intact, problem, warnings and entries (seq, time, "
        "user, action, fields_changed, detail, line, verified)",
    )


def _add_test_parser(
    commands: _Commands,
    common: _Parser,
) -> None:
    test = _subparser(
        commands,
        "test",
        "check the stored settings against the real mail server",
        "Connect to the stored mail server and go through every step an alert e-mail "
        "takes: look up the name, connect, greeting, EHLO, TLS, login and sender; with "
        "--to also the recipient and a test e-mail. Each step is printed as it runs, with "
        "its time and the server's reply. A failed step is named, with the likely cause "
        "and the fix. The settings are never changed: --to remembers its address as your "
        "own Test Recipient, a preference kept outside the settings.",
        common,
    )
    test.add_argument(
        "--to",
        metavar="ADDRESS",
        nargs="?",
        const="",
        default=None,
        help="also send a test e-mail to ADDRESS, the Test Recipient, and remember it as "
        "yours; --to without ADDRESS uses your remembered Test Recipient (else the stored one)",
    )
    test.add_argument(
        "--timeout",
        metavar="SECONDS",
        help=f"let each step take at most this long, in all, whatever the server does, "
        f"for this run only ({model.MIN_TIMEOUT:g} to {model.MAX_TIMEOUT:g}; default: the "
        "stored Timeout); the whole check then takes at most 9 times that, plus 2 seconds "
        "to say goodbye",
    )
    test.add_argument(
        "--json",
        action="store_true",
        help="print only one JSON object when done: passed, failed_step, failure (problem, "
        "summary, cause, fix, reply), steps (id, title, outcome, duration, reply), tls, "
        "certificate and the transcript (passwords hidden)",
    )
    test.add_argument(
        "--transcript",
        action="store_true",
        help="after the steps, print the conversation with the server, passwords hidden "
        "(for a support ticket)",
    )


def _add_detect_parser(
    commands: _Commands,
    common: _Parser,
) -> None:
    detect = _subparser(
        commands,
        "detect",
        "find the port and connection security that work with the stored server",
        "Try the stored port and the usual combinations with the stored server at the same "
        "time -- the stored port with its Connection Security (STARTTLS when it has none), "
        "SSL/TLS on port 465, STARTTLS on 587 and on 25 -- with the stored user name and "
        "password, and propose the first that works, in that order: settings that work are "
        "kept. The password is only ever sent over an encrypted connection. A server that "
        "answers only without encryption is reported with a warning, never proposed silently.",
        common,
    )
    detect.add_argument(
        "--json",
        action="store_true",
        help="print only one JSON object: server, found, summary, best (port and security), "
        "warning, tried (port and security of each combination, in order), and every probe "
        "with its verdict, failure and certificate",
    )
    detect.add_argument(
        "--apply",
        action="store_true",
        help="store the best combination (Server Port and Connection Security) at once",
    )
    detect.add_argument(
        "--allow-unencrypted",
        action="store_true",
        help="with --apply: when only an unencrypted connection works, store that",
    )
