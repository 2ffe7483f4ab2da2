#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the real peers the interop tests drive
# (Debian packages) when they are missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-libtorrent opentracker transmission-cli transmission-daemon aria2 mktorrent chromium groff-base)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# With this set, an interop test whose tool is missing fails instead of skipping.
export BITSWARM_INTEROP=required
cargo test --workspace --locked "$@"
