#!/usr/bin/env bash
# All of the performance issue's targets in one table: runs the other benchmark scripts (and a
# recheck comparison of its own), then prints one markdown table, with the ratio each target is
# judged by. Not a test: about 25 minutes with RUNS=3 at 1024 MiB on a 2-core machine.
#
# Usage: scripts/bench.sh [SIZE_MIB]   (default 1024; RUNS=3; CLIENTS and SEEDERS_TO_BENCH
#        limit the download and upload rows as CLIENTS and SEEDERS do in bench-download.sh and
#        bench-seed.sh). rqbit is included when installed: `cargo install rqbit` (~12 minutes).
# Needs what the scripts it runs need: opentracker, python3-libtorrent, GNU time, hyperfine,
# mktorrent, transmission-cli and -daemon, aria2.
#
# Rows:
# 1. download: one seeder, two seeders, 20 files of uneven sizes (bench-download.sh); the ratio
#    is to the libtorrent leecher of the same run; peak RSS of the downloader.
# 2. upload: bench-seed.sh; the ratio is to the libtorrent seeder (transfer MiB/s in brackets),
#    then the seeder's CPU seconds spent on the upload.
# 3. recheck: the start-up check of a complete SIZE_MIB file without a resume file: `bitswarm
#    download` (it finds every piece and exits) against libtorrent's force_recheck
#    (tests/peers/lt_check.py); GiB/s; the ratio is libtorrent's time over bitswarm's.
# 4. many peers: bench-many-peers.sh (SIZE_MIB/4 from 1 and 200 synthetic seeders); client CPU
#    per MiB; the ratio is 200 seeders over 1.
# 5. many pieces: the simulator's wall time for 10k, 25k and 100k pieces (bench-sim.sh); the
#    ratio is wall time per piece against the 10k case (1.0 = linear).
# 6. create: bench-create.sh; the ratio is mktorrent -t 2's time over bitswarm's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
size_mib=${1:-1024}
export RUNS=${RUNS:-3}
python=/usr/bin/python3
# Every tool the steps need, checked before the first of the ~25 minutes of runs.
missing=()
for t in opentracker /usr/bin/time hyperfine mktorrent transmission-create transmission-cli \
  transmission-daemon aria2c bc; do
  command -v "$t" >/dev/null || missing+=("$t")
done
$python -c 'import libtorrent' 2>/dev/null || missing+=(python3-libtorrent)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: missing ${missing[*]} (apt-get install opentracker time hyperfine mktorrent" \
    "transmission-cli transmission-daemon aria2 bc python3-libtorrent)" >&2
  exit 1
fi
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet
bin=$target/release/bitswarm
out=$(mktemp -d -p "$target" bench-all.XXXXXX)
trap 'rm -rf "$out"' EXIT

step() { echo "== $*" >&2; }
step "download, one seeder"
CLIENTS=${CLIENTS:-} scripts/bench-download.sh "$size_mib" >"$out/download-1.md"
step "download, two seeders"
SEEDERS=2 CLIENTS=${CLIENTS:-} scripts/bench-download.sh "$size_mib" >"$out/download-2.md"
step "download, 20 files"
LAYOUT=files20 CLIENTS=${CLIENTS:-} scripts/bench-download.sh "$size_mib" >"$out/download-20.md"
step "upload"
SEEDERS=${SEEDERS_TO_BENCH:-} scripts/bench-seed.sh "$size_mib" >"$out/seed.md"

step "recheck"
mkdir -p "$out/check"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$out/check/check.bin"
"$bin" create "$out/check/check.bin" -o "$out/check.torrent" --piece-length 256KiB >/dev/null
: >"$out/recheck.txt"
for _ in $(seq "$RUNS"); do
  rm -rf "$out/check/.bitswarm"
  cat "$out/check/check.bin" >/dev/null
  start=$(date +%s.%N)
  "$bin" download "$out/check.torrent" -o "$out/check" --quiet --json >"$out/check.json"
  end=$(date +%s.%N)
  grep -q '"complete":true' "$out/check.json" || { echo "bench: bitswarm's check missed pieces" >&2; exit 1; }
  echo "bitswarm $(echo "$end - $start" | bc -l)" >>"$out/recheck.txt"
  cat "$out/check/check.bin" >/dev/null
  line=$($python tests/peers/lt_check.py "$out/check.torrent" "$out/check")
  [[ $line == *"progress 1.000" ]] || { echo "bench: libtorrent's check: $line" >&2; exit 1; }
  echo "libtorrent $(echo "$line" | awk '{ print $2 }')" >>"$out/recheck.txt"
