//! Generated torrent content: every byte is a pure function of (seed, offset), so a seeder can
//! serve a 1 GiB torrent without a disk or a buffer, and a scenario can compute the digests a
//! download must end with from the generator rather than from a recorded run.
//!
//! The content is the concatenation of the layout's files, as in every v1 torrent. Byte `o` is
//! byte `o % 8` (little-endian) of word `o / 8`, and word `w` is output `w` of a SplitMix64
//! stream whose start is derived from the seed. Any word costs a handful of arithmetic
//! instructions, so random access is O(1) and sequential generation runs at several GB/s.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bitswarm_client::bencode::{self, Value};
use bitswarm_client::metainfo::{self, Info, Metainfo, MAX_PIECE_LENGTH};
use bitswarm_client::{Geometry, InfoHash};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// The most pieces a synthetic torrent may have: the `pieces` string is 20 bytes per piece and
/// is built in memory, so this caps it at 80 MiB. 1 GiB in 16 KiB pieces is 65 536 pieces.
pub const MAX_PIECES: u64 = 1 << 22;

/// How much is generated at a time when streaming a file through SHA-256.
const STREAM_CHUNK: usize = 1 << 20;

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// What a synthetic torrent looks like: its name, files and piece length. This is what a
/// scenario file writes, e.g. `files = [["a.bin", 1048576], ["dir/b.bin", 0]]`.
///
/// **Single or multi-file:** the torrent is single-file exactly when there is one file and its
/// path equals `name`; otherwise it is multi-file, with a folder called `name` holding the
/// files at their `/`-separated relative paths.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The torrent's `name`: the file name (single-file) or folder name (multi-file).
    pub name: String,
    /// Relative paths (components separated by `/`) and lengths, in content order. Zero-length
    /// files are allowed; pieces span file boundaries as in any v1 torrent.
    pub files: Vec<(String, u64)>,
    /// Bytes per piece; any value in `1..=128 MiB` (it need not be a power of two).
    pub piece_length: u64,
}

impl Layout {
    /// Whether the torrent has a `files` list (see the type's documentation).
    pub fn is_multi_file(&self) -> bool {
        !matches!(self.files.as_slice(), [(path, _)] if *path == self.name)
    }
}

/// Why a layout cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The layout would not make a valid torrent (bad name or path, duplicate files, ...).
    #[error("layout is not a valid torrent: {0}")]
    Invalid(#[from] metainfo::Error),
    #[error("piece length must be positive")]
    ZeroPieceLength,
    #[error("piece length {0} exceeds the limit of {MAX_PIECE_LENGTH} bytes")]
    PieceLengthTooLarge(u64),
    #[error("total length overflows 64 bits")]
    TotalOverflow,
    #[error("{0} pieces exceed the limit of {MAX_PIECES} for synthetic content")]
    TooManyPieces(u64),
}

/// A synthetic torrent's content: the generator, its layout and the torrent describing it.
pub struct Content {
    /// The seed every byte derives from.
    seed: u64,
    /// The layout as given.
    layout: Layout,
    /// Piece and file arithmetic.
    geometry: Geometry,
    /// The validated `info` dictionary with its `pieces` left empty; filled in from
    /// [`Content::piece_hashes`] when a torrent is made.
    info: Info,
    /// The SplitMix64 state before word 0, derived from the seed so that nearby seeds give
    /// unrelated streams.
    base: u64,
    /// The piece hashes, computed once on first use (hashing 1 GiB takes a second or so).
    hashes: OnceLock<Vec<[u8; 20]>>,
}

impl std::fmt::Debug for Content {
    /// A summary: the piece hashes alone can be megabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Content")
            .field("seed", &self.seed)
            .field("name", &self.layout.name)
            .field("files", &self.layout.files.len())
            .field("total_length", &self.geometry.total_length())
            .field("piece_length", &self.geometry.piece_length())
            .finish()
    }
}

