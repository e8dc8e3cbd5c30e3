//! The sled index: `key → Entry`. Every function here blocks; callers run
//! them on the blocking pool or the writer thread, never on a tokio worker.

use std::collections::HashSet;
use std::path::Path;

use crate::engine::config::{Config, Durability, ThroughputMode};
use crate::engine::journal::{self, Journal};
use crate::engine::mark::{self, Found, Marks};
use crate::error::{Error, Result};
use crate::value::{Entry, EntryHeader};

/// Everything lives in one sled tree so that one `sled::Batch` — atomic only
/// within a tree — covers a container's metadata and its sub-entries together.
/// Its namespaces (by first byte), tags and reserved keys are declared in
/// `crate::keyspace`.
pub(crate) const DATA_TREE: &str = "data";
pub use crate::keyspace::{NS_ENTRY, NS_PIN, NS_SUB};

/// The index key of a user key's entry.
#[inline]
pub fn entry_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(NS_ENTRY);
    k.extend_from_slice(key);
    k
}

/// The index key of a pin.
pub fn pin_key(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(NS_PIN);
    k.extend_from_slice(hash);
    k
}

/// Prefix of every sub-entry of one version of a container.
pub fn sub_prefix(key: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 4 + key.len() + 8 + 1 + 16);
    k.push(NS_SUB);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// Split a sub-entry key into (user key, version); `None` if malformed.
pub fn parse_sub_key(k: &[u8]) -> Option<(&[u8], u64)> {
    let rest = k.strip_prefix(&[NS_SUB])?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let key = rest.get(4..4 + len)?;
    let v = u64::from_be_bytes(rest.get(4 + len..4 + len + 8)?.try_into().ok()?);
    Some((key, v))
}

#[derive(Clone)]
pub struct Index {
    db: sled::Db,
    pub(crate) tree: sled::Tree,
    marks: std::sync::Arc<Marks>,
    /// The durability marks found at open.
    pub(crate) found: Found,
    /// The journal of applied signed operations (`Config::oplog_journal`),
    /// and what walking it at open found.
    pub(crate) journal: Option<std::sync::Arc<Journal>>,
    /// A recovery open of an index sled could not open: where the damaged
    /// index was moved (an empty one was started in its place).
    pub(crate) salvaged: Option<std::path::PathBuf>,
    pub(crate) journal_scan: Option<journal::Scan>,
    /// The first I/O error sled answered (issue 18, point 7). sled keeps
    /// it and answers it to every later call, and after one its `flush`
    /// never returns (sled 0.34.7: the writer hung in `make_stable` after
    /// ENOSPC); so once set, the store calls sled no more for writes and
    /// flushes and answers this error, which says to reopen.
    failed: std::sync::Arc<std::sync::Mutex<Option<(std::io::ErrorKind, String)>>>,
}

