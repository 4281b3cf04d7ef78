#!/usr/bin/env bash
# Build one offline install bundle: the agent's wheel, every dependency as a binary wheel for
# the target platform and Python, the installer, the unit and the example config.
#
#   deploy/bundle.sh --arch aarch64|armv7l|x86_64 [--extras modbus,vision] [--python 3.11]
#                    [--out DIR]
#   -> DIR/edge-agent-VERSION-ARCH-pyPY-EXTRAS.tar.gz   (DIR defaults to dist/)
#
# On the gateway, with no network:  tar -xzf BUNDLE && sudo ./edge-agent-*/install.sh
# or:  sudo install.sh --bundle BUNDLE
#
# Wheels come from `pip download --only-binary=:all: --platform ...` (manylinux tags for the
# arch; glibc 2.17 to 2.36 covers Raspberry Pi OS bookworm). PyPI has few armv7l wheels
# (no onnxruntime); for 32-bit Pi OS point pip at piwheels: PIP_EXTRA_INDEX_URL=
# https://www.piwheels.org/simple, whose wheels are tagged linux_armv7l (included below).
# The build machine needs network; the gateway does not.
set -euo pipefail

arch="" extras="modbus" pyver="3.11" out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --extras) extras="$2"; shift 2 ;;
    --python) pyver="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bundle.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$arch" in
  aarch64|armv7l|x86_64) ;;
  *) echo "bundle.sh: --arch must be aarch64, armv7l or x86_64" >&2; exit 2 ;;
esac
[[ "$extras" =~ ^[a-z,]*$ ]] || { echo "bundle.sh: --extras is a comma list of extras" >&2; exit 2; }

src="$(cd "$(dirname "$0")/.." && pwd)"
out="${out:-$src/dist}"
python="${PYTHON:-python3}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$src/pyproject.toml" | head -n1)"
name="edge-agent-$version-$arch-py$pyver-${extras//,/+}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dir="$work/$name"
mkdir -p "$dir/wheels" "$work/src"

# The agent's wheel, built from a clean copy (no .git, .venv or caches can reach it).
tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
  --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.mypy_cache \
  --exclude=.ruff_cache -cf - . | tar -C "$work/src" -xf -
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$dir/wheels" "$work/src" >/dev/null
wheel="$(ls "$dir"/wheels/edge_agent-*.whl)"

platforms=()
for glibc in 2_17 2_24 2_27 2_28 2_31 2_34 2_35 2_36; do platforms+=(--platform "manylinux_${glibc}_$arch"); done
platforms+=(--platform "manylinux2014_$arch" --platform "linux_$arch")
abi="cp${pyver/./}"
"$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
  "${platforms[@]}" --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 \
  --abi none --dest "$dir/wheels" "$wheel[$extras]"

cp "$src/deploy/install.sh" "$src/systemd/edge-agent.service" "$src/deploy/config.example.yaml" \
  "$src/docs/operations.md" "$dir/"
chmod 0755 "$dir/install.sh"
cat >"$dir/bundle.env" <<EOF
BUNDLE_VERSION=$version
BUNDLE_ARCH=$arch
BUNDLE_PYTHON=$pyver
BUNDLE_EXTRAS=$extras
EOF
(cd "$dir" && sha256sum wheels/*.whl install.sh edge-agent.service config.example.yaml operations.md >SHA256SUMS)

mkdir -p "$out"
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
