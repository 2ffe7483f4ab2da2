//! Before a magnet link can be downloaded: find peers (the link's trackers and `x.pe` peers,
//! and whoever connects to us), and fetch the info dictionary from them with BEP 9, driving the
//! sans-IO [`Fetch`] over real or simulated connections.
//!
//! The phase ends with a verified [`Metainfo`] and closes every connection it made; the
//! download then starts as for a `.torrent` file (its peers are found again, quickly, since
//! the trackers and the link give the same ones).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::engine::{PeerKey, CLIENT_NAME};
use crate::magnet::Magnet;
use crate::metadata::{Action, Fault, Fetch};
use crate::metainfo::Metainfo;
use crate::net::{Listener, Net};
use crate::tracker::client::{Announcer, Config as TrackerConfig};
use crate::wire::{max_frame_len, Decoder, ExtendedHandshake, Message, MetadataMessage};
use crate::wire::{MAX_METADATA_PIECES, MAX_METADATA_SIZE, OUR_UT_METADATA_ID};
use crate::PeerId;

use super::announce::{self, Command, Counters};
use super::observe::{Trace, Watch};
use super::{conn, dial, listen, Event, Options};
use crate::engine::own::OwnAddrs;

/// Connections open at once while fetching metadata: a few are enough to spread the pieces,
/// more only help when many peers do not offer metadata.
const MAX_CONNECTIONS: usize = 30;

/// Dials in flight at once.
const MAX_DIALS: usize = 8;

/// How often the loop wakes with nothing to do, to dial peers that arrived meanwhile.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// The `left` we announce before we know the torrent's size: not zero, which trackers read as
/// "a seed" and answer with no seeds.
const LEFT_UNKNOWN: u64 = MAX_METADATA_PIECES as u64 * 16 * 1024;

/// Why the metadata could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum MagnetError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted before the metadata arrived")]
    Interrupted,
    /// The info dictionary's hash is right but it is not a usable torrent.
    #[error("the metadata has the right hash but is not a valid torrent: {0}")]
    Invalid(crate::metainfo::Error),
}

/// The fetched torrent: parsed, and as `.torrent` bytes (for `info --save`).
pub struct Fetched {
    pub meta: Metainfo,
    pub torrent: Vec<u8>,
    /// Every peer address the phase learned (trackers, DHT, LPD, `x.pe`, `--peer`s): the
    /// download that follows starts with them instead of finding them again.
    pub peers: Vec<SocketAddr>,
}

/// Fetches the info dictionary of `magnet` from peers, until it verifies or `shutdown`.
pub async fn fetch_metadata<N: Net>(
    net: N,
    magnet: &Magnet,
    opts: &Options,
    shutdown: impl Future<Output = ()>,
) -> Result<Fetched, MagnetError> {
    let span = tracing::info_span!("metadata", info_hash = %magnet.info_hash);
    async move {
        let mut phase = Phase::start(net, magnet, opts).await?;
        let info = phase.run(shutdown).await;
        let peers = phase.tried.iter().copied().collect();
        phase.finish().await;
        let info = info.ok_or(MagnetError::Interrupted)?;
        let (meta, torrent) =
            Metainfo::from_info(&info, &magnet.trackers).map_err(MagnetError::Invalid)?;
        info!(name = %meta.info.name, bytes = info.len(), "metadata verified");
        Ok(Fetched {
            meta,
            torrent,
            peers,
        })
    }
    .instrument(span)
    .await
}

/// The metadata phase's state: the fetch, the connections, the peers still to try.
struct Phase<N: Net> {
    net: N,
    fetch: Fetch,
    ctx: conn::Context,
    events: mpsc::Receiver<Event>,
    links: BTreeMap<PeerKey, (SocketAddr, conn::Link)>,
    /// Whose extended handshake we read already (only the first counts).
    greeted: BTreeSet<PeerKey>,
    /// Addresses to dial, in arrival order; `tried` holds every address ever queued.
    queue: std::collections::VecDeque<SocketAddr>,
    tried: BTreeSet<SocketAddr>,
    /// Where we listen: never dialled.
    own: OwnAddrs,
    dialing: usize,
    tracker_peers: mpsc::UnboundedReceiver<Vec<SocketAddr>>,
    watch: Watch,
    announce: (mpsc::UnboundedSender<Command>, tokio::task::JoinHandle<()>),
    /// Kept so the announce task always reads the same counters.
    _counters: watch::Sender<Counters>,
    listen_task: tokio::task::JoinHandle<()>,
    epoch: Instant,
}