impl Index {
    /// Open (or create) the index under `dir` (the store's `index/`) with
    /// the tuned configuration. An index that is behind the store's
    /// durability mark (src/engine/mark.rs) is `Corrupt` unless
    /// `cfg.recovery`; sled's panic on a damaged file is `Corrupt` too.
    pub fn open(dir: &Path, cfg: &Config) -> Result<Self> {
        let flush_every = match cfg.durability {
            // In `none` mode nothing is flushed behind the caller's back except
            // at close and on `flush()`.
            Durability::None => None,
            _ => Some(cfg.flush_every_ms.max(1)),
        };
        // The caller holds the directory's LOCK (src/engine/mod.rs), so no
        // other store can hold sled's own lock on `db`; one that this
        // process closed a moment ago can, until sled's background threads
        // drop their clones of its file. Wait for them (bounded) rather than
        // failing a close-then-reopen.
        let t0 = std::time::Instant::now();
        loop {
            match Self::open_once(dir, cfg, flush_every) {
                Err(Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && t0.elapsed() < std::time::Duration::from_secs(5) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                // Still held: by this process's earlier store whose sled
                // failed on an I/O error (its flush, and so its drop, never
                // returns: Inner::shutdown_writer_and_index), or by another
                // process that bypassed the directory's LOCK.
                Err(Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    return Err(Error::AlreadyOpen {
                        path: dir.to_path_buf(),
                        detail: format!(
                            "the index's own lock is still held after {} s; a store \
                             of this process that failed on an I/O error (for example \
                             ENOSPC) keeps it until the process exits: open the store \
                             again from a new process",
                            t0.elapsed().as_secs()
                        ),
                    })
                }
                r => return r,
            }
        }
    }

    fn open_once(dir: &Path, cfg: &Config, flush_every: Option<u64>) -> Result<Self> {
        let opened = crate::engine::quiet::catch("opening the index", dir, || {
            Self::open_sled(dir, cfg, flush_every)
        });
        let (db, tree, salvaged) = match opened {
            Ok((db, tree)) => (db, tree, None),
            // A file sled itself cannot read (a damaged page, its panic):
            // a recovery open keeps it aside, untouched, and starts an
            // empty index, which the operation journal and peers refill
            // (src/oplog/restore.rs). Anything else (EACCES, a held lock)
            // is answered as it is.
            Err(Error::Corrupt(why)) if cfg.recovery && dir.exists() => {
                let aside = set_aside(dir)?;
                tracing::error!(
                    "recovery open: the index at {} cannot be opened ({why}); it was \
                     moved to {} and an empty index started",
                    dir.display(),
                    aside.display()
                );
                let (db, tree) = Self::open_sled(dir, cfg, flush_every)?;
                (db, tree, Some(aside))
            }
            Err(e) => return Err(e),
        };
        let store_dir = dir.parent().unwrap_or(dir);
        let found = mark::check(store_dir, &tree)?;
        if found.behind() || salvaged.is_some() {
            if !cfg.recovery {
                return Err(found.error(dir));
            }
            tracing::error!(
                recorded = found.recorded,
                index = found.index,
                "recovery open: the index is behind the durability mark; blob GC is off for this open"
            );
        }
        // After the index: a store whose index cannot be opened is left as
        // it was. The journal never fails an open (the index is the
        // authority) except on an I/O error creating it.
        let (journal, journal_scan) = if cfg.oplog_journal {
            let (j, scan) = Journal::open(store_dir, found.journal_synced)?;
            (Some(std::sync::Arc::new(j)), Some(scan))
        } else {
            (None, None)
        };
        Ok(Index {
            salvaged,
            journal,
            journal_scan,
            marks: std::sync::Arc::new(Marks::new(store_dir, found)),
            failed: Default::default(),
            found,
            db,
            tree,
        })
    }

    fn open_sled(
        dir: &Path,
        cfg: &Config,
        flush_every: Option<u64>,
    ) -> Result<(sled::Db, sled::Tree)> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cfg.sled_cache_capacity)
            .flush_every_ms(flush_every)
            .mode(match cfg.throughput_mode {
                ThroughputMode::LowSpace => sled::Mode::LowSpace,
                ThroughputMode::HighThroughput => sled::Mode::HighThroughput,
            })
            .use_compression(cfg.compression)
            .compression_factor(cfg.compression_factor)
            .open()
            .map_err(|e| match e {
                // What sled says of a `conf` it cannot parse: this store's
                // own index was made by this sled, so it is damage.
                sled::Error::Unsupported(why) => Error::Corrupt(format!(
                    "opening the index at {}: its configuration file (conf) is \
                     damaged (sled: {why})",
                    dir.display()
                )),
                e => e.into(),
            })?;
        let tree = db.open_tree(DATA_TREE)?;
        Ok((db, tree))
    }

    /// The raw entry of a user key.
    pub fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.tree.get(entry_key(key))?)
    }

    /// The decoded entry of a user key.
    pub fn get_entry(&self, key: &[u8]) -> Result<Option<Entry>> {
        match self.get(key)? {
            Some(v) => Ok(Some(Entry::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// A raw read of any index key (sub-entries, pins).
    pub fn get_raw(&self, k: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.tree.get(k)?)
    }

    /// A new container version: unique and increasing for the life of the
    /// store (sled persists the counter).
    pub fn new_version(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Up to `limit` entries whose user key starts with `prefix`, strictly
    /// after the user key `after` when given, as (user key, raw entry). A
    /// short page ends the scan.
    pub fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, sled::IVec)>> {
        let full_prefix = entry_key(prefix);
        let out = self.raw_page(&full_prefix, after.map(entry_key).as_deref(), limit)?;
        Ok(out.into_iter().map(|(k, v)| (k[1..].to_vec(), v)).collect())
    }

    /// Up to `limit` raw (index key, value) pairs under `prefix`, strictly
    /// after the raw key `after`.
    pub fn raw_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>> {
        use std::ops::Bound;
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.tree.range::<Vec<u8>, _>((lower, Bound::Unbounded)) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k, v));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every blob hash an entry or a pin refers to. Reads entry headers only.
    pub fn live_blob_hashes(&self) -> Result<HashSet<[u8; 32]>> {
        let mut live = HashSet::new();
        for item in self.tree.scan_prefix([NS_ENTRY]) {
            let (_, v) = item?;
            match EntryHeader::decode(&v) {
                Ok(h) if !h.is_inline() => {
                    live.insert(h.hash);
                }
                Ok(_) => {}
                Err(e) => {
                    // A corrupt entry cannot be proven dead: keep nothing from it
                    // but do not abort collection of the rest either.
                    tracing::warn!("gc: skipping undecodable index entry: {e}");
                }
            }
        }
        for item in self.tree.scan_prefix([NS_PIN]) {
            let (k, _) = item?;
            if let Ok(h) = <[u8; 32]>::try_from(&k[1..]) {
                live.insert(h);
            }
        }
        Ok(live)
    }

    /// Flush and fsync everything written so far, and record the
    /// durability mark (at open and close).
    pub fn flush(&self) -> Result<()> {
        let j = self.sync_journal();
        self.guard(|| self.marks.flush(&self.db, &self.tree, true, j))
    }

    /// Whether this open is a recovery of lost writes: the index is behind
    /// its durability mark, or was unreadable and started anew. Blob GC is
    /// off, and the journal is replayed.
    pub(crate) fn suspect(&self) -> bool {
        self.found.behind() || self.salvaged.is_some()
    }

    /// Append the records a write group staged (after its sled apply).
    pub fn journal_append(&self, records: &[Vec<u8>]) {
        if let Some(j) = &self.journal {
            j.append(records);
        }
    }

    /// fdatasync the journal: before every flush of the index the store
    /// makes, so that an index mark never covers an operation the durable
    /// journal lacks. Returns the journal's synced length (for the mark).
    fn sync_journal(&self) -> Option<u64> {
        self.journal.as_ref().and_then(|j| j.sync())
    }

    /// The I/O error sled failed with, if it did (see `failed`).
    pub fn failed(&self) -> Option<Error> {
        let f = self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.as_ref()
            .map(|(kind, msg)| Error::Io(std::io::Error::new(*kind, msg.clone())))
    }

    /// Remember an I/O error of sled's (the first one).
    pub fn note(&self, e: &Error) {
        if let Error::Io(io) = e {
            let mut f = self
                .failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if f.is_none() {
                *f = Some((io.kind(), io.to_string()));
            }
        }
    }

    /// Run `f` unless sled has failed; remember its I/O error.
    pub fn guard<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(e) = self.failed() {
            return Err(e);
        }
        f().inspect_err(|e| self.note(e))
    }

    /// Flush and fsync everything written so far; record the mark if the
    /// last one is older than [`mark::INTERVAL`] (the writer's flushes,
    /// explicit ones included).
    pub fn flush_routine(&self) -> Result<()> {
        let j = self.sync_journal();
        self.guard(|| self.marks.flush(&self.db, &self.tree, false, j))
    }

    /// Flush and record the mark if the last one is older than
    /// [`mark::INTERVAL`]; otherwise nothing (sled's own flusher makes
    /// writes durable in `batch` mode; this keeps the mark near it).
    pub fn mark_if_due(&self) -> Result<()> {
        if self.marks.due() {
            let j = self.sync_journal();
            self.guard(|| self.marks.flush(&self.db, &self.tree, false, j))?;
        }
        Ok(())
    }
}

/// Move a damaged index directory to `index.damaged-{unix ms}` beside it
/// (the parent directory fsynced), so that a recovery open can start an
/// empty index without destroying anything. Returns the new path.
fn set_aside(dir: &Path) -> Result<std::path::PathBuf> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("index");
    let mut aside =
        dir.with_file_name(format!("{name}.damaged-{}", crate::engine::clock::now_ms()));
    let mut n = 1;
    while aside.exists() {
        aside = dir.with_file_name(format!(
            "{name}.damaged-{}-{n}",
            crate::engine::clock::now_ms()
        ));
        n += 1;
    }
    std::fs::rename(dir, &aside).map_err(|e| Error::io_at(dir, e))?;
    if let Some(parent) = dir.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            d.sync_all().map_err(|e| Error::io_at(parent, e))?;
        }
    }
    Ok(aside)
}
