//! The announce task on tokio's paused clock against trackers that never answer: `stop` must
//! end it within two (virtual) seconds whatever the round in flight is doing.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;

use super::*;
use crate::net::{HttpError, Listener, Udp};
use crate::shell::observe::Observer;
use crate::tracker::client::Config;
use crate::tracker::http::encode_announce_response;

/// What Ctrl-C promises: the task is gone this soon after `stop`.
const STOP_BOUND: Duration = Duration::from_secs(2);

/// A network where nothing answers: datagrams vanish, names never resolve, HTTP GETs hang. The
/// first `answering` HTTP GETs get a valid announce answer instead, after `delay`.
#[derive(Clone)]
struct DeadNet {
    answering: usize,
    delay: Duration,
    gets: Arc<AtomicUsize>,
}

impl DeadNet {
    fn new(answering: usize, delay: Duration) -> Self {
        DeadNet {
            answering,
            delay,
            gets: Arc::new(AtomicUsize::new(0)),
        }
    }
}

struct DeadUdp;

impl Udp for DeadUdp {
    async fn send_to(&self, buf: &[u8], _addr: SocketAddr) -> io::Result<usize> {
        Ok(buf.len())
    }

    async fn recv_from(&self, _buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::pending().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from(([10, 0, 0, 1], 40_000)))
    }
}

struct NoListener;

