#!/usr/bin/env bash
# One command for the README demo on a fresh Debian machine: install, then run the agent
# with simulated elevators, a camera fed from a clip, simulated wearables and a fall radar,
# and a local broker.
#   bash examples/demo.sh [--seconds 90]
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/dev-setup.sh all
exec .venv/bin/python examples/demo.py "$@"
