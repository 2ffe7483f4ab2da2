//! The transfer matrix: generated scenarios crossing piece size, file layout, corruption,
//! resume, tracker, seeder mix and magnet, one named case per combination.
//!
//! A case's name lists its value on each axis (`p16k-one-clean-fresh-http-honest-torrent`);
//! [`Case::parse`] reads it back, and [`Case::toml`] writes the scenario file it stands for,
//! which is loaded through the same checks as a hand-written one. The expectations follow from
//! the axes: the client completes with every file right within a time bound, a corrupting
//! seeder is banned and nobody else is, a crash keeps what was verified, and waste stays
//! within a bound that depends on the piece size and on whether anyone corrupts.
//!
//! [`sample`] picks a small fixed set of cases in which every pair of values of any two axes
//! occurs at least once: the default test run; the whole matrix runs on request (README).

use std::fmt::Write as _;

use anyhow::{anyhow, bail};
use rand::{Rng as _, SeedableRng as _};

use crate::Scenario;

/// Piece lengths: one block, an odd size that is not a multiple of the 16 KiB block, a common
/// size, and a large one.
const PIECE_LENGTHS: [(&str, u64); 4] = [
    ("p16k", 16 << 10),
    ("p40000", 40_000),
    ("p256k", 256 << 10),
    ("p4m", 4 << 20),
];
const LAYOUTS: [&str; 3] = ["one", "span", "tiny"];
const CORRUPTION: [&str; 2] = ["clean", "corrupt"];
const RESUME: [&str; 2] = ["fresh", "crash"];
const TRACKERS: [&str; 3] = ["http", "udp", "peers"];
const MIXES: [&str; 2] = ["honest", "rough"];
const MAGNET: [&str; 2] = ["torrent", "magnet"];

/// How many values each axis has, in name order.
const AXES: [usize; 7] = [
    PIECE_LENGTHS.len(),
    LAYOUTS.len(),
    CORRUPTION.len(),
    RESUME.len(),
    TRACKERS.len(),
    MIXES.len(),
    MAGNET.len(),
];

/// One combination: the index of its value on each axis, in the order of [`AXES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case([usize; 7]);

/// Every case of the matrix, in a fixed order.
pub fn all() -> Vec<Case> {
    let mut cases = vec![Case([0; 7])];
    for (axis, &n) in AXES.iter().enumerate() {
        cases = cases
            .into_iter()
            .flat_map(|c| {
                (0..n).map(move |v| {
                    let mut c = c;
                    c.0[axis] = v;
                    c
                })
            })
            .collect();
    }
    cases
}

/// A fixed set of cases covering every pair of values of any two axes (greedy: each step
/// takes the first case, in [`all`]'s order, that covers the most pairs not yet covered).
pub fn sample() -> Vec<Case> {
    let cases = all();
    let mut uncovered: std::collections::BTreeSet<_> =
        cases.iter().flat_map(|c| c.pairs()).collect();
    let mut chosen = Vec::new();
    while !uncovered.is_empty() {
        let mut best = (0, cases[0]);
        for c in &cases {
            let gain = c.pairs().filter(|p| uncovered.contains(p)).count();
            if gain > best.0 {
                best = (gain, *c);
            }
        }
        for p in best.1.pairs() {
            uncovered.remove(&p);
        }
        chosen.push(best.1);
    }
    chosen
}

impl Case {
    /// `(axis, value, axis, value)` for every two axes of the case.
    fn pairs(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        (0..AXES.len())
            .flat_map(move |a| (a + 1..AXES.len()).map(move |b| (a, self.0[a], b, self.0[b])))
    }

    /// The case's name: its value on each axis, joined by `-`.
    pub fn name(&self) -> String {
        let [p, l, c, r, t, m, g] = self.0;
        [
            PIECE_LENGTHS[p].0,
            LAYOUTS[l],
            CORRUPTION[c],
            RESUME[r],
            TRACKERS[t],
            MIXES[m],
            MAGNET[g],
        ]
        .join("-")
    }

