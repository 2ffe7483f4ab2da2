//! Tests of the metadata fetch against scripted peers: honest ones, liars, silent ones and
//! peers that claim a wrong size, with time passed in.

use std::collections::BTreeMap;

use super::*;
use crate::wire::metadata_piece_len;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Honest,
    /// Serves its pieces with every byte flipped.
    Liar,
    /// Never answers.
    Silent,
    /// Claims (and serves consistently) metadata of another size.
    OtherSize(u32),
}

struct Scripted {
    fetch: Fetch,
    info: Vec<u8>,
    kinds: BTreeMap<PeerKey, Kind>,
    dropped: Vec<(PeerKey, Fault)>,
    requests: BTreeMap<PeerKey, usize>,
    now: Duration,
}

fn info(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

impl Scripted {
    fn new(len: usize) -> Self {
        let info = info(len);
        let hash = InfoHash(Sha1::digest(&info).into());
        Scripted {
            fetch: Fetch::new(hash),
            info,
            kinds: BTreeMap::new(),
            dropped: Vec::new(),
            requests: BTreeMap::new(),
            now: Duration::ZERO,
        }
    }

    fn join(&mut self, key: u64, kind: Kind) {
        let size = match kind {
            Kind::OtherSize(s) => s,
            _ => self.info.len() as u32,
        };
        let hs = ExtendedHandshake {
            extensions: [("ut_metadata".to_string(), 3)].into_iter().collect(),
            metadata_size: Some(size),
            ..ExtendedHandshake::default()
        };
        self.kinds.insert(PeerKey(key), kind);
        self.fetch.peer_joined(self.now, PeerKey(key), &hs);
    }

    /// The bytes a peer of `kind` serves for `piece`.
    fn serve(&self, kind: Kind, piece: u32) -> MetadataMessage {
        let total = match kind {
            Kind::OtherSize(s) => s,
            _ => self.info.len() as u32,
        };
        let len = metadata_piece_len(total, piece).unwrap_or(0) as usize;
        let start = piece as usize * METADATA_PIECE_LEN as usize;
        let mut data: Vec<u8> = (0..len)
            .map(|i| self.info.get(start + i).copied().unwrap_or(0))
            .collect();
        if kind != Kind::Honest {
            data.iter_mut().for_each(|b| *b ^= 0xff);
        }
        MetadataMessage::Data {
            piece,
            total_size: total,
            data: Bytes::from(data),
        }
    }

    /// Answers every action until none is left, advancing time by `step` when only silent
    /// peers hold requests; gives up after `rounds` steps.
    fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let mut answers = Vec::new();
            while let Some(action) = self.fetch.next_action() {
                match action {
                    Action::Send { key, ext_id, msg } => {
                        assert_eq!(ext_id, 3, "sent with the peer's id");
                        let MetadataMessage::Request { piece } = msg else {
                            panic!("unexpected {msg:?}");
                        };
                        *self.requests.entry(key).or_default() += 1;
                        let kind = self.kinds[&key];
                        if kind != Kind::Silent {
                            answers.push((key, self.serve(kind, piece)));
                        }
                    }
                    Action::Drop { key, fault } => self.dropped.push((key, fault)),
                }
            }
            if self.fetch.done().is_some() {
                return;
            }
            if answers.is_empty() {
                match self.fetch.next_deadline() {
                    Some(at) => self.now = at,
                    None => return,
                }
                self.fetch.tick(self.now);
            }
            for (key, msg) in answers {
                if !self.dropped.iter().any(|(k, _)| *k == key) {
                    self.fetch.message(self.now, key, msg);
                }
            }
        }
    }
}

#[test]
fn honest_peers_share_the_work_and_the_result_is_checked() {
    let mut s = Scripted::new(5 * 16384 + 1000);
    for key in 1..=3 {
        s.join(key, Kind::Honest);
    }
    s.run(100);
    assert_eq!(s.fetch.done().map(|b| b.to_vec()), Some(s.info.clone()));
    assert!(s.dropped.is_empty());
    assert_eq!(
        s.requests.values().sum::<usize>(),
        6,
        "one request per piece"
    );
    assert_eq!(
        s.requests.len(),
        3,
        "every peer was asked: {:?}",
        s.requests
    );
}

#[test]
fn a_liar_among_honest_peers_is_found_and_dropped() {
    for liar in 1..=3u64 {
        let mut s = Scripted::new(4 * 16384);
        for key in 1..=3 {
            s.join(
                key,
                if key == liar {
                    Kind::Liar
                } else {
                    Kind::Honest
                },
            );
        }
        s.run(100);
        assert_eq!(s.fetch.done().map(|b| b.to_vec()), Some(s.info.clone()));
        let honest_dropped = s.dropped.iter().any(|(k, _)| k.0 != liar);
        assert!(!honest_dropped, "liar {liar}: dropped {:?}", s.dropped);
    }
    // Alone, a liar is dropped as soon as its copy fails.
    let mut s = Scripted::new(100);
    s.join(1, Kind::Liar);
    s.run(10);
    assert_eq!(s.dropped, vec![(PeerKey(1), Fault::BadMetadata)]);
    assert!(s.fetch.done().is_none());
    s.join(2, Kind::Honest);
    s.run(10);
    assert_eq!(s.fetch.done().map(|b| b.to_vec()), Some(s.info.clone()));
}

