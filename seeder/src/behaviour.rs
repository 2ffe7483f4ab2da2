//! What a synthetic seeder does besides serving honestly: rate limits, missing pieces, choking
//! games, corruption, dropped and stalled connections, lies, protocol garbage, join and leave
//! times. Every behaviour is one flat, optional field, so a scenario file can combine them:
//!
//! ```toml
//! [[seeders]]
//! count = 3
//! base_port = 6881
//! rate = "512K"          # bytes per second, shared by the seeder's connections
//! pieces = 0.5           # has half the pieces (or a list, "stripe", "all")
//! corrupt_rate = 0.1     # one block in ten has a flipped byte
//! leave_at_ms = 30000    # stops serving 30 s after it was started
//! ```
//!
//! Durations are integer **milliseconds**, in fields ending in `_ms`. Fractions and rates are
//! probabilities in `0..=1`. Randomness (which pieces, which blocks) comes from the seeder's
//! seed, so a scenario replays exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use bitswarm_client::Bitfield;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// Rejoin attempts a `rejoin_after_ms` seeder makes without a `rejoin_max`: enough to show a
/// ban being dodged more than once, few enough that a scenario ends.
pub const DEFAULT_REJOIN_MAX: u32 = 3;

/// One seeder's script. `Behaviour::default()` is an honest, fast, full seeder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// `rate`: upload cap in bytes per second for the whole seeder (all its connections share
    /// one token bucket). An integer, or a string with a binary unit like the CLI's `--max-up`:
    /// `"500K"`, `"2MiB"`. Unset: as fast as the network allows.
    #[serde(deserialize_with = "rate::deserialize")]
    pub rate: Option<u64>,
    /// `pieces`: which pieces the seeder has. A fraction (`0.5`: that share of the pieces,
    /// chosen by the seed), a list of indices (`[0, 1, 7]`), `"stripe"` (seeder `i` of a group
    /// of `n` has the pieces `p` with `p % n == i`, so a group together has everything) or
    /// `"all"` (the default).
    pub pieces: PieceSet,
    /// `allowed_fast`: pieces announced as BEP 6 allowed-fast, served even while choking.
    /// Needs `fast`.
    pub allowed_fast: Vec<u32>,
    /// `choke_flap_ms`: once the peer is interested, alternate unchoke and choke every this
    /// many milliseconds (starting unchoked). Requests queued at a choke are rejected (BEP 6)
    /// or dropped.
    pub choke_flap_ms: Option<u64>,
    /// `never_unchoke`: never unchoke anyone; only allowed-fast pieces are served.
    pub never_unchoke: bool,
    /// `corrupt_rate`: the probability that a block is sent with a flipped byte.
    pub corrupt_rate: f64,
    /// `corrupt_every`: one block in every this many the seeder serves is sent with a flipped
    /// byte, at a phase chosen by the seed: a rare error at a bounded rate, where `corrupt_rate`
    /// can by chance flip none or a run of blocks.
    pub corrupt_every: Option<u64>,
    /// `corrupt_pieces`: pieces every block of which is sent corrupted.
    pub corrupt_pieces: Vec<u32>,
    /// `drop_after_blocks`: on each connection, after this many whole blocks, send half of the
    /// next block and close the connection (how: `drop_mode`).
    pub drop_after_blocks: Option<u32>,
    /// `drop_mode`: `"fin"` (the default) closes cleanly; `"rst"` resets: the seeder stops
    /// reading before the last whole block and closes with the peer's later requests unread,
    /// which makes both the kernel and turmoil send a RST (RFC 9293 §3.10.4). If the peer sent
    /// nothing meanwhile, there is nothing unread and the close is a FIN after all.
    pub drop_mode: DropMode,
    /// `stall_after_blocks`: on each connection, after this many whole blocks, stop reading
    /// and writing but keep the socket open, as a hung peer does (until the seeder leaves or
    /// [`crate::peer::STALL_HOLD`] passes). `0` stalls right after the bitfield.
    pub stall_after_blocks: Option<u32>,
    /// `lie_fraction`: the share of all pieces the bitfield claims without the seeder serving
    /// them. They are taken from the pieces it lacks first (claiming extra pieces), then from
    /// those it has (withholding them), chosen by the seed.
    pub lie_fraction: f64,
    /// `lie_pieces`: pieces claimed and never served, in addition to `lie_fraction`.
    pub lie_pieces: Vec<u32>,
    /// `lie_mode`: what requests for a lied-about piece get: `"ignore"` (the default; silence,
    /// a BEP 6 violation the peer must time out) or `"reject"` (a BEP 6 reject; needs `fast`).
    pub lie_mode: LieMode,
    /// `wrong_info_hash`: answer the handshake with another torrent's info-hash.
    pub wrong_info_hash: bool,
    /// `garbage_after_handshake`: after the handshake, send 1 KiB of seeded random bytes
    /// instead of messages, then wait for the peer to hang up.
    pub garbage_after_handshake: bool,
    /// `oversized_message`: after the handshake, send a length prefix of 0x7fffffff (a 2 GiB
    /// message) and a few bytes of it, then wait for the peer to hang up.
    pub oversized_message: bool,
    /// `join_at_ms`: start listening (and announcing) this long after the seeder is started.
    pub join_at_ms: Option<u64>,
    /// `leave_at_ms`: this long after the seeder is started, close every connection, stop
    /// listening and announce `stopped`.
    pub leave_at_ms: Option<u64>,
    /// `fast`: speak BEP 6 (have-all/have-none, reject, allowed-fast). Default `true`.
    pub fast: bool,
    /// `unrequested_blocks_ms`: push blocks nobody asked for. Every this many milliseconds,
    /// starting one period after the opening messages and whether or not the peer is
    /// interested or unchoked, send a `piece` message for the first block of piece 0, then of
    /// piece 1, and so on round the torrent, each with one flipped byte, so a client that
    /// stores unrequested data fails those pieces. Requests are still answered as the other
    /// fields say.
    pub unrequested_blocks_ms: Option<u64>,
    /// `rejoin_after_ms`: come back as a new peer after being hung up on. When a peer closes
    /// or resets a connection (as a client banning this seeder does), wait this long, then
    /// dial the address that peer *listens* on (learned from the trackers: the seeder then
    /// asks them for peers, and asks again at once when it does not know the address yet)
    /// from a new socket (a new ephemeral port), handshake first with a fresh peer id drawn
    /// from its seed, and behave exactly as before. A failed attempt (no address known, dial
    /// refused) is retried after the same delay. Needs a tracker.
    pub rejoin_after_ms: Option<u64>,
    /// `rejoin_max`: the most rejoin attempts in the seeder's life, counted over all its
    /// peers, so a scenario ends (default [`DEFAULT_REJOIN_MAX`]). Needs `rejoin_after_ms`.
    pub rejoin_max: Option<u32>,
    /// `request_flood`: a peer that never reads. After the opening messages, send
    /// `interested` and this many block requests (every block of the torrent in order, round
    /// and round, in batches), then never read the socket again, so the peer's answers pile
    /// up in its send queue. Serves nothing. A keep-alive every
    /// [`FLOOD_PROBE`](crate::peer::FLOOD_PROBE) is its only way to notice the peer has gone;
    /// it lets go after [`STALL_HOLD`](crate::peer::STALL_HOLD). Without `fast` the peer may
    /// ignore the requests instead of answering them.
    pub request_flood: Option<u32>,
    /// `trickle_ms`: everything written after the handshake (opening messages, blocks,
    /// rejects, keep-alives) goes out one byte per this many milliseconds, so a 16 KiB block
    /// takes 16 384 periods. The peer's messages are still read and answered meanwhile.
    pub trickle_ms: Option<u64>,
    /// `keepalive_ms`: send a keep-alive after this long without sending anything (default
    /// [`KEEPALIVE`](crate::peer::KEEPALIVE), BEP 3's two minutes). With `pieces = []` it
    /// makes a squatter: `have none` (without `fast`, no bitfield at all), then nothing
    /// useful, ever, and keep-alives often enough that no idle timeout fires.
    pub keepalive_ms: Option<u64>,
    /// `shift_begin`: answer a request for `len` bytes at `offset` of a piece with a `piece`
    /// message at `begin = offset + shift_begin`, carrying the right bytes for that shifted
    /// position. `begin` is clamped so the block stays inside its piece: a block as long as
    /// its piece cannot move and is served as asked. Negative shifts move it back.
    pub shift_begin: Option<i64>,
    /// `free_ride`: a leecher that never uploads. It downloads from every peer it is
    /// connected to (interest, up to [`FREE_RIDE_PIPELINE`](crate::peer::FREE_RIDE_PIPELINE)
    /// requests while unchoked, blocks shared out among its connections), announces itself as
    /// a leecher, and serves nothing: it claims no piece, so needs `pieces = []`. Reports each
    /// block received and when it has the whole torrent.
    pub free_ride: bool,
    /// `serve_metadata`: speak BEP 10 and answer BEP 9 `ut_metadata` requests with the
    /// torrent's info dictionary, so magnet-link clients can fetch it from this seeder.
    pub serve_metadata: bool,
    /// `corrupt_metadata`: serve the info dictionary with every byte flipped (same size, so
    /// only its hash gives it away). Needs `serve_metadata`.
    pub corrupt_metadata: bool,
    /// `metadata_size`: claim an info dictionary of this many bytes in the extended handshake
    /// and serve pieces of that size (seeded filler). Over 16 MiB a client must not even ask;
    /// such pieces are refused with a reject. Needs `serve_metadata`.
    pub metadata_size: Option<u32>,
    /// Keys the scenario wrote that are none of the above (usually typos);
    /// [`Behaviour::validate`] refuses them so a misspelt fault cannot silently be off.
    #[serde(flatten)]
    pub unknown_fields: BTreeMap<String, IgnoredAny>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            rate: None,
            pieces: PieceSet::All,
            allowed_fast: Vec::new(),
            choke_flap_ms: None,
            never_unchoke: false,
            corrupt_rate: 0.0,
            corrupt_every: None,
            corrupt_pieces: Vec::new(),
            drop_after_blocks: None,
            drop_mode: DropMode::Fin,
            stall_after_blocks: None,
            lie_fraction: 0.0,
            lie_pieces: Vec::new(),
            lie_mode: LieMode::Ignore,
            wrong_info_hash: false,
            garbage_after_handshake: false,
            oversized_message: false,
            join_at_ms: None,
            leave_at_ms: None,
            fast: true,
            unrequested_blocks_ms: None,
            rejoin_after_ms: None,
            serve_metadata: false,
            corrupt_metadata: false,
            metadata_size: None,
            rejoin_max: None,
            request_flood: None,
            trickle_ms: None,
            keepalive_ms: None,
            shift_begin: None,
            free_ride: false,
            unknown_fields: BTreeMap::new(),
        }
    }
}

