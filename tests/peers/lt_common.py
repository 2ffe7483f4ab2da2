"""What bitswarm's libtorrent helper scripts share: the settings of a session that talks only TCP
on 127.0.0.1, and logging to stderr.

Imported by lt_seed.py, lt_leech.py and lt_dht.py (their own directory is on Python's path when
they run).
"""

import sys

# No local discovery, no port mapping, no uTP. Every peer of a loopback swarm shares 127.0.0.1,
# and by default libtorrent keeps one connection per IP.
LOOPBACK_ONLY = {
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)
