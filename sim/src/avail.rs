//! Piece availability as one client sees it (its peers' bitfields and `have`s), sampled over
//! simulated time for the run's report: for each band of pieces, the fewest copies of any
//! piece in it, so a rare piece shows even in a large torrent.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bitswarm_client::wire::Message;

/// Bands of pieces a sample holds (fewer when the torrent has fewer pieces).
pub const BANDS: usize = 32;

/// Simulated seconds between samples.
pub const EVERY_S: f64 = 0.25;

/// The most samples a client keeps; later ones are dropped (a report of a long run then ends
/// its heat map early rather than holding unbounded memory).
pub const MAX_SAMPLES: usize = 4000;

/// One sample: when, and the fewest copies per band.
pub type Sample = (f64, Vec<u32>);

/// Who has which piece, and the samples taken.
#[derive(Debug, Default)]
pub struct Availability {
    pieces: usize,
    has: BTreeMap<SocketAddr, Vec<bool>>,
    copies: Vec<u32>,
    samples: Vec<Sample>,
}

impl Availability {
    pub fn new(pieces: usize) -> Self {
        Availability {
            pieces,
            has: BTreeMap::new(),
            copies: vec![0; pieces],
            samples: Vec::new(),
        }
    }

    /// Takes in what `msg` from `peer` says it has, then samples if one is due at `now`.
    pub fn on_message(&mut self, peer: SocketAddr, msg: &Message, now: f64) {
        match msg {
            Message::Have(p) => self.set(peer, *p as usize),
            Message::HaveAll => (0..self.pieces).for_each(|p| self.set(peer, p)),
            Message::HaveNone => {}
            Message::Bitfield(bytes) => {
                for p in 0..self.pieces {
                    let bit = bytes.get(p / 8).is_some_and(|b| b & (0x80 >> (p % 8)) != 0);
                    if bit {
                        self.set(peer, p);
                    }
                }
            }
            _ => return,
        }
        self.sample(now);
    }

    /// `peer` is gone: its pieces no longer count.
    pub fn on_gone(&mut self, peer: SocketAddr, now: f64) {
        if let Some(has) = self.has.remove(&peer) {
            for (p, _) in has.iter().enumerate().filter(|(_, h)| **h) {
                self.copies[p] = self.copies[p].saturating_sub(1);
            }
            self.sample(now);
        }
    }

    fn set(&mut self, peer: SocketAddr, piece: usize) {
        if piece >= self.pieces {
            return;
        }
        let pieces = self.pieces;
        let has = self.has.entry(peer).or_insert_with(|| vec![false; pieces]);
        if !has[piece] {
            has[piece] = true;
            self.copies[piece] += 1;
        }
    }

    /// Records the bands' fewest copies: a new sample if the last is `EVERY_S` old, else in
    /// place of the last one (a sample shows the state at the end of its period).
    fn sample(&mut self, now: f64) {
        if self.pieces == 0 {
            return;
        }
        let bands = BANDS.min(self.pieces);
        let per = self.pieces.div_ceil(bands);
        let mins: Vec<u32> = self
            .copies
            .chunks(per)
            .map(|band| band.iter().copied().min().unwrap_or(0))
            .collect();
        let full = self.samples.len() >= MAX_SAMPLES;
        match self.samples.last_mut() {
            Some((t, last)) if now < *t + EVERY_S => *last = mins,
            _ if !full => self.samples.push((now, mins)),
            _ => {}
        }
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_hold_the_fewest_copies_and_departures_count() {
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let mut av = Availability::new(64);
        av.on_message(a, &Message::HaveAll, 0.0);
        av.on_message(b, &Message::Have(3), 1.0);
        av.on_gone(a, 2.0);
        let s = av.samples();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].1, vec![1; 32]);
        // Band 1 (pieces 2 and 3): piece 2 has one copy, piece 3 two; the band shows 1.
        assert_eq!(s[1].1[1], 1);
        assert_eq!(s[2].1[1], 0, "a is gone; piece 2 has no copy left");
        // Samples come at most every EVERY_S; a change sooner updates the last one.
        av.on_message(b, &Message::Have(2), 2.1);
        assert_eq!(av.samples().len(), 3);
        assert_eq!(av.samples()[2].1[1], 1);
    }
}
