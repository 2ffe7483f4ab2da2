//! What [`super::Torrent::start`] sets up besides the engine: the storage and the check of
//! existing data, the listener, and the announce task.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, watch};

use crate::engine::Engine;
use crate::metainfo::Metainfo;
use crate::net::Net;
use crate::storage::{resume, FileStorage, Storage, DEFAULT_MAX_OPEN};
use crate::tracker::client::{Announcer, Config as TrackerConfig};
use crate::PeerId;

use super::super::announce::{self, Counters};
use super::super::disk::{Disk, DiskDone};
use super::super::{Options, Progress};
use super::{Announce, Error};

/// Opens the torrent's files, starts its disk work, and checks what is already there (fast
/// with a valid resume file).
pub(super) async fn open_storage(
    meta: &Metainfo,
    opts: &Options,
    progress: &watch::Sender<Progress>,
) -> Result<
    (
        Arc<FileStorage>,
        Disk,
        mpsc::UnboundedReceiver<DiskDone>,
        crate::Bitfield,
    ),
    Error,
> {
    let geometry = meta.info.geometry();
    let hashes = Arc::new(meta.info.pieces.clone());
    let files = Arc::new(FileStorage::new(
        &opts.out_dir,
        &meta.info,
        DEFAULT_MAX_OPEN,
    )?);
    files.prepare()?;
    let (disk_tx, disk_done) = mpsc::unbounded_channel();
    let storage: Arc<dyn Storage> = files.clone();
    let disk = Disk::new(
        storage,
        geometry.clone(),
        Arc::clone(&hashes),
        opts.disk,
        disk_tx,
    );
    let _ = progress.send(Progress {
        total_length: geometry.total_length(),
        left: geometry.total_length(),
        checking: true,
        ..Progress::default()
    });
    let check = {
        let (files, info_hash, threads) = (Arc::clone(&files), meta.info_hash, disk.threads());
        move || resume::restore(&files, &info_hash, &hashes, threads, &|_| {})
    };
    let have = disk.blocking(check).await.ok_or(Error::Check)?;
    Ok((files, disk, disk_done, have))
}

/// Binds the listener (see [`super::super::bind`]).
pub(super) async fn listen_on<N: Net>(net: &N, addr: SocketAddr) -> Result<N::Listener, Error> {
    super::super::bind(net, addr)
        .await
        .map_err(|(addr, source)| Error::Listen { addr, source })
}

/// Starts the announce task; peers it learns arrive on `peers`.
#[allow(clippy::too_many_arguments)]
pub(super) fn start_announcing<N: Net>(
    net: &N,
    meta: &Metainfo,
    opts: &Options,
    our_id: PeerId,
    port: u16,
    engine: &Engine,
    peers: mpsc::UnboundedSender<Vec<SocketAddr>>,
    rng: &mut ChaCha8Rng,
) -> Announce {
    let (counters, counters_rx) = watch::channel(Counters {
        left: engine.left(),
        ..Counters::default()
    });
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let announcer = Announcer::new(
        net.clone(),
        meta.trackers(),
        ChaCha8Rng::seed_from_u64(rng.gen()),
        TrackerConfig::default(),
    );
    let task = announce::spawn(announce::Setup {
        announcer,
        info_hash: meta.info_hash,
        peer_id: our_id,
        port,
        counters: counters_rx,
        commands: commands_rx,
        peers,
        started_complete: engine.is_complete(),
        watch: opts.watch.clone(),
    });
    Announce {
        commands,
        counters,
        task,
    }
}