/// Which pieces a seeder has; see [`Behaviour::pieces`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(try_from = "RawPieceSet")]
pub enum PieceSet {
    /// Every piece.
    #[default]
    All,
    /// This share of the pieces (`0..=1`), chosen by the seeder's seed.
    Fraction(f64),
    /// Exactly these pieces.
    List(Vec<u32>),
    /// Seeder `i` of a group of `n` has the pieces `p` with `p % n == i`.
    Stripe,
}

/// How a scenario may write a [`PieceSet`].
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPieceSet {
    Number(f64),
    List(Vec<u32>),
    Word(String),
}

impl TryFrom<RawPieceSet> for PieceSet {
    type Error = String;

    fn try_from(raw: RawPieceSet) -> Result<Self, String> {
        Ok(match raw {
            RawPieceSet::Number(f) => PieceSet::Fraction(f),
            RawPieceSet::List(list) => PieceSet::List(list),
            RawPieceSet::Word(w) => match w.as_str() {
                "all" => PieceSet::All,
                "stripe" => PieceSet::Stripe,
                other => {
                    return Err(format!(
                        "pieces is {other:?}; expected a fraction, a list, \"stripe\" or \"all\""
                    ))
                }
            },
        })
    }
}

/// How a dropped connection ends; see [`Behaviour::drop_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropMode {
    /// A clean close: the peer reads end-of-stream.
    #[default]
    Fin,
    /// A reset: the peer's read fails with "connection reset".
    Rst,
}