    /// The case a name stands for.
    pub fn parse(name: &str) -> anyhow::Result<Case> {
        let words: Vec<&str> = name.split('-').collect();
        let names: [&[&str]; 7] = [
            &PIECE_LENGTHS.map(|(n, _)| n),
            &LAYOUTS,
            &CORRUPTION,
            &RESUME,
            &TRACKERS,
            &MIXES,
            &MAGNET,
        ];
        if words.len() != names.len() {
            bail!("{name:?} is not a matrix case (see `bitswarm sim matrix --list`)");
        }
        let mut case = Case([0; 7]);
        for (axis, (word, values)) in words.iter().zip(names).enumerate() {
            case.0[axis] = values
                .iter()
                .position(|v| v == word)
                .ok_or_else(|| anyhow!("{name:?}: {word:?} is not one of {}", values.join(", ")))?;
        }
        Ok(case)
    }

    /// The case's own seed: a hash of its name, so adding cases does not change others'.
    pub fn seed(&self) -> u64 {
        let hash = self.name().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        hash % 1_000_000
    }

    /// The scenario, checked as a scenario file is.
    pub fn scenario(&self) -> anyhow::Result<Scenario> {
        Scenario::from_toml(&self.toml())
    }

    fn piece_length(&self) -> u64 {
        PIECE_LENGTHS[self.0[0]].1
    }

    fn corrupt(&self) -> bool {
        self.0[2] == 1
    }

    fn crash(&self) -> bool {
        self.0[3] == 1
    }

    fn rough(&self) -> bool {
        self.0[5] == 1
    }

    fn magnet(&self) -> bool {
        self.0[6] == 1
    }

    /// The case as a scenario file.
    pub fn toml(&self) -> String {
        let mut t = String::new();
        let files = self.files();
        let total: u64 = files.iter().map(|(_, n)| n).sum();
        let _ = writeln!(t, "name = {:?}", self.name());
        let _ = writeln!(
            t,
            "description = \"Transfer matrix case {}: {} files, {} bytes.\"",
            self.name(),
            files.len(),
            total
        );
        let _ = writeln!(t, "seed = {}\n", self.seed());
        let _ = writeln!(t, "[torrent]\nname = \"content\"");
        let _ = writeln!(t, "piece_length = {}", self.piece_length());
        let files: Vec<String> = files.iter().map(|(p, n)| format!("[{p:?}, {n}]")).collect();
        let _ = writeln!(t, "files = [{}]\n", files.join(", "));
        let _ = writeln!(t, "[tracker]\nkind = {:?}\n", self.tracker_kind());
        self.write_seeders(&mut t);
        let _ = writeln!(t, "[[leechers]]\nname = \"client\"");
        let _ = writeln!(t, "magnet = {}\n", self.magnet());
        if self.crash() {
            t.push_str("[[faults]]\naction = \"crash\"\na = \"client\"\nat_verified = 0.5\n\n");
            t.push_str("[[faults]]\naction = \"restart\"\na = \"client\"\nafter_s = 1\n\n");
        }
        self.write_expect(&mut t, total);
        t
    }

