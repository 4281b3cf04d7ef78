"""``edge-agent console passwd``: set the local web console's password (stored as a hash).

The password is read twice from the terminal (``getpass``, not echoed), or once from
standard input with ``--password-stdin`` for provisioning scripts, and written into the
config file as ``console.password_hash`` (scrypt, agent/console/auth.py). Neither the password
nor the hash is printed. The file is edited in place line by line, so comments survive:
an existing ``password_hash:`` line under ``console:`` is replaced, or one is added; a config
without a ``console:`` section gets one (listening on 127.0.0.1:8080). The write is atomic
and keeps the file's mode. The running agent reads the hash at start: restart it.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_config

_SECTION = re.compile(r"^console:\s*(#.*)?$")
_HASH_LINE = re.compile(r"^(\s+)password_hash:.*$")
MIN_LENGTH = 8


def register(sub: Any) -> None:
    group = sub.add_parser("console", help="the local web console (password)")
    csub = group.add_subparsers(dest="console_command", metavar="ACTION", required=True)
    p = csub.add_parser(
        "passwd",
        help="set the console password (stored as an scrypt hash in the config)",
        description="Set the console password; the config keeps only its scrypt hash.",
    )
    add_config(p)
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p.set_defaults(handler=_passwd)


def set_hash(text: str, hashed: str) -> str | None:
    """``text`` with ``console.password_hash`` set; None if the section is not a block."""
    lines = text.splitlines()
    value = f'"{hashed}"'
    start = next((i for i, line in enumerate(lines) if _SECTION.match(line)), None)
    if start is None:
        if any(line.startswith("console:") for line in lines):
            return None  # flow style (console: {...}): not edited by lines
        tail = "" if text.endswith("\n") or not text else "\n"
        return f'{text}{tail}console:\n  listen: "127.0.0.1:8080"\n  password_hash: {value}\n'
    indent = "  "
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t", "#")):
        match = _HASH_LINE.match(lines[end])
        if match:
            lines[end] = f"{match.group(1)}password_hash: {value}"
            return "\n".join(lines) + "\n"
        if lines[end].strip() and lines[end][:1] in (" ", "\t"):
            indent = lines[end][: len(lines[end]) - len(lines[end].lstrip())]
        end += 1
    lines.insert(start + 1, f"{indent}password_hash: {value}")
    return "\n".join(lines) + "\n"


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New console password: ")
    if getpass.getpass("Repeat it: ") != first:
        print("error: the two passwords differ; nothing changed", file=sys.stderr)
        return None
    return first


def _passwd(args: argparse.Namespace) -> int:
    from agent.config import ConfigError, parse_document
    from agent.console.auth import hash_password
    from agent.staged_apply import restore

    path = Path(args.config)
    try:
        text = path.read_text()
        parse_document(text, str(path))
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_USAGE
    password = _read_password(args.password_stdin)
    if password is None:
        return EXIT_USAGE
    if len(password) < MIN_LENGTH:
        print(f"error: use at least {MIN_LENGTH} characters; nothing changed", file=sys.stderr)
        return EXIT_USAGE
    new = set_hash(text, hash_password(password))
    if new is None:
        print(
            f"error: {path}: write console: as a block (one key per line) to set the password",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        parse_document(new, str(path))
        restore(path, new)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{path}: console password set (scrypt hash); restart the agent to use it")
    return EXIT_OK
