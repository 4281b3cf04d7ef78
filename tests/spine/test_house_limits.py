"""The house limits on unit size (DEVELOPERS.md): no module over 450 lines and no function
over 60 in the product packages. ruff's complexity rules cover branches and arguments;
these two it has no rule for."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "drivers", "vision", "buffer")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    found = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    assert len(found) > 50  # the scan sees the product, so an empty scan fails here
    return found


def test_no_module_over_450_lines() -> None:
    over = {
        str(p.relative_to(REPO)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not over


def test_no_function_over_60_lines() -> None:
    over: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    over[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = length
    assert not over
