//! Warm restart: the hot tier written to one file at a clean close and
//! loaded back at the next open, before the store answers reads
//! (docs/ARCHITECTURE.md, "Warm restart", has the argument for safety).
//!
//! The file (`warm-restart.snap` in the store directory):
//!
//! ```text
//! magic "CFSWARM1" | nonce [16] | count u64 LE
//! count × ( key_len u32 LE | key | value_len u32 LE | value | expires u64 LE (u64::MAX = none) )
//! BLAKE3 of everything before [32]
//! ```
//!
//! It is bound to the index state it was taken from by the nonce, which the
//! close writes into the reserved index key [`NONCE_KEY`] after the file
//! (and after the final flush), then flushes. At open, before the writer
//! starts, [`take`] reads that key, removes it and flushes, and unlinks the
//! file, whatever it then decides: so a snapshot is loaded at most once,
//! and never after a write (a write can only follow the key's durable
//! removal). A file that is missing, fails its checksum, does not parse,
//! or carries another nonce is ignored (logged, counted in
//! `cyberfly_warm_restart_total{result}`).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use rand_core::RngCore;

use crate::engine::cache::{Cached, CachedValue, TieredCache};
use crate::engine::index::Index;
use crate::error::Result;

/// The reserved index key holding the nonce of the last clean close's
/// snapshot (the `#` namespace: store metadata, never a user key's entry).
pub use crate::keyspace::NONCE_KEY;
/// The snapshot's file name in the store directory.
pub const FILE: &str = "warm-restart.snap";
const TMP: &str = "warm-restart.snap.tmp";
const MAGIC: &[u8; 8] = b"CFSWARM1";
const NONCE: usize = 16;
const HEADER: usize = 8 + NONCE + 8;
const TRAILER: usize = 32;
/// What the hot tier charges an entry besides its key and value (as
/// `cache.rs`'s weight does): the load stops at the tier's byte budget.
const ENTRY_OVERHEAD: u64 = 256;

/// What [`take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A valid snapshot of this index state: its entries are returned.
    Loaded,
    /// No snapshot file (first open, a crash, or warm restart off at close).
    Missing,
    /// A file whose nonce is not the index's (another store, another close,
    /// or a close that crashed between the file and the key).
    Mismatch,
    /// A file that failed its checksum or did not parse.
    Invalid,
    /// `warm_restart` is off: a snapshot left from before was discarded.
    Off,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Loaded => "loaded",
            Outcome::Missing => "missing",
            Outcome::Mismatch => "mismatch",
            Outcome::Invalid => "invalid",
            Outcome::Off => "off",
        }
    }
}

/// The entries of a valid snapshot, ready for [`load`].
pub struct Taken {
    pub outcome: Outcome,
    pub entries: Vec<(String, Cached)>,
}

/// At close, after the writer exited and the index was flushed: write the
/// hot tier's unexpired entries to the snapshot file (to a temporary file,
/// fsync, rename, fsync of the directory), then the nonce into the index,
/// and flush the index. Returns the number of entries written. Nothing may
/// write to the index after this (the writer is gone).
pub fn write(dir: &Path, index: &Index, cache: &TieredCache, now_ms: u64) -> Result<u64> {
    let mut nonce = [0u8; NONCE];
    rand_core::OsRng.fill_bytes(&mut nonce);
    // The records are serialised shard by shard, then written in key
    // order: the next open allocates the hot tier's blocks in that order,
    // so reads in key order (a scan's keys, a range of ids) walk memory
    // forwards, as they walk a B-tree's leaves. One copy of the records in
    // memory: the file is written from it through a buffer, hashed on the
    // way.
    let mut records = Vec::new();
    let mut body = Vec::with_capacity(1 << 20);
    cache.for_each_hot(|key, value, expires| {
        if matches!(expires, Some(t) if t <= now_ms) {
            return;
        }
        let v = value.as_str();
        let (Ok(kl), Ok(vl)) = (u32::try_from(key.len()), u32::try_from(v.len())) else {
            return;
        };
        let start = body.len();
        body.extend_from_slice(&kl.to_le_bytes());
        body.extend_from_slice(key);
        body.extend_from_slice(&vl.to_le_bytes());
        body.extend_from_slice(v.as_bytes());
        body.extend_from_slice(&expires.unwrap_or(u64::MAX).to_le_bytes());
        records.push((start, body.len(), key.len()));
    });
    let key_of = |&(start, _, len): &(usize, usize, usize)| &body[start + 4..start + 4 + len];
    records.sort_unstable_by(|a, b| key_of(a).cmp(key_of(b)));
    let count = records.len() as u64;
    let tmp = dir.join(TMP);
    {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let mut sum = blake3::Hasher::new();
        let mut put = |b: &[u8]| -> std::io::Result<()> {
            sum.update(b);
            f.write_all(b)
        };
        put(MAGIC)?;
        put(&nonce)?;
        put(&count.to_le_bytes())?;
        for &(start, end, _) in &records {
            put(&body[start..end])?;
        }
        f.write_all(sum.finalize().as_bytes())?;
        f.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(FILE))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    index.tree.insert(NONCE_KEY, &nonce[..])?;
    index.flush()?;
    Ok(count)
}

