#!/usr/bin/env bash
# Install, upgrade or remove the agent on a Debian / Raspberry Pi OS gateway. Idempotent:
# a second run with the same inputs changes no file, mode or owner.
#
#   sudo deploy/install.sh [--extras modbus,vision]          from a source checkout (builds a wheel)
#   sudo ./install.sh --bundle edge-agent-*.tar.gz            offline, from deploy/bundle.sh
#   sudo /opt/edge-agent/share/install.sh                     again, from the installed copy
#   sudo deploy/install.sh --uninstall [--purge]
#   deploy/install.sh --root /tmp/scratch ...                 into a scratch root (tests, images)
#
# What it lays down (docs/install.md has the walk-through):
#   service user and group edge-agent (system, nologin, member of dialout and video)
#   /opt/edge-agent/venv        a virtualenv holding only the installed wheels (never the work
#                               tree, its .git or .venv)
#   /opt/edge-agent/share       this installer, the unit, the example config and the agent's wheel,
#                               so the installer can be re-run from here (issue 9 item 9)
#   /etc/edge-agent             root:edge-agent 0750; tls/ 0750; config.yaml.example 0640
#   /var/lib/edge-agent         edge-agent:edge-agent 0700 (outbox, driver state, status.json)
#   /etc/systemd/system/edge-agent.service  0644, enabled only once config.yaml exists
#
# --uninstall removes the unit, /opt/edge-agent and nothing else: config, credentials, state
# (undelivered events) and the service user stay. --purge also removes /etc/edge-agent,
# /var/lib/edge-agent and the user and group.
#
# --root DIR: every path above is placed under DIR and nothing on the host changes (no
# systemctl, no apt-get). The user is created with `useradd --prefix DIR` into DIR/etc/passwd
# and DIR/etc/group; if DIR has no etc/passwd a minimal one (root, and the dialout=20 and
# video=44 groups of Debian) is seeded. Owners are set by the numbers in DIR/etc. The venv's
# scripts point at DIR/opt/edge-agent/venv, so a --root install is for tests and inspection,
# not for copying onto another machine (use --bundle on the target for that).
set -euo pipefail

usage() {
  sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

root="" extras="" bundle="" python="${PYTHON:-python3}" action=install
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) root="${2%/}"; shift 2 ;;
    --extras) extras="$2"; shift 2 ;;
    --bundle) bundle="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    --purge) action=purge; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }

user=edge-agent
prefix="$root/opt/edge-agent"
share="$prefix/share"
etc="$root/etc/edge-agent"
state="$root/var/lib/edge-agent"
unit="$root/etc/systemd/system/edge-agent.service"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { echo "install.sh: $*"; }
on_host() { [[ -z "$root" ]]; }

# ---------------------------------------------------------------------------- removal
remove() {
  if on_host && command -v systemctl >/dev/null; then
    systemctl disable --now edge-agent.service 2>/dev/null || true
  fi
  rm -f "$unit" "$root/etc/systemd/system/multi-user.target.wants/edge-agent.service"
  on_host && { systemctl daemon-reload 2>/dev/null || true; }
  rm -rf "$prefix"
  say "removed the unit and $prefix; kept $etc, $state and user $user"
  if [[ $action == purge ]]; then
    rm -rf "$etc" "$state"
    if grep -q "^$user:" "$root/etc/passwd" 2>/dev/null; then
      userdel ${root:+--prefix "$root"} "$user"
    fi
    if grep -q "^$user:" "$root/etc/group" 2>/dev/null; then
      groupdel ${root:+--prefix "$root"} "$user"
    fi
    say "purged $etc, $state and user $user"
  fi
}

