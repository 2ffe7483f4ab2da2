//! Running seeders: one per listening port, each with an accept loop, its connections and an
//! announce task, all owned by one task so that aborting it (a simulated host crash) ends
//! everything the seeder started.
//!
//! Time starts when [`serve`] is called: `join_at_ms` and `leave_at_ms` count from there.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::{Listener, Net};
use bitswarm_client::shell::limit::RateLimiter;
use bitswarm_client::wire::{max_frame_len, Decoder};
use bitswarm_client::{InfoHash, PeerId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio::time::{sleep, sleep_until, Instant};
use tracing::{debug, warn, Instrument};

use crate::announce::Announcing;
use crate::behaviour::{Behaviour, BehaviourError};
use crate::content::Content;
use crate::event::{EventKind, Events};
use crate::peer::{self, Fetch, Outcome, Served, Shared};
use crate::rejoin::{self, Book, Rejoins};

/// Connections one seeder serves at once; more are closed on arrival. Far above what a
/// scenario needs, it only bounds what a misbehaving client could make a seeder hold.
pub const MAX_CONNECTIONS: usize = 256;

/// After a failed `accept` (out of descriptors, say), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The peer id prefix of synthetic seeders (Azureus style), so traces and trackers can tell
/// them from bitswarm clients (`-BW`).
pub const PEER_ID_PREFIX: &[u8; 8] = b"-SD0100-";

/// The torrent a group of seeders serves.
#[derive(Debug)]
pub struct SeedSwarm {
    /// The generated content.
    pub content: Arc<Content>,
    /// Its info-hash (computed once: it needs every piece hashed).
    pub info_hash: InfoHash,
    /// Tracker tiers the seeders announce to; empty: they do not announce.
    pub trackers: Vec<Vec<String>>,
}

impl SeedSwarm {
    /// The swarm for `content`, announcing to `trackers`. Hashes the content if that has not
    /// happened yet.
    pub fn new(content: Arc<Content>, trackers: Vec<Vec<String>>) -> SeedSwarm {
        let info_hash = content.info_hash();
        SeedSwarm {
            content,
            info_hash,
            trackers,
        }
    }
}

/// One seeder's identity and script.
#[derive(Clone)]
pub struct Seeder {
    /// What it does.
    pub behaviour: Behaviour,
    /// The seed of all its randomness: peer id, pieces, lies, corruption, garbage.
    pub seed: u64,
    /// Its position in its group, for `pieces = "stripe"`.
    pub index: u32,
    /// The size of its group, for `pieces = "stripe"`.
    pub group: u32,
    /// Where its events go.
    pub events: Option<Events>,
}

/// A group of identical seeders on consecutive ports of one host, as a scenario's
/// `[[seeders]]` table writes it: `count` and `base_port` next to the [`Behaviour`] fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Spec {
    /// How many seeders (default 1).
    #[serde(default = "one")]
    pub count: usize,
    /// The first one listens here, the next on the port after, and so on.
    pub base_port: u16,
    /// What each of them does.
    #[serde(flatten)]
    pub behaviour: Behaviour,
}

fn one() -> usize {
    1
}

/// Why seeders cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{count} seeders from port {base_port} run past port 65535")]
    Ports { base_port: u16, count: usize },
}

