//! The durability mark: what the store last made durable, recorded twice —
//! inside the index (the reserved key `#durable_mark`, written just before
//! a flush) and outside it (the file `index.mark` beside `index/`, written
//! and fsynced after the flush returned). sled takes a damaged page of its
//! log for the torn end of a crash and rolls back to before it, silently;
//! an index that comes back behind the file has lost writes that were made
//! durable, and opening it as if nothing happened would let blob GC delete
//! the lost keys' blobs. [`check`] refuses that open with `Corrupt` unless
//! the caller opens for recovery.
//!
//! The file is written at most once per [`INTERVAL`] on the flushes of the
//! writer and of sled's schedule, and on every explicit flush and close:
//! a rollback of writes made durable in the last second before a crash is
//! not detected (docs/RELIABILITY.md).
//!
//! The file also records how much of the operation journal
//! (src/engine/journal.rs) was fdatasync'ed when the mark was made: a
//! normal open walks the journal only from there (an unfinished append can
//! only be past it), so that an open does not read the whole history.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::keyspace::MARK_KEY;

/// The file beside `index/`.
pub const FILE: &str = "index.mark";
const TMP: &str = "index.mark.tmp";
/// A file of `MAGIC_V1` (24 bytes) holds the mark only; one of `MAGIC`
/// (32 bytes) the mark and the journal's synced length (`u64::MAX`: none).
const MAGIC_V1: &[u8; 8] = b"CFSMARK1";
const MAGIC: &[u8; 8] = b"CFSMARK2";
/// The least time between two marks made by routine flushes.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The mark found at open, and what it says of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The mark in the file (`None`: no file, a new store or one made by a
    /// version without marks).
    pub recorded: Option<u64>,
    /// The mark in the index (`None`: never marked, or lost).
    pub index: Option<u64>,
    /// The length of the operation journal the file records as synced
    /// (`None`: no file, no journal then, or a file without it).
    pub journal_synced: Option<u64>,
}

impl Found {
    /// Whether the index holds less than was made durable.
    pub fn behind(&self) -> bool {
        match (self.recorded, self.index) {
            (Some(r), Some(i)) => i < r,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The error a normal open answers for an index that is behind.
    pub fn error(&self, index_dir: &Path) -> Error {
        Error::Corrupt(format!(
            "the index at {} is behind what this store last made durable: \
             it holds durability mark {} where {FILE} records {} (writes \
             flushed before the last close or flush are missing: a damaged, \
             rolled-back or replaced index). Nothing was changed. Open with \
             recovery enabled to salvage what the index holds, or run `check`",
            index_dir.display(),
            self.index
                .map_or_else(|| "none".to_string(), |i| i.to_string()),
            self.recorded.unwrap_or(0),
        ))
    }
}

/// Read the file and the index's mark.
pub fn check(store_dir: &Path, tree: &sled::Tree) -> Result<Found> {
    let index = match tree.get(MARK_KEY)? {
        Some(v) => Some(decode_u64(&v).ok_or_else(|| {
            Error::Corrupt(format!("the index's durability mark is damaged: {v:?}"))
        })?),
        None => None,
    };
    let file = read_file(store_dir)?;
    Ok(Found {
        recorded: file.map(|f| f.mark),
        index,
        journal_synced: file.and_then(|f| f.journal_synced),
    })
}

fn decode_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// What the file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub mark: u64,
    /// The operation journal's length, synced, when the mark was made.
    pub journal_synced: Option<u64>,
}

/// What the file records; `None` if there is no file. A file that is not
/// one this code wrote is `Corrupt`.
pub fn read_file(store_dir: &Path) -> Result<Option<Recorded>> {
    let path = store_dir.join(FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_at(&path, e)),
    };
    let damaged = || {
        Error::Corrupt(format!(
            "{} is damaged ({} bytes)",
            path.display(),
            data.len()
        ))
    };
    let body = match (data.len(), data.get(..8)) {
        (24, Some(m)) if m == MAGIC_V1 => 16,
        (32, Some(m)) if m == MAGIC => 24,
        _ => return Err(damaged()),
    };
    if blake3::hash(&data[..body]).as_bytes()[..8] != data[body..] {
        return Err(damaged());
    }
    let mark = decode_u64(&data[8..16]).ok_or_else(damaged)?;
    let journal_synced = match body {
        24 => Some(decode_u64(&data[16..24]).ok_or_else(damaged)?).filter(|&n| n != u64::MAX),
        _ => None,
    };
    Ok(Some(Recorded {
        mark,
        journal_synced,
    }))
}

