//! The local peer discovery task (BEP 14): one socket joined to the multicast group. Torrents
//! join with their info-hash, listen port and a channel; each is announced at once and then
//! every [`ANNOUNCE_EVERY`], and peers on the local network heard announcing a joined torrent
//! come back on its channel. Our own announces (multicast loops back) are known by our cookie.
//!
//! Every datagram is hostile until parsed ([`Announce::parse`]); a source IP gets at most
//! [`MAX_PER_MINUTE`] announces a minute heard, and at most [`MAX_JOINED`] torrents join.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, Instrument};

use crate::lpd::{Announce, MAX_HASHES, MAX_MESSAGE};
use crate::net::{Net, Udp};
use crate::InfoHash;

/// How often a joined torrent is announced again.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5 * 60);

/// Announces heard from one IP per minute, at most; more are ignored.
pub const MAX_PER_MINUTE: u32 = 30;

/// Torrents joined at once, at most.
pub const MAX_JOINED: usize = 1000;

/// Source IPs whose rates are tracked before the oldest minute's are forgotten.
const MAX_TRACKED: usize = 4096;

/// How to start local peer discovery.
#[derive(Debug, Clone, Copy)]
pub struct LpdSetup {
    /// The multicast group and port ([`crate::lpd::GROUP_V4`] in real runs).
    pub group: SocketAddr,
    pub seed: u64,
}

/// A torrent's way to the LPD task; cheap to clone. The task ends when every handle and every
/// joined torrent is gone.
#[derive(Debug, Clone)]
pub struct Lpd {
    commands: mpsc::UnboundedSender<Join>,
}

#[derive(Debug)]
struct Join {
    info_hash: InfoHash,
    port: u16,
    peers: mpsc::UnboundedSender<Vec<SocketAddr>>,
}

struct Joined {
    join: Join,
    next_at: Instant,
}

impl Lpd {
    /// Joins the group and starts the task.
    pub async fn start<N: Net>(net: N, setup: LpdSetup) -> std::io::Result<Lpd> {
        let udp = net.join_multicast(setup.group).await?;
        let mut rng = ChaCha8Rng::seed_from_u64(setup.seed);
        let cookie = format!("bw{:08x}", rng.gen::<u32>());
        let span = tracing::info_span!("lpd", group = %setup.group);
        span.in_scope(|| info!("local peer discovery on"));
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(udp, setup.group, cookie, rx).instrument(span));
        Ok(Lpd { commands })
    }

    /// Announces `info_hash` (peers reach us on `port`) until `peers` is closed; local peers
    /// announcing it arrive on `peers`. `false` if the task is gone.
    pub fn join(
        &self,
        info_hash: InfoHash,
        port: u16,
        peers: mpsc::UnboundedSender<Vec<SocketAddr>>,
    ) -> bool {
        let join = Join {
            info_hash,
            port,
            peers,
        };
        self.commands.send(join).is_ok()
    }
}

async fn run<U: Udp>(
    udp: U,
    group: SocketAddr,
    cookie: String,
    mut commands: mpsc::UnboundedReceiver<Join>,
) {
    let mut joined: Vec<Joined> = Vec::new();
    let mut rates: BTreeMap<IpAddr, (u64, u32)> = BTreeMap::new();
    let epoch = Instant::now();
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    // The handles may all be gone while torrents that joined still run: serve those.
    let mut handles = true;
    loop {
        joined.retain(|j| !j.join.peers.is_closed());
        if !handles && joined.is_empty() {
            return;
        }
        let next = joined.iter().map(|j| j.next_at).min();
        let due = tokio::time::sleep_until(next.unwrap_or_else(|| Instant::now() + ANNOUNCE_EVERY));
        tokio::select! {
            cmd = commands.recv(), if handles => match cmd {
                Some(join) if joined.len() < MAX_JOINED => {
                    joined.push(Joined { join, next_at: Instant::now() });
                }
                Some(_) => {}
                None => handles = false,
            },
            r = udp.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let minute = epoch.elapsed().as_secs() / 60;
                if within_rate(&mut rates, from.ip(), minute) {
                    heard(&buf[..n], from, &cookie, &joined);
                }
            }
            _ = due, if next.is_some() => announce_due(&udp, group, &cookie, &mut joined).await,
        }
    }
}

/// Whether one more announce from `ip` this `minute` is within [`MAX_PER_MINUTE`].
fn within_rate(rates: &mut BTreeMap<IpAddr, (u64, u32)>, ip: IpAddr, minute: u64) -> bool {
    if rates.len() >= MAX_TRACKED && !rates.contains_key(&ip) {
        rates.retain(|_, (m, _)| *m == minute);
        if rates.len() >= MAX_TRACKED {
            return false;
        }
    }
    let entry = rates.entry(ip).or_insert((minute, 0));
    if entry.0 != minute {
        *entry = (minute, 0);
    }
    entry.1 += 1;
    entry.1 <= MAX_PER_MINUTE
}

/// Hands the peer behind an announce to the joined torrents it names.
fn heard(bytes: &[u8], from: SocketAddr, cookie: &str, joined: &[Joined]) {
    let announce = match Announce::parse(bytes) {
        Ok(a) => a,
        Err(e) => {
            debug!(%from, error = %e, "lpd datagram ignored");
            return;
        }
    };
    if announce.cookie.as_deref() == Some(cookie) {
        return;
    }
    let peer = SocketAddr::new(from.ip(), announce.port);
    for j in joined {
        if announce.info_hashes.contains(&j.join.info_hash) {
            debug!(%peer, info_hash = %j.join.info_hash.to_hex(), "local peer announced");
            let _ = j.join.peers.send(vec![peer]);
        }
    }
}

/// Announces the torrents that are due, those sharing a port together (up to
/// [`MAX_HASHES`] per datagram), and schedules their next announce.
async fn announce_due<U: Udp>(udp: &U, group: SocketAddr, cookie: &str, joined: &mut [Joined]) {
    let now = Instant::now();
    let mut by_port: BTreeMap<u16, Vec<InfoHash>> = BTreeMap::new();
    for j in joined.iter_mut().filter(|j| j.next_at <= now) {
        j.next_at = now + ANNOUNCE_EVERY;
        let hashes = by_port.entry(j.join.port).or_default();
        if !hashes.contains(&j.join.info_hash) {
            hashes.push(j.join.info_hash);
        }
    }
    for (port, hashes) in by_port {
        for chunk in hashes.chunks(MAX_HASHES) {
            let announce = Announce {
                port,
                info_hashes: chunk.to_vec(),
                cookie: Some(cookie.to_string()),
            };
            let Some(datagram) = announce.encode(group) else {
                continue;
            };
            match udp.send_to(&datagram, group).await {
                Ok(_) => debug!(port, torrents = chunk.len(), "lpd announce sent"),
                Err(e) => debug!(error = %e, "lpd announce not sent"),
            }
        }
    }
}
