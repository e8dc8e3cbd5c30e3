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

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::keyspace::MARK_KEY;

/// The file beside `index/`.
pub const FILE: &str = "index.mark";
const TMP: &str = "index.mark.tmp";
const MAGIC: &[u8; 8] = b"CFSMARK1";
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
    Ok(Found {
        recorded: read_file(store_dir)?,
        index,
    })
}

fn decode_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// The file's mark; `None` if there is no file. A file that is not one
/// this code wrote is `Corrupt`.
pub fn read_file(store_dir: &Path) -> Result<Option<u64>> {
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
    if data.len() != 24 || &data[..8] != MAGIC {
        return Err(damaged());
    }
    let n = decode_u64(&data[8..16]).ok_or_else(damaged)?;
    if blake3::hash(&data[..16]).as_bytes()[..8] != data[16..24] {
        return Err(damaged());
    }
    Ok(Some(n))
}

/// Write the file: a temporary file, fsynced, renamed over the old one, the
/// directory fsynced.
fn write_file(store_dir: &Path, n: u64) -> Result<()> {
    use std::io::Write;
    let mut data = Vec::with_capacity(24);
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&n.to_be_bytes());
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
    pub fn flush(&self, db: &sled::Db, tree: &sled::Tree, force: bool) -> Result<()> {
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
        write_file(&self.dir, n)?;
        s.n = n;
        s.at = Some(Instant::now());
        Ok(())
    }
}
