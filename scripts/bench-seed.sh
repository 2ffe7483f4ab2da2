#!/usr/bin/env bash
# Benchmark: upload throughput and peak memory of `bitswarm seed` against transmission-daemon and
# libtorrent, each seeding the same single-file torrent (256 KiB pieces) to one libtorrent
# leecher on 127.0.0.1 found through opentracker. Not a test.
#
# Usage: scripts/bench-seed.sh [SIZE_MIB]   (default 1024; RUNS=3 runs per seeder;
#        SEEDERS="bitswarm libtorrent" limits the run to some of the seeders; BITSWARM_BIN=PATH
#        runs that bitswarm binary instead of building this tree, for A/B runs)
# Needs: opentracker, python3-libtorrent (/usr/bin/python3), GNU time (/usr/bin/time);
# transmission-daemon is benchmarked when installed, bitswarm when its binary has a `seed`
# command.
#
# How it measures:
# - time = the leecher's own `elapsed` (tests/peers/lt_leech.py: from adding the torrent to every
#   piece verified), so announce, peer discovery, the handshake and the seeder's unchoke delay
#   are included, as a user would see them; MiB/s = size / time.
# - transfer MiB/s = size / (time - first_byte), first_byte being when the leecher saw its first
#   payload byte: the part of the run the seeder decides. The ~0.5 s before it is the leecher's
#   own start (libtorrent connects new peers on its 0.5 s tick) and the same for every seeder.
# - peak RSS = `/usr/bin/time -f %M` of the seeder process over its whole life: its start-up
#   check of the content and the upload (libtorrent's counts mmap'd pages).
# - upload CPU s = the seeder process's user + system time (all its threads, from
#   /proc/PID/stat) from the leecher's start to its end: what serving the upload cost, without
#   the start-up check (which the seeders do differently: libtorrent has no resume data here).
# - one unmeasured warm-up run comes first: the script's first run was the slow one (the same
#   bitswarm binary listed twice: 2.38 s for the first, 2.11 s for the second; bitswarm listed
#   first: 297-419 MiB/s in its first run against 430-510 in later ones).
# - every run gets a fresh tracker (a killed seeder would stay listed), a fresh seeder (Transmission
#   3.00 does not take a second leecher from the same address; see /work/shared/REAL-PEERS.md), a
#   fresh leecher on a fresh listen port with an empty download dir on the same disk as the build
#   (never tmpfs); the seed file is read before each run so the page cache is warm; runs are
#   interleaved across seeders to spread drift; each result is compared with the source (cmp)
#   before it counts.
# - the leecher dials the seeder (Transmission never dials loopback peers it learns from a
#   tracker; bitswarm and libtorrent would, but the leecher announces after them).
# Prints a markdown table: median MiB/s, median transfer MiB/s, runs that completed, median peak
# RSS of the seeder, median upload CPU s of the seeder.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
size_mib=${1:-1024}
runs=${RUNS:-3}
run_timeout=${RUN_TIMEOUT:-$((90 + size_mib / 4))}
python=/usr/bin/python3

die() { echo "bench-seed: $*" >&2; exit 1; }
command -v opentracker >/dev/null || die "missing opentracker (apt-get install opentracker)"
[ -x /usr/bin/time ] || die "missing GNU time (apt-get install time)"
$python -c 'import libtorrent' 2>/dev/null || die "missing python3-libtorrent for $python"

target=${CARGO_TARGET_DIR:-$root/target}
if [ -n "${BITSWARM_BIN:-}" ]; then
  bin=$BITSWARM_BIN
else
  cargo build --release --quiet
  bin=$target/release/bitswarm
fi

seeders=()
if "$bin" seed --help >/dev/null 2>&1; then seeders+=(bitswarm); else
  echo "note: $bin has no seed command yet; benchmarking the others" >&2; fi
command -v transmission-daemon >/dev/null && seeders+=(transmission)
seeders+=(libtorrent)
if [ -n "${SEEDERS:-}" ]; then
  wanted=()
  for s in "${seeders[@]}"; do [[ " $SEEDERS " == *" $s "* ]] && wanted+=("$s"); done
  seeders=("${wanted[@]}")
