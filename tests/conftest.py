"""Shared fixtures: where ../shared lives, and a clean state directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_path() -> Path:
    """The shared models and test data: $EDGE_AGENT_SHARED, else ../shared beside the repo."""
    return Path(os.environ.get("EDGE_AGENT_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "models").is_dir():
        pytest.fail(f"shared data not found at {path}; set EDGE_AGENT_SHARED")
    return path
