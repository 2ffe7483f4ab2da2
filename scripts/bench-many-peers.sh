#!/usr/bin/env bash
# Benchmark: the client's CPU per downloaded MiB from one synthetic seeder against many (200 by
# default), all served by one process (`examples/swarm_serve.rs`: a mock tracker and the seeder
# crate on 127.0.0.1). Picking and choking must not cost more per message as peers x pieces
# grow, so the two should be close (issue target: within 1.5x). Not a test.
#
# Usage: scripts/bench-many-peers.sh [SIZE_MIB] [MANY]   (default 512 and 200; RUNS=3)
# Measures `bitswarm download --max-peers MANY` under GNU time: user+sys CPU seconds of the
# client only (the seeders run in another process), wall time and peak RSS; each result's
# SHA-256 is checked by the client against the torrent's piece hashes (it exits 0 only when
# complete). Prints a markdown table of medians.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-512}
many=${2:-200}
runs=${RUNS:-3}
[ -x /usr/bin/time ] || { echo "missing GNU time (apt-get install time)"; exit 1; }
cargo build --release --quiet --bin bitswarm --example swarm_serve
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=${BIN:-$target/release/bitswarm}
serve=$target/release/examples/swarm_serve
work=$(mktemp -d -p "$target" bench-many.XXXXXX)
server_pid="" fifo=$work/stdin
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs one download from $1 seeders; appends "peers wall cpu rss_kib" to results.
run_one() {
  local peers=$1 dl=$work/dl
  rm -rf "$dl" "$fifo"
  mkdir -p "$dl"
  mkfifo "$fifo"
  "$serve" "$peers" "$size_mib" "$work/many.torrent" <"$fifo" >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  exec 7>"$fifo" # the server runs until this closes
  for _ in $(seq 600); do grep -q ready "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$work/serve.out" || { echo "server did not start: $(cat "$work/serve.err")"; exit 1; }
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$bin" download "$work/many.torrent" -o "$dl" \
    --max-peers "$peers" --quiet
  exec 7>&-
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  read -r wall user sys rss <"$work/time"
  echo "$peers $wall $(echo "$user + $sys" | bc -l) $rss" >>"$work/results"
  echo "  $peers peers: wall ${wall}s cpu $(echo "$user + $sys" | bc -l)s rss ${rss} KiB" >&2
}

: >"$work/results"
for n in $(seq "$runs"); do
  echo "round $n of $runs" >&2
  run_one 1
  run_one "$many"
done
/usr/bin/python3 - "$work/results" "$size_mib" "$runs" <<'PY'
import statistics, sys
path, size_mib, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    peers, wall, cpu, rss = line.split()
    rows.setdefault(int(peers), []).append((float(wall), float(cpu), int(rss)))
print(f"\n{size_mib} MiB, 256 KiB pieces, synthetic seeders on 127.0.0.1, {runs} runs each\n")
print("| seeders | median MiB/s | client CPU ms per MiB | ratio to 1 seeder | median peak RSS (MiB) |")
print("|---|---|---|---|---|")
base = None
for peers in sorted(rows):
    r = rows[peers]
    wall = statistics.median(x[0] for x in r)
    cpu = statistics.median(x[1] for x in r) * 1000 / size_mib
    rss = statistics.median(x[2] for x in r) / 1024
    base = base or cpu
    print(f"| {peers} | {size_mib / wall:.0f} | {cpu:.2f} | {cpu / base:.2f}x | {rss:.0f} |")
PY
