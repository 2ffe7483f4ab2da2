#!/usr/bin/python3
"""A small libtorrent DHT on 127.0.0.1 (or ::1) with one torrent seeded in it, for bitswarm's DHT
interop.

Usage: lt_dht.py TORRENT SAVE_PATH [--nodes N] [--timeout SECONDS] [--ipv6]

Starts a hub session (DHT only, no torrents, no bootstrap nodes), N more DHT-only sessions, and
a seeder session with the torrent. libtorrent never puts its bootstrap routers in its routing
table, and learns nodes that query it only slowly, so every session is also handed every other
one with `add_dht_node`: the tables are full within a second. Every session shares 127.0.0.1
(or ::1 with `--ipv6`, an IPv6 DHT as BEP 32 has it),
so libtorrent's per-IP DHT restrictions are off. Once the seeder has checked its data and announced to the DHT it
prints `ready <hub port> <seeder port>` and seeds until killed; on failure it prints `error: ...`
and exits 1.
Run with Debian's /usr/bin/python3: that is where python3-libtorrent is installed.
"""

import argparse
import sys
import time

import libtorrent as lt

from lt_common import LOOPBACK_ONLY, log


def session(bootstrap, host):
    return lt.session(
        {
            **LOOPBACK_ONLY,
            "listen_interfaces": "%s:0" % host,
            "enable_dht": True,
            "dht_bootstrap_nodes": bootstrap,
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "alert_mask": lt.alert.category_t.error_notification,
        }
    )


def wait(what, deadline, check):
    while not check():
        if time.monotonic() > deadline:
            log("error: timed out waiting for", what)
            sys.exit(1)
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description="seed a torrent in a small loopback libtorrent DHT")
    parser.add_argument("torrent")
    parser.add_argument("save_path")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--ipv6", action="store_true", help="on ::1 instead of 127.0.0.1")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    ip = "::1" if args.ipv6 else "127.0.0.1"
    host = "[::1]" if args.ipv6 else ip

    hub = session("", host)
    wait("the hub to listen", deadline, lambda: hub.listen_port() != 0)
    router = "%s:%d" % (host, hub.listen_port())
    nodes = [session(router, host) for _ in range(args.nodes)]
    seeder = session(router, host)
    try:
        ti = lt.torrent_info(args.torrent)
    except RuntimeError as e:
        log("error: cannot read torrent:", e)
        sys.exit(1)
    handle = seeder.add_torrent({"ti": ti, "save_path": args.save_path})
    wait("the seeder's check", deadline, lambda: handle.status().state == lt.torrent_status.seeding)
    sessions = [hub, seeder] + nodes
    wait("every session to listen", deadline, lambda: all(s.listen_port() for s in sessions))
    for s in sessions:
        for other in sessions:
            if other is not s:
                s.add_dht_node((ip, other.listen_port()))
    time.sleep(1.0)
    handle.force_dht_announce()
    # The announce is a lookup then announce_peer messages: give it a moment on loopback.
    time.sleep(2.0)
    print("ready", hub.listen_port(), seeder.listen_port(), flush=True)
    while True:
        for s in sessions:
            for a in s.pop_alerts():
                log("alert:", a.message())
        time.sleep(0.2)


if __name__ == "__main__":
    main()