fi
[ ${#seeders[@]} -gt 0 ] || die "no seeder to benchmark"

work=$(mktemp -d -p "$target" bench-seed.XXXXXX)
chmod 755 "$work" # opentracker drops root to `nobody` and must still read the whitelist
mkdir -p "$work/seed" "$work/logs"

# Background processes this script started and has not reaped yet, stopped by PID on exit:
# the tracker, the seeder and the leecher of the run in progress (a seeder's /usr/bin/time
# wrapper is stopped through its child: signalling the wrapper would not stop the program).
tracker_pid="" seeder_pid="" leecher_pid=""
stop() {
  local pid=$1 child
  [ -n "$pid" ] || return 0
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill "$child" 2>/dev/null || true; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# Stops a program running under /usr/bin/time (PID $1 is the wrapper) so that the wrapper still
# writes its report: SIGTERM to the program only (bitswarm and transmission-daemon then stop
# cleanly), SIGKILL after 30 s, then reap the wrapper.
stop_measured() {
  local pid=$1 child deadline
  [ -n "$pid" ] || return 0
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill "$child" 2>/dev/null || true; done
  deadline=$(($(date +%s) + 30))
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -9 "$child" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$leecher_pid"
  stop "$seeder_pid"
  stop "$tracker_pid"
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" >&2 && return
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Seeders the tracker lists for the torrent (HTTP scrape, `complete` count).
seeders_listed() {
  $python - "$tracker_port" "$info_hash" <<'EOF' 2>/dev/null || echo 0
import re, sys, urllib.parse, urllib.request
port, info_hash = sys.argv[1], bytes.fromhex(sys.argv[2])
url = "http://127.0.0.1:%s/scrape?info_hash=%s" % (port, urllib.parse.quote(info_hash))
body = urllib.request.urlopen(url, timeout=5).read()
m = re.search(rb"8:completei(\d+)e", body)
print(int(m.group(1)) if m else 0)
EOF
}
# Polls `$2...` every 0.1 s for up to $1 seconds.
wait_for() {
  local limit=$1; shift
  local deadline; deadline=$(($(date +%s) + limit))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# User + system CPU seconds so far of process $1 (all its threads, the finished ones included).
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}
# True once the tracker lists a seeder, or once the seeder has exited (so nobody waits on it).
seeding_or_gone() { ! kill -0 "$seeder_pid" 2>/dev/null || [ "$(seeders_listed)" -ge 1 ]; }

echo "preparing a ${size_mib} MiB torrent in $work" >&2
content=$work/seed/bench.bin
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$content"
sync # written back now, not during the first run
tracker_port=$(free_port)
torrent=$work/bench.torrent
"$bin" create "$content" -o "$torrent" -t "http://127.0.0.1:$tracker_port/announce" \
  --piece-length 256KiB >/dev/null
info_hash=$("$bin" info "$torrent" --json | $python -c 'import json, sys; print(json.load(sys.stdin)["info_hash"])')
echo "$info_hash" >"$work/whitelist"
chmod 644 "$work/whitelist"

# A fresh opentracker on the torrent's port (it binds with SO_REUSEADDR).
start_tracker() {
  opentracker -i 127.0.0.1 -p "$tracker_port" -P "$tracker_port" -d / -w "$work/whitelist" \
    >>"$work/logs/opentracker.log" 2>&1 &
  tracker_pid=$!
  wait_for 10 listening "$tracker_port" || die "opentracker did not start"
}

# Starts seeder $1 under GNU time (peak RSS into $2); sets seeder_pid.
start_seeder() {
  local seeder=$1 rss=$2 log=$3 port config
  port=$(free_port)
  case $seeder in
    bitswarm)
      cmd=("$bin" seed "$torrent" "$work/seed" --port "$port" --quiet) ;;
    libtorrent)
      cmd=($python "$root/tests/peers/lt_seed.py" "$torrent" "$work/seed" --port "$port") ;;
    transmission)
      config=$work/tr-config
      rm -rf "$config"
      mkdir -p "$config/watch"
      cp "$torrent" "$config/watch/bench.torrent"
      cat >"$config/settings.json" <<EOF
{"bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1", "peer-port": $port,
 "peer-port-random-on-start": false, "port-forwarding-enabled": false, "dht-enabled": false,
 "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "encryption": 0,
 "rpc-enabled": false, "download-dir": "$work/seed", "incomplete-dir-enabled": false,
 "rename-partial-files": false, "watch-dir-enabled": true, "watch-dir": "$config/watch",
 "start-added-torrents": true, "ratio-limit-enabled": false,
 "idle-seeding-limit-enabled": false, "speed-limit-up-enabled": false, "message-level": 1}
EOF
      cmd=(transmission-daemon -f -g "$config") ;;
  esac
  /usr/bin/time -f %M -o "$rss" "${cmd[@]}" >"$log.out" 2>"$log.err" &
  seeder_pid=$!
}

# Runs seeder $1 once (run number $2, or `warm-up`: not counted); appends "seeder seconds
# first_byte_seconds rss_kib status upload_cpu_seconds" to results.
run_one() {
  local seeder=$1 n=$2 log dl port secs=0 first=0 rss status=ok program cpu0 cpu1 cpu=0
  log=$work/logs/$seeder-$n
  dl=$work/dl
  rm -rf "$dl"
  mkdir -p "$dl"
  cat "$content" >/dev/null # warm the page cache
  start_tracker
  start_seeder "$seeder" "$log.rss" "$log.seed"
  if ! wait_for 600 seeding_or_gone || ! kill -0 "$seeder_pid" 2>/dev/null; then
    status=no-seeder
  else
    port=$(free_port)
    program=$(pgrep -P "$seeder_pid" | head -n 1 || true)
    cpu0=$(cpu_seconds "$program")
    $python "$root/tests/peers/lt_leech.py" "$torrent" "$dl" --port "$port" \
      --timeout "$run_timeout" >"$log.leech.out" 2>"$log.leech.err" &
    leecher_pid=$!
    wait "$leecher_pid" || status=failed
    cpu1=$(cpu_seconds "$program")
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
    if [ "$status" = ok ] && ! cmp -s "$content" "$dl/bench.bin"; then status=corrupt; fi
    if [ "$status" = ok ]; then
      secs=$(awk '$1 == "elapsed" { print $2 }' "$log.leech.out")
      first=$(awk '$1 == "first_byte" { print $2 }' "$log.leech.out")
    fi
    leecher_pid=""
  fi
  stop_measured "$seeder_pid"
  seeder_pid=""
  stop "$tracker_pid"
  tracker_pid=""
  rss=$(tail -n 1 "$log.rss" 2>/dev/null || echo 0)
  [[ $rss =~ ^[0-9]+$ ]] || rss=0
  local line="$seeder $secs $first $rss $status $cpu"
  echo "  $seeder run $n: ${line#* }" >&2
  [ "$n" = warm-up ] || echo "$line" >>"$work/results"
  [ "$status" = ok ] || echo "    log: $(tail -n 3 "$log.leech.err" "$log.seed.err" 2>/dev/null | tr '\n' ' ')" >&2
  rm -rf "$dl"
}

: >"$work/results"
run_one "${seeders[0]}" warm-up
for n in $(seq 1 "$runs"); do
  echo "round $n of $runs" >&2
  for seeder in "${seeders[@]}"; do run_one "$seeder" "$n"; done
done

$python - "$work/results" "$size_mib" "$runs" <<'EOF'
import statistics, sys
path, size_mib, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    seeder, secs, first, rss, status, cpu = line.split()
    rows.setdefault(seeder, []).append((float(secs), float(first), int(rss), status, float(cpu)))
print(f"\n{size_mib} MiB single file, 256 KiB pieces, one libtorrent leecher on 127.0.0.1, {runs} runs each\n")
print("| seeder | median MiB/s | transfer MiB/s | runs ok | median peak RSS (MiB) | upload CPU s | MiB/s per run |")
print("|---|---|---|---|---|---|---|")
for seeder, results in rows.items():
    ok = [r for r in results if r[3] == "ok"]
    per_run = ", ".join(f"{size_mib / r[0]:.0f}" if r[3] == "ok" else r[3] for r in results)
    if ok:
        secs = statistics.median(r[0] for r in ok)
        transfer = statistics.median(size_mib / (r[0] - r[1]) for r in ok if r[0] > r[1])
        rss = statistics.median(r[2] for r in ok) / 1024
        cpu = statistics.median(r[4] for r in ok)
        print(f"| {seeder} | {size_mib / secs:.1f} | {transfer:.1f} | {len(ok)}/{len(results)} | {rss:.0f} | {cpu:.2f} | {per_run} |")
    else:
        print(f"| {seeder} | - | - | 0/{len(results)} | - | - | {per_run} |")
EOF
