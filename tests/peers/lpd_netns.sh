#!/bin/sh
# Runs one seeder and one `bitswarm download --lpd` in the network namespace this script was
# started in (by `unshare -n`, from tests/interop_lpd.rs): its own loopback, multicast routed
# to it, so BEP 14 announces never leave the namespace. Exits with the download's status; 97
# when the namespace cannot be set up.
#
# Environment: BW (the bitswarm binary), SEEDER (`bitswarm` or `libtorrent`), TORRENT, CONTENT
# (the seeder's folder), LINK (what the download is given: the .torrent or a magnet), OUT,
# LOGS (a folder for the logs), PYTHON and LT_SEED (for the libtorrent seeder).
set -u
ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo || exit 97

case "$SEEDER" in
bitswarm)
    # No --lpd: the config file the test wrote says `lpd = true`.
    RUST_LOG=bitswarm_client::shell::lpd=debug timeout 120 "$BW" seed "$TORRENT" "$CONTENT" \
        >"$LOGS/seeder.out" 2>"$LOGS/seeder.err" &
    ;;
libtorrent)
    timeout 120 "$PYTHON" "$LT_SEED" "$TORRENT" "$CONTENT" --lsd \
        >"$LOGS/seeder.out" 2>"$LOGS/seeder.err" &
    ;;
*)
    echo "unknown seeder $SEEDER" >&2
    exit 2
    ;;
esac
SEEDER_PID=$!
# The seeder announces when it starts; the download when it starts. Either way round they meet,
# but a seeder that is up first is the common case.
i=0
while [ $i -lt 100 ]; do
    if [ "$SEEDER" = bitswarm ] || grep -q '^ready' "$LOGS/seeder.out"; then break; fi
    i=$((i + 1))
    sleep 0.1
done
sleep 0.5
RUST_LOG=bitswarm_client::shell::lpd=debug timeout 60 "$BW" download "$LINK" -o "$OUT" \
    --lpd --no-dht --json >"$LOGS/download.out" 2>"$LOGS/download.err"
status=$?
kill "$SEEDER_PID" 2>/dev/null
wait "$SEEDER_PID" 2>/dev/null
exit $status