/// The SplitMix64 output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Content {
    /// Content for `layout` generated from `seed`. The layout is checked with the client's own
    /// metainfo parser, so anything accepted here makes a torrent the client accepts.
    pub fn new(seed: u64, layout: Layout) -> Result<Content, ContentError> {
        if layout.piece_length == 0 {
            return Err(ContentError::ZeroPieceLength);
        }
        if layout.piece_length > MAX_PIECE_LENGTH {
            return Err(ContentError::PieceLengthTooLarge(layout.piece_length));
        }
        let total = layout
            .files
            .iter()
            .try_fold(0u64, |sum, (_, len)| sum.checked_add(*len))
            .ok_or(ContentError::TotalOverflow)?;
        let pieces = total.div_ceil(layout.piece_length);
        if pieces > MAX_PIECES {
            return Err(ContentError::TooManyPieces(pieces));
        }
        // Validate through the real parser, with placeholder hashes of the right count.
        let placeholder = vec![[0u8; 20]; pieces as usize];
        let mut top = Value::dict();
        top.insert("info", info_value(&layout, &placeholder));
        let parsed = Metainfo::from_bytes(&bencode::encode(&top))?;
        let mut info = parsed.info;
        info.pieces = Vec::new();
        let geometry = info.geometry();
        Ok(Content {
            seed,
            base: mix(seed ^ GOLDEN),
            layout,
            geometry,
            info,
            hashes: OnceLock::new(),
        })
    }

    /// The seed the content derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The layout as given.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Piece, block and file arithmetic for this content.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Word `index` of the stream.
    fn word(&self, index: u64) -> u64 {
        mix(self
            .base
            .wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN)))
    }

    /// Fills `buf` with the content bytes starting at `offset`. Defined for every offset (past
    /// the end the stream simply continues), so callers never need to clamp.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        let mut index = offset / 8;
        // The unaligned head: the tail end of one word.
        let skip = (offset % 8) as usize;
        let mut rest = buf;
        if skip != 0 {
            let bytes = self.word(index).to_le_bytes();
            let mut n = 0;
            for (dst, src) in rest.iter_mut().zip(bytes.iter().skip(skip)) {
                *dst = *src;
                n += 1;
            }
            rest = rest.split_at_mut(n).1;
            index = index.wrapping_add(1);
        }
        // Eight words at a time: the generator's arithmetic then runs on vector registers
        // (twice as fast; this stream feeds every simulated seeder and every judgement).
        let mut lines = rest.chunks_exact_mut(64);
        for line in &mut lines {
            let mut words = [0u64; 8];
            for (k, w) in (0u64..).zip(words.iter_mut()) {
                *w = self.word(index.wrapping_add(k));
            }
            for (dst, w) in line.chunks_exact_mut(8).zip(words) {
                dst.copy_from_slice(&w.to_le_bytes());
            }
            index = index.wrapping_add(8);
        }
        let mut chunks = lines.into_remainder().chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.word(index).to_le_bytes());
            index = index.wrapping_add(1);
        }
        let tail = chunks.into_remainder();
        let bytes = self.word(index).to_le_bytes();
        for (dst, src) in tail.iter_mut().zip(bytes.iter()) {
            *dst = *src;
        }
    }

    /// The SHA-1 of every piece, hashed on all cores the first time and cached.
    pub fn piece_hashes(&self) -> &[[u8; 20]] {
        self.hashes.get_or_init(|| self.hash_pieces())
    }

    fn hash_pieces(&self) -> Vec<[u8; 20]> {
        let count = u64::from(self.geometry.piece_count());
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get() as u64)
            .min(count)
            .max(1);
        let per_thread = count.div_ceil(threads);
        let runs: Vec<Vec<[u8; 20]>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let start = (t * per_thread).min(count) as u32;
                    let end = ((t + 1) * per_thread).min(count) as u32;
                    s.spawn(move || self.hash_run(start..end))
                })
                .collect();
            joined(handles)
        });
        runs.concat()
    }

    /// Hashes pieces `run` with one piece-sized buffer.
    fn hash_run(&self, run: std::ops::Range<u32>) -> Vec<[u8; 20]> {
        let mut buf = vec![0u8; self.geometry.piece_length() as usize];
        run.map(|piece| {
            let len = self.geometry.piece_len(piece) as usize;
            let data = buf.get_mut(..len).unwrap_or_default();
            self.read(self.geometry.piece_offset(piece), data);
            Sha1::digest(data).into()
        })
        .collect()
    }

    /// The info-hash of the torrent (independent of its trackers).
    pub fn info_hash(&self) -> InfoHash {
        InfoHash(Sha1::digest(self.info_bytes()).into())
    }

    /// The bencoded `info` dictionary with the real piece hashes.
    pub fn info_bytes(&self) -> Vec<u8> {
        bencode::encode(&info_value(&self.layout, self.piece_hashes()))
    }

    /// A v1 `.torrent` for this content announcing to `trackers` (BEP 12 tiers; empty URLs and
    /// tiers are dropped). The first URL is also `announce`; `announce-list` is written only
    /// when there is more than one URL. No creation date or other varying field is written,
    /// so the bytes are a pure function of (seed, layout, trackers).
    pub fn torrent_bytes(&self, trackers: &[Vec<String>]) -> Vec<u8> {
        let tiers = clean_tiers(trackers);
        let mut top = Value::dict();
        if let Some(first) = tiers.first().and_then(|t| t.first()) {
            top.insert("announce", Value::bytes(first));
        }
        if needs_list(&tiers) {
            let list = tiers
                .iter()
                .map(|t| Value::List(t.iter().map(Value::bytes).collect()))
                .collect();
            top.insert("announce-list", Value::List(list));
        }
        top.insert("info", info_value(&self.layout, self.piece_hashes()));
        bencode::encode(&top)
    }

    /// The parsed form of [`Content::torrent_bytes`], built directly (equal to parsing those
    /// bytes, which the tests check) so it cannot fail.
    pub fn metainfo(&self, trackers: &[Vec<String>]) -> Metainfo {
        let tiers = clean_tiers(trackers);
        let info_bytes = self.info_bytes();
        let mut info = self.info.clone();
        info.pieces = self.piece_hashes().to_vec();
        Metainfo {
            info_hash: InfoHash(Sha1::digest(&info_bytes).into()),
            info,
            info_bytes,
            announce: tiers.first().and_then(|t| t.first()).cloned(),
            announce_list: if needs_list(&tiers) {
                tiers
            } else {
                Vec::new()
            },
            url_list: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
            extra: BTreeMap::new(),
        }
    }

    /// The SHA-256 (lowercase hex) of file `index`, generated and hashed in a stream: what a
    /// finished download's file must hash to. `None` past the last file.
    pub fn file_sha256(&self, index: usize) -> Option<String> {
        if index >= self.geometry.file_count() {
            return None;
        }
        let start = self.geometry.file_offset(index);
        let len = self.geometry.file_length(index);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; STREAM_CHUNK.min(len as usize)];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.read(start + done, chunk);
            hasher.update(&*chunk);
            done += n as u64;
        }
        Some(hex::encode(hasher.finalize()))
    }

    /// [`Content::file_sha256`] of every file in order, one thread per file (at most one
    /// per core at a time).
    pub fn file_sha256s(&self) -> Vec<String> {
        let count = self.geometry.file_count();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut out = Vec::with_capacity(count);
        let indices: Vec<usize> = (0..count).collect();
        for batch in indices.chunks(threads.max(1)) {
            let digests: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|&i| s.spawn(move || self.file_sha256(i).unwrap_or_default()))
                    .collect();
                joined(handles)
            });
            out.extend(digests);
        }
        out
    }

    /// Where the file at `path` first differs from file `index` of this content, its length
    /// included, or `None` when it holds exactly those bytes: a byte-for-byte check, stronger
    /// than comparing digests and cheaper (no hashing), in 1 MiB chunks spread over the cores.
    pub fn first_difference(
        &self,
        index: usize,
        path: &std::path::Path,
    ) -> std::io::Result<Option<u64>> {
        let start = self.geometry.file_offset(index);
        let len = self.geometry.file_length(index);
        let file = std::fs::File::open(path)?;
        let actual = file.metadata()?.len();
        let common = actual.min(len);
        let chunks = common.div_ceil(STREAM_CHUNK as u64);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get() as u64)
            .min(chunks)
            .max(1);
        let per = chunks.div_ceil(threads) * STREAM_CHUNK as u64;
        let found: Vec<std::io::Result<Option<u64>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per).min(common)..((t + 1) * per).min(common);
                    let file = &file;
                    s.spawn(move || self.compare_range(file, start, range))
                })
                .collect();
            joined(handles)
        });
        let mut first = (actual != len).then_some(common);
        for at in found {
            if let Some(at) = at? {
                first = Some(first.map_or(at, |f| f.min(at)));
            }
        }
        Ok(first)
    }

    /// The first offset in `range` of `file` (file `start` of the stream) whose byte differs.
    fn compare_range(
        &self,
        file: &std::fs::File,
        start: u64,
        range: std::ops::Range<u64>,
    ) -> std::io::Result<Option<u64>> {
        use std::os::unix::fs::FileExt;
        let mut want = vec![0u8; STREAM_CHUNK];
        let mut got = vec![0u8; STREAM_CHUNK];
        let mut at = range.start;
        while at < range.end {
            let n = (range.end - at).min(STREAM_CHUNK as u64) as usize;
            let (want, got) = (&mut want[..n], &mut got[..n]);
            file.read_exact_at(got, at)?;
            self.read(start + at, want);
            if want != got {
                let i = want.iter().zip(got.iter()).position(|(a, b)| a != b);
                return Ok(Some(at + i.unwrap_or(0) as u64));
            }
            at += n as u64;
        }
        Ok(None)
    }
}

