#!/usr/bin/python3
"""Seeds one torrent with libtorrent on 127.0.0.1, for bitswarm's interop tests and benchmarks.

Usage: lt_seed.py TORRENT SAVE_PATH [--port N] [--upload-limit BYTES] [--control FILE] [--lsd]

The content must already be at SAVE_PATH/<name>; libtorrent checks every piece, then prints
`ready <port>` on stdout and seeds until it is killed. Anything that stops it from seeding
(unreadable torrent, missing or wrong content, listen failure) prints `error: ...` on stderr and
exits 1, so a test fails with a reason instead of waiting.

The control file lets a test or a script steer a running seeder without a socket of its own: the
seeder polls it and runs each new line once, in order:
  connect IP PORT      dial a leecher (Transmission never dials loopback peers it learns from a
                       tracker, so the seeder has to connect to it instead)
  upload-limit BYTES   change the upload rate limit (0 = unlimited)
Run with Debian's /usr/bin/python3: that is where python3-libtorrent is installed.
"""

import argparse
import sys
import time

import libtorrent as lt

from lt_common import LOOPBACK_ONLY, log


def session_settings(port, lsd=False):
    """A fast seeder that only talks TCP on 127.0.0.1 and finds peers through the tracker alone
    (and local peer discovery with `lsd`, for a test in a network namespace of its own)."""
    settings = lt.high_performance_seed()
    settings.update(
        {
            **LOOPBACK_ONLY,
            "enable_lsd": lsd,
            "listen_interfaces": "127.0.0.1:%d" % port,
            "enable_dht": False,
            # A `connect` sent before the leecher is ready fails; by default libtorrent would
            # then wait 60 s before dialing that peer again, and give up after 3 failures.
            "min_reconnect_time": 1,
            "max_failcount": 1000,
            "alert_mask": lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.tracker_notification,
        }
    )
    return settings


def apply_upload_limit(handle, limit):
    # libtorrent puts loopback and LAN peers in an unthrottled "local" peer class; a per-torrent
    # limit applies to every peer of the torrent whatever its class.
    handle.set_upload_limit(limit if limit > 0 else -1)


def run_control(path, offset, handle):
    """Runs the complete lines appended to the control file since `offset`; returns the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset
    end = data.rfind(b"\n")
    if end < 0:
        return offset
    for line in data[: end + 1].decode().splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "connect":
            handle.connect_peer((words[1], int(words[2])))
            log("control: connect", words[1], words[2])
        elif len(words) == 2 and words[0] == "upload-limit":
            apply_upload_limit(handle, int(words[1]))
            log("control: upload-limit", words[1])
        elif words:
            log("control: ignored", line)
    return offset + end + 1


def drain_alerts(session):
    """Logs errors and tracker replies; exits on fatal ones. True once the piece check is done."""
    checked = False
    for a in session.pop_alerts():
        if isinstance(a, (lt.listen_failed_alert, lt.torrent_error_alert, lt.file_error_alert)):
            log("error:", a.message())
            sys.exit(1)
        if isinstance(a, lt.torrent_checked_alert):
            checked = True
        elif a.category() & (lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification):
            log("alert:", a.message())
    return checked


def main():
    parser = argparse.ArgumentParser(description="seed one torrent on 127.0.0.1 with libtorrent")
    parser.add_argument("torrent")
    parser.add_argument("save_path")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: any free port)")
    parser.add_argument("--upload-limit", type=int, default=0, help="bytes/s, 0 = unlimited")
    parser.add_argument("--control", help="file of commands to poll (see the module docstring)")
    parser.add_argument("--check-timeout", type=float, default=300.0, help="seconds for the check")
    parser.add_argument("--lsd", action="store_true",
                        help="local service discovery (BEP 14) on: only in a network namespace")
    args = parser.parse_args()

    session = lt.session(session_settings(args.port, args.lsd))
    try:
        ti = lt.torrent_info(args.torrent)
    except RuntimeError as e:
        log("error: cannot read torrent:", e)
        sys.exit(1)
    handle = session.add_torrent({"ti": ti, "save_path": args.save_path})
    apply_upload_limit(handle, args.upload_limit)

    deadline = time.monotonic() + args.check_timeout
    while not drain_alerts(session):
        if time.monotonic() > deadline:
            log("error: piece check did not finish in %.0f s" % args.check_timeout)
            sys.exit(1)
        time.sleep(0.05)
    s = handle.status()
    if s.state != lt.torrent_status.seeding:
        log("error: content at %s is not complete (%.1f%% after the check, state %s)"
            % (args.save_path, s.progress * 100, s.state))
        sys.exit(1)
    port = session.listen_port()
    if port == 0:
        log("error: not listening")
        sys.exit(1)
    print("ready", port, flush=True)

    offset = 0
    while True:
        drain_alerts(session)
        if args.control:
            offset = run_control(args.control, offset, handle)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
