#!/usr/bin/env bash
# Install or upgrade the agent on a Debian / Raspberry Pi OS gateway. Idempotent.
#   sudo deploy/install.sh [--extras modbus,vision]
# Creates the service user, /opt/edge-agent/venv, /etc/edge-agent (root-owned, 0750),
# installs the systemd unit, and leaves the service disabled until a config exists.
set -euo pipefail

extras="modbus"
if [[ "${1:-}" == "--extras" ]]; then extras="$2"; fi

src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/edge-agent

if [[ $EUID -ne 0 ]]; then echo "run as root (sudo)" >&2; exit 1; fi

apt-get install -y --no-install-recommends python3 python3-venv >/dev/null

if ! id edge-agent >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/edge-agent --shell /usr/sbin/nologin edge-agent
fi
usermod -a -G dialout,video edge-agent

install -d -m 0755 "$prefix"
if [[ ! -x "$prefix/venv/bin/python" ]]; then python3 -m venv "$prefix/venv"; fi
"$prefix/venv/bin/pip" install --quiet --upgrade "$src[$extras]"
rm -rf "$prefix/src" && cp -r "$src" "$prefix/src"

install -d -m 0750 -o root -g edge-agent /etc/edge-agent /etc/edge-agent/tls
if [[ ! -e /etc/edge-agent/config.yaml ]]; then
  install -m 0640 -o root -g edge-agent "$src/deploy/config.example.yaml" \
    /etc/edge-agent/config.yaml.example
fi
install -d -m 0700 -o edge-agent -g edge-agent /var/lib/edge-agent

install -m 0644 "$src/systemd/edge-agent.service" /etc/systemd/system/edge-agent.service
systemctl daemon-reload 2>/dev/null || true

if [[ -e /etc/edge-agent/config.yaml ]]; then
  "$prefix/venv/bin/edge-agent" config check /etc/edge-agent/config.yaml
  systemctl enable --now edge-agent.service 2>/dev/null || true
else
  echo "Write /etc/edge-agent/config.yaml (see config.yaml.example), then:"
  echo "  systemctl enable --now edge-agent"
fi
