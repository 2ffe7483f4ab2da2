//! Tests of one connection over an in-memory stream: a peer that never reads, and the torrent
//! dropping its link while a write is blocked.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use super::*;
use crate::wire::max_frame_len;

fn addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 6881))
}

/// Starts a connection on one end of a 64-byte pipe; returns the link, the events, and the
/// peer's end (which the test reads, or never does).
async fn connected() -> (Link, mpsc::Receiver<Event>, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(64);
    let (events, mut rx) = mpsc::channel(16);
    let ctx = Context {
        info_hash: InfoHash([1; 20]),
        our_id: PeerId([2; 20]),
        decoder: Decoder::new(max_frame_len(8)),
        events,
        next_key: Arc::new(AtomicU64::new(1)),
        limit: None,
        up_limit: None,
    };
    let greeting = Greeting {
        peer_id: PeerId([3; 20]),
        reserved: Reserved::ours(),
        leftover: BytesMut::new(),
    };
    let started = tokio::spawn(async move { start(ours, addr(), greeting, true, &ctx).await });
    let link = match rx.recv().await {
        Some(Event::Connected { link, .. }) => link,
        other => panic!("expected Connected, got {other:?}"),
    };
    started.await.unwrap();
    (link, rx, theirs)
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_is_dropped_when_a_write_times_out() {
    let (link, mut events, _theirs) = connected().await;
    for piece in 0..20 {
        link.send(Message::Have(piece)).unwrap();
    }
    let started = tokio::time::Instant::now();
    match events.recv().await {
        Some(Event::Closed { reason, .. }) => assert_eq!(reason, Reason::WriteTimeout),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(started.elapsed() >= WRITE_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn what_we_queue_for_a_peer_that_never_reads_is_bounded() {
    let (link, _events, _theirs) = connected().await;
    let mut queued = 0;
    let full = loop {
        match link.send(Message::Have(1)) {
            Ok(()) => queued += Message::Have(1).encoded_len(),
            Err(e) => break e,
        }
        assert!(queued <= MAX_QUEUED, "queued {queued} bytes");
    };
    assert_eq!(full, SendError::Full);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_link_closes_the_socket_even_while_a_write_is_blocked() {
    use tokio::io::AsyncWriteExt;
    let (link, mut events, mut theirs) = connected().await;
    for piece in 0..20 {
        link.send(Message::Have(piece)).unwrap();
    }
    // The peer reads nothing: our writer is stuck with a full pipe.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    drop(link);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // Long before the write timeout, our end of the stream is gone.
    let err = theirs
        .write_all(&[0])
        .await
        .expect_err("the socket was left open");
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    assert!(
        events.recv().await.is_none(),
        "a close the torrent asked for is not reported back"
    );
}

#[test]
fn the_send_queue_cap_leaves_room_for_the_engines_upload_window() {
    // The engine keeps up to `upload_window` of block data read or queued for a peer; the
    // cap is twice that, for the small messages around it. A larger window with this cap
    // drops every fast leecher for a full send queue (seen with a 4 MiB window).
    let window = crate::engine::Config::default().upload_window;
    assert!(
        MAX_QUEUED as u64 >= 2 * window,
        "MAX_QUEUED {MAX_QUEUED} < 2 x upload_window {window}"
    );
}
