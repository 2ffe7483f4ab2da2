//! Which boot of the machine this is. Data written but not yet synced outlives the process
//! that wrote it (it sits in the kernel's page cache, and every reader sees it) but not a
//! crash or restart of the machine, so a resume file that vouches for such data names the
//! boot it holds for (see `resume`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Where Linux gives a random identifier, new at every boot.
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Longer identifiers are refused: Linux's is a 36-character UUID.
const MAX_LEN: usize = 64;

/// The identifier of one boot of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootId(Vec<u8>);

impl BootId {
    /// This boot's identifier; `None` where the system gives none (then every save syncs).
    pub fn current() -> Option<BootId> {
        BootId::read(Path::new(BOOT_ID_PATH))
    }

    /// The identifier in the file at `path`, surrounding whitespace aside.
    fn read(path: &Path) -> Option<BootId> {
        let mut bytes = Vec::new();
        File::open(path)
            .ok()?
            .take(MAX_LEN as u64 + 2)
            .read_to_end(&mut bytes)
            .ok()?;
        BootId::from_bytes(bytes.trim_ascii())
    }

    /// An identifier as stored: 1 to 64 bytes, else `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<BootId> {
        (1..=MAX_LEN)
            .contains(&bytes.len())
            .then(|| BootId(bytes.to_vec()))
    }

    /// The identifier's bytes, as stored in a resume file.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_a_boot_id_that_reads_the_same_twice() {
        let id = BootId::current().expect("Linux gives a boot id");
        assert_eq!(id.as_bytes().len(), 36, "{id:?}");
        assert_eq!(BootId::current(), Some(id));
    }

    #[test]
    fn empty_or_oversized_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        std::fs::write(&path, b" \n").unwrap();
        assert_eq!(BootId::read(&path), None);
        std::fs::write(&path, [b'a'; 65]).unwrap();
        assert_eq!(BootId::read(&path), None);
        std::fs::write(&path, b"abc\n").unwrap();
        assert_eq!(BootId::read(&path), BootId::from_bytes(b"abc"));
        assert_eq!(BootId::read(&dir.path().join("none")), None);
    }
}
