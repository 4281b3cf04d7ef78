"""Where the shared models and photos live, and the one model digest the tests pin.

The data is never copied into the repository (README, "Data you have"): tests, the soak
and the benchmarks all find it here, at ``$EDGE_AGENT_SHARED`` or else ``../shared`` beside
the checkout. Light on purpose (no pytest, no numpy): ``bench/`` imports it too, and the
footprint test must not pull a library into a process it measures.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# sha256 of shared/models/yolox_nano.onnx as recorded in shared/models/PROVENANCE.md; the
# product's own configs (deploy/config.example.yaml, examples/) pin it too, as a site does.
MODEL_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


def shared_path() -> Path:
    """The shared models and test data: $EDGE_AGENT_SHARED, else ../shared beside the repo."""
    return Path(os.environ.get("EDGE_AGENT_SHARED", REPO.parent / "shared")).resolve()


def model_path() -> Path:
    """The shared YOLOX-Nano model file."""
    return shared_path() / "models" / "yolox_nano.onnx"
