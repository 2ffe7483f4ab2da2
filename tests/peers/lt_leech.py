#!/usr/bin/python3
"""Downloads one torrent with libtorrent on 127.0.0.1, for bitswarm's benchmarks and interop tests.

Usage: lt_leech.py TORRENT_OR_MAGNET SAVE_PATH [--port N] [--timeout SECONDS] [--per-peer]

A `magnet:` link is fetched as libtorrent does: metadata over BEP 9 from the link's peers (`tr=`
trackers, `x.pe=` peers), then the content; it prints `metadata <seconds>` once the metadata
is in. Finds peers through the torrent's tracker only (no DHT, LSD, UPnP, NAT-PMP or uTP). When every
piece is verified (`status().is_finished`) it prints `elapsed <seconds since the torrent was
added>`, `first_byte <seconds from adding the torrent to the first payload byte>` (polled every
10 ms) and `downloaded <payload bytes>`, and exits 0 after a clean session shutdown (which sends
the tracker a `stopped` event, so the next benchmark run is not handed a dead peer). Exits 1 on
error or timeout.

With --per-peer it also prints `peer IP:PORT ID_PREFIX BYTES` for every peer it received blocks
from: the payload of those blocks, and the first 8 bytes of the peer's id (`?` for unprintable
ones; `-BW0100-` is bitswarm). A peer that dialled in has an ephemeral port, so the id prefix is
what names the client. The totals come from libtorrent's `block_finished_alert`, one per block
received, so they are exact and include peers that disconnected long before the end (which
`get_peer_info()` would no longer list: libtorrent drops its connections to seeds as soon as it
is finished itself). Off by default: an alert per 16 KiB block costs CPU a benchmark should not
pay.
Run with Debian's /usr/bin/python3: that is where python3-libtorrent is installed.
"""

import argparse
import sys
import time

import libtorrent as lt

from lt_common import LOOPBACK_ONLY

# libtorrent requests 16 KiB blocks (less only at the end of a piece).
BLOCK_SIZE = 16 * 1024


class PeerTotals:
    """Payload bytes received from each peer, from the block_finished alerts."""

    def __init__(self, ti):
        self.ti = ti
        # ip:port -> [bytes, peer id prefix]
        self.peers = {}

    def add(self, alert):
        offset = alert.block_index * BLOCK_SIZE
        length = min(BLOCK_SIZE, self.ti.piece_size(alert.piece_index) - offset)
        key = "%s:%d" % (alert.endpoint[0], alert.endpoint[1])
        entry = self.peers.setdefault(key, [0, id_prefix(alert.pid)])
        entry[0] += max(length, 0)

    def total(self):
        return sum(total for total, _ in self.peers.values())

    def lines(self):
        for key, (total, prefix) in sorted(self.peers.items()):
            yield "peer %s %s %d" % (key, prefix, total)


def id_prefix(pid):
    raw = pid.to_bytes()[:8]
    if not raw.strip(b"\0"):
        return "-"
    return "".join(chr(b) if 0x21 <= b < 0x7F else "?" for b in raw)


def add_magnet(session, args):
    """Adds a magnet link and waits (within the timeout) until its metadata is in. Returns the
    handle and the block alerts that came meanwhile (blocks can arrive as soon as the metadata
    does), for the per-peer totals."""
    try:
        params = lt.parse_magnet_uri(args.torrent)
    except RuntimeError as e:
        print("error: cannot parse magnet link:", e, file=sys.stderr)
        sys.exit(1)
    params.save_path = args.save_path
    handle = session.add_torrent(params)
    deadline = time.monotonic() + args.timeout
    early = []
    while not handle.status().has_metadata:
        for a in session.pop_alerts():
            if isinstance(a, lt.block_finished_alert):
                early.append(a)
            else:
                print("alert:", a.message(), file=sys.stderr, flush=True)
        if time.monotonic() > deadline:
            print("error: timed out waiting for the metadata", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.01)
    return handle, early


def main():
    parser = argparse.ArgumentParser(description="download one torrent on 127.0.0.1 with libtorrent")
    parser.add_argument("torrent")
    parser.add_argument("save_path")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: any free port)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this long")
    parser.add_argument("--per-peer", action="store_true", help="print the payload from each peer")
    args = parser.parse_args()

    alert_mask = lt.alert.category_t.error_notification
    if args.per_peer:
        alert_mask |= lt.alert.category_t.block_progress_notification
    session = lt.session(
        {
            **LOOPBACK_ONLY,
            "listen_interfaces": "127.0.0.1:%d" % args.port,
            "enable_dht": False,
            "alert_mask": alert_mask,
            # Alerts past this are dropped; one per block must never be.
            "alert_queue_size": 1000000 if args.per_peer else 2000,
        }
    )
    start = time.monotonic()
    early = []
    if args.torrent.startswith("magnet:"):
        handle, early = add_magnet(session, args)
        print("metadata %.3f" % (time.monotonic() - start), flush=True)
        ti = handle.torrent_file()
    else:
        try:
            ti = lt.torrent_info(args.torrent)
        except RuntimeError as e:
            print("error: cannot read torrent:", e, file=sys.stderr)
            sys.exit(1)
        handle = session.add_torrent({"ti": ti, "save_path": args.save_path})
    totals = PeerTotals(ti)
    for a in early:
        totals.add(a)

    def drain_alerts():
        for a in session.pop_alerts():
            if isinstance(a, lt.block_finished_alert):
                totals.add(a)
            else:
                print("alert:", a.message(), file=sys.stderr, flush=True)

    first_byte = None
    while True:
        status = handle.status()
        if first_byte is None and status.total_payload_download > 0:
            first_byte = time.monotonic() - start
        if status.is_finished:
            break
        drain_alerts()
        if time.monotonic() - start > args.timeout:
            s = handle.status()
            print("error: timed out at %.1f%%" % (s.progress * 100), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    print("elapsed %.3f" % elapsed, flush=True)
    print("first_byte %.3f" % (elapsed if first_byte is None else first_byte), flush=True)
    print("downloaded %d" % handle.status().total_payload_download, flush=True)
    if args.per_peer:
        # A block's alert comes when its write completes, which can be after its piece was
        # verified (libtorrent hashes blocks as they arrive): wait, briefly, for the last ones.
        deadline = time.monotonic() + 5.0
        drain_alerts()
        while totals.total() < ti.total_size() and time.monotonic() < deadline:
            time.sleep(0.01)
            drain_alerts()
        for line in totals.lines():
            print(line, flush=True)


if __name__ == "__main__":
    main()