done
rm -rf "$out/check"

step "many peers"
scripts/bench-many-peers.sh "$((size_mib / 4))" 200 >"$out/many.md"
step "many pieces (simulator)"
scripts/bench-sim.sh >"$out/sim.md"
step "create"
scripts/bench-create.sh "$size_mib" >"$out/create.md"

$python - "$out" "$size_mib" "$RUNS" <<'PY'
import os, statistics, sys
out, size_mib, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def rows(name):
    """The body rows of the markdown table(s) in a file, as lists of stripped cells."""
    found = []
    for line in open(os.path.join(out, name)):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(line.strip()) <= set("|-: ") and cells:
            found.append(cells)
    return found[1:] if found else []  # drop the header row

def num(text):
    try:
        return float(text.split()[0].strip("`"))
    except (ValueError, IndexError):
        return None

table = []
for case, name in (("one seeder", "download-1.md"), ("two seeders", "download-2.md"),
                   ("20 files", "download-20.md")):
    body = [r for r in rows(name) if len(r) >= 5]
    base = next((num(r[2]) for r in body if r[0] == "libtorrent"), None)
    for r in body:
        speed, rss = num(r[2]), r[4]
        ratio = f"{speed / base:.2f}x" if speed and base else "-"
        table.append(("1 download", case, r[0], f"{r[2]} MiB/s", ratio, rss))
body = [r for r in rows("seed.md") if len(r) >= 5]
base = next((r for r in body if r[0] == "libtorrent"), None)
for r in body:
    speed, transfer = num(r[1]), num(r[2])
    ratio = "-"
    if base and speed and num(base[1]):
        ratio = f"{speed / num(base[1]):.2f}x ({transfer / num(base[2]):.2f}x)"
    cpu = f", {r[5]} CPU s" if len(r) >= 7 else ""
    table.append(("2 upload", "seed to a libtorrent leecher", r[0], f"{r[1]} MiB/s ({r[2]}){cpu}", ratio, r[4]))
times = {}
for line in open(os.path.join(out, "recheck.txt")):
    who, secs = line.split()
    times.setdefault(who, []).append(float(secs))
med = {who: statistics.median(t) for who, t in times.items()}
for who in ("bitswarm", "libtorrent"):
    gib = size_mib / 1024 / med[who]
    ratio = f"{med['libtorrent'] / med['bitswarm']:.2f}x" if who == "bitswarm" else "1.00x"
    table.append(("3 recheck", f"{size_mib} MiB, no resume file", who, f"{gib:.2f} GiB/s ({med[who]:.2f} s)", ratio, "-"))
for r in rows("many.md"):
    if len(r) >= 5:
        table.append(("4 many peers", f"{r[0]} synthetic seeders", "bitswarm", f"{r[2]} ms CPU per MiB ({r[1]} MiB/s)", r[3], r[4]))
sim = {r[0]: num(r[3]) for r in rows("sim.md") if len(r) >= 6}
pieces = {"pieces10k-16kib": 10_000, "pieces25k-16kib": 25_000, "pieces100k-16kib": 100_000}
base = sim.get("pieces10k-16kib")
for name, wall in sim.items():
    if name in pieces and wall:
        per = f"{(wall / pieces[name]) / (base / 10_000):.2f}x" if base else "-"
        table.append(("5 many pieces", f"{pieces[name]} pieces of 16 KiB (simulator)", "bitswarm", f"{wall:.2f} s wall", per, "-"))
create = {r[0].strip("`"): num(r[1]) for r in rows("create.md") if len(r) >= 5}
mk = create.get("mktorrent -t 2")
for who, ms in create.items():
    ratio = f"{mk / ms:.2f}x" if mk and ms and who == "bitswarm create" else "-"
    table.append(("6 create", f"{size_mib} MiB, 1 MiB pieces", who, f"{ms:.0f} ms", ratio, "-"))

print(f"\nbitswarm's performance targets, {size_mib} MiB, medians of {runs} runs on 127.0.0.1\n")
print("| target | case | program | result | ratio | peak RSS (MiB) |")
print("|---|---|---|---|---|---|")
for row in table:
    print("| " + " | ".join(str(c) for c in row) + " |")
PY
