#!/usr/bin/env bash
# Prepare a fresh Debian machine for the demo or the tests: Debian packages, then a
# virtualenv in .venv with the project installed (editable) and the given extras.
#   bash deploy/dev-setup.sh [EXTRAS]      (default: test)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
sudo=""
if [[ $EUID -ne 0 ]]; then sudo="sudo"; fi

need=()
# mbpoll: tests/modbus/test_simulator_mbpoll.py; chromium and a CJK font: the console's
# browser tests (tests/console/test_browser.py drives Debian's chromium through Playwright,
# so Playwright downloads no browser of its own).
for pkg in mosquitto openssl mbpoll chromium fonts-wqy-microhei; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [[ ",$extras," == *",test,"* ]]; then
  # ejabberd: a second MQTT v5 broker implementation (tests/reliability/test_interop.py).
  dpkg -s ejabberd >/dev/null 2>&1 || need+=(ejabberd)
fi
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [[ ",$extras," == *,test,* ]]; then
  # The official AsyncAPI parser checks docs/contract/asyncapi.json (tests/contract/).
  # By command, not package: a NodeSource nodejs already brings its own npm.
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian packages start a broker on :1883 (mosquitto, ejabberd) where systemd runs;
# the tests and the demo start their own brokers on free ports, so those are not needed.
if [[ " ${need[*]:-} " == *" ejabberd "* ]] && [[ -d /run/systemd/system ]]; then
  $sudo systemctl disable --now ejabberd >/dev/null 2>&1 || true
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Python >= 3.11 is required, found {sys.version.split()[0]}")
PY
if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$extras]"
if [[ ",$extras," == *,test,* ]]; then
  # Pinned by .ci/package-lock.json into .ci/node_modules (gitignored); no install
  # scripts. Skipped when node_modules was installed from this very lock file.
  if ! cmp -s .ci/package-lock.json .ci/node_modules/.installed-lock.json; then
    npm ci --prefix .ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
    cp .ci/package-lock.json .ci/node_modules/.installed-lock.json
  fi
fi
