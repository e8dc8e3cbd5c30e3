//! The sled index: `key → Entry`. Every function here blocks; callers run
//! them on the blocking pool or the writer thread, never on a tokio worker.

use std::collections::HashSet;
use std::path::Path;

use crate::config::{Config, Durability, ThroughputMode};
use crate::error::Result;
use crate::value::{Entry, EntryHeader};

/// Tree names. `kv` holds entries; `pins` holds raw blobs added with
/// `add_blob`, kept alive until removed.
const KV_TREE: &str = "kv";
const PINS_TREE: &str = "pins";

#[derive(Clone)]
pub struct Index {
    db: sled::Db,
    pub(crate) kv: sled::Tree,
    pub(crate) pins: sled::Tree,
}

impl Index {
    /// Open (or create) the index under `dir` with the tuned configuration.
    pub fn open(dir: &Path, cfg: &Config) -> Result<Self> {
        let flush_every = match cfg.durability {
            // In `none` mode nothing is flushed behind the caller's back except
            // at close and on `flush()`.
            Durability::None => None,
            _ => Some(cfg.flush_every_ms.max(1)),
        };
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
            .open()?;
        let kv = db.open_tree(KV_TREE)?;
        let pins = db.open_tree(PINS_TREE)?;
        Ok(Index { db, kv, pins })
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.kv.get(key)?)
    }

    pub fn get_entry(&self, key: &[u8]) -> Result<Option<Entry>> {
        match self.kv.get(key)? {
            Some(v) => Ok(Some(Entry::decode(&v)?)),
            None => Ok(None),
        }
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.kv.contains_key(key)?)
    }

    /// Up to `limit` entries whose key starts with `prefix`, strictly after
    /// `after` when given. Returns the page; an empty page ends the scan.
    pub fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let iter = match after {
            Some(a) => {
                let mut start = a.to_vec();
                start.push(0); // the smallest key greater than `a`
                self.kv.range(start..)
            }
            None => self.kv.range(prefix.to_vec()..),
        };
        for item in iter {
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
        for item in self.kv.iter() {
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
        for item in self.pins.iter() {
            let (k, _) = item?;
            if let Ok(h) = <[u8; 32]>::try_from(k.as_ref()) {
                live.insert(h);
            }
        }
        Ok(live)
    }

    /// Flush and fsync everything written so far.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.kv.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kv.is_empty()
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}