/// Runs one seeder on `listen` until it leaves (never, without `leave_at_ms`). It binds
/// only at `join_at_ms`. Fails at once if the behaviour does not fit the torrent, and at the
/// join time if the port cannot be bound.
pub async fn serve<N: Net>(
    net: N,
    listen: SocketAddr,
    swarm: Arc<SeedSwarm>,
    seeder: Seeder,
) -> Result<(), ServeError> {
    let start = Instant::now();
    seeder
        .behaviour
        .validate(swarm.content.geometry().piece_count())?;
    sleep_until(start + seeder.behaviour.join_at()).await;
    let listener = net
        .listen(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    run(net, listener, swarm, seeder, start).await;
    Ok(())
}

/// [`serve`] on a listener the caller bound (for real sockets on port 0, whose address the
/// caller needs before the seeder runs). `join_at_ms` delays accepting, not binding.
pub async fn serve_bound<N: Net>(
    net: N,
    listener: N::Listener,
    swarm: Arc<SeedSwarm>,
    seeder: Seeder,
) -> Result<(), ServeError> {
    let start = Instant::now();
    seeder
        .behaviour
        .validate(swarm.content.geometry().piece_count())?;
    sleep_until(start + seeder.behaviour.join_at()).await;
    run(net, listener, swarm, seeder, start).await;
    Ok(())
}

/// Starts `spec.count` seeders on `0.0.0.0:base_port..` of the current host, each seeded from
/// `seed` in turn. Each returned task is one seeder; aborting it ends the seeder and all its
/// connections. A seeder that fails to bind logs a warning and ends.
pub fn spawn_many<N: Net>(
    net: N,
    content: Arc<Content>,
    spec: &Spec,
    trackers: &[Vec<String>],
    seed: u64,
    events: Option<Events>,
) -> Result<Vec<JoinHandle<()>>, ServeError> {
    let ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    spawn_many_at(net, ip, content, spec, trackers, seed, events)
}

/// [`spawn_many`] on the address `ip` (e.g. loopback in tests on real sockets).
pub fn spawn_many_at<N: Net>(
    net: N,
    ip: IpAddr,
    content: Arc<Content>,
    spec: &Spec,
    trackers: &[Vec<String>],
    seed: u64,
    events: Option<Events>,
) -> Result<Vec<JoinHandle<()>>, ServeError> {
    spec.behaviour.validate(content.geometry().piece_count())?;
    let ports_end = usize::from(spec.base_port).saturating_add(spec.count);
    if ports_end > usize::from(u16::MAX) + 1 {
        return Err(ServeError::Ports {
            base_port: spec.base_port,
            count: spec.count,
        });
    }
    let group = u32::try_from(spec.count).unwrap_or(u32::MAX);
    let swarm = Arc::new(SeedSwarm::new(content, trackers.to_vec()));
    let mut master = ChaCha8Rng::seed_from_u64(seed);
    let handles = (0..spec.count)
        .zip(spec.base_port..=u16::MAX)
        .zip(0u32..)
        .map(|((_, port), index)| {
            let seeder = Seeder {
                behaviour: spec.behaviour.clone(),
                seed: master.gen(),
                index,
                group,
                events: events.clone(),
            };
            let listen = SocketAddr::new(ip, port);
            let swarm = Arc::clone(&swarm);
            let net = net.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(net, listen, swarm, seeder).await {
                    warn!(port, error = %e, "seeder did not start");
                }
            })
        })
        .collect();
    Ok(handles)
}

