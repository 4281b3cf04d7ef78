"""Where the reliability tests put the figures docs/reliability.md reports.

Each test calls :func:`record` with what it injected and what arrived. When the
environment names a file in ``RELIABILITY_FIGURES`` the figures are appended there as
JSON lines (that is how the table in docs/reliability.md was made); they are always
printed too, so ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import os
from typing import Any


def record(test: str, **figures: Any) -> None:
    line = json.dumps({"test": test, **figures}, sort_keys=True)
    print(f"reliability figures: {line}")
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