/// What requests for lied-about pieces get; see [`Behaviour::lie_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LieMode {
    /// No answer at all.
    #[default]
    Ignore,
    /// A BEP 6 reject.
    Reject,
}

/// Why a behaviour cannot be run on a torrent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BehaviourError {
    #[error("unknown seeder field `{0}`")]
    UnknownField(String),
    #[error("{field} is {value}, expected a value from 0 to 1")]
    NotAFraction { field: &'static str, value: f64 },
    #[error("{0} must be positive")]
    Zero(&'static str),
    #[error("{field} names piece {piece}, but the torrent has {pieces} pieces")]
    NoSuchPiece {
        field: &'static str,
        piece: u32,
        pieces: u32,
    },
    #[error("{0} needs fast = true (it is a BEP 6 feature)")]
    NeedsFast(&'static str),
    #[error("leave_at_ms {leave} is before join_at_ms {join}")]
    LeavesBeforeJoining { join: u64, leave: u64 },
    #[error("{0} must not be 0")]
    NoShift(&'static str),
    #[error("{field} needs {needs}")]
    Needs {
        field: &'static str,
        needs: &'static str,
    },
}

/// The pieces a seeder claims, and which of those it will not actually serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiecePlan {
    /// What the bitfield (or have-all) says.
    pub claimed: Bitfield,
    /// Claimed pieces that are lies: requests for them follow [`Behaviour::lie_mode`].
    pub lies: Bitfield,
}

impl PiecePlan {
    /// Whether requests for `piece` are answered with data.
    pub fn serves(&self, piece: u32) -> bool {
        self.claimed.get(piece) && !self.lies.get(piece)
    }
}

impl Behaviour {
    /// Checks the script against a torrent of `piece_count` pieces: fractions in `0..=1`,
    /// piece indices in range, positive rates and intervals, BEP 6 features only with `fast`,
    /// no unknown fields.
    pub fn validate(&self, piece_count: u32) -> Result<(), BehaviourError> {
        if let Some(key) = self.unknown_fields.keys().next() {
            return Err(BehaviourError::UnknownField(key.clone()));
        }
        let fraction = |field, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(BehaviourError::NotAFraction { field, value })
            }
        };
        fraction("corrupt_rate", self.corrupt_rate)?;
        fraction("lie_fraction", self.lie_fraction)?;
        let in_range = |field, pieces: &[u32]| match pieces.iter().find(|&&p| p >= piece_count) {
            Some(&piece) => Err(BehaviourError::NoSuchPiece {
                field,
                piece,
                pieces: piece_count,
            }),
            None => Ok(()),
        };
        match &self.pieces {
            PieceSet::Fraction(f) => fraction("pieces", *f)?,
            PieceSet::List(list) => in_range("pieces", list)?,
            PieceSet::All | PieceSet::Stripe => {}
        }
        in_range("allowed_fast", &self.allowed_fast)?;
        in_range("corrupt_pieces", &self.corrupt_pieces)?;
        in_range("lie_pieces", &self.lie_pieces)?;
        self.validate_positive()?;
        if !self.fast && self.lie_mode == LieMode::Reject {
            return Err(BehaviourError::NeedsFast("lie_mode = \"reject\""));
        }
        if !self.fast && !self.allowed_fast.is_empty() {
            return Err(BehaviourError::NeedsFast("allowed_fast"));
        }
        if let (Some(leave), join) = (self.leave_at_ms, self.join_at_ms.unwrap_or(0)) {
            if leave < join {
                return Err(BehaviourError::LeavesBeforeJoining { join, leave });
            }
        }
        if self.rejoin_max.is_some() && self.rejoin_after_ms.is_none() {
            return Err(BehaviourError::Needs {
                field: "rejoin_max",
                needs: "rejoin_after_ms",
            });
        }
        if self.free_ride && self.pieces != PieceSet::List(Vec::new()) {
            return Err(BehaviourError::Needs {
                field: "free_ride",
                needs: "pieces = []",
            });
        }
        for (field, set) in [
            ("corrupt_metadata", self.corrupt_metadata),
            ("metadata_size", self.metadata_size.is_some()),
        ] {
            if set && !self.serve_metadata {
                let needs = "serve_metadata";
                return Err(BehaviourError::Needs { field, needs });
            }
        }
        if self.shift_begin == Some(0) {
            return Err(BehaviourError::NoShift("shift_begin"));
        }
        Ok(())
    }

    /// Rates, periods and counts that mean nothing (or loop forever) at 0. `rejoin_after_ms`
    /// may be 0: coming straight back is a valid script.
    fn validate_positive(&self) -> Result<(), BehaviourError> {
        let fields = [
            ("rate", self.rate),
            ("corrupt_every", self.corrupt_every),
            ("choke_flap_ms", self.choke_flap_ms),
            ("unrequested_blocks_ms", self.unrequested_blocks_ms),
            ("rejoin_max", self.rejoin_max.map(u64::from)),
            ("request_flood", self.request_flood.map(u64::from)),
            ("trickle_ms", self.trickle_ms),
            ("keepalive_ms", self.keepalive_ms),
        ];
        match fields.into_iter().find(|(_, value)| *value == Some(0)) {
            Some((field, _)) => Err(BehaviourError::Zero(field)),
            None => Ok(()),
        }
    }

    /// When the seeder starts listening, counted from its start.
    pub fn join_at(&self) -> Duration {
        Duration::from_millis(self.join_at_ms.unwrap_or(0))
    }

    /// When the seeder leaves, counted from its start; `None`: it stays.
    pub fn leave_at(&self) -> Option<Duration> {
        self.leave_at_ms.map(Duration::from_millis)
    }

    /// The choke/unchoke period, if the seeder flaps.
    pub fn choke_flap(&self) -> Option<Duration> {
        self.choke_flap_ms.map(Duration::from_millis)
    }

    /// The period of unrequested blocks, if the seeder pushes them.
    pub fn unrequested_blocks(&self) -> Option<Duration> {
        self.unrequested_blocks_ms.map(Duration::from_millis)
    }

    /// The delay before each rejoin and how many there may be, if the seeder rejoins.
    pub fn rejoin(&self) -> Option<(Duration, u32)> {
        let max = self.rejoin_max.unwrap_or(DEFAULT_REJOIN_MAX);
        self.rejoin_after_ms
            .map(|ms| (Duration::from_millis(ms), max))
    }

    /// The pause between two bytes, if the seeder trickles.
    pub fn trickle(&self) -> Option<Duration> {
        self.trickle_ms.map(Duration::from_millis)
    }

    /// How long the seeder stays silent before sending a keep-alive.
    pub fn keepalive(&self) -> Duration {
        self.keepalive_ms
            .map_or(crate::peer::KEEPALIVE, Duration::from_millis)
    }

    /// Decides which pieces seeder `index` of a group of `group` claims and which of those are
    /// lies, drawing from `rng` (pieces first, then lies).
    pub fn piece_plan(
        &self,
        piece_count: u32,
        index: u32,
        group: u32,
        rng: &mut ChaCha8Rng,
    ) -> PiecePlan {
        let mut held = Bitfield::new(piece_count);
        match &self.pieces {
            PieceSet::All => held = Bitfield::full(piece_count),
            PieceSet::Fraction(f) => {
                for p in sample(rng, (0..piece_count).collect(), share(*f, piece_count)) {
                    held.set(p, true);
                }
            }
            PieceSet::List(list) => {
                for &p in list {
                    held.set(p, true);
                }
            }
            PieceSet::Stripe => {
                let group = group.max(1);
                for p in (0..piece_count).filter(|p| p % group == index % group) {
                    held.set(p, true);
                }
            }
        }
        let mut claimed = held.clone();
        let mut lies = Bitfield::new(piece_count);
        for &p in &self.lie_pieces {
            claimed.set(p, true);
            lies.set(p, true);
        }
        let mut wanted = share(self.lie_fraction, piece_count);
        // Claim pieces it lacks first, then withhold pieces it has.
        for from_held in [false, true] {
            let pool: Vec<u32> = (0..piece_count)
                .filter(|&p| held.get(p) == from_held && !lies.get(p))
                .collect();
            let take = wanted.min(pool.len());
            for p in sample(rng, pool, take) {
                claimed.set(p, true);
                lies.set(p, true);
            }
            wanted -= take;
        }
        PiecePlan { claimed, lies }
    }
}