impl<N: Net> Phase<N> {
    async fn start(net: N, magnet: &Magnet, opts: &Options) -> Result<Self, MagnetError> {
        // A stream of its own, so the download that follows has a different peer id.
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x6d61_676e_6574);
        let our_id = PeerId::ours(rng.gen());
        let (events_tx, events) = mpsc::channel(256);
        let piece_count = MAX_METADATA_SIZE / 20;
        let ctx = conn::Context {
            info_hash: magnet.info_hash,
            our_id,
            decoder: Decoder::new(max_frame_len(piece_count)),
            events: events_tx,
            next_key: Arc::new(AtomicU64::new(1)),
            limit: None,
            up_limit: None,
        };
        let listener = super::bind(&net, opts.listen)
            .await
            .map_err(|(addr, source)| MagnetError::Listen { addr, source })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let own = OwnAddrs::new(SocketAddr::new(opts.listen.ip(), port), net.local_ips());
        let listen_task = listen::spawn::<N>(listener, ctx.clone());
        let (tracker_tx, tracker_peers) = mpsc::unbounded_channel();
        let tracker_tx_dht = tracker_tx.clone();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (counters_tx, counters) = watch::channel(Counters {
            left: LEFT_UNKNOWN,
            ..Counters::default()
        });
        let tiers = magnet.trackers.iter().map(|t| vec![t.clone()]).collect();
        let announcer = Announcer::new(
            net.clone(),
            tiers,
            ChaCha8Rng::seed_from_u64(rng.gen()),
            TrackerConfig::default(),
        );
        let task = announce::spawn(announce::Setup {
            announcer,
            info_hash: magnet.info_hash,
            peer_id: our_id,
            port,
            counters,
            commands: commands_rx,
            peers: tracker_tx,
            started_complete: false,
            // The download that follows announces `started` again: its announces are the
            // ones an observer checks for order.
            watch: Watch::default(),
        });
        let mut phase = Phase {
            net,
            fetch: Fetch::new(magnet.info_hash),
            ctx,
            events,
            links: BTreeMap::new(),
            greeted: BTreeSet::new(),
            queue: Default::default(),
            tried: BTreeSet::new(),
            own,
            dialing: 0,
            tracker_peers,
            watch: opts.watch.clone(),
            announce: (commands, task),
            _counters: counters_tx,
            listen_task,
            epoch: Instant::now(),
        };
        phase.add_peers(magnet.peers.iter().chain(&opts.peers).copied());
        if let Some(lpd) = &opts.lpd {
            lpd.join(magnet.info_hash, port, tracker_tx_dht.clone());
        }
        if let Some(dht) = &opts.dht {
            super::dht_lookups(dht, magnet.info_hash, None, tracker_tx_dht);
        }
        info!(port, "fetching metadata");
        Ok(phase)
    }

    /// Runs until the metadata verifies (its bytes) or `shutdown` (`None`).
    async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Option<Bytes> {
        tokio::pin!(shutdown);
        loop {
            self.dial_more();
            self.perform();
            if let Some(info) = self.fetch.done() {
                let bytes = info.len();
                self.watch.record(Trace::MetadataVerified { bytes });
                return Some(info.clone());
            }
            let now = self.epoch.elapsed();
            let wake = self
                .fetch
                .next_deadline()
                .map_or(IDLE_TICK, |at| at.saturating_sub(now).min(IDLE_TICK));
            tokio::select! {
                _ = &mut shutdown => return None,
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => return None,
                },
                peers = self.tracker_peers.recv() => {
                    if let Some(peers) = peers {
                        self.add_peers(peers);
                    }
                }
                _ = tokio::time::sleep(wake) => self.fetch.tick(self.epoch.elapsed()),
            }
        }
    }

    /// Closes every connection, stops listening, and tells the trackers we left (bounded).
    async fn finish(self) {
        self.listen_task.abort();
        drop(self.links);
        let (commands, task) = self.announce;
        let _ = commands.send(Command::Stop);
        let _ = task.await;
    }

    fn add_peers(&mut self, peers: impl IntoIterator<Item = SocketAddr>) {
        for addr in peers {
            if self.own.is_us(addr) {
                continue;
            }
            if self.tried.len() < 10_000 && self.tried.insert(addr) {
                self.queue.push_back(addr);
            }
        }
    }

    fn dial_more(&mut self) {
        while self.dialing < MAX_DIALS && self.links.len() + self.dialing < MAX_CONNECTIONS {
            let Some(addr) = self.queue.pop_front() else {
                return;
            };
            self.dialing += 1;
            dial::spawn(self.net.clone(), addr, self.ctx.clone());
        }
    }

    fn on_event(&mut self, event: Event) {
        let now = self.epoch.elapsed();
        match event {
            Event::Connected { key, hs, link } => {
                if hs.outgoing {
                    self.dialing = self.dialing.saturating_sub(1);
                }
                if !hs.extended || self.links.len() >= MAX_CONNECTIONS {
                    // Without BEP 10 it cannot give us metadata; dropping the link closes it.
                    return;
                }
                if hs.fast {
                    let _ = link.send(Message::HaveNone);
                }
                let ours = ExtendedHandshake {
                    extensions: [("ut_metadata".to_string(), OUR_UT_METADATA_ID)].into(),
                    client: Some(CLIENT_NAME.to_string()),
                    your_ip: Some(hs.addr.ip()),
                    ..ExtendedHandshake::default()
                };
                let payload = Bytes::from(ours.encode());
                let _ = link.send(Message::Extended { id: 0, payload });
                self.links.insert(key, (hs.addr, link));
            }
            Event::DialFailed { .. } => self.dialing = self.dialing.saturating_sub(1),
            Event::Message { key, msg } => self.on_message(now, key, msg),
            Event::Uploaded { .. } => {}
            Event::Closed { key, reason } => {
                debug!(?key, %reason, "peer left");
                self.links.remove(&key);
                self.fetch.peer_left(now, key);
            }
        }
    }

    fn on_message(&mut self, now: Duration, key: PeerKey, msg: Message) {
        let Message::Extended { id, payload } = msg else {
            // Bitfields, haves, chokes: nothing we need before we know the torrent.
            return;
        };
        if id == 0 {
            if self.greeted.insert(key) {
                match ExtendedHandshake::parse(&payload) {
                    Ok(hs) => self.fetch.peer_joined(now, key, &hs),
                    Err(e) => debug!(?key, error = %e, "unreadable extended handshake"),
                }
            }
        } else if id == OUR_UT_METADATA_ID {
            match MetadataMessage::parse(&payload) {
                Ok(m) => self.fetch.message(now, key, m),
                Err(e) => self.fetch.fault(now, key, Fault::Malformed(e)),
            }
        }
    }

    /// Carries out what the fetch decided.
    fn perform(&mut self) {
        while let Some(action) = self.fetch.next_action() {
            match action {
                Action::Send { key, ext_id, msg } => {
                    if let Some((_, link)) = self.links.get(&key) {
                        let payload = msg.encode();
                        let _ = link.send(Message::Extended {
                            id: ext_id,
                            payload,
                        });
                    }
                }
                Action::Drop { key, fault } => {
                    if let Some((peer, _)) = self.links.remove(&key) {
                        warn!(%peer, %fault, "dropped while fetching metadata");
                        self.watch.record(Trace::MetadataDropped {
                            peer,
                            fault: &fault,
                        });
                    }
                }
            }
        }
    }
}