/// At open, before the writer starts (no write can precede this): read the
/// nonce key and remove it durably, read the snapshot file and unlink it,
/// and return its entries if it is intact and carries that nonce (and
/// `enabled`). Up to `budget` bytes of entries as the hot tier weighs them,
/// unexpired at `now_ms`. Only an index error is an error; a bad snapshot
/// is an [`Outcome`].
pub fn take(dir: &Path, index: &Index, enabled: bool, budget: u64, now_ms: u64) -> Result<Taken> {
    let nonce = index.tree.get(NONCE_KEY)?;
    if nonce.is_some() {
        index.tree.remove(NONCE_KEY)?;
        index.flush()?;
    }
    let path = dir.join(FILE);
    let _ = std::fs::remove_file(dir.join(TMP));
    let taken = |outcome| {
        Ok(Taken {
            outcome,
            entries: Vec::new(),
        })
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return taken(if enabled {
            Outcome::Missing
        } else {
            Outcome::Off
        });
    };
    // Never read more than about twice the budget (the file holds what a
    // hot tier of another size held; the entries past the budget are
    // skipped anyway).
    let limit = budget.saturating_mul(2).saturating_add(1 << 20);
    let data = if enabled && meta.len() <= limit {
        std::fs::read(&path).ok()
    } else {
        None
    };
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!("warm restart: could not remove {}: {e}", path.display());
    }
    if !enabled {
        return taken(Outcome::Off);
    }
    let Some(data) = data else {
        tracing::warn!(
            len = meta.len(),
            "warm restart: snapshot unreadable or larger than the hot tier allows, ignored"
        );
        return taken(Outcome::Invalid);
    };
    let Some(entries) = parse(&data, budget, now_ms) else {
        tracing::warn!("warm restart: snapshot corrupt (checksum or layout), ignored");
        return taken(Outcome::Invalid);
    };
    if nonce.as_deref() != Some(&data[8..8 + NONCE]) {
        tracing::warn!("warm restart: snapshot not taken from this index state, ignored");
        return taken(Outcome::Mismatch);
    }
    Ok(Taken {
        outcome: Outcome::Loaded,
        entries,
    })
}

/// Verify and decode a snapshot; `None` if its checksum or layout is wrong.
fn parse(data: &[u8], budget: u64, now_ms: u64) -> Option<Vec<(String, Cached)>> {
    if data.len() < HEADER + TRAILER || &data[..8] != MAGIC {
        return None;
    }
    let (body, sum) = data.split_at(data.len() - TRAILER);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let count = u64::from_le_bytes(body[8 + NONCE..HEADER].try_into().ok()?);
    let mut rest = &body[HEADER..];
    let mut out = Vec::with_capacity(count.min(1 << 24) as usize);
    let mut bytes = 0u64;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = rest.split_at_checked(n)?;
        rest = b;
        Some(a)
    };
    for _ in 0..count {
        let kl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let key = std::str::from_utf8(take(kl)?).ok()?;
        let vl = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let value = std::str::from_utf8(take(vl)?).ok()?;
        let expires = u64::from_le_bytes(take(8)?.try_into().ok()?);
        if expires <= now_ms {
            continue;
        }
        bytes += (kl + vl) as u64 + ENTRY_OVERHEAD;
        if bytes > budget {
            break;
        }
        out.push((
            key.to_owned(),
            Cached {
                value: CachedValue::String(Arc::from(value)),
                expires_at_ms: (expires != u64::MAX).then_some(expires),
                epoch: 0,
            },
        ));
    }
    Some(out)
}

/// Admit the entries of a snapshot into free room of the hot tier
/// (`TieredCache::preload`: no eviction, refused by a shard that is full).
/// Called before the store answers reads or accepts writes. Returns how
/// many were admitted.
pub fn load(cache: &TieredCache, entries: Vec<(String, Cached)>) -> u64 {
    let generation = cache.generation();
    let mut n = 0;
    for (key, c) in entries {
        n += u64::from(cache.preload(&key, generation, &c));
    }
    n
}
