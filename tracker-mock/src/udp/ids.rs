//! UDP connection ids (BEP 15): handed out on connect, checked on every announce and scrape.
//!
//! An id is tied to the client's address and expires after [`LIFETIME`]. Ids come from a counter
//! scrambled with the configured secret: unpredictable to a client that sees a few of them (so
//! a spoofed source address cannot guess one), identical on every replay of a simulation.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// How long an id is accepted after it was issued: BEP 15 has clients use one for a minute and
/// trackers accept it for two, which leaves room for delays and retransmissions.
pub const LIFETIME: Duration = Duration::from_secs(120);

/// The most ids remembered at once; past it the oldest is forgotten early. A connect flood can
/// then cost a client a reconnect, never the tracker its memory.
const MAX_LIVE: usize = 65_536;

/// The ids issued and not yet expired.
#[derive(Debug)]
pub(crate) struct ConnectionIds {
    /// Mixed into every id so the sequence cannot be predicted from the counter alone.
    secret: u64,
    /// How many ids were issued; the input of the next one.
    issued: u64,
    /// Each live id with the address it was issued to and when.
    live: BTreeMap<u64, (SocketAddr, Duration)>,
    /// The same ids in the order issued, so expiry pops from the front instead of scanning.
    order: VecDeque<(Duration, u64)>,
}

impl ConnectionIds {
    /// An empty set deriving ids from `secret`.
    pub(crate) fn new(secret: u64) -> Self {
        ConnectionIds {
            secret,
            issued: 0,
            live: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Issues a new id to the client at `to`, at time `now` since the tracker started.
    pub(crate) fn issue(&mut self, to: SocketAddr, now: Duration) -> u64 {
        self.expire(now);
        while self.live.len() >= MAX_LIVE {
            let Some((_, oldest)) = self.order.pop_front() else {
                break;
            };
            self.live.remove(&oldest);
        }
        self.issued = self.issued.wrapping_add(1);
        let id = scramble(self.secret, self.issued);
        self.live.insert(id, (to, now));
        self.order.push_back((now, id));
        id
    }

    /// Whether `id` was issued to `from` less than [`LIFETIME`] before `now`.
    pub(crate) fn is_valid(&self, id: u64, from: SocketAddr, now: Duration) -> bool {
        self.live
            .get(&id)
            .is_some_and(|(to, at)| *to == from && now.saturating_sub(*at) < LIFETIME)
    }

    /// Forgets the ids that are too old to be accepted.
    fn expire(&mut self, now: Duration) {
        while let Some(&(at, id)) = self.order.front() {
            if now.saturating_sub(at) < LIFETIME {
                break;
            }
            self.order.pop_front();
            self.live.remove(&id);
        }
    }
}

/// A bijection of `counter` for a fixed `secret` (so ids never repeat before the counter wraps)
/// whose output looks random: the counter spread by an odd constant, keyed with the secret, then
/// SplitMix64's finaliser.
fn scramble(secret: u64, counter: u64) -> u64 {
    let mut z = secret ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn an_id_is_valid_for_its_address_until_it_expires() {
        let mut ids = ConnectionIds::new(7);
        let client = addr("10.0.0.1:5000");
        let id = ids.issue(client, SECOND);
        assert!(ids.is_valid(id, client, SECOND));
        assert!(ids.is_valid(id, client, SECOND + LIFETIME - Duration::from_millis(1)));
        assert!(!ids.is_valid(id, client, SECOND + LIFETIME));
        assert!(!ids.is_valid(id, addr("10.0.0.1:5001"), SECOND));
        assert!(!ids.is_valid(id, addr("10.0.0.2:5000"), SECOND));
        assert!(!ids.is_valid(id ^ 1, client, SECOND));
    }

    #[test]
    fn ids_replay_from_the_same_secret_and_differ_between_secrets() {
        let client = addr("10.0.0.1:5000");
        let run = |secret| {
            let mut ids = ConnectionIds::new(secret);
            (0..4)
                .map(|_| ids.issue(client, SECOND))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let ids = run(1);
        // Not a visible sequence: consecutive ids differ in many bits.
        for pair in ids.windows(2) {
            assert!((pair[0] ^ pair[1]).count_ones() > 10, "{pair:x?}");
        }
    }

    #[test]
    fn expired_ids_are_forgotten_when_new_ones_are_issued() {
        let mut ids = ConnectionIds::new(3);
        let client = addr("10.0.0.1:5000");
        ids.issue(client, Duration::ZERO);
        ids.issue(client, SECOND);
        // The first is exactly LIFETIME old now (gone), the second not yet.
        ids.issue(client, LIFETIME + Duration::from_millis(500));
        assert_eq!(ids.live.len(), 2);
        assert_eq!(ids.order.len(), 2);
    }

    #[test]
    fn the_oldest_id_goes_first_when_too_many_are_live() {
        let mut ids = ConnectionIds::new(3);
        let client = addr("10.0.0.1:5000");
        let first = ids.issue(client, SECOND);
        for _ in 1..MAX_LIVE {
            ids.issue(client, SECOND);
        }
        assert!(ids.is_valid(first, client, SECOND));
        let newest = ids.issue(client, SECOND);
        assert!(!ids.is_valid(first, client, SECOND));
        assert!(ids.is_valid(newest, client, SECOND));
        assert_eq!(ids.live.len(), MAX_LIVE);
    }

    proptest::proptest! {
        #[test]
        fn scramble_never_repeats_nearby_counters(secret: u64, start: u64) {
            let outputs: std::collections::BTreeSet<u64> =
                (0..64u64).map(|i| scramble(secret, start.wrapping_add(i))).collect();
            proptest::prop_assert_eq!(outputs.len(), 64);
        }
    }
}
