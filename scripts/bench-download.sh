#!/usr/bin/env bash
# Benchmark: download throughput and peak memory of bitswarm against aria2c, transmission-cli,
# libtorrent (and rqbit when installed), each leeching the same single-file torrent (256 KiB
# pieces) from one libtorrent seeder on 127.0.0.1 found through opentracker. Not a test.
#
# Usage: scripts/bench-download.sh [SIZE_MIB]   (default 1024; RUNS=3 runs per client;
#        CLIENTS="aria2c libtorrent" limits the run to some of the clients; SEEDERS=2 seeds
#        from two libtorrent seeders at once; LAYOUT=files20 makes the content a folder of 20
#        files of uneven sizes instead of one file; BITSWARM_BIN=PATH runs that bitswarm binary
#        instead of building this tree, for A/B runs; KEEP_LOGS=PREFIX keeps each run's stderr
#        as PREFIX.CLIENT.RUN.err)
# Needs: opentracker, python3-libtorrent (/usr/bin/python3), GNU time (/usr/bin/time); each of
# aria2c, transmission-cli, rqbit is benchmarked when installed; bitswarm when its binary has a
# `download` command.
#
# How it measures:
# - time = wall clock from launching the leecher to the content being complete: the process
#   exit for clients that exit when done (bitswarm, aria2c --seed-time=0, rqbit -e, lt_leech.py),
#   the moment the `-f` finish script runs for transmission-cli (it keeps seeding otherwise).
#   Start-up, announce and peer discovery are included, as a user would see them. Like the
#   others, bitswarm exits with the data still in the page cache: its last resume save does
#   not wait for an fsync (it holds only until the machine restarts; see storage/resume.rs).
#   The content is written back (`sync`) before the first run, so no run shares the disk
#   with its write-back, and one unmeasured libtorrent download comes first (see below).
# - peak RSS = `/usr/bin/time -f %M` of the leecher process (libtorrent's counts mmap'd pages);
#   CPU s = its user + system CPU seconds (%U + %S) over the whole run.
# - every run gets a fresh listen port (a seeder will not redial an ip:port it saw finish) and an
#   empty download dir on the same disk as the build (never tmpfs); the seed file is read once
#   first so the page cache is warm; runs are interleaved across clients to spread drift; each
#   result is compared with the source (cmp) before it counts.
# - Transmission never dials peers on 127.0.0.0/8 that it learns from a tracker, so for it the
#   seeder dials the leecher: the script appends `connect 127.0.0.1 PORT` to the seeder's control
#   file (tests/peers/lt_seed.py polls it) every 2 s until the download is complete.
# Prints a markdown table: median MiB/s, median time and median peak RSS over the runs.
# The three cases of the performance issue: (default), SEEDERS=2, LAYOUT=files20.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
size_mib=${1:-1024}
runs=${RUNS:-3}
run_timeout=${RUN_TIMEOUT:-$((90 + size_mib / 4))}
seeder_count=${SEEDERS:-1}
layout=${LAYOUT:-single}
case $layout in single | files20) ;; *) echo "bench-download: LAYOUT is single or files20" >&2; exit 1 ;; esac
python=/usr/bin/python3

die() { echo "bench-download: $*" >&2; exit 1; }
command -v opentracker >/dev/null || die "missing opentracker (apt-get install opentracker)"
[ -x /usr/bin/time ] || die "missing GNU time (apt-get install time)"
$python -c 'import libtorrent' 2>/dev/null || die "missing python3-libtorrent for $python"

