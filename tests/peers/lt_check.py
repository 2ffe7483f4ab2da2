#!/usr/bin/python3
"""Times libtorrent's check of existing data, for bitswarm's recheck benchmark.

Usage: lt_check.py TORRENT SAVE_PATH

Adds the torrent paused over content already at SAVE_PATH/<name>, forces a recheck, and prints
`check <seconds> progress <fraction>` once libtorrent has finished checking (progress 1.000
means every piece verified). Exits 1 if the check does not finish within 600 s.
Run with Debian's /usr/bin/python3: that is where python3-libtorrent is installed.
"""

import sys
import time

import libtorrent as lt


def main():
    if len(sys.argv) != 3:
        print("usage: lt_check.py TORRENT SAVE_PATH", file=sys.stderr)
        sys.exit(2)
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
        }
    )
    ti = lt.torrent_info(sys.argv[1])
    start = time.monotonic()
    flags = lt.torrent_flags.paused | lt.torrent_flags.auto_managed
    handle = session.add_torrent({"ti": ti, "save_path": sys.argv[2], "flags": flags})
    handle.force_recheck()
    handle.resume()
    checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
    seen_checking = False
    while True:
        status = handle.status()
        if status.state in checking:
            seen_checking = True
        elif seen_checking or status.progress >= 0.999:
            break
        if time.monotonic() - start > 600:
            print("error: check did not finish", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    print("check %.3f progress %.3f" % (elapsed, handle.status().progress), flush=True)


if __name__ == "__main__":
    main()
