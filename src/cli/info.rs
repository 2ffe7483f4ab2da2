//! `bitswarm info`: what a .torrent or magnet link describes, as text or one JSON object.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bitswarm_client::shell::Options;
use bitswarm_client::{Magnet, Metainfo};
use serde_json::{json, Value};

use super::display::escape;
use super::run_torrent::DhtFlags;
use super::units::format_size;
use super::{read_input, Failure};

pub fn run(
    input: &str,
    as_json: bool,
    save: Option<&Path>,
    dht: &DhtFlags,
) -> Result<ExitCode, Failure> {
    let (text, object) = if input.starts_with("magnet:") {
        let magnet = Magnet::parse(input)
            .map_err(|e| Failure::bad_input(anyhow::anyhow!("invalid magnet link: {e}")))?;
        match save {
            Some(path) => {
                let meta = fetch_and_save(&magnet, path, dht)?;
                (torrent_text(&meta), torrent_json(&meta))
            }
            None => (magnet_text(&magnet), magnet_json(&magnet)),
        }
    } else if save.is_some() {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "--save fetches a magnet link's metadata; {input} is not a magnet link"
        )));
    } else {
        let path = PathBuf::from(input);
        let bytes = read_input(&path)?;
        let meta = Metainfo::from_bytes(&bytes).map_err(|e| {
            Failure::bad_input(anyhow::anyhow!("{}: invalid torrent: {e}", path.display()))
        })?;
        (torrent_text(&meta), torrent_json(&meta))
    };
    if as_json {
        println!("{object}");
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetches the metadata of `magnet` from its peers and writes it to `path` as a .torrent.
fn fetch_and_save(magnet: &Magnet, path: &Path, dht: &DhtFlags) -> Result<Metainfo, Failure> {
    let opts = Options::new(PathBuf::from("."), super::run_torrent::rand_seed());
    let fetched = super::run_torrent::fetch_magnet(magnet, &opts, dht)?;
    std::fs::write(path, &fetched.torrent)
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot write {}: {e}", path.display())))?;
    Ok(fetched.meta)
}

fn torrent_json(m: &Metainfo) -> Value {
    let files: Vec<Value> = m
        .info
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| json!({ "path": m.info.file_path(i).to_string_lossy(), "length": f.length }))
        .collect();
    json!({
        "source": "torrent",
        "name": m.info.name,
        "info_hash": m.info_hash.to_hex(),
        "piece_length": m.info.piece_length,
        "pieces": m.info.pieces.len(),
        "total_length": m.info.total_length(),
        "files": files,
        "trackers": m.trackers(),
        "web_seeds": m.url_list,
        "private": m.info.private,
        "comment": m.comment,
        "created_by": m.created_by,
        "creation_date": m.creation_date,
    })
}

fn magnet_json(m: &Magnet) -> Value {
    // What only the metadata can tell is null until it has been fetched from peers.
    json!({
        "source": "magnet",
        "name": m.name,
        "info_hash": m.info_hash.to_hex(),
        "piece_length": null,
        "pieces": null,
        "total_length": null,
        "files": null,
        "trackers": m.trackers.iter().map(|t| vec![t.clone()]).collect::<Vec<_>>(),
        "web_seeds": m.web_seeds,
        "peers": m.peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "private": null,
    })
}

fn torrent_text(m: &Metainfo) -> String {
    let mut out = String::new();
    let info = &m.info;
    let total = info.total_length();
    let _ = writeln!(out, "Name:        {}", escape(&info.name));
    let _ = writeln!(out, "Info-hash:   {}", m.info_hash);
    let _ = writeln!(
        out,
        "Pieces:      {} x {}",
        info.pieces.len(),
        format_size(info.piece_length)
    );
    let _ = writeln!(out, "Total size:  {} ({total} bytes)", format_size(total));
    let _ = writeln!(
        out,
        "Private:     {}",
        if info.private { "yes" } else { "no" }
    );
    if let Some(c) = &m.created_by {
        let _ = writeln!(out, "Created by:  {}", escape(c));
    }
    if let Some(d) = m.creation_date {
        let _ = writeln!(out, "Created on:  {}", format_date(d));
    }
    if let Some(c) = &m.comment {
        // Line breaks stay line breaks, indented under the first line; all else is escaped.
        let lines: Vec<_> = c.split('\n').map(escape).collect();
        let _ = writeln!(out, "Comment:     {}", lines.join("\n             "));
    }
    tracker_text(&mut out, &m.trackers());
    if !m.url_list.is_empty() {
        let _ = writeln!(out, "\nWeb seeds:");
        for w in &m.url_list {
            let _ = writeln!(out, "  {}", escape(w));
        }
    }
    let _ = writeln!(out, "\nFiles ({}):", info.files.len());
    for (i, f) in info.files.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {} ({})",
            escape(&info.file_path(i).to_string_lossy()),
            format_size(f.length)
        );
    }
    out
}

fn magnet_text(m: &Magnet) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Name:        {}",
        m.name.as_deref().map_or("(not given)".into(), escape)
    );
    let _ = writeln!(out, "Info-hash:   {}", m.info_hash);
    let _ = writeln!(
        out,
        "Metadata:    not included in a magnet link; fetched from peers (BEP 9)"
    );
    let tiers: Vec<Vec<String>> = m.trackers.iter().map(|t| vec![t.clone()]).collect();
    tracker_text(&mut out, &tiers);
    if !m.peers.is_empty() {
        let _ = writeln!(out, "\nPeers:");
        for p in &m.peers {
            let _ = writeln!(out, "  {p}");
        }
    }
    if !m.web_seeds.is_empty() {
        let _ = writeln!(out, "\nWeb seeds:");
        for w in &m.web_seeds {
            let _ = writeln!(out, "  {}", escape(w));
        }
    }
    out
}

fn tracker_text(out: &mut String, tiers: &[Vec<String>]) {
    if tiers.is_empty() {
        let _ = writeln!(out, "\nTrackers:    none (trackerless)");
        return;
    }
    let _ = writeln!(out, "\nTrackers:");
    for (i, tier) in tiers.iter().enumerate() {
        for (j, url) in tier.iter().enumerate() {
            let url = escape(url);
            if j == 0 {
                let _ = writeln!(out, "  tier {}: {url}", i + 1);
            } else {
                let _ = writeln!(out, "          {url}");
            }
        }
    }
}

/// RFC 3339 in UTC; dates before the epoch or absurdly far away are shown as the raw number.
fn format_date(secs: i64) -> String {
    u64::try_from(secs)
        .ok()
        .and_then(|s| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(s)))
        .filter(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .is_ok_and(|d| d.as_secs() < 253_402_300_800)
        })
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| format!("{secs} (seconds since 1970)"))
}
