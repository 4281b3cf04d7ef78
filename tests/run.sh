#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the checks and
# the whole test suite (real Mosquitto, real pymodbus servers, real ptys, real model).
#   bash tests/run.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/dev-setup.sh test
export EDGE_AGENT_SHARED="${EDGE_AGENT_SHARED:-$(cd .. && pwd)/shared}"

echo "== ruff"; .venv/bin/ruff check agent drivers vision buffer tests bench
echo "== mypy"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider "$@"