/// `fraction` of `count`, rounded, at most `count`.
fn share(fraction: f64, count: u32) -> usize {
    let n = (fraction.clamp(0.0, 1.0) * f64::from(count)).round() as usize;
    n.min(count as usize)
}

/// `amount` distinct items of `pool` chosen by `rng` (all of them if it has fewer).
fn sample(rng: &mut ChaCha8Rng, pool: Vec<u32>, amount: usize) -> Vec<u32> {
    let amount = amount.min(pool.len());
    index::sample(rng, pool.len(), amount)
        .into_iter()
        .filter_map(|i| pool.get(i).copied())
        .collect()
}

/// `rate` as an integer or a string with a binary unit (also the simulator's host caps).
pub mod rate {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }

    /// An optional rate: an integer, or a string such as `"500K"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Some(n)),
            Raw::Text(t) => parse(&t).map(Some).map_err(serde::de::Error::custom),
        }
    }

    /// `"500K"`, `"2MiB"`, `"100"`: `K`/`KB`/`KiB` and friends are powers of 1024, as in the
    /// CLI's rates.
    pub fn parse(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("rate {text:?} is not a number of bytes per second"))?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return Err(format!("rate {text:?} has an unknown unit (use K, M or G)")),
        };
        n.checked_mul(1 << shift)
            .ok_or_else(|| format!("rate {text:?} is too large"))
    }
}

#[cfg(test)]
mod tests;