/// Write the file: a temporary file, fsynced, renamed over the old one, the
/// directory fsynced.
fn write_file(store_dir: &Path, n: u64, journal_synced: Option<u64>) -> Result<()> {
    use std::io::Write;
    let mut data = Vec::with_capacity(32);
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&n.to_be_bytes());
    data.extend_from_slice(&journal_synced.unwrap_or(u64::MAX).to_be_bytes());
    let sum = blake3::hash(&data);
    data.extend_from_slice(&sum.as_bytes()[..8]);
    let tmp = store_dir.join(TMP);
    let path = store_dir.join(FILE);
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io_at(&tmp, e))?;
    f.write_all(&data).map_err(|e| Error::io_at(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io_at(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io_at(&path, e))?;
    std::fs::File::open(store_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_at(store_dir, e))
}

/// The marks of one open store.
pub struct Marks {
    dir: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// The last mark written (to both places).
    n: u64,
    /// When, if this open made one.
    at: Option<Instant>,
}

impl Marks {
    /// After [`check`]: marks continue from the greater of the two (a
    /// recovery open moves past the file's, so that the next normal open
    /// accepts the recovered index).
    pub fn new(store_dir: &Path, found: Found) -> Self {
        let n = found.recorded.unwrap_or(0).max(found.index.unwrap_or(0));
        Marks {
            dir: store_dir.to_path_buf(),
            state: Mutex::new(State { n, at: None }),
        }
    }

    /// Whether the last mark of this open is older than [`INTERVAL`].
    pub fn due(&self) -> bool {
        let s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.at.is_none_or(|t| t.elapsed() >= INTERVAL)
    }

    /// Flush the index, and record the mark if `force` or if the last one
    /// is older than [`INTERVAL`]. Marks are serialized; flushes are not.
    /// `journal_synced`: how much of the operation journal is synced now
    /// (read after syncing it), recorded with the mark.
    pub fn flush(
        &self,
        db: &sled::Db,
        tree: &sled::Tree,
        force: bool,
        journal_synced: Option<u64>,
    ) -> Result<()> {
        let due = force || self.due();
        if !due {
            db.flush()?;
            return Ok(());
        }
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = s.n + 1;
        tree.insert(MARK_KEY, &n.to_be_bytes())?;
        db.flush()?;
        // Only once the index's mark is durable: a crash between the two
        // leaves the index ahead of the file, which is accepted.
        write_file(&self.dir, n, journal_synced)?;
        s.n = n;
        s.at = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format 2 round-trips the journal length; a file of format 1 (an
    /// earlier version's) is still read, with no length; a flipped byte
    /// of either is `Corrupt`.
    #[test]
    fn both_formats_read_and_damage_is_corrupt() {
        let d = tempfile::tempdir().unwrap();
        let read = || read_file(d.path());
        assert_eq!(read().unwrap(), None);
        for j in [Some(4096), None] {
            write_file(d.path(), 7, j).unwrap();
            let r = read().unwrap().unwrap();
            assert_eq!((r.mark, r.journal_synced), (7, j));
        }
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend_from_slice(&9u64.to_be_bytes());
        let sum = blake3::hash(&v1);
        v1.extend_from_slice(&sum.as_bytes()[..8]);
        let path = d.path().join(FILE);
        std::fs::write(&path, &v1).unwrap();
        let r = read().unwrap().unwrap();
        assert_eq!((r.mark, r.journal_synced), (9, None));
        write_file(d.path(), 7, Some(1)).unwrap();
        let good = std::fs::read(&path).unwrap();
        for (file, at) in [(&v1, 12), (&good, 20), (&good, 3)] {
            let mut b = file.clone();
            b[at] ^= 1;
            std::fs::write(&path, &b).unwrap();
            assert!(matches!(read(), Err(Error::Corrupt(_))), "{at}");
        }
    }
}