# ---------------------------------------------------------------------------- payload
# A payload directory holds install.sh, edge-agent.service, config.example.yaml, wheels/
# and (for bundles) bundle.env. It comes from a bundle, from the installed share dir, or
# is assembled here from a source checkout by building the agent's wheel.
payload_from_bundle() {
  tar -xzf "$bundle" -C "$work"
  local dir
  dir="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)"
  [[ -f "$dir/bundle.env" ]] || { echo "install.sh: $bundle is not an edge-agent bundle" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$dir/bundle.env"
  local machine pyver
  machine="$(uname -m)"
  pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  if [[ "$BUNDLE_ARCH" != "$machine" ]]; then
    echo "install.sh: bundle is for $BUNDLE_ARCH, this machine is $machine" >&2; exit 1
  fi
  if [[ "$BUNDLE_PYTHON" != "$pyver" ]]; then
    echo "install.sh: bundle is for Python $BUNDLE_PYTHON, $python is $pyver" >&2; exit 1
  fi
  extras="${extras:-$BUNDLE_EXTRAS}"
  offline=1
  payload="$dir"
}

payload_from_source() {
  local src="$1"
  mkdir -p "$work/src" "$work/payload/wheels"
  # Build from a clean copy so the checkout gets no build/ or egg-info and nothing of
  # .git/.venv can reach the wheel.
  tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=.pytest_cache --exclude=.mypy_cache --exclude=.ruff_cache \
    -cf - . | tar -C "$work/src" -xf -
  "$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/payload/wheels" "$work/src" >/dev/null
  cp "$src/deploy/install.sh" "$src/systemd/edge-agent.service" \
    "$src/deploy/config.example.yaml" "$src/docs/operations.md" "$work/payload/"
  payload="$work/payload"
}

choose_payload() {
  offline=0
  if [[ -n "$bundle" ]]; then
    payload_from_bundle
  elif [[ -f "$here/../pyproject.toml" && -d "$here/../agent" ]]; then
    payload_from_source "$(cd "$here/.." && pwd)"
  elif [[ -d "$here/wheels" && -f "$here/edge-agent.service" ]]; then
    payload="$here"  # the installed copy in /opt/edge-agent/share, or an unpacked bundle
    [[ -f "$here/bundle.env" ]] && { . "$here/bundle.env"; extras="${extras:-$BUNDLE_EXTRAS}"; offline=1; }
  else
    echo "install.sh: no source checkout, bundle or installed copy next to $0" >&2; exit 1
  fi
  extras="${extras:-modbus}"
}

# ---------------------------------------------------------------------------- pieces
ensure_python() {
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    if on_host && [[ $offline -eq 0 ]]; then
      apt-get install -y --no-install-recommends python3 python3-venv >/dev/null
    else
      echo "install.sh: $python has no venv module; install python3-venv first" >&2; exit 1
    fi
  fi
}

ensure_user() {
  local p=${root:+--prefix "$root"}
  if [[ -n "$root" && ! -f "$root/etc/passwd" ]]; then
    install -d -m 0755 "$root/etc"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
    printf 'root:x:0:\ndialout:x:20:\nvideo:x:44:\n' >"$root/etc/group"
    printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
    printf 'root:*::\n' >"$root/etc/gshadow"
    chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
  fi
  local g
  for g in dialout video; do
    grep -q "^$g:" "$root/etc/group" || groupadd $p --system "$g"
  done
  if ! grep -q "^$user:" "$root/etc/passwd"; then
    useradd $p --system --user-group --no-create-home --home-dir /var/lib/edge-agent \
      --shell /usr/sbin/nologin --groups dialout,video "$user"
    say "created user $user"
  fi
  for g in dialout video; do
    # Membership is checked first: usermod rewrites the group files even when nothing changes.
    grep -Eq "^$g:[^:]*:[^:]*:(.*,)?$user(,|$)" "$root/etc/group" || usermod $p -a -G "$g" "$user"
  done
  uid="$(awk -F: -v u="$user" '$1 == u { print $3 }' "$root/etc/passwd")"
  gid="$(awk -F: -v u="$user" '$1 == u { print $3 }' "$root/etc/group")"
}

# Copy $1 to $2 with mode/owner, touching nothing when content, mode and owner already match.
put() {
  local from="$1" to="$2" mode="$3" owner="$4"
  [[ "$(realpath -m "$from")" == "$(realpath -m "$to")" ]] && { chmod "$mode" "$to"; chown "$owner" "$to"; return; }
  install -C -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$from" "$to"
}

install_share() {
  install -d -m 0755 -o 0 -g 0 "$prefix" "$share" "$share/wheels"
  put "$payload/install.sh" "$share/install.sh" 0755 0:0
  put "$payload/edge-agent.service" "$share/edge-agent.service" 0644 0:0
  put "$payload/config.example.yaml" "$share/config.example.yaml" 0644 0:0
  # The unit's Documentation= points here (the crews' runbook, readable on the box).
  [[ -f "$payload/operations.md" ]] && put "$payload/operations.md" "$share/operations.md" 0644 0:0
  local w to
  for w in "$payload"/wheels/edge_agent-*.whl; do
    to="$share/wheels/$(basename "$w")"
    # A rebuilt wheel differs in its zip timestamps only: keep the copy whose content matches.
    if [[ -f "$to" && "$(wheel_digest "$w")" == "$(wheel_digest "$to")" ]]; then
      put "$to" "$to" 0644 0:0
    else
      put "$w" "$to" 0644 0:0
    fi
  done
  [[ -f "$payload/bundle.env" ]] && put "$payload/bundle.env" "$share/bundle.env" 0644 0:0
  # Older agent wheels left from upgrades are dropped; the current one is kept for re-runs.
  local keep
  keep="$(basename "$(ls "$payload"/wheels/edge_agent-*.whl | tail -n1)")"
  find "$share/wheels" -name 'edge_agent-*.whl' ! -name "$keep" -delete
  agent_wheel="$share/wheels/$keep"
}

# A digest of what the wheel contains (not of the zip, whose timestamps vary per build).
wheel_digest() {
  "$python" - "$1" <<'EOF'
import hashlib, sys, zipfile
h = hashlib.sha256()
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in sorted(z.namelist()):
        h.update(name.encode() + b"\0" + hashlib.sha256(z.read(name)).digest())
print(h.hexdigest())
EOF
}

install_venv() {
  local venv="$prefix/venv" marker="$prefix/venv/.edge-agent-installed" want
  want="wheel=$(wheel_digest "$agent_wheel") extras=$extras"
  if [[ -x "$venv/bin/edge-agent" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    return
  fi
  [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
  local links=(--find-links "$payload/wheels")
  [[ $offline -eq 1 ]] && links+=(--no-index)
  "${pip[@]}" install "${links[@]}" "$agent_wheel[$extras]"
  # Same version, new code (a rebuilt wheel): replace the agent itself, not its deps.
  "${pip[@]}" install --no-index --force-reinstall --no-deps "$agent_wheel"
  printf '%s\n' "$want" >"$marker"
  say "installed $(basename "$agent_wheel") [$extras] into $venv"
}

install_dirs() {
  install -d -m 0750 -o 0 -g "$gid" "$etc" "$etc/tls"
  put "$payload/config.example.yaml" "$etc/config.yaml.example" 0640 "0:$gid"
  install -d -m 0755 "$root/var/lib"
  install -d -m 0700 -o "$uid" -g "$gid" "$state"
  install -d -m 0755 "$(dirname "$unit")"
  put "$payload/edge-agent.service" "$unit" 0644 0:0
}

activate() {
  if ! on_host; then
    return
  fi
  systemctl daemon-reload 2>/dev/null || true
  if [[ -e "$etc/config.yaml" ]]; then
    "$prefix/venv/bin/edge-agent" config check "$etc/config.yaml"
    systemctl enable --now edge-agent.service 2>/dev/null || true
  else
    say "write $etc/config.yaml (edge-agent provision, or from config.yaml.example), then:"
    say "  systemctl enable --now edge-agent"
  fi
}

# What this run may change, as one digest: compared before and after, it lets the last line
# say whether anything changed (Ansible's changed_when reads it: deploy/ansible/). The state
# dir's contents and config.yaml/tls are the agent's and provisioning's, not ours.
footprint() {
  {
    local f
    for f in "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow" \
      "$etc" "$etc/tls" "$etc/config.yaml.example" "$state" "$unit"; do
      if [[ -e "$f" ]]; then stat -c '%n %a %u %g %s %Y' "$f"; fi
    done
    if [[ -d "$prefix" ]]; then find "$prefix" -printf '%p %m %U %G %s %T@ %l\n'; fi
  } 2>/dev/null | LC_ALL=C sort | sha256sum
}

if [[ $action != install ]]; then
  remove
  exit 0
fi
before="$(footprint)"
choose_payload
ensure_python
ensure_user
install_share
install_venv
install_dirs
activate
if [[ "$(footprint)" == "$before" ]]; then say "done (nothing changed)"; else say "done (changed)"; fi