impl Listener for NoListener {
    type Stream = DuplexStream;

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        std::future::pending().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl Net for DeadNet {
    type Stream = DuplexStream;
    type Listener = NoListener;
    type Udp = DeadUdp;

    fn local_ips(&self) -> Vec<std::net::IpAddr> {
        Vec::new()
    }

    async fn connect(&self, _addr: SocketAddr) -> io::Result<DuplexStream> {
        std::future::pending().await
    }

    async fn listen(&self, _addr: SocketAddr) -> io::Result<NoListener> {
        Ok(NoListener)
    }

    async fn bind_udp(&self, _addr: SocketAddr) -> io::Result<DeadUdp> {
        Ok(DeadUdp)
    }

    async fn join_multicast(&self, _group: SocketAddr) -> io::Result<DeadUdp> {
        Ok(DeadUdp)
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match host.parse() {
            Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
            // A dead DNS server: the system resolver would retry for half a minute.
            Err(_) => std::future::pending().await,
        }
    }

    async fn http_get(&self, _url: &str) -> Result<Vec<u8>, HttpError> {
        if self.gets.fetch_add(1, Ordering::SeqCst) >= self.answering {
            return std::future::pending().await;
        }
        tokio::time::sleep(self.delay).await;
        let answer = AnnounceResponse {
            interval: Some(1800),
            peers: vec![SocketAddr::from(([9, 9, 9, 9], 9))],
            ..AnnounceResponse::default()
        };
        Ok(encode_announce_response(&answer, true))
    }
}

/// Records announce outcomes with their virtual time since the test began.
struct Log {
    start: Instant,
    events: Mutex<Vec<(Duration, TrackerEvent, bool)>>,
}

impl Observer for Log {
    fn record(&self, event: Trace<'_>) {
        if let Trace::Announced { event, result } = event {
            let at = self.start.elapsed();
            self.events
                .lock()
                .unwrap()
                .push((at, event, result.is_ok()));
        }
    }
}

/// The announce task over `net` with an HTTP tracker first, then dead UDP trackers (one by
/// address, one by a name that never resolves), and the handles to drive it.
fn start(net: DeadNet) -> (mpsc::UnboundedSender<Command>, JoinHandle<()>, Arc<Log>) {
    let tiers = vec![
        vec!["http://10.0.0.8/announce".to_owned()],
        vec![
            "udp://10.0.0.9:6969/announce".to_owned(),
            "udp://dead.test:6969/announce".to_owned(),
        ],
    ];
    start_with(net, tiers)
}

/// The announce task over `net` with these tiers.
fn start_with(
    net: DeadNet,
    tiers: Vec<Vec<String>>,
) -> (mpsc::UnboundedSender<Command>, JoinHandle<()>, Arc<Log>) {
    let rng = ChaCha8Rng::seed_from_u64(1);
    let announcer = Announcer::new(net, tiers, rng, Config::default());
    let (_counters_tx, counters) = watch::channel(Counters::default());
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let (peers, _peers_rx) = mpsc::unbounded_channel();
    let log = Arc::new(Log {
        start: Instant::now(),
        events: Mutex::new(Vec::new()),
    });
    let task = spawn(Setup {
        announcer,
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([2; 20]),
        port: 6881,
        counters,
        commands,
        peers,
        started_complete: false,
        watch: Watch(Some(log.clone())),
    });
    (commands_tx, task, log)
}

/// Sends `stop` and asserts the task ends within [`STOP_BOUND`]; returns how long it took.
async fn stop_within_bound(
    commands: &mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
) -> Duration {
    let asked = Instant::now();
    commands.send(Command::Stop).unwrap();
    tokio::time::timeout(STOP_BOUND, task)
        .await
        .expect("the announce task outlived stop by two seconds")
        .unwrap();
    asked.elapsed()
}

#[tokio::test(start_paused = true)]
async fn stop_abandons_a_round_of_dead_trackers_at_once() {
    let (commands, task, log) = start(DeadNet::new(0, Duration::ZERO));
    // Deep in the first round: the HTTP tracker's 20 s are spent, a UDP one is retransmitting.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let took = stop_within_bound(&commands, task).await;
    // No tracker ever knew us, so there is no `stopped` to send.
    assert_eq!(took, Duration::ZERO);
    assert!(log.events.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_stopped_announce_gives_up_at_its_deadline() {
    let (commands, task, log) = start(DeadNet::new(1, Duration::ZERO));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let took = stop_within_bound(&commands, task).await;
    assert_eq!(took, STOPPED_DEADLINE);
    let events = log.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            (Duration::ZERO, TrackerEvent::Started, true),
            (
                Duration::from_secs(60) + STOPPED_DEADLINE,
                TrackerEvent::Stopped,
                false
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn completed_then_stop_at_once_sends_both() {
    // What the torrent does when the last piece lands: both commands back to back.
    let (commands, task, log) = start(DeadNet::new(3, Duration::from_millis(100)));
    tokio::time::sleep(Duration::from_secs(60)).await;
    commands.send(Command::Completed).unwrap();
    let took = stop_within_bound(&commands, task).await;
    assert_eq!(took, Duration::from_millis(200));
    let events: Vec<(TrackerEvent, bool)> = log
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, event, ok)| (event, ok))
        .collect();
    assert_eq!(
        events,
        [
            (TrackerEvent::Started, true),
            (TrackerEvent::Completed, true),
            (TrackerEvent::Stopped, true),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn completed_and_stopped_share_the_deadline() {
    let (commands, task, log) = start(DeadNet::new(1, Duration::ZERO));
    tokio::time::sleep(Duration::from_secs(60)).await;
    commands.send(Command::Completed).unwrap();
    let took = stop_within_bound(&commands, task).await;
    assert_eq!(took, STOPPED_DEADLINE);
    let events = log.events.lock().unwrap().clone();
    let late = Duration::from_secs(60) + STOPPED_DEADLINE;
    assert_eq!(
        events[1..],
        [
            (late, TrackerEvent::Completed, false),
            (late, TrackerEvent::Stopped, false),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn completed_during_a_round_goes_out_right_after_it() {
    let (commands, task, log) = start(DeadNet::new(2, Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    commands.send(Command::Completed).unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let events = log.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            (Duration::from_secs(5), TrackerEvent::Started, true),
            (Duration::from_secs(10), TrackerEvent::Completed, true),
        ]
    );
    stop_within_bound(&commands, task).await;
}

#[tokio::test(start_paused = true)]
async fn a_torrent_without_usable_trackers_never_announces() {
    // No tracker, or only ones of schemes nobody can announce to (a DHT or LPD torrent): no
    // round, no failure logged every few seconds, and stop still ends the task at once.
    for tiers in [vec![], vec![vec!["wss://tracker.test/announce".to_owned()]]] {
        let (commands, task, log) = start_with(DeadNet::new(1, Duration::ZERO), tiers);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(log.events.lock().unwrap().is_empty());
        let took = stop_within_bound(&commands, task).await;
        assert!(took < Duration::from_millis(10), "{took:?}");
    }
}
