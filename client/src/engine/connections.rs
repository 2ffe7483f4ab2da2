//! Admitting, refusing and closing connections, and dialling candidates into free slots.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::wire::{ExtendedHandshake, Message, OUR_UT_METADATA_ID, OUR_UT_PEX_ID};

/// What our BEP 10 handshake says we are (`v`).
pub const CLIENT_NAME: &str = concat!("bitswarm ", env!("CARGO_PKG_VERSION"));

use super::{Action, DialError, Engine, Handshaken, Peer, PeerKey, Reason};

impl Engine {
    /// Learns addresses of peers (from a tracker, a magnet link, `--peer`).
    pub fn add_peers(&mut self, now: Duration, addrs: impl IntoIterator<Item = SocketAddr>) {
        self.swarm.learn(now, addrs);
        self.dial(now);
    }

    /// A dial we asked for failed before a handshake completed.
    pub fn dial_failed(&mut self, now: Duration, addr: SocketAddr, error: &DialError) {
        self.swarm.dial_failed(now, addr, error, &self.config);
        self.dial(now);
    }

    /// A connection finished its handshake: we dialled `hs.addr` (`hs.outgoing`) or it dialled
    /// us from there. Admits it, or answers with [`Action::Disconnect`].
    pub fn peer_connected(&mut self, now: Duration, key: PeerKey, hs: Handshaken) {
        let parole = match self.admit(now, &hs) {
            Ok(parole) => parole,
            Err(reason) => {
                self.swarm.refused(now, hs.addr, &reason);
                self.actions.push_back(Action::Disconnect(key, reason));
                self.dial(now);
                return;
            }
        };
        self.swarm.connected(hs.addr, hs.outgoing);
        let count = self.picker.geometry().piece_count();
        let parole = parole || self.blame.on_parole(&hs.addr);
        let heard = self.listening.clock(now);
        self.peers
            .insert(key, Peer::new(hs, count, parole, now, heard));
        // Our pieces first (BEP 3: the bitfield must be the first message after the handshake).
        let have = self.picker.have();
        let first = if hs.fast && have.is_full() {
            Some(Message::HaveAll)
        } else if hs.fast && have.count_ones() == 0 {
            Some(Message::HaveNone)
        } else if have.count_ones() > 0 {
            Some(Message::Bitfield(Bytes::copy_from_slice(have.as_bytes())))
        } else {
            // Without the fast extension an empty bitfield may simply be left out.
            None
        };
        if let Some(first) = first {
            self.send(now, key, first);
        }
        if hs.extended {
            // Our BEP 10 handshake: our extensions (BEP 9, BEP 11), the port we listen on, how
            // many requests we queue, the address it has, and our metadata's size.
            let metadata_size = self.metadata.as_ref().map(|m| m.len());
            let ours = ExtendedHandshake {
                extensions: [
                    ("ut_metadata".to_string(), OUR_UT_METADATA_ID),
                    ("ut_pex".to_string(), OUR_UT_PEX_ID),
                ]
                .into(),
                client: Some(CLIENT_NAME.to_string()),
                port: self.listen_port,
                reqq: u32::try_from(self.config.max_requests_in).ok(),
                your_ip: Some(hs.addr.ip()),
                metadata_size: metadata_size.and_then(|n| u32::try_from(n).ok()),
            };
            let payload = Bytes::from(ours.encode());
            self.send(now, key, Message::Extended { id: 0, payload });
        }
    }

    /// Decides whether a handshaken peer may join; `Ok(true)` admits it on parole.
    fn admit(&mut self, now: Duration, hs: &Handshaken) -> Result<bool, Reason> {
        let parole = self
            .swarm
            .admit(now, hs.addr, &hs.peer_id, hs.outgoing, &self.config)?;
        if self.peers.values().any(|p| p.peer_id == hs.peer_id) {
            return Err(Reason::Duplicate);
        }
        let c = &self.config;
        let incoming = self.peers.values().filter(|p| !p.outgoing).count();
        let full =
            self.peers.len() >= c.max_peers || (!hs.outgoing && incoming >= c.incoming_cap());
        if full && !self.evict_squatter(now, hs.outgoing) {
            return Err(Reason::TooManyPeers);
        }
        Ok(parole)
    }

    /// Closes the connection of a peer that holds a slot while useless, to make room for a
    /// newcomer (incoming only evicts incoming peers, so the outgoing share stays ours).
    /// False if nobody is squatting.
    pub(super) fn evict_squatter(&mut self, now: Duration, for_outgoing: bool) -> bool {
        let grace = self.config.squat_grace;
        let heard = self.listening.clock(now);
        let victim = self
            .peers
            .iter()
            .filter(|(_, p)| for_outgoing || !p.outgoing)
            .filter(|(_, p)| p.is_squatting(heard, grace))
            .min_by_key(|(_, p)| (!p.snubbed, p.useful_at()))
            .map(|(k, _)| *k);
        match victim {
            Some(key) => {
                self.disconnect(now, key, Reason::Squatting);
                true
            }
            None => false,
        }
    }

    /// A connection ended by itself (the peer closed it, IO failed, it broke the framing).
    pub fn peer_closed(&mut self, now: Duration, key: PeerKey, reason: Reason) {
        self.forget_peer(now, key, &reason);
        self.dial(now);
    }

    /// Closes a connection from our side.
    pub(super) fn disconnect(&mut self, now: Duration, key: PeerKey, reason: Reason) {
        if self.peers.contains_key(&key) {
            self.forget_peer(now, key, &reason);
            self.actions.push_back(Action::Disconnect(key, reason));
        }
    }

    /// Removes every trace of a peer: its requests go back to the picker, its slot to others.
    fn forget_peer(&mut self, now: Duration, key: PeerKey, reason: &Reason) {
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        for r in &peer.in_flight {
            self.picker.release(key, r.block);
        }
        self.picker.release_exclusive(key);
        self.picker.remove_availability(&peer.pieces);
        self.swarm
            .disconnected(now, peer.addr, peer.outgoing, reason, peer.delivered);
        self.refill_due = true;
        if !peer.up.choking {
            // Its upload slot goes to someone else at once.
            self.fill_slots(now);
        }
    }

    /// Dials candidates whose time has come, while there is room for more peers.
    pub(super) fn dial(&mut self, now: Duration) {
        if self.completed && !self.config.seeding {
            return;
        }
        let room = self
            .config
            .max_peers
            .saturating_sub(self.peers.len() + self.swarm.connecting());
        for addr in self.swarm.due(now, room, &self.config) {
            self.actions.push_back(Action::Connect(addr));
        }
    }

    /// When [`Engine::dial`] could next do something.
    pub(super) fn next_dial_at(&self, now: Duration) -> Option<Duration> {
        if self.completed && !self.config.seeding {
            return None;
        }
        let busy = self.peers.len() + self.swarm.connecting();
        if busy >= self.config.max_peers && !self.any_squatter(now) {
            return None;
        }
        self.swarm.next_dial_at(now, &self.config)
    }

    fn any_squatter(&self, now: Duration) -> bool {
        let grace = self.config.squat_grace;
        let heard = self.listening.clock(now);
        self.peers.values().any(|p| p.is_squatting(heard, grace))
    }
}
