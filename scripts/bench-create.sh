#!/usr/bin/env bash
# Benchmark: `bitswarm create` against `mktorrent -t 2` and `transmission-create` on the same
# 1 GiB file (page cache warm), 1 MiB pieces, each run 3+ times by hyperfine. Not a test.
# Usage: scripts/bench-create.sh [SIZE_MIB]   (needs: hyperfine mktorrent transmission-cli)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
for t in hyperfine mktorrent transmission-create; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install hyperfine mktorrent transmission-cli)"; exit 1; }
done
cargo build --release --quiet
bin=$PWD/target/release/bitswarm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/content.bin"
cat "$work/content.bin" > /dev/null  # warm the page cache
sync  # written back now, not during the first run
out=$work/out.torrent
hyperfine --warmup 1 --runs 5 --export-markdown "$work/table.md" \
  --prepare "rm -f $out" \
  -n "bitswarm create" "$bin create $work/content.bin -o $out -t http://127.0.0.1:6969/announce --piece-length 1MiB" \
  -n "mktorrent -t 2" "mktorrent -t 2 -l 20 -a http://127.0.0.1:6969/announce -o $out $work/content.bin" \
  -n "transmission-create" "transmission-create -s 1024 -t http://127.0.0.1:6969/announce -o $out $work/content.bin"
cat "$work/table.md"