/// The `info` dictionary for `layout` with `hashes`, built like `bitswarm create` builds it.
fn info_value(layout: &Layout, hashes: &[[u8; 20]]) -> Value {
    let mut info = Value::dict();
    info.insert("name", Value::bytes(&layout.name));
    info.insert("piece length", int(layout.piece_length));
    info.insert("pieces", Value::Bytes(hashes.concat()));
    if layout.is_multi_file() {
        let files = layout
            .files
            .iter()
            .map(|(path, length)| {
                let mut d = Value::dict();
                d.insert("length", int(*length));
                d.insert(
                    "path",
                    Value::List(path.split('/').map(Value::bytes).collect()),
                );
                d
            })
            .collect();
        info.insert("files", Value::List(files));
    } else {
        let total = layout.files.iter().map(|(_, len)| *len).sum();
        info.insert("length", int(total));
    }
    info
}

/// A bencode integer from a length; lengths past `i64::MAX` are refused earlier by the parser
/// (they saturate here, which it then rejects as an overflow or mismatch).
fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Tracker tiers without empty URLs or empty tiers, as the metainfo parser would keep them.
fn clean_tiers(trackers: &[Vec<String>]) -> Vec<Vec<String>> {
    trackers
        .iter()
        .map(|tier| {
            tier.iter()
                .filter(|url| !url.is_empty())
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect()
}

/// Whether the tiers need an `announce-list` (more than the single `announce` URL).
fn needs_list(tiers: &[Vec<String>]) -> bool {
    tiers.len() > 1 || tiers.first().is_some_and(|t| t.len() > 1)
}

/// The results of scoped threads, in order; a thread's panic goes on in the caller.
fn joined<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, T>>) -> Vec<T> {
    handles
        .into_iter()
        .map(|h| match h.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}

#[cfg(test)]
mod tests;
