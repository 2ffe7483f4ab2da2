//! A hand-driven peer on a loopback socket, for seeing exactly what a seeder sends: it dials
//! a seeder (or accepts a seeder that dials it), handshakes, and sends and expects messages.

use std::net::SocketAddr;
use std::time::Duration;

use bitswarm_client::net::{Listener, Net, TokioNet};
use bitswarm_client::wire::{max_frame_len, Decoder, Handshake, Message, Reserved, HANDSHAKE_LEN};
use bitswarm_client::{BlockRef, InfoHash, PeerId};
use bytes::BytesMut;
use seeder::{Content, SeedSwarm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::net;

/// A hand-driven peer.
pub struct Raw {
    pub stream: <TokioNet as Net>::Stream,
    pub buf: BytesMut,
    pub decoder: Decoder,
    /// The seeder's handshake.
    pub theirs: Handshake,
}

/// How long "nothing arrives" is waited for.
pub const QUIET: Duration = Duration::from_millis(300);

/// The peer id the hand-driven peer handshakes with.
pub const RAW_PEER_ID: PeerId = PeerId(*b"-XX0000-rawpeer00000");

fn our_handshake(info_hash: InfoHash, fast: bool) -> Handshake {
    let reserved = if fast {
        Reserved::ours()
    } else {
        Reserved::default()
    };
    Handshake {
        reserved,
        info_hash,
        peer_id: RAW_PEER_ID,
    }
}

impl Raw {
    pub async fn connect(swarm: &SeedSwarm, addr: SocketAddr, fast: bool) -> Raw {
        let info_hash = swarm.info_hash;
        let mut raw = Raw::dial(addr, info_hash, fast).await;
        raw.read_handshake(swarm).await;
        raw
    }

    /// Connects and sends a handshake for `info_hash`, reading nothing.
    pub async fn dial(addr: SocketAddr, info_hash: InfoHash, fast: bool) -> Raw {
        let mut stream = net().connect(addr).await.unwrap();
        let ours = our_handshake(info_hash, fast);
        stream.write_all(&ours.encode()).await.unwrap();
        Raw {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(1 << 20),
            theirs: ours,
        }
    }

    /// Accepts a seeder dialling in (a rejoin) within 5 s, reads its handshake, which must
    /// come first, then answers; returns the peer and the seeder's source address.
    pub async fn accept<L: Listener<Stream = <TokioNet as Net>::Stream>>(
        listener: &mut L,
        swarm: &SeedSwarm,
    ) -> (Raw, SocketAddr) {
        let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept());
        let (stream, from) = accepted.await.expect("no seeder dialled in").unwrap();
        let ours = our_handshake(swarm.info_hash, true);
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(1 << 20),
            theirs: ours,
        };
        let read = tokio::time::timeout(Duration::from_secs(5), raw.read_handshake(swarm));
        read.await
            .expect("the dialling seeder did not handshake first");
        raw.stream.write_all(&ours.encode()).await.unwrap();
        (raw, from)
    }

    async fn read_handshake(&mut self, swarm: &SeedSwarm) {
        let mut buf = BytesMut::new();
        let theirs = loop {
            if let Some(h) = Handshake::decode(&buf).unwrap() {
                break h;
            }
            assert_ne!(self.stream.read_buf(&mut buf).await.unwrap(), 0, "closed");
        };
        let _ = buf.split_to(HANDSHAKE_LEN);
        self.buf = buf;
        self.theirs = theirs;
        self.decoder = Decoder::new(max_frame_len(swarm.content.geometry().piece_count()));
    }

    pub async fn send(&mut self, msgs: &[Message]) {
        let mut out = BytesMut::new();
        for m in msgs {
            m.encode(&mut out);
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next message; `Ok(None)` at end-of-stream.
    pub async fn next(&mut self) -> std::io::Result<Option<Message>> {
        loop {
            if let Some(msg) = self.decoder.decode(&mut self.buf).unwrap() {
                return Ok(Some(msg));
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// The next message, which must come within 5 s.
    pub async fn expect(&mut self) -> Message {
        let next = tokio::time::timeout(Duration::from_secs(5), self.next());
        next.await.expect("no message").unwrap().expect("closed")
    }

    /// Asserts nothing arrives for [`QUIET`] (and the connection stays open).
    pub async fn expect_quiet(&mut self) {
        if let Ok(r) = tokio::time::timeout(QUIET, self.next()).await {
            panic!("expected silence, got {r:?}");
        }
    }

    /// Reads raw bytes until at least `n` are buffered (within 5 s).
    pub async fn read_at_least(&mut self, n: usize) {
        let limit = Duration::from_secs(5);
        while self.buf.len() < n {
            let read = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf));
            assert_ne!(read.await.unwrap().unwrap(), 0, "closed");
        }
    }

    /// Reads until the connection ends: `Ok` for end-of-stream, `Err` for a reset.
    pub async fn until_end(&mut self) -> std::io::Result<()> {
        let limit = Duration::from_secs(15);
        tokio::time::timeout(limit, async {
            loop {
                match self.next().await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("connection did not end")
    }
}

/// Block `index` (16 KiB) of `piece`.
pub fn block(piece: u32, index: u32) -> BlockRef {
    BlockRef {
        piece,
        offset: index * 16384,
        len: 16384,
    }
}

/// The generated bytes of `b`.
pub fn data_of(content: &Content, b: BlockRef) -> Vec<u8> {
    let mut data = vec![0u8; b.len as usize];
    let offset = content.geometry().piece_offset(b.piece) + u64::from(b.offset);
    content.read(offset, &mut data);
    data
}

/// The block a `piece` message carries and its bytes; panics on any other message.
pub fn piece_of(msg: Message) -> (BlockRef, Vec<u8>) {
    match msg {
        Message::Piece {
            piece,
            offset,
            data,
        } => {
            let b = BlockRef {
                piece,
                offset,
                len: data.len() as u32,
            };
            (b, data.to_vec())
        }
        other => panic!("expected a piece, got {other:?}"),
    }
}

/// How many bytes of `a` and `b` differ.
pub fn differing(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}