# BITSWARM_BIN=/path/to/bitswarm benchmarks that binary instead of building this tree (A/B runs).
target=${CARGO_TARGET_DIR:-$root/target}
bin=${BITSWARM_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=$target/release/bitswarm
fi

clients=()
if "$bin" download --help >/dev/null 2>&1; then clients+=(bitswarm); else
  echo "note: $bin has no download command yet; benchmarking the others" >&2; fi
command -v aria2c >/dev/null && clients+=(aria2c)
command -v transmission-cli >/dev/null && clients+=(transmission)
clients+=(libtorrent)
command -v rqbit >/dev/null && clients+=(rqbit)
if [ -n "${CLIENTS:-}" ]; then
  wanted=()
  for c in "${clients[@]}"; do [[ " $CLIENTS " == *" $c "* ]] && wanted+=("$c"); done
  clients=("${wanted[@]}")
fi
[ ${#clients[@]} -gt 0 ] || die "no client to benchmark"

work=$(mktemp -d -p "$target" bench-download.XXXXXX)
chmod 755 "$work" # opentracker drops root to `nobody` and must still read the whitelist
mkdir -p "$work/seed" "$work/logs"

# Background processes this script started and has not reaped yet, stopped by PID on exit:
# the tracker, the seeder and the leecher run in progress (whose /usr/bin/time wrapper is
# stopped through its child: signalling the wrapper would not stop the program it measures).
tracker_pid="" seeder_pids=() leecher_pid=""
stop() {
  local pid=$1 child
  [ -n "$pid" ] || return 0
  for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill "$child" 2>/dev/null || true; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$leecher_pid"
  for pid in "${seeder_pids[@]}"; do stop "$pid"; done
  stop "$tracker_pid"
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" >&2 && return
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
# Seeders the tracker lists for the torrent (HTTP scrape, `complete` count).
seeders() {
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

echo "preparing a ${size_mib} MiB torrent ($layout) in $work" >&2
if [ "$layout" = single ]; then
  content=$work/seed/bench.bin
  head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$content"
else
  # 20 files, file i weighing i*i+7 (so 7 ... 368 parts), each cut at an odd byte count:
  # pieces span file boundaries everywhere.
  content=$work/seed/bench
  mkdir -p "$content"
  total=$((size_mib * 1024 * 1024)) weights=0
  for i in $(seq 0 19); do weights=$((weights + i * i + 7)); done
  left=$total
  for i in $(seq 0 19); do
    if [ "$i" -eq 19 ]; then len=$left; else len=$((total / weights * (i * i + 7) + 2 * i + 1)); fi
    head -c "$len" /dev/urandom >"$content/part-$(printf %02d "$i").bin"
    left=$((left - len))
  done
fi
tracker_port=$(free_port)
torrent=$work/bench.torrent
"$bin" create "$content" -o "$torrent" -t "http://127.0.0.1:$tracker_port/announce" \
  --piece-length 256KiB >/dev/null
info_hash=$("$bin" info "$torrent" --json | $python -c 'import json, sys; print(json.load(sys.stdin)["info_hash"])')
echo "$info_hash" >"$work/whitelist"
chmod 644 "$work/whitelist"

opentracker -i 127.0.0.1 -p "$tracker_port" -P "$tracker_port" -d / -w "$work/whitelist" \
  >"$work/logs/opentracker.log" 2>&1 &
tracker_pid=$!
wait_for 10 listening "$tracker_port" || die "opentracker did not start"

cat $(find "$content" -type f) >/dev/null # warm the page cache
sync # the content written back now, not during the first client's run
for k in $(seq 1 "$seeder_count"); do
  : >"$work/control-$k"
  $python "$root/tests/peers/lt_seed.py" "$torrent" "$work/seed" --control "$work/control-$k" \
    >"$work/logs/seed-$k.out" 2>"$work/logs/seed-$k.err" &
  seeder_pids+=($!)
  seeder_ready() { grep -q '^ready ' "$work/logs/seed-$k.out"; }
  wait_for 600 seeder_ready || die "seeder $k not ready: $(cat "$work/logs/seed-$k.err")"
done
has_seeders() { [ "$(seeders)" -ge "$seeder_count" ]; }
wait_for 30 has_seeders || die "the seeders never all showed up at the tracker"

# Runs client $1 once (run number $2); appends "client seconds rss_kib status" to results.
run_one() {
  local client=$1 n=$2 port dl log cmd start end status rss cpu cpu_user cpu_sys tpid child next_connect=0
  port=$(free_port)
  dl=$work/dl
  log=$work/logs/$client-$n
  rm -rf "$dl" "$work/tr-done"
  mkdir -p "$dl"
  case $client in
    bitswarm) cmd=("$bin" download "$torrent" -o "$dl" --port "$port" --quiet) ;;
    aria2c) cmd=(aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false
      --enable-peer-exchange=false --seed-time=0 --listen-port="$port" --summary-interval=0
      --console-log-level=warn -d "$dl" "$torrent") ;;
    libtorrent) cmd=($python "$root/tests/peers/lt_leech.py" "$torrent" "$dl" --port "$port"
      --timeout "$run_timeout") ;;
    transmission)
      rm -rf "$work/tr-config"
      mkdir -p "$work/tr-config"
      cat >"$work/tr-config/settings.json" <<EOF
{"bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1", "peer-port": $port,
 "peer-port-random-on-start": false, "port-forwarding-enabled": false, "dht-enabled": false,
 "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false, "encryption": 0,
 "rpc-enabled": false, "incomplete-dir-enabled": false, "rename-partial-files": false}
EOF
      printf '#!/bin/sh\ndate +%%s.%%N >%s\n' "$work/tr-done" >"$work/tr-finish.sh"
      chmod +x "$work/tr-finish.sh"
      cmd=(transmission-cli -g "$work/tr-config" -w "$dl" -p "$port" -et -M -D -U
        -f "$work/tr-finish.sh" "$torrent") ;;
    rqbit) cmd=(rqbit --disable-dht download -o "$dl" -e "$torrent") ;;
  esac
  start=$(now)
  /usr/bin/time -f "%U %S %M" -o "$log.rss" "${cmd[@]}" >"$log.out" 2>"$log.err" &
  tpid=$!
  leecher_pid=$tpid
  status=ok
  while :; do
    if [ "$client" = transmission ]; then
      if [ -s "$work/tr-done" ]; then end=$(cat "$work/tr-done"); break; fi
      if [ "$(date +%s)" -ge "$next_connect" ] && listening "$port"; then
        for k in $(seq 1 "$seeder_count"); do echo "connect 127.0.0.1 $port" >>"$work/control-$k"; done
        next_connect=$(($(date +%s) + 2))
      fi
    fi
    if ! kill -0 "$tpid" 2>/dev/null; then end=$(now); break; fi
    if awk -v s="$start" -v n="$(now)" -v t="$run_timeout" 'BEGIN { exit !(n - s > t) }'; then
      end=$(now); status=timeout; break
    fi
    sleep 0.05
  done
  for child in $(pgrep -P "$tpid" 2>/dev/null || true); do kill "$child" 2>/dev/null || true; done
  if ! wait "$tpid" && [ "$status" = ok ] && [ "$client" != transmission ]; then status=failed; fi
  leecher_pid=""
  if [ "$status" = ok ] && ! diff -rq "$content" "$dl/$(basename "$content")" >/dev/null; then
    status=corrupt
  fi
  read -r cpu_user cpu_sys rss < <(tail -n 1 "$log.rss" 2>/dev/null)
  [[ $rss =~ ^[0-9]+$ ]] || rss=0
  cpu=$(awk -v u="${cpu_user:-0}" -v s="${cpu_sys:-0}" 'BEGIN { printf "%.2f", u + s }')
  local line
  line="$client $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') $rss $status $cpu"
  echo "  $client run $n: ${line#* }" >&2
  [ "$n" = warm-up ] || echo "$line" >>"$work/results"
  [ "$status" = ok ] || echo "    log: $(tail -n 3 "$log.err" | tr '\n' ' ')" >&2
  rm -rf "$dl"
  if [ -n "${KEEP_LOGS:-}" ]; then cp "$log.err" "$KEEP_LOGS.$client.$n.err"; fi
}

