"""Write the contract (schemas and AsyncAPI document) to a directory, or compare with one.

``edge-agent contract export DIR`` writes; docs/contract/ is the committed copy, which
tests/contract/ regenerates and compares (stale files fail the suite), and
docs/contract/released/ is the baseline of the last release that compatibility is
checked against (agent/contract/compat.py). Output is deterministic: the same tree
gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent import __version__
from agent.contract import asyncapi
from agent.contract.compat import check_release
from agent.contract.schemas import all_schemas

ASYNCAPI_FILE = "asyncapi.json"
RELEASED_DIR = "released"


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Relative path -> file text, for every file of the contract."""
    files = {path: _dump(schema.doc) for path, schema in sorted(all_schemas().items())}
    files[ASYNCAPI_FILE] = _dump(asyncapi.document(__version__))
    return files


def _ours(directory: Path) -> set[str]:
    """Files in ``directory`` the export owns (the released baseline is not among them)."""
    found = {p.relative_to(directory).as_posix() for p in directory.rglob("*.json")}
    return {p for p in found if not p.startswith(f"{RELEASED_DIR}/")}


def export(directory: Path) -> list[str]:
    """Write every file; remove contract files no longer generated. Returns the paths."""
    files = render()
    for stale in sorted(_ours(directory) - set(files)) if directory.is_dir() else []:
        (directory / stale).unlink()
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)


def stale(directory: Path) -> list[str]:
    """How ``directory`` differs from a fresh export (empty: up to date)."""
    files = render()
    present = _ours(directory) if directory.is_dir() else set()
    out = [f"{rel}: missing" for rel in sorted(set(files) - present)]
    out += [f"{rel}: no longer generated" for rel in sorted(present - set(files))]
    for rel in sorted(set(files) & present):
        if (directory / rel).read_text(encoding="utf-8") != files[rel]:
            out.append(f"{rel}: differs from the models")
    return out


def load_schemas(directory: Path) -> list[dict[str, Any]]:
    """Every ``*.schema.json`` under ``directory`` (a released baseline)."""
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(directory.rglob("*.schema.json"))
    ]


def release_problems(released: Path) -> list[str]:
    """Incompatible changes of the current schemas against the ``released`` baseline."""
    current = [schema.doc for schema in all_schemas().values()]
    return check_release(load_schemas(released), current)
