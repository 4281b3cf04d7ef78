"""What every command shares: exit codes, ``--config``, load-or-report, tables and JSON.

Exit codes, for people and scripts alike: 0 ok, 1 a runtime failure (device or file did
not answer, nothing found), 2 a usage or config error (the same code ``config check``
gives). Data-printing commands print a readable table by default and one JSON document
with ``--json``; progress goes to stderr so stdout stays parseable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config import LoadedConfig

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def add_config(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--config/-c FILE``, spelled the same on every command that reads a config."""
    parser.add_argument("--config", "-c", required=required, metavar="FILE", help="YAML config")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def report(issues: Sequence[object]) -> None:
    for issue in issues:
        print(issue, file=sys.stderr)


def load_or_report(path: str, *, check_files: bool = True, user: str | None = None) -> Any:
    """The :class:`LoadedConfig`, or ``None`` after printing every problem on stderr."""
    from agent.config import ConfigError, load_config
    from agent.config_checks import ServiceUser

    try:
        service_user = ServiceUser.named(user) if user else None
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    try:
        loaded: LoadedConfig = load_config(path, check_files=check_files, user=service_user)
    except ConfigError as exc:
        report(exc.issues)
        return None
    return loaded


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Left-aligned text columns, one header line; numbers right-aligned."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float) for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(list(columns)))
    for row in cells:
        print(line(row))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True, default=str))