/// The seeder proper: accept loop, connections, rejoins and announces until `leave_at_ms`.
async fn run<N: Net>(
    net: N,
    mut listener: N::Listener,
    swarm: Arc<SeedSwarm>,
    seeder: Seeder,
    start: Instant,
) {
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    let mut rng = ChaCha8Rng::seed_from_u64(seeder.seed);
    let shared = share(&swarm, seeder, local.port(), &mut rng);
    shared.emit(local, EventKind::Listening);
    let announcing = (!swarm.trackers.is_empty())
        .then(|| Announcing::spawn(net.clone(), &swarm, Arc::clone(&shared), local, rng.gen()));
    let leave_at = shared.behaviour.leave_at().map(|d| start + d);
    let mut conns = Conns {
        span: tracing::debug_span!("seeder", port = local.port()),
        rejoins: Rejoins::new(shared.behaviour.rejoin()),
        shared,
        rng,
        net,
        tasks: JoinSet::new(),
    };
    enum Step<T> {
        Leave,
        Reaped(Result<Outcome, JoinError>),
        Accepted(std::io::Result<T>),
    }
    loop {
        let far = Instant::now() + Duration::from_secs(86_400);
        let step = tokio::select! {
            biased;
            () = sleep_until(leave_at.unwrap_or(far)), if leave_at.is_some() => Step::Leave,
            Some(r) = conns.tasks.join_next(), if !conns.tasks.is_empty() => Step::Reaped(r),
            r = listener.accept() => Step::Accepted(r),
        };
        match step {
            Step::Leave => break,
            Step::Reaped(Ok(outcome)) => conns.reaped(outcome),
            Step::Reaped(Err(_)) => {}
            Step::Accepted(Ok((stream, addr))) => conns.accepted(stream, addr),
            Step::Accepted(Err(e)) => {
                debug!(error = %e, "accept failed");
                sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    conns.tasks.shutdown().await;
    conns.shared.emit(local, EventKind::Left);
    if let Some(announcing) = announcing {
        announcing.stop().await;
    }
}

/// What the connections of one seeder share, its peer id and piece plan drawn from `rng`
/// (in that order, so seeds keep their meaning).
fn share(swarm: &SeedSwarm, seeder: Seeder, port: u16, rng: &mut ChaCha8Rng) -> Arc<Shared> {
    let peer_id = fresh_peer_id(rng);
    let content = Arc::clone(&swarm.content);
    let piece_count = content.geometry().piece_count();
    let b = seeder.behaviour;
    let plan = b.piece_plan(piece_count, seeder.index, seeder.group, rng);
    let fetch = b.free_ride.then(|| Fetch::new(content.geometry()));
    let metadata = Served::scripted(&b, &content);
    // Drawn last and only when scripted, so other scripts' seeds keep their meaning.
    let corrupt_phase = b.corrupt_every.map_or(0, |every| rng.gen_range(0..every));
    Arc::new(Shared {
        info_hash: swarm.info_hash,
        corrupt_phase,
        served: AtomicU64::new(0),
        corrupt_pieces: b.corrupt_pieces.iter().copied().collect::<BTreeSet<_>>(),
        allowed_fast: b.allowed_fast.iter().copied().collect::<BTreeSet<_>>(),
        bucket: b.rate.map(RateLimiter::new),
        content,
        plan,
        peer_id,
        port,
        events: seeder.events,
        uploaded: AtomicU64::new(0),
        decoder: Decoder::new(max_frame_len(piece_count)),
        book: Book::new(!swarm.trackers.is_empty()),
        fetch,
        metadata,
        behaviour: b,
    })
}

/// A synthetic peer id: the seeders' prefix and 12 bytes from `rng`.
fn fresh_peer_id(rng: &mut ChaCha8Rng) -> PeerId {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(PEER_ID_PREFIX);
    rng.fill(&mut id[8..]);
    PeerId(id)
}

/// A seeder's connection tasks (accepted ones and rejoins) and what starting more needs.
struct Conns<N: Net> {
    /// One task per connection or pending rejoin; aborting them all is how the seeder leaves.
    tasks: JoinSet<Outcome>,
    shared: Arc<Shared>,
    /// Seeds of connections and the peer ids of rejoins, drawn in the order they start.
    rng: ChaCha8Rng,
    /// For the rejoins' dials.
    net: N,
    /// The rejoins left, if the seeder rejoins at all.
    rejoins: Option<Rejoins>,
    /// The seeder's span, parent of its connections' spans.
    span: tracing::Span,
}

impl<N: Net> Conns<N> {
    fn accepted(&mut self, stream: N::Stream, addr: SocketAddr) {
        if self.tasks.len() >= MAX_CONNECTIONS {
            debug!(peer = %addr, "too many connections");
            return;
        }
        let task = peer::accepted(stream, addr, Arc::clone(&self.shared), self.rng.gen());
        let span = tracing::debug_span!(parent: &self.span, "peer", peer = %addr);
        self.tasks.spawn(task.instrument(span));
    }

    /// A connection ended: a peer that hung up on a rejoining seeder gets it back, as a new
    /// peer, while the budget lasts.
    fn reaped(&mut self, outcome: Outcome) {
        if !outcome.rejoin {
            return;
        }
        let Some(delay) = self.rejoins.as_mut().and_then(Rejoins::take) else {
            return;
        };
        let peer_id = fresh_peer_id(&mut self.rng);
        let task = rejoin::attempt(
            self.net.clone(),
            outcome.peer,
            Arc::clone(&self.shared),
            delay,
            peer_id,
            self.rng.gen(),
        );
        let span = tracing::debug_span!(parent: &self.span, "rejoin", peer = %outcome.peer);
        self.tasks.spawn(task.instrument(span));
    }
}
