//! Torrents refused for their file names alone, before anything touches the disk: two paths
//! that one filesystem or another would take for the same file, and a top-level name that
//! would land in our own resume folder.
//!
//! **Decision: refuse names that alias on any common filesystem, everywhere.** On a
//! case-insensitive filesystem (macOS by default, Windows, exFAT and FAT sticks, ext4 folders
//! with `casefold`) `a` and `A` are one file; on a normalising one (APFS, HFS+) so are the
//! NFC `é` and the NFD `e` + U+0301. Writing both would make each file's pieces overwrite the
//! other's, verified ones included. Metainfo compares paths byte for byte, so storage compares
//! them again after folding each component (NFC normalisation around a full upper-then-lower
//! case mapping, which also catches letters like `ß` and `ſ` that fold to others) and refuses
//! a torrent in which two files, or a file and a folder of another file, fold the same. This
//! is done whatever filesystem the folder is on: the same torrent behaves the same on every
//! machine, and no honest torrent needs two names that differ only this way.
//!
//! Only whole paths matter: `Dir/x` and `dir/y` are accepted. On a case-insensitive
//! filesystem their folders merge into one holding both files, which is harmless; on a
//! case-sensitive one they stay two folders. `Dir/x` and `dir/x` are refused (one file), and
//! so are `a` and `A/b` (a file where the other needs a folder).
//!
//! **Decision: the resume folder's name is reserved.** Resume files live in
//! `<download folder>/.bitswarm/` ([`RESUME_DIR`]), and a torrent's files live in
//! `<download folder>/<name>`. A torrent named `.bitswarm` (in any case or normal form) would
//! mix its data with our resume files, so it is refused. Moving resume files elsewhere (a
//! per-user state folder) would lose the property that they travel with the data.

use super::resume::RESUME_DIR;
use super::{Alias, StorageError};
use crate::metainfo::Info;
use unicode_normalization::UnicodeNormalization;

/// Refuses `info` if its name is reserved or two of its files would alias; see the module
/// docs.
pub(super) fn check(info: &Info) -> Result<(), StorageError> {
    if fold(&info.name) == fold(RESUME_DIR) {
        return Err(StorageError::ReservedName {
            name: info.name.clone(),
        });
    }
    // Padding files never reach the disk, so they cannot alias anything.
    let mut folded: Vec<(Vec<String>, usize)> = info
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.pad)
        .map(|(i, f)| (f.path.iter().map(|c| fold(c)).collect(), i))
        .collect();
    // Sorting puts any path right before the paths it is a folder of, so comparing neighbours
    // finds every clash.
    folded.sort_unstable();
    for pair in folded.windows(2) {
        let [(a, i), (b, j)] = pair else { continue };
        let why = if a == b {
            Alias::Name
        } else if b.starts_with(a) {
            Alias::Folder
        } else {
            continue;
        };
        // Ties sort by index, and a file sorts before the paths it is a folder of, so `i`
        // is the earlier file for a name clash and the would-be folder for a folder clash.
        return Err(StorageError::Aliased {
            first: info.file_path(*i),
            second: info.file_path(*j),
            why,
        });
    }
    Ok(())
}

/// The form of a name that every common filesystem would take to be the same as this one.
fn fold(name: &str) -> String {
    let composed: String = name.nfc().collect();
    composed.to_uppercase().to_lowercase().nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folding_merges_case_and_normal_forms_only() {
        assert_eq!(fold("ABC"), fold("abc"));
        assert_eq!(fold("caf\u{e9}"), fold("cafe\u{301}"));
        assert_eq!(fold("CAF\u{c9}"), fold("cafe\u{301}"));
        assert_eq!(fold("stra\u{df}e"), fold("STRASSE"));
        assert_eq!(fold(".BitSwarm"), ".bitswarm");
        assert_ne!(fold("a"), fold("b"));
        assert_ne!(fold("e"), fold("\u{e9}"));
    }
}
