#!/usr/bin/python3
"""Downloads one torrent with libtorrent on 127.0.0.1, for bitswarm's download benchmark.

Usage: lt_leech.py TORRENT SAVE_PATH [--port N] [--timeout SECONDS]

Finds peers through the torrent's tracker only (no DHT, LSD, UPnP, NAT-PMP or uTP). When every
piece is verified (`status().is_finished`) it prints `elapsed <seconds since the torrent was
added>` and exits 0 after a clean session shutdown (which sends the tracker a `stopped` event,
so the next benchmark run is not handed a dead peer). Exits 1 on error or timeout.
Run with Debian's /usr/bin/python3: that is where python3-libtorrent is installed.
"""

import argparse
import sys
import time

import libtorrent as lt


def main():
    parser = argparse.ArgumentParser(description="download one torrent on 127.0.0.1 with libtorrent")
    parser.add_argument("torrent")
    parser.add_argument("save_path")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: any free port)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this long")
    args = parser.parse_args()

    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:%d" % args.port,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "allow_multiple_connections_per_ip": True,
            "alert_mask": lt.alert.category_t.error_notification,
        }
    )
    try:
        ti = lt.torrent_info(args.torrent)
    except RuntimeError as e:
        print("error: cannot read torrent:", e, file=sys.stderr)
        sys.exit(1)
    start = time.monotonic()
    handle = session.add_torrent({"ti": ti, "save_path": args.save_path})
    while not handle.status().is_finished:
        for a in session.pop_alerts():
            print("alert:", a.message(), file=sys.stderr, flush=True)
        if time.monotonic() - start > args.timeout:
            s = handle.status()
            print("error: timed out at %.1f%%" % (s.progress * 100), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    print("elapsed %.3f" % elapsed, flush=True)
    print("downloaded %d" % handle.status().total_payload_download, flush=True)


if __name__ == "__main__":
    main()