    fn tracker_kind(&self) -> &'static str {
        match TRACKERS[self.0[4]] {
            "peers" => "none",
            kind => kind,
        }
    }

    /// The honest groups (by name, with their behaviour lines), then the corrupter if any.
    fn groups(&self) -> Vec<(&'static str, &'static str)> {
        let mut groups = if self.rough() {
            vec![
                ("slow", "rate = \"256K\""),
                ("partial", "count = 2\npieces = \"stripe\"\nrate = \"1M\""),
                ("flapper", "choke_flap_ms = 500\nrate = \"1M\""),
            ]
        } else {
            vec![("honest", "count = 2\nrate = \"1M\"")]
        };
        if self.corrupt() {
            groups.push(("corrupter", "corrupt_rate = 0.5"));
        }
        groups
    }

    fn write_seeders(&self, t: &mut String) {
        for (i, (name, lines)) in self.groups().into_iter().enumerate() {
            let _ = writeln!(
                t,
                "[[seeders]]\nname = {name:?}\nbase_port = {}",
                7000 + 100 * i
            );
            let _ = writeln!(t, "{lines}");
            if self.magnet() {
                let _ = writeln!(t, "serve_metadata = true");
            }
            t.push('\n');
        }
    }

    fn write_expect(&self, t: &mut String, total: u64) {
        let piece = self.piece_length();
        let pieces = total.div_ceil(piece);
        // Time: the content at 2 MiB/s (the honest mix's rate; the rough mix's is higher),
        // one and a half times over (twice with a corrupter's waste), plus five seconds for
        // the start, a crash's restart and its check.
        let within = 5 + total * if self.corrupt() { 4 } else { 3 } / (4 << 20);
        let _ = writeln!(t, "[expect]\ncomplete = [\"client\"]\nwithin_s = {within}");
        let honest: Vec<String> = self
            .groups()
            .iter()
            .filter(|(n, _)| *n != "corrupter")
            .map(|(n, _)| format!("{n:?}"))
            .collect();
        let _ = writeln!(t, "not_banned = [{}]", honest.join(", "));
        // Waste: a race or two per choke flap or endgame, within a piece and four blocks.
        // With a corrupter, also the pieces it spoils before it is banned (one mixed copy,
        // then its own pieces on parole until it has MIN_BAD bad marks) and its blocks in
        // unfinished pieces, thrown away at the ban: seven pieces more.
        let mut wasted = 4 * 16384 + piece;
        if self.corrupt() {
            let _ = writeln!(t, "banned = [\"corrupter\"]\nmin_hash_failures = 1");
            wasted += (bitswarm_client::engine::smartban::MIN_BAD + 4) * piece;
        }
        let _ = writeln!(t, "max_wasted = {wasted}");
        if self.crash() {
            // At the crash at least half the pieces were verified; one may be the short last.
            let kept = (pieces.div_ceil(2) - 1) * piece;
            let _ = writeln!(t, "min_had = {kept}");
        }
    }

    /// The layout's files, sized from the piece length so every case has several pieces.
    fn files(&self) -> Vec<(String, u64)> {
        let piece = self.piece_length();
        let base = (4 << 20).max(12 * piece);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed());
        match LAYOUTS[self.0[1]] {
            "one" => vec![("content".into(), base + 12_345)],
            "span" => {
                let mut files = vec![("empty-first".into(), 0)];
                for i in 0..10 {
                    let n = rng.gen_range(base / 20..base / 6);
                    files.push((format!("dir{}/file{i}.bin", i % 3), n));
                    if i == 4 {
                        files.push(("dir1/empty-middle".into(), 0));
                    }
                }
                files.push(("empty-last".into(), 0));
                files
            }
            _ => {
                let count = (base / (12 << 10)).max(150);
                (0..count)
                    .map(|i| {
                        let n = if i % 17 == 0 {
                            0
                        } else {
                            rng.gen_range(1..24 << 10)
                        };
                        (format!("d{}/f{i:04}", i % 8), n)
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_has_every_combination_once_and_names_read_back() {
        let cases = all();
        assert_eq!(cases.len(), AXES.iter().product::<usize>());
        assert!(cases.len() >= 500);
        let names: std::collections::BTreeSet<String> = cases.iter().map(Case::name).collect();
        assert_eq!(names.len(), cases.len());
        for c in &cases {
            assert_eq!(Case::parse(&c.name()).unwrap(), *c);
        }
        assert!(Case::parse("p16k-one-clean-fresh-http-honest").is_err());
        assert!(Case::parse("p17k-one-clean-fresh-http-honest-torrent").is_err());
    }

    #[test]
    fn the_sample_covers_every_pair_of_values() {
        let sample = sample();
        let all_pairs: std::collections::BTreeSet<_> = all()
            .iter()
            .flat_map(|c| c.pairs().collect::<Vec<_>>())
            .collect();
        let covered: std::collections::BTreeSet<_> = sample
            .iter()
            .flat_map(|c| c.pairs().collect::<Vec<_>>())
            .collect();
        assert_eq!(covered, all_pairs);
        assert!(sample.len() < 30, "sample of {}", sample.len());
    }

    #[test]
    fn every_case_is_a_valid_scenario() {
        for c in all() {
            let sc = c
                .scenario()
                .unwrap_or_else(|e| panic!("{}: {e:#}", c.name()));
            assert_eq!(sc.name, c.name());
            let pieces = sc
                .torrent
                .files
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>()
                .div_ceil(sc.torrent.piece_length);
            assert!(pieces >= 4, "{}: {pieces} pieces", c.name());
        }
    }
}
