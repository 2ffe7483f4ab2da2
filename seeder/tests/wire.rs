//! Synthetic seeders seen from a scripted peer on a loopback socket: the exact messages each
//! behaviour sends, and how connections end (FIN, RST, close on abuse).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::{Net, TokioNet};
use bitswarm_client::wire::{max_frame_len, Decoder, Handshake, Message, Reserved, HANDSHAKE_LEN};
use bitswarm_client::{BlockRef, InfoHash, PeerId};
use bytes::BytesMut;
use common::*;
use seeder::{Behaviour, Content, DropMode, LieMode, PieceSet, SeedSwarm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A hand-driven peer.
struct Raw {
    stream: <TokioNet as Net>::Stream,
    buf: BytesMut,
    decoder: Decoder,
    /// The seeder's handshake.
    theirs: Handshake,
}

/// How long "nothing arrives" is waited for.
const QUIET: Duration = Duration::from_millis(300);

impl Raw {
    async fn connect(swarm: &SeedSwarm, addr: std::net::SocketAddr, fast: bool) -> Raw {
        let info_hash = swarm.info_hash;
        let mut raw = Raw::dial(addr, info_hash, fast).await;
        let mut buf = BytesMut::new();
        let theirs = loop {
            if let Some(h) = Handshake::decode(&buf).unwrap() {
                break h;
            }
            assert_ne!(raw.stream.read_buf(&mut buf).await.unwrap(), 0, "closed");
        };
        let _ = buf.split_to(HANDSHAKE_LEN);
        raw.buf = buf;
        raw.theirs = theirs;
        raw.decoder = Decoder::new(max_frame_len(swarm.content.geometry().piece_count()));
        raw
    }

    /// Connects and sends a handshake for `info_hash`, reading nothing.
    async fn dial(addr: std::net::SocketAddr, info_hash: InfoHash, fast: bool) -> Raw {
        let mut stream = net().connect(addr).await.unwrap();
        let reserved = if fast {
            Reserved::ours()
        } else {
            Reserved::default()
        };
        let ours = Handshake {
            reserved,
            info_hash,
            peer_id: PeerId(*b"-XX0000-rawpeer00000"),
        };
        stream.write_all(&ours.encode()).await.unwrap();
        Raw {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(1 << 20),
            theirs: ours,
        }
    }

    async fn send(&mut self, msgs: &[Message]) {
        let mut out = BytesMut::new();
        for m in msgs {
            m.encode(&mut out);
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next message; `Ok(None)` at end-of-stream.
    async fn next(&mut self) -> std::io::Result<Option<Message>> {
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
    async fn expect(&mut self) -> Message {
        let next = tokio::time::timeout(Duration::from_secs(5), self.next());
        next.await.expect("no message").unwrap().expect("closed")
    }

    /// Asserts nothing arrives for [`QUIET`] (and the connection stays open).
    async fn expect_quiet(&mut self) {
        if let Ok(r) = tokio::time::timeout(QUIET, self.next()).await {
            panic!("expected silence, got {r:?}");
        }
    }

    /// Reads raw bytes until at least `n` are buffered (within 5 s).
    async fn read_at_least(&mut self, n: usize) {
        let limit = Duration::from_secs(5);
        while self.buf.len() < n {
            let read = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf));
            assert_ne!(read.await.unwrap().unwrap(), 0, "closed");
        }
    }

    /// Reads until the connection ends: `Ok` for end-of-stream, `Err` for a reset.
    async fn until_end(&mut self) -> std::io::Result<()> {
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

fn block(piece: u32, index: u32) -> BlockRef {
    BlockRef {
        piece,
        offset: index * 16384,
        len: 16384,
    }
}

fn data_of(content: &Content, b: BlockRef) -> Vec<u8> {
    let mut data = vec![0u8; b.len as usize];
    let offset = content.geometry().piece_offset(b.piece) + u64::from(b.offset);
    content.read(offset, &mut data);
    data
}

async fn seeder(behaviour: Behaviour) -> (Arc<SeedSwarm>, std::net::SocketAddr) {
    let (_, _, swarm) = setup(5);
    let addr = start(&swarm, behaviour, 1, None).await;
    (swarm, addr)
}

fn piece_of(msg: Message) -> (BlockRef, Vec<u8>) {
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

#[tokio::test]
async fn an_honest_seeder_speaks_bep_3_and_6() {
    let (swarm, addr) = seeder(Behaviour::default()).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.theirs.info_hash, swarm.info_hash);
    assert!(p.theirs.reserved.supports_fast() && !p.theirs.reserved.supports_extended());
    assert!(p.theirs.peer_id.0.starts_with(b"-SD0100-"));
    assert_eq!(p.expect().await, Message::HaveAll);
    // Choked: a request is rejected.
    p.send(&[Message::Request(block(0, 0))]).await;
    assert_eq!(p.expect().await, Message::Reject(block(0, 0)));
    p.send(&[Message::Interested]).await;
    assert_eq!(p.expect().await, Message::Unchoke);
    // Served with the generated bytes, across a file boundary too (piece 4 spans a.bin/b.bin).
    // The last piece (19) is 54 836 bytes long: its last 100 bytes end the content.
    let tail = BlockRef {
        piece: 19,
        offset: 54_736,
        len: 100,
    };
    for b in [block(0, 0), block(4, 2), tail] {
        p.send(&[Message::Request(b)]).await;
        let (got, data) = piece_of(p.expect().await);
        assert_eq!(got, b);
        assert_eq!(data, data_of(&swarm.content, b));
    }
    // A cancelled request gets exactly one answer: the block or a reject.
    p.send(&[Message::Request(block(1, 1)), Message::Cancel(block(1, 1))])
        .await;
    match p.expect().await {
        Message::Reject(b) => assert_eq!(b, block(1, 1)),
        Message::Piece { piece, offset, .. } => assert_eq!((piece, offset), (1, 16384)),
        other => panic!("{other:?}"),
    }
    p.expect_quiet().await;
}

#[tokio::test]
async fn without_bep_6_a_bitfield_and_silence() {
    let partial = Behaviour {
        pieces: PieceSet::List(vec![0, 9]),
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(partial).await;
    let mut p = Raw::connect(&swarm, addr, false).await;
    let count = swarm.content.geometry().piece_count();
    let mut expected = bitswarm_client::Bitfield::new(count);
    expected.set(0, true);
    expected.set(9, true);
    assert_eq!(
        p.expect().await,
        Message::Bitfield(expected.as_bytes().to_vec().into())
    );
    // Choked and without BEP 6: requests are dropped silently.
    p.send(&[Message::Request(block(0, 0))]).await;
    p.expect_quiet().await;
    p.send(&[Message::Interested]).await;
    assert_eq!(p.expect().await, Message::Unchoke);
    // A piece it does not have: silence too.
    p.send(&[Message::Request(block(1, 0)), Message::Request(block(9, 0))])
        .await;
    assert_eq!(piece_of(p.expect().await).0, block(9, 0));
    p.expect_quiet().await;
}

#[tokio::test]
async fn lies_are_ignored_or_rejected() {
    for mode in [LieMode::Ignore, LieMode::Reject] {
        let liar = Behaviour {
            lie_pieces: vec![2],
            lie_mode: mode,
            ..Behaviour::default()
        };
        let (swarm, addr) = seeder(liar).await;
        let mut p = Raw::connect(&swarm, addr, true).await;
        assert_eq!(p.expect().await, Message::HaveAll);
        p.send(&[Message::Interested]).await;
        assert_eq!(p.expect().await, Message::Unchoke);
        p.send(&[Message::Request(block(2, 0))]).await;
        match mode {
            LieMode::Reject => assert_eq!(p.expect().await, Message::Reject(block(2, 0))),
            LieMode::Ignore => p.expect_quiet().await,
        }
        p.send(&[Message::Request(block(3, 0))]).await;
        assert_eq!(piece_of(p.expect().await).0, block(3, 0));
    }
}

#[tokio::test]
async fn corrupt_pieces_differ_in_one_byte() {
    let corrupt = Behaviour {
        corrupt_pieces: vec![1],
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(corrupt).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    p.expect().await;
    p.send(&[Message::Interested]).await;
    p.expect().await;
    for (b, corrupted) in [(block(1, 3), true), (block(2, 0), false)] {
        p.send(&[Message::Request(b)]).await;
        let (_, data) = piece_of(p.expect().await);
        let good = data_of(&swarm.content, b);
        let differ = data.iter().zip(&good).filter(|(a, b)| a != b).count();
        assert_eq!(differ, usize::from(corrupted), "{b:?}");
    }
}

#[tokio::test]
async fn abuse_closes_the_connection() {
    // A request outside the piece.
    let (swarm, addr) = seeder(Behaviour::default()).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    p.send(&[Message::Interested, Message::Request(block(0, 4))])
        .await;
    assert!(p.until_end().await.is_ok());

    // More than 500 queued requests (distinct, valid, at odd offsets) to a slow seeder.
    let slow = Behaviour {
        rate: Some(16 * 1024),
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(slow).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    p.send(&[Message::Interested]).await;
    let flood: Vec<Message> = (0..=500)
        .map(|i| {
            Message::Request(BlockRef {
                piece: 0,
                offset: i,
                len: 16384,
            })
        })
        .collect();
    p.send(&flood).await;
    assert!(p.until_end().await.is_ok());

    // A handshake for another torrent: no handshake back.
    let mut p = Raw::dial(addr, InfoHash([7; 20]), true).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), p.stream.read_to_end(&mut buf));
    read.await.unwrap().unwrap();
    assert!(buf.is_empty(), "{} bytes", buf.len());
}

#[tokio::test]
async fn sabotage_after_the_handshake() {
    let impostor = Behaviour {
        wrong_info_hash: true,
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(impostor).await;
    let p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.theirs.info_hash, InfoHash(swarm.info_hash.0.map(|b| !b)));

    let oversized = Behaviour {
        oversized_message: true,
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(oversized).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    p.read_at_least(13).await;
    assert_eq!(
        &p.buf[..],
        &[0x7f, 0xff, 0xff, 0xff, 7, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert!(p.decoder.decode(&mut p.buf).is_err());

    let garbage = Behaviour {
        garbage_after_handshake: true,
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(garbage).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    p.read_at_least(1024).await;
    assert_eq!(p.buf.len(), 1024);
    // Then nothing, until we hang up.
    let mut more = [0u8; 16];
    let quiet = tokio::time::timeout(QUIET, p.stream.read(&mut more)).await;
    assert!(quiet.is_err(), "{quiet:?}");
}

/// Requests blocks one at a time, like a client refilling its queue, until the connection
/// ends; returns the whole blocks received and how it ended.
async fn download_until_cut(p: &mut Raw) -> (usize, std::io::Result<()>) {
    p.send(&[Message::Interested]).await;
    assert_eq!(p.expect().await, Message::Unchoke);
    let mut asked = 0u32;
    let mut ask = || {
        asked += 1;
        Message::Request(block(asked / 4, asked % 4))
    };
    let first: Vec<Message> = (0..4).map(|_| ask()).collect();
    p.send(&first).await;
    let mut blocks = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(15), p.next())
            .await
            .unwrap()
        {
            Ok(Some(Message::Piece { .. })) => {
                blocks += 1;
                let more = ask();
                // The seeder may already be gone; a failed write is part of the story.
                let mut out = BytesMut::new();
                more.encode(&mut out);
                let _ = p.stream.write_all(&out).await;
            }
            Ok(Some(other)) => panic!("{other:?}"),
            Ok(None) => return (blocks, Ok(())),
            Err(e) => return (blocks, Err(e)),
        }
    }
}

#[tokio::test]
async fn a_fin_mid_piece_is_an_end_of_stream() {
    let fin = Behaviour {
        drop_after_blocks: Some(3),
        drop_mode: DropMode::Fin,
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(fin).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.expect().await, Message::HaveAll);
    let (blocks, end) = download_until_cut(&mut p).await;
    assert_eq!(blocks, 3);
    assert!(end.is_ok(), "{end:?}");
    // Half a block was left in the buffer: the cut was mid-piece.
    assert_eq!(p.buf.len(), 13 + 8192);
}

#[tokio::test]
async fn a_rst_mid_piece_is_a_reset() {
    let rst = Behaviour {
        drop_after_blocks: Some(3),
        drop_mode: DropMode::Rst,
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(rst).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.expect().await, Message::HaveAll);
    let (blocks, end) = download_until_cut(&mut p).await;
    assert_eq!(blocks, 3);
    let e = end.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
}

#[tokio::test]
async fn a_stalled_connection_stays_open_and_silent() {
    let staller = Behaviour {
        stall_after_blocks: Some(1),
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(staller).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    p.expect().await;
    p.send(&[Message::Interested]).await;
    p.expect().await;
    p.send(&[Message::Request(block(0, 0)), Message::Request(block(0, 1))])
        .await;
    assert_eq!(piece_of(p.expect().await).0, block(0, 0));
    p.send(&[Message::Request(block(0, 2))]).await;
    p.expect_quiet().await;
    p.expect_quiet().await;
}

#[tokio::test]
async fn flapping_and_allowed_fast() {
    let flapper = Behaviour {
        choke_flap_ms: Some(100),
        allowed_fast: vec![3, 5],
        ..Behaviour::default()
    };
    let (swarm, addr) = seeder(flapper).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.expect().await, Message::HaveAll);
    assert_eq!(p.expect().await, Message::AllowedFast(3));
    assert_eq!(p.expect().await, Message::AllowedFast(5));
    // Allowed-fast pieces are served while choked.
    p.send(&[Message::Request(block(5, 1))]).await;
    assert_eq!(piece_of(p.expect().await).0, block(5, 1));
    p.send(&[Message::Interested]).await;
    let seen: Vec<Message> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(p.expect().await);
        }
        v
    };
    assert_eq!(
        seen,
        vec![
            Message::Unchoke,
            Message::Choke,
            Message::Unchoke,
            Message::Choke
        ]
    );
}