#[test]
fn a_wrong_size_claimed_by_a_peer_does_not_stop_the_fetch() {
    for wrong in [10, 16384 * 2, MAX_METADATA_SIZE] {
        // One against one: the first size is tried, fails, and its peer is dropped.
        let mut s = Scripted::new(20000);
        s.join(1, Kind::OtherSize(wrong));
        s.join(2, Kind::Honest);
        s.run(2000);
        assert_eq!(s.fetch.done().map(|b| b.len()), Some(20000), "size {wrong}");
        assert_eq!(s.dropped, vec![(PeerKey(1), Fault::BadMetadata)]);
        // Outvoted: the lie is abandoned as soon as two peers agree on another size, and the
        // answers it still sends are late, not faults.
        let mut s = Scripted::new(20000);
        s.join(1, Kind::OtherSize(wrong));
        s.join(2, Kind::Honest);
        s.join(3, Kind::Honest);
        s.run(100);
        assert_eq!(s.fetch.done().map(|b| b.len()), Some(20000), "size {wrong}");
        assert!(s.requests[&PeerKey(1)] <= MAX_OUTSTANDING);
        assert!(s.dropped.is_empty(), "{:?}", s.dropped);
    }
}

#[test]
fn silent_peers_time_out_and_their_pieces_go_elsewhere() {
    let mut s = Scripted::new(3 * 16384);
    s.join(1, Kind::Silent);
    s.join(2, Kind::Silent);
    s.join(3, Kind::Honest);
    s.run(100);
    assert_eq!(s.fetch.done().map(|b| b.to_vec()), Some(s.info.clone()));
    assert!(s.now >= REQUEST_TIMEOUT, "waited for the timeout");
    assert!(s.now < REQUEST_TIMEOUT * 3, "but not forever: {:?}", s.now);
    assert!(s.dropped.is_empty());
}

#[test]
fn a_late_answer_is_ignored_but_unasked_or_resized_data_drops_the_peer() {
    let mut s = Scripted::new(2 * 16384);
    s.join(1, Kind::Silent);
    s.run(1);
    s.now = REQUEST_TIMEOUT;
    s.fetch.tick(s.now);
    // Both requests timed out and went out again (to the only peer there is).
    let again: Vec<_> = std::iter::from_fn(|| s.fetch.next_action()).collect();
    assert_eq!(again.len(), 2, "{again:?}");
    // The first answer to piece 0 is late, ignored, not a fault; the second one is used.
    for _ in 0..2 {
        let answer = s.serve(Kind::Honest, 0);
        s.fetch.message(s.now, PeerKey(1), answer);
        assert_eq!(s.fetch.next_action(), None);
    }
    // A third answer was never asked for.
    let third = s.serve(Kind::Honest, 0);
    s.fetch.message(s.now, PeerKey(1), third);
    let dropped = s.fetch.next_action();
    assert_eq!(
        dropped,
        Some(Action::Drop {
            key: PeerKey(1),
            fault: Fault::Unrequested(0)
        })
    );

    let mut s = Scripted::new(2 * 16384);
    s.join(1, Kind::Honest);
    while s.fetch.next_action().is_some() {}
    let resized = MetadataMessage::Data {
        piece: 1,
        total_size: 16385,
        data: Bytes::from_static(b"x"),
    };
    s.fetch.message(s.now, PeerKey(1), resized);
    let fault = Fault::SizeMismatch {
        claimed: 32768,
        sent: 16385,
    };
    assert_eq!(
        s.fetch.next_action(),
        Some(Action::Drop {
            key: PeerKey(1),
            fault
        })
    );
}

#[test]
fn requests_from_peers_are_rejected_and_peers_without_metadata_are_ignored() {
    let mut s = Scripted::new(100);
    s.join(1, Kind::Silent);
    while s.fetch.next_action().is_some() {}
    s.fetch
        .message(s.now, PeerKey(1), MetadataMessage::Request { piece: 0 });
    assert_eq!(
        s.fetch.next_action(),
        Some(Action::Send {
            key: PeerKey(1),
            ext_id: 3,
            msg: MetadataMessage::Reject { piece: 0 }
        })
    );
    s.fetch
        .peer_joined(s.now, PeerKey(9), &ExtendedHandshake::default());
    assert_eq!(s.fetch.useful_peers(), 1);
}

#[test]
fn rejects_strike_a_peer_out() {
    let mut s = Scripted::new(100);
    s.join(1, Kind::Silent);
    for _ in 0..MAX_STRIKES {
        while s.fetch.next_action().is_some() {}
        s.fetch
            .message(s.now, PeerKey(1), MetadataMessage::Reject { piece: 0 });
    }
    assert_eq!(s.fetch.useful_peers(), 0);
    assert_eq!(s.fetch.next_action(), None, "no more requests");
}
