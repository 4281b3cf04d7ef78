#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the checks and
# the whole test suite (real Mosquitto, real pymodbus servers, real ptys, real model).
#   bash tests/run.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGE_AGENT_SHARED="${EDGE_AGENT_SHARED:-$(cd .. && pwd)/shared}"
# Most tests read the real model and photos: without them the run is minutes of failures.
if [[ ! -d "$EDGE_AGENT_SHARED/models" || ! -d "$EDGE_AGENT_SHARED/testdata" ]]; then
  echo "shared data not found at $EDGE_AGENT_SHARED (models/, testdata/); set EDGE_AGENT_SHARED" >&2
  exit 2
fi
bash deploy/dev-setup.sh test

echo "== ruff"; .venv/bin/ruff check agent drivers vision buffer tests bench
echo "== mypy"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
pytest=(.venv/bin/python -m pytest -p no:cacheprovider)
if (($#)); then  # a developer's selection: just that
  echo "== pytest $*"; exec "${pytest[@]}" "$@"
fi
# The campaign's soak (tests/reliability/test_soak.py, >= 10 min, ~8 % of a core) runs
# beside the suite, in its own temp dir; the fleet (50 agents, CPU-heavy) after it.
soak_dir=$(mktemp -d)
echo "== pytest: soak (background, log in $soak_dir/soak.log)"
"${pytest[@]}" -q -s -m campaign -k soak --basetemp="$soak_dir/tmp" >"$soak_dir/soak.log" 2>&1 &
soak=$!
status=0
echo "== pytest: suite"
"${pytest[@]}" -m "not campaign" || status=$?
echo "== pytest: fleet"
"${pytest[@]}" -q -s -m campaign -k "not soak" || status=$?
echo "== pytest: soak"
wait "$soak" || status=$?
tail -n 5 "$soak_dir/soak.log"
exit "$status"