: >"$work/results"
# The first download from a fresh seeder took 2x the time and 3x the leecher's CPU, whichever
# client it was (bitswarm 5.9 s then 2.1 s; libtorrent 6.9 s then 3.2 s), and the client
# listed first always got it. One unmeasured download takes it instead.
run_one libtorrent warm-up
for n in $(seq 1 "$runs"); do
  echo "round $n of $runs" >&2
  for client in "${clients[@]}"; do run_one "$client" "$n"; done
done

$python - "$work/results" "$size_mib" "$runs" "$seeder_count" "$layout" <<'EOF'
import statistics, sys
path, size_mib, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seeders, layout = int(sys.argv[4]), sys.argv[5]
rows = {}
for line in open(path):
    client, secs, rss, status, cpu = line.split()
    rows.setdefault(client, []).append((float(secs), int(rss), status, float(cpu)))
what = "single file" if layout == "single" else "in 20 files of uneven sizes"
source = "one libtorrent seeder" if seeders == 1 else f"{seeders} libtorrent seeders"
print(f"\n{size_mib} MiB {what}, 256 KiB pieces, {source} on 127.0.0.1, {runs} runs each\n")
print("| client | ok runs | median MiB/s | median time (s) | median peak RSS (MiB) | median CPU s | MiB/s per run |")
print("|---|---|---|---|---|---|---|")
for client, results in rows.items():
    ok = [r for r in results if r[2] == "ok"]
    per_run = ", ".join(f"{size_mib / s:.0f}" if st == "ok" else st for s, _, st, _ in results)
    if ok:
        secs = statistics.median(r[0] for r in ok)
        rss = statistics.median(r[1] for r in ok) / 1024
        cpu = statistics.median(r[3] for r in ok)
        print(f"| {client} | {len(ok)}/{len(results)} | {size_mib / secs:.1f} | {secs:.2f} | {rss:.0f} | {cpu:.2f} | {per_run} |")
    else:
        print(f"| {client} | 0/{len(results)} | - | - | - | - | {per_run} |")
EOF
