#!/usr/bin/env bash
# Benchmark of the simulator itself (not a test): wall time of a 10-host 64 MiB scenario, a
# 30-host 256 MiB scenario, and 10k, 25k and 100k pieces of 16 KiB (the picker's cost per pick
# must not grow with the piece count: wall time linear in the size) in a release build, and
# simulated payload bytes per wall second.
# Usage: scripts/bench-sim.sh   (RUNS=3 by default; prints a markdown table of medians)
# The leechers' files go to a tmpfs (/dev/shm where it is writable, else $TMPDIR): this measures
# the simulator, not the host's disk (on this machine's ext4 /tmp the 30-host case spends
# ~0.13 s in the final resume save's fsync and ~0.08 s unlinking 256 MiB). TMPDIR=... overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
echo "simulator scratch directory: ${TMPDIR:-/tmp}"
runs=${RUNS:-3}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/bitswarm
echo "| scenario | hosts | payload | median wall (s) | simulated time (s) | MiB simulated per wall second |"
echo "|---|---|---|---|---|---|"
for spec in "scenarios/bench/hosts10-64mib.toml 10 64" "scenarios/bench/hosts30-256mib.toml 30 256" \
  "scenarios/bench/pieces10k-16kib.toml 3 156" "scenarios/bench/pieces25k-16kib.toml 3 391" \
  "scenarios/bench/pieces100k-16kib.toml 3 1563"; do
  set -- $spec
  file=$1 hosts=$2 mib=$3
  walls=()
  for _ in $(seq "$runs"); do
    start=$(date +%s.%N)
    out=$("$bin" sim "$file")
    end=$(date +%s.%N)
    echo "$out" | grep -q '^PASS' || { echo "bench-sim: $file failed:"; echo "$out"; exit 1; }
    walls+=("$(echo "$end - $start" | bc -l)")
    simulated=$(echo "$out" | sed -n 's/.* in \([0-9.]*\)s simulated/\1/p')
  done
  median=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  rate=$(echo "$mib / $median" | bc -l)
  printf '| %s | %s | %s MiB | %.2f | %s | %.0f |\n' "$(basename "$file" .toml)" "$hosts" "$mib" "$median" "$simulated" "$rate"
done
