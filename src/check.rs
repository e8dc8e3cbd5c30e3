//! `check`: verify a closed store — its index, its blobs and its operation
//! log against each other — without changing a byte of it (issue 18).
//!
//! sled and iroh-blobs both write when they open a directory (sled its
//! snapshot and log, iroh-blobs its database and `temp/`), so neither is
//! opened in place. The index (`index/`) and the blob store's database
//! (`blobs/blobs.db`) are copied into a scratch directory under the system's
//! temporary directory (`TMPDIR`), removed afterwards, and opened there: the
//! index with sled, the database with redb (the tables iroh-blobs keeps, read
//! through their raw bytes). Blob data files (`blobs/data/{hash}.data`) and
//! outboards (`.obao4`) are read where they are, by path, and re-hashed:
//! every blob's bytes must hash (BLAKE3, the bao tree iroh-blobs verifies
//! reads with) to its name, and its outboard must be the one its data gives.
//!
//! The store's `LOCK` is taken shared for the duration (never created): an
//! open store holds it exclusively, so `check` refuses an open store with
//! [`Error::AlreadyOpen`], and a store cannot open while `check` runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::engine::index::{parse_sub_key, DATA_TREE};
use crate::engine::mark::{self, Found};
use crate::engine::quiet;
use crate::error::{Error, Result};
use crate::keyspace::{
    LOG_COUNT_KEY, MARK_KEY, NS_ENTRY, NS_KEY_OPS, NS_LOG, NS_OPID, NS_PIN, NS_SEQ, NS_SUB,
};
use crate::oplog::{check_owner, SignedOperation};
use crate::value::{Entry, Payload};
use crate::verify::Verifier;

/// Operations verified per batch.
const LOG_BATCH: usize = 4096;
/// At most this many keys are named per damaged or missing blob.
const KEYS_NAMED: usize = 8;

/// Something `check` found wrong. Each names what it is about (a key, a
/// blob's hash, a log entry's key in hex) and says what is wrong; its
/// `Display` is one line for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The index holds less than the store last made durable (`index.mark`
    /// records more than the index's own mark): writes are lost.
    IndexBehindMark { recorded: u64, index: Option<u64> },
    /// `index.mark` is not a file the store wrote.
    MarkFileDamaged { detail: String },
    /// The index's own mark does not decode.
    IndexMarkDamaged { detail: String },
    /// There is no `index/` although the store has blobs or a mark.
    IndexMissing,
    /// sled could not open the index, or failed (or panicked) reading it.
    IndexUnreadable { detail: String },
    /// An index entry (a key's metadata) does not decode.
    EntryUndecodable { key: String, detail: String },
    /// A container's sub-entry or another index item whose key does not parse.
    ItemUndecodable { key: String, detail: String },
    /// An inline value whose bytes do not hash to the entry's hash.
    InlineValueDamaged {
        key: String,
        expected: String,
        actual: String,
    },
    /// A blob-backed value (or a pin) whose blob the blob store does not hold.
    BlobMissing { hash: String, keys: Vec<String> },
    /// A blob the blob store holds whose bytes do not hash to its name, whose
    /// data or outboard file is gone or the wrong size, or whose outboard does
    /// not match its data: reading it fails.
    BlobDamaged {
        hash: String,
        detail: String,
        keys: Vec<String>,
    },
    /// An index entry's length differs from its blob's size.
    ValueLengthMismatch {
        key: String,
        hash: String,
        index_len: u64,
        blob_len: u64,
    },
    /// `blobs/blobs.db` is gone while blob data files remain.
    BlobDatabaseMissing { data_files: u64 },
    /// `blobs/blobs.db` could not be opened or read.
    BlobDatabaseUnreadable { detail: String },
    /// A record of the blob store's database that does not decode.
    BlobRecordDamaged { hash: String, detail: String },
    /// A log entry that does not decode as a signed operation.
    LogEntryUndecodable { log_key: String, detail: String },
    /// A log entry whose signature does not verify (canonical or legacy).
    LogSignatureInvalid { log_key: String, op_id: String },
    /// A log entry whose signer does not own its database.
    LogNotOwner {
        log_key: String,
        op_id: String,
        detail: String,
    },
    /// A log entry stored under a key that does not match its contents.
    LogKeyMismatch { log_key: String, op_id: String },
    /// The log's recorded length differs from the entries found.
    LogCountMismatch { recorded: u64, found: u64 },
    /// A log entry without its de-duplication record (it could be applied
    /// twice), or a de-duplication record pointing at no log entry.
    LogDedupMismatch { log_key: String, detail: String },
    /// An arrival number that points at no log entry.
    LogArrivalDangling { seq: u64, log_key: String },
    /// A key's operation record that points at no log entry.
    LogKeyOpDangling {
        key: String,
        timestamp: u64,
        op_id: String,
    },
    /// Records of the operation journal (`oplog.journal`) that do not
    /// verify (checksum, framing), and bytes at its end that cannot be read
    /// (an unfinished last append after a crash, truncated at the next
    /// open, or damage to a record's length, past which nothing can be
    /// read).
    JournalDamaged {
        damaged_records: u64,
        unreadable_bytes: u64,
    },
    /// A journal record (numbered from 0) that does not decode as a signed
    /// operation, or whose signature or owner does not verify.
    JournalOperationInvalid { record: u64, detail: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        let keys = |k: &Vec<String>| {
            if k.is_empty() {
                "no key".to_string()
            } else {
                k.join(", ")
            }
        };
        match self {
            IndexBehindMark { recorded, index } => write!(
                f,
                "the index is behind what the store last made durable: its mark is {} where {} records {recorded} (writes are lost; open with recovery)",
                index.map_or_else(|| "none".into(), |i| i.to_string()),
                mark::FILE
            ),
            MarkFileDamaged { detail } => write!(f, "{}: {detail}", mark::FILE),
            IndexMarkDamaged { detail } => write!(f, "the index's durability mark: {detail}"),
            IndexMissing => write!(f, "index/ is missing"),
            IndexUnreadable { detail } => write!(f, "the index cannot be read: {detail}"),
            EntryUndecodable { key, detail } => write!(f, "entry {key:?} does not decode: {detail}"),
            ItemUndecodable { key, detail } => write!(f, "index item {key} does not parse: {detail}"),
            InlineValueDamaged { key, expected, actual } => write!(
                f,
                "the inline value of {key:?} hashes to {actual}, its entry says {expected}"
            ),
            BlobMissing { hash, keys: k } => {
                write!(f, "blob {hash} is missing (referenced by {})", keys(k))
            }
            BlobDamaged { hash, detail, keys: k } => {
                write!(f, "blob {hash} is damaged: {detail} (referenced by {})", keys(k))
            }
            ValueLengthMismatch { key, hash, index_len, blob_len } => write!(
                f,
                "{key:?}: the entry says {index_len} bytes, blob {hash} holds {blob_len}"
            ),
            BlobDatabaseMissing { data_files } => write!(
                f,
                "blobs/blobs.db is missing while {data_files} blob data files remain"
            ),
            BlobDatabaseUnreadable { detail } => {
                write!(f, "blobs/blobs.db cannot be read: {detail}")
            }
            BlobRecordDamaged { hash, detail } => {
                write!(f, "the blob store's record of {hash} does not decode: {detail}")
            }
            LogEntryUndecodable { log_key, detail } => {
                write!(f, "log entry {log_key} does not decode: {detail}")
            }
            LogSignatureInvalid { log_key, op_id } => write!(
                f,
                "log entry {log_key} (op {op_id}): the signature does not verify"
            ),
            LogNotOwner { log_key, op_id, detail } => {
                write!(f, "log entry {log_key} (op {op_id}): {detail}")
            }
            LogKeyMismatch { log_key, op_id } => write!(
                f,
                "log entry {log_key} (op {op_id}) is stored under a key its contents do not give"
            ),
            LogCountMismatch { recorded, found } => write!(
                f,
                "the log records {recorded} entries, {found} were found"
            ),
            LogDedupMismatch { log_key, detail } => write!(f, "log entry {log_key}: {detail}"),
            LogArrivalDangling { seq, log_key } => write!(
                f,
                "arrival number {seq} points at log entry {log_key}, which does not exist"
            ),
            LogKeyOpDangling { key, timestamp, op_id } => write!(
                f,
                "{key:?} lists operation {op_id} at {timestamp}, which is not in the log"
            ),
            JournalDamaged { damaged_records, unreadable_bytes } => write!(
                f,
                "{}: {damaged_records} damaged records, {unreadable_bytes} unreadable bytes at its end",
                crate::engine::journal::FILE
            ),
            JournalOperationInvalid { record, detail } => write!(
                f,
                "{} record {record}: {detail}",
                crate::engine::journal::FILE
            ),
        }
    }
}

/// What [`check`] found: counts of what it verified, what is merely unused,
/// and the problems. [`CheckReport::is_clean`] is whether there are none.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckReport {
    /// The store's directory.
    pub path: PathBuf,
    /// The durability mark in `index.mark` and the one in the index.
    pub recorded_mark: Option<u64>,
    pub index_mark: Option<u64>,
    /// Items in the index (every namespace).
    pub index_items: u64,
    /// Keys (index entries), of which inline and blob-backed values.
    pub keys: u64,
    pub inline_values: u64,
    pub blob_values: u64,
    /// Raw blobs pinned by `add_blob`.
    pub pins: u64,
    /// Complete blobs in the blob store (damaged ones included: each is
    /// also a `BlobDamaged` problem), and the bytes of the intact ones,
    /// re-hashed.
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Incomplete blobs (an interrupted fetch from a peer).
    pub partial_blobs: u64,
    /// Operation-log entries, of which verified only by the legacy short
    /// form of the signature (`Config::legacy_signatures`).
    pub log_entries: u64,
    pub log_legacy_signatures: u64,
    /// Records in the operation journal (`oplog.journal`) that verified;
    /// `None` when there is no journal (`Config::oplog_journal` off). It
    /// may hold fewer operations than the log (a journal turned on later).
    pub journal_records: Option<u64>,
    /// Complete blobs no key or pin refers to (not a problem: deleted or
    /// overwritten values that the next garbage collection removes, or,
    /// with an index behind its mark, the values of lost keys).
    pub unreferenced_blobs: Vec<String>,
    /// Files in `blobs/data` that belong to no blob the database knows (not
    /// a problem by themselves: a crash between writing a file and
    /// recording it leaves one).
    pub stray_blob_files: Vec<String>,
    pub problems: Vec<Problem>,
    /// How long the check took, in seconds.
    pub seconds: f64,
}

impl CheckReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON: the fields above, each problem an object with its
    /// `kind`, its fields and a `message` (what the C and Python fronts and
    /// the command line's `--json` give).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(ps) = v.get_mut("problems").and_then(|p| p.as_array_mut()) {
            for (p, problem) in ps.iter_mut().zip(&self.problems) {
                if let Some(o) = p.as_object_mut() {
                    o.insert("message".into(), problem.to_string().into());
                }
            }
        }
        if let Some(o) = v.as_object_mut() {
            o.insert("clean".into(), self.is_clean().into());
        }
        v
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |m: Option<u64>| m.map_or_else(|| "none".to_string(), |m| m.to_string());
        writeln!(f, "store      {}", self.path.display())?;
        writeln!(
            f,
            "marks      recorded {}, index {}",
            opt(self.recorded_mark),
            opt(self.index_mark)
        )?;
        writeln!(
            f,
            "index      {} items, {} keys ({} inline, {} blob-backed), {} pins",
            self.index_items, self.keys, self.inline_values, self.blob_values, self.pins
        )?;
        let damaged = self
            .problems
            .iter()
            .filter(|p| matches!(p, Problem::BlobDamaged { .. }))
            .count();
        writeln!(
            f,
            "blobs      {} complete ({} damaged; {} bytes of the others re-hashed intact), \
             {} partial, {} unreferenced, {} stray files",
            self.blobs,
            damaged,
            self.blob_bytes,
            self.partial_blobs,
            self.unreferenced_blobs.len(),
            self.stray_blob_files.len()
        )?;
        writeln!(
            f,
            "log        {} entries ({} by legacy signature)",
            self.log_entries, self.log_legacy_signatures
        )?;
        writeln!(
            f,
            "journal    {}",
            self.journal_records
                .map_or_else(|| "none".to_string(), |n| format!("{n} records"))
        )?;
        if self.is_clean() {
            write!(f, "clean      no problem found ({:.2} s)", self.seconds)
        } else {
            writeln!(f, "problems   {}", self.problems.len())?;
            for (i, p) in self.problems.iter().enumerate() {
                if i > 0 {
                    writeln!(f)?;
                }
                write!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

/// Verify the closed store at `path`: the durability mark against the
/// index, every index entry (inline values against their hashes,
/// blob-backed values against the blob store), every blob's bytes and
/// outboard against its name, and every log entry (it decodes, its
/// signature verifies, its signer owns the database, and its
/// de-duplication, arrival and per-key records agree with it). Changes
/// nothing under `path` (module docs). Damage is reported in the
/// [`CheckReport`]; an error means the check could not run:
/// [`Error::AlreadyOpen`] for a store that is open, [`Error::Io`] for a
/// directory that cannot be read (or scratch space that cannot be written),
/// [`Error::InvalidArgument`] for a directory that holds no store.
pub fn check(path: impl AsRef<Path>) -> Result<CheckReport> {
    let t0 = Instant::now();
    let path = path.as_ref();
    let dir = path.canonicalize().map_err(|e| Error::io_at(path, e))?;
    let index_dir = dir.join("index");
    let blobs_dir = dir.join("blobs");
    if !index_dir.exists() && !blobs_dir.exists() && !dir.join(mark::FILE).exists() {
        return Err(Error::invalid(format!(
            "{} holds no store (no index/, blobs/ or {})",
            dir.display(),
            mark::FILE
        )));
    }
    let _lock = lock_shared(&dir)?;
    let scratch = Scratch::new()?;
    let mut r = CheckReport {
        path: dir.clone(),
        ..Default::default()
    };
    match mark::read_file(&dir) {
        Ok(m) => r.recorded_mark = m.map(|f| f.mark),
        Err(Error::Corrupt(m)) => r.problems.push(Problem::MarkFileDamaged { detail: m }),
        Err(e) => return Err(e),
    }
    let mut refs = Refs::default();
    if index_dir.exists() {
        let copy = scratch.0.join("index");
        copy_tree(&index_dir, &copy)?;
        let mut walk = IndexWalk::new(&mut r, &mut refs);
        let res = quiet::catch("reading the index", &index_dir, || walk.run(&copy));
        if let Err(e) = res {
            r.problems.push(Problem::IndexUnreadable {
                detail: e.to_string(),
            });
        }
    } else {
        r.problems.push(Problem::IndexMissing);
    }
    let found = Found {
        recorded: r.recorded_mark,
        index: r.index_mark,
        journal_synced: None,
    };
    if found.behind() && index_dir.exists() {
        r.problems.insert(
            0,
            Problem::IndexBehindMark {
                recorded: r.recorded_mark.unwrap_or(0),
                index: r.index_mark,
            },
        );
    }
    check_blobs(&blobs_dir, &scratch.0, &mut r, &refs)?;
    check_journal(&dir, &mut r)?;
    r.seconds = t0.elapsed().as_secs_f64();
    Ok(r)
}

/// Walk the operation journal: every record's framing and checksum, and
/// every operation's shape, owner and signature (in batches).
fn check_journal(dir: &Path, r: &mut CheckReport) -> Result<()> {
    use crate::engine::journal::{Item, Reader};
    let Some(mut reader) = Reader::open(&dir.join(crate::engine::journal::FILE))? else {
        return Ok(());
    };
    let verifier = Verifier::new(1024);
    let mut batch: Vec<(u64, SignedOperation)> = Vec::new();
    let mut n = 0u64;
    let flush = |batch: &mut Vec<(u64, SignedOperation)>, r: &mut CheckReport| {
        let items: Vec<_> = batch.iter().map(|(_, op)| op.verify_item()).collect();
        let verdicts = verifier.verify_many(&items);
        for ((i, op), ok) in batch.drain(..).zip(verdicts) {
            if !ok && !op.verify_legacy(&verifier) {
                r.problems.push(Problem::JournalOperationInvalid {
                    record: i,
                    detail: format!("op {}: the signature does not verify", op.op_id),
                });
            }
        }
    };
    while let Some(item) = reader.next()? {
        let i = n;
        n += 1;
        let Item::Record(b) = item else { continue };
        let op = std::str::from_utf8(&b)
            .map_err(|e| Error::Corrupt(e.to_string()))
            .and_then(SignedOperation::from_json)
            .and_then(|op| {
                op.check_shape()?;
                check_owner(&op.db_name, &op.public_key)?;
                Ok(op)
            });
        match op {
            Ok(op) => batch.push((i, op)),
            Err(e) => r.problems.push(Problem::JournalOperationInvalid {
                record: i,
                detail: e.to_string(),
            }),
        }
        if batch.len() >= LOG_BATCH {
            flush(&mut batch, r);
        }
    }
    flush(&mut batch, r);
    let scan = reader.scan;
    r.journal_records = Some(scan.records);
    if scan.damaged > 0 || scan.unreadable_bytes > 0 {
        r.problems.push(Problem::JournalDamaged {
            damaged_records: scan.damaged,
            unreadable_bytes: scan.unreadable_bytes,
        });
    }
    Ok(())
}

/// The store's `LOCK`, held shared (not created if absent: no store that
/// could be open).
fn lock_shared(dir: &Path) -> Result<Option<File>> {
    let p = dir.join("LOCK");
    let f = match File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_at(&p, e)),
    };
    match f.try_lock_shared() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::AlreadyOpen {
            path: dir.to_path_buf(),
            detail: "the store is open (its LOCK is held); check needs a closed store".into(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io_at(&p, e)),
    }
}

/// A scratch directory under the system's temporary directory, removed on
/// drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "cyberfly-check-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).map_err(|e| Error::io_at(&p, e))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io_at(to, e))?;
    for e in std::fs::read_dir(from).map_err(|e| Error::io_at(from, e))? {
        let e = e.map_err(|e| Error::io_at(from, e))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let ft = e.file_type().map_err(|e| Error::io_at(&src, e))?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| Error::io_at(&src, e))?;
        }
    }
    Ok(())
}

/// Blobs the index refers to: hash → (keys naming it, up to
/// [`KEYS_NAMED`], and the lengths their entries give).
type Referrers = (Vec<String>, Vec<(String, u64)>);

#[derive(Default)]
struct Refs {
    by_hash: HashMap<[u8; 32], Referrers>,
}

impl Refs {
    fn add(&mut self, hash: [u8; 32], key: String, len: Option<u64>) {
        let (keys, lens) = self.by_hash.entry(hash).or_default();
        if keys.len() < KEYS_NAMED {
            keys.push(key.clone());
        }
        if let Some(l) = len {
            lens.push((key, l));
        }
    }
}

fn hex32(h: &[u8; 32]) -> String {
    hex::encode(h)
}

fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) => s.to_string(),
        Err(_) => format!("0x{}", hex::encode(k)),
    }
}

/// One pass over the index copy.
struct IndexWalk<'a> {
    r: &'a mut CheckReport,
    refs: &'a mut Refs,
    verifier: Verifier,
    /// Log keys seen, and whether a de-duplication record points at each.
    log_keys: HashMap<Vec<u8>, bool>,
    /// (full key, timestamp, op_id) of every decoded log entry.
    key_ops: HashSet<(String, u64, String)>,
    pending: Vec<(Vec<u8>, SignedOperation)>,
    recorded_count: Option<u64>,
}

impl<'a> IndexWalk<'a> {
    fn new(r: &'a mut CheckReport, refs: &'a mut Refs) -> Self {
        IndexWalk {
            r,
            refs,
            verifier: Verifier::new(1024),
            log_keys: HashMap::new(),
            key_ops: HashSet::new(),
            pending: Vec::new(),
            recorded_count: None,
        }
    }

    fn run(&mut self, copy: &Path) -> Result<()> {
        let compression = std::fs::read_to_string(copy.join("conf"))
            .map(|c| c.lines().any(|l| l.trim() == "use_compression: true"))
            .unwrap_or(false);
        let db = sled::Config::new()
            .path(copy)
            .use_compression(compression)
            .flush_every_ms(None)
            .open()?;
        let tree = db.open_tree(DATA_TREE)?;
        if let Some(v) = tree.get(MARK_KEY)? {
            match <[u8; 8]>::try_from(v.as_ref()) {
                Ok(b) => self.r.index_mark = Some(u64::from_be_bytes(b)),
                Err(_) => self.r.problems.push(Problem::IndexMarkDamaged {
                    detail: format!("{} bytes, not 8", v.len()),
                }),
            }
        }
        for item in tree.iter() {
            let (k, v) = item?;
            self.r.index_items += 1;
            self.item(&k, &v);
        }
        self.verify_pending();
        // every log entry has its de-duplication record
        let mut missing: Vec<&Vec<u8>> = self
            .log_keys
            .iter()
            .filter(|(_, seen)| !**seen)
            .map(|(k, _)| k)
            .collect();
        missing.sort();
        for k in missing {
            self.r.problems.push(Problem::LogDedupMismatch {
                log_key: hex::encode(k),
                detail: "no de-duplication record points at it".into(),
            });
        }
        let found = self.r.log_entries;
        match self.recorded_count {
            Some(n) if n != found => self
                .r
                .problems
                .push(Problem::LogCountMismatch { recorded: n, found }),
            None if found > 0 => self
                .r
                .problems
                .push(Problem::LogCountMismatch { recorded: 0, found }),
            _ => {}
        }
        Ok(())
    }

    fn item(&mut self, k: &[u8], v: &[u8]) {
        let Some(&ns) = k.first() else {
            return;
        };
        match ns {
            NS_ENTRY => self.entry(&k[1..], v),
            NS_PIN => match <[u8; 32]>::try_from(&k[1..]) {
                Ok(h) => {
                    self.r.pins += 1;
                    self.refs.add(h, format!("(pin {})", hex32(&h)), None);
                }
                Err(_) => self.r.problems.push(Problem::ItemUndecodable {
                    key: hex::encode(k),
                    detail: "a pin whose hash is not 32 bytes".into(),
                }),
            },
            NS_LOG => self.log_entry(k, v),
            NS_OPID => match self.log_keys.get_mut(v) {
                Some(seen) => *seen = true,
                None => self.r.problems.push(Problem::LogDedupMismatch {
                    log_key: hex::encode(v),
                    detail: format!(
                        "the de-duplication record {} points at it, and it does not exist",
                        hex::encode(k)
                    ),
                }),
            },
            NS_SEQ if !self.log_keys.contains_key(v) => {
                let seq = k
                    .get(1..9)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                self.r.problems.push(Problem::LogArrivalDangling {
                    seq,
                    log_key: hex::encode(v),
                });
            }
            NS_KEY_OPS => self.key_op(k),
            NS_SUB if parse_sub_key(k).is_none() => {
                self.r.problems.push(Problem::ItemUndecodable {
                    key: hex::encode(k),
                    detail: "a container sub-entry key".into(),
                });
            }
            _ if k == LOG_COUNT_KEY => {
                self.recorded_count = <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes);
            }
            _ => {}
        }
    }

    fn entry(&mut self, key: &[u8], v: &[u8]) {
        self.r.keys += 1;
        let name = show_key(key);
        let e = match Entry::decode(v) {
            Ok(e) => e,
            Err(e) => {
                self.r.problems.push(Problem::EntryUndecodable {
                    key: name,
                    detail: e.to_string(),
                });
                return;
            }
        };
        match &e.payload {
            Payload::Inline(b) => {
                self.r.inline_values += 1;
                let actual = blake3::hash(b);
                if actual.as_bytes() != &e.hash {
                    self.r.problems.push(Problem::InlineValueDamaged {
                        key: name,
                        expected: hex32(&e.hash),
                        actual: actual.to_hex().to_string(),
                    });
                }
            }
            Payload::Blob => {
                self.r.blob_values += 1;
                self.refs.add(e.hash, name, Some(e.len));
            }
        }
    }

    fn log_entry(&mut self, k: &[u8], v: &[u8]) {
        self.r.log_entries += 1;
        self.log_keys.insert(k.to_vec(), false);
        match serde_json::from_slice::<SignedOperation>(v) {
            Ok(op) => {
                self.pending.push((k.to_vec(), op));
                if self.pending.len() >= LOG_BATCH {
                    self.verify_pending();
                }
            }
            Err(e) => self.r.problems.push(Problem::LogEntryUndecodable {
                log_key: hex::encode(k),
                detail: e.to_string(),
            }),
        }
    }

    fn verify_pending(&mut self) {
        let ops = std::mem::take(&mut self.pending);
        let items: Vec<_> = ops.iter().map(|(_, op)| op.verify_item()).collect();
        let verdicts = self.verifier.verify_many(&items);
        for ((k, op), ok) in ops.into_iter().zip(verdicts) {
            let log_key = hex::encode(&k);
            if !ok {
                if op.verify_legacy(&self.verifier) {
                    self.r.log_legacy_signatures += 1;
                } else {
                    self.r.problems.push(Problem::LogSignatureInvalid {
                        log_key: log_key.clone(),
                        op_id: op.op_id.clone(),
                    });
                }
            }
            if let Err(e) = check_owner(&op.db_name, &op.public_key) {
                self.r.problems.push(Problem::LogNotOwner {
                    log_key: log_key.clone(),
                    op_id: op.op_id.clone(),
                    detail: e.to_string(),
                });
            }
            let mut expected = vec![NS_LOG];
            expected.extend_from_slice(&op.timestamp.to_be_bytes());
            expected.extend_from_slice(op.op_id.as_bytes());
            expected.extend_from_slice(&hex::decode(&op.public_key).unwrap_or_default());
            if expected != k {
                self.r.problems.push(Problem::LogKeyMismatch {
                    log_key,
                    op_id: op.op_id.clone(),
                });
            }
            self.key_ops.insert((op.full_key(), op.timestamp, op.op_id));
        }
    }

    /// `j | u32 len | key | ts | op_id`: the operation must be in the log
    /// (the `j` keys come after every `L` key, and the log was verified by
    /// then).
    fn key_op(&mut self, k: &[u8]) {
        self.verify_pending();
        let parsed = (|| {
            let len = u32::from_be_bytes(k.get(1..5)?.try_into().ok()?) as usize;
            let key = std::str::from_utf8(k.get(5..5 + len)?).ok()?;
            let ts = u64::from_be_bytes(k.get(5 + len..13 + len)?.try_into().ok()?);
            let op_id = std::str::from_utf8(k.get(13 + len..)?).ok()?;
            Some((key.to_string(), ts, op_id.to_string()))
        })();
        match parsed {
            Some(t) if self.key_ops.contains(&t) => {}
            Some((key, timestamp, op_id)) => self.r.problems.push(Problem::LogKeyOpDangling {
                key,
                timestamp,
                op_id,
            }),
            None => self.r.problems.push(Problem::ItemUndecodable {
                key: hex::encode(k),
                detail: "a key's operation record".into(),
            }),
        }
    }
}

// ---------------------------------------------------------------- blobs

/// iroh-blobs' record of a blob (`EntryState` in its `blobs-0` table,
/// postcard): the same shape, so that it decodes the same bytes.
#[derive(Debug, Deserialize)]
enum EntryState {
    Complete {
        data_location: DataLocation,
        outboard_location: OutboardLocation,
    },
    Partial {
        #[allow(dead_code)]
        size: Option<u64>,
    },
}

#[derive(Debug, Deserialize)]
enum DataLocation {
    Inline(()),
    Owned(u64),
    External(Vec<PathBuf>, u64),
}

#[derive(Debug, Deserialize)]
enum OutboardLocation {
    Inline(()),
    Owned,
    NotNeeded,
}

/// The raw bytes of a record, under the type name iroh-blobs gives its
/// table's values (redb checks it).
#[derive(Debug)]
struct RawState;

impl redb::Value for RawState {
    type SelfType<'a> = &'a [u8];
    type AsBytes<'a> = &'a [u8];

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> &'a [u8]
    where
        Self: 'a,
    {
        data
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a &'b [u8]) -> &'a [u8]
    where
        Self: 'b,
    {
        value
    }

    fn type_name() -> redb::TypeName {
        redb::TypeName::new("EntryState")
    }
}

const BLOBS_TABLE: redb::TableDefinition<'_, iroh_blobs::Hash, RawState> =
    redb::TableDefinition::new("blobs-0");
const INLINE_DATA_TABLE: redb::TableDefinition<'_, iroh_blobs::Hash, &[u8]> =
    redb::TableDefinition::new("inline-data-0");
const INLINE_OUTBOARD_TABLE: redb::TableDefinition<'_, iroh_blobs::Hash, &[u8]> =
    redb::TableDefinition::new("inline-outboard-0");

/// What the blob store says of each blob it holds.
enum BlobState {
    Ok(u64),
    Damaged(String),
    Partial,
}

fn check_blobs(blobs_dir: &Path, scratch: &Path, r: &mut CheckReport, refs: &Refs) -> Result<()> {
    let db_path = blobs_dir.join("blobs.db");
    let data_dir = blobs_dir.join("data");
    let files = data_files(&data_dir)?;
    let mut states: BTreeMap<[u8; 32], BlobState> = BTreeMap::new();
    let mut db_ok = false;
    if db_path.exists() {
        let copy = scratch.join("blobs.db");
        std::fs::copy(&db_path, &copy).map_err(|e| Error::io_at(&db_path, e))?;
        match quiet::catch_in(
            "reading the blob store's database",
            &db_path,
            "redb",
            || read_blob_db(&copy, &data_dir, &mut states, r),
        ) {
            Ok(()) => db_ok = true,
            Err(e) => r.problems.push(Problem::BlobDatabaseUnreadable {
                detail: e.to_string(),
            }),
        }
    } else if files.values().any(|exts| exts.contains("data")) {
        r.problems.push(Problem::BlobDatabaseMissing {
            data_files: files.values().filter(|x| x.contains("data")).count() as u64,
        });
    }
    if !db_ok {
        // Without the database, what is referenced is looked for by path.
        for h in refs.by_hash.keys() {
            if files.get(h).is_some_and(|x| x.contains("data")) {
                let st = verify_file_blob(&data_dir, h, None, true);
                states.insert(*h, st);
            }
        }
    }
    for (h, st) in &states {
        match st {
            BlobState::Ok(size) => {
                r.blobs += 1;
                r.blob_bytes += size;
            }
            BlobState::Partial => r.partial_blobs += 1,
            BlobState::Damaged(_) => r.blobs += 1,
        }
        let keys = refs.by_hash.get(h).map(|(k, _)| k.clone());
        if let BlobState::Damaged(detail) = st {
            r.problems.push(Problem::BlobDamaged {
                hash: hex32(h),
                detail: detail.clone(),
                keys: keys.clone().unwrap_or_default(),
            });
        }
        if keys.is_none() && !matches!(st, BlobState::Partial) {
            r.unreferenced_blobs.push(hex32(h));
        }
    }
    let mut referenced: Vec<_> = refs.by_hash.iter().collect();
    referenced.sort_by_key(|(h, _)| **h);
    for (h, (keys, lens)) in referenced {
        match states.get(h) {
            None | Some(BlobState::Partial) => r.problems.push(Problem::BlobMissing {
                hash: hex32(h),
                keys: keys.clone(),
            }),
            Some(BlobState::Ok(size)) => {
                for (key, len) in lens {
                    if len != size {
                        r.problems.push(Problem::ValueLengthMismatch {
                            key: key.clone(),
                            hash: hex32(h),
                            index_len: *len,
                            blob_len: *size,
                        });
                    }
                }
            }
            Some(BlobState::Damaged(_)) => {}
        }
    }
    for (h, exts) in &files {
        if !states.contains_key(h) && db_ok {
            for x in exts {
                r.stray_blob_files.push(format!("{}.{x}", hex32(h)));
            }
        }
    }
    Ok(())
}

/// The files of `blobs/data`, by hash: the extensions present.
fn data_files(data_dir: &Path) -> Result<BTreeMap<[u8; 32], HashSet<String>>> {
    let mut out: BTreeMap<[u8; 32], HashSet<String>> = BTreeMap::new();
    let it = match std::fs::read_dir(data_dir) {
        Ok(it) => it,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io_at(data_dir, e)),
    };
    for e in it {
        let e = e.map_err(|e| Error::io_at(data_dir, e))?;
        let name = e.file_name();
        let Some((stem, ext)) = name.to_str().and_then(|n| n.split_once('.')) else {
            continue;
        };
        let Ok(h) = <[u8; 32]>::try_from(hex::decode(stem).unwrap_or_default().as_slice()) else {
            continue;
        };
        out.entry(h).or_default().insert(ext.to_string());
    }
    Ok(out)
}

fn read_blob_db(
    copy: &Path,
    data_dir: &Path,
    states: &mut BTreeMap<[u8; 32], BlobState>,
    r: &mut CheckReport,
) -> Result<()> {
    let db = redb::Database::open(copy).map_err(|e| Error::Corrupt(e.to_string()))?;
    let tx = db.begin_read().map_err(|e| Error::Corrupt(e.to_string()))?;
    let blobs = match tx.open_table(BLOBS_TABLE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(Error::Corrupt(e.to_string())),
    };
    let inline_data = tx.open_table(INLINE_DATA_TABLE).ok();
    let inline_outboard = tx.open_table(INLINE_OUTBOARD_TABLE).ok();
    let corrupt = |e: redb::StorageError| Error::Corrupt(e.to_string());
    for item in blobs.iter().map_err(corrupt)? {
        let (k, v) = item.map_err(corrupt)?;
        let h = *k.value().as_bytes();
        let state = match postcard::from_bytes::<EntryState>(v.value()) {
            Ok(s) => s,
            Err(e) => {
                r.problems.push(Problem::BlobRecordDamaged {
                    hash: hex32(&h),
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let st = match state {
            EntryState::Partial { .. } => BlobState::Partial,
            EntryState::Complete {
                data_location,
                outboard_location,
            } => {
                let inline_of = |t: &Option<redb::ReadOnlyTable<iroh_blobs::Hash, &[u8]>>| {
                    t.as_ref()
                        .and_then(|t| t.get(iroh_blobs::Hash::from_bytes(h)).ok().flatten())
                        .map(|g| g.value().to_vec())
                };
                let outboard = match outboard_location {
                    OutboardLocation::Inline(()) => {
                        Some(Outboard::Bytes(inline_of(&inline_outboard)))
                    }
                    OutboardLocation::Owned => None,
                    OutboardLocation::NotNeeded => Some(Outboard::Bytes(Some(Vec::new()))),
                };
                match data_location {
                    DataLocation::Inline(()) => match inline_of(&inline_data) {
                        Some(d) => verify_bytes(&d, &h, outboard, data_dir),
                        None => {
                            BlobState::Damaged("its inline data is missing from blobs.db".into())
                        }
                    },
                    DataLocation::Owned(size) => {
                        verify_file_blob(data_dir, &h, Some((size, outboard)), false)
                    }
                    DataLocation::External(paths, size) => match paths.first() {
                        Some(p) => match std::fs::read(p) {
                            Ok(d) if d.len() as u64 == size => {
                                verify_bytes(&d, &h, outboard, data_dir)
                            }
                            Ok(d) => BlobState::Damaged(format!(
                                "{} is {} bytes, the record says {size}",
                                p.display(),
                                d.len()
                            )),
                            Err(e) => BlobState::Damaged(format!("{}: {e}", p.display())),
                        },
                        None => BlobState::Damaged("an external blob with no path".into()),
                    },
                }
            }
        };
        states.insert(h, st);
    }
    Ok(())
}

/// Where a blob's outboard is: bytes from the database (`None`: the
/// record says inline but the database has none), or its file.
enum Outboard {
    Bytes(Option<Vec<u8>>),
}

/// Read `data/{hash}.data` and verify it. `record`: the size the database
/// gives and the outboard (`None`: the `.obao4` file); without a record (no
/// database) only the hash is checked.
fn verify_file_blob(
    data_dir: &Path,
    h: &[u8; 32],
    record: Option<(u64, Option<Outboard>)>,
    hash_only: bool,
) -> BlobState {
    let p = data_dir.join(format!("{}.data", hex32(h)));
    let d = match std::fs::read(&p) {
        Ok(d) => d,
        Err(e) => return BlobState::Damaged(format!("{}: {}", p.display(), e)),
    };
    if hash_only {
        let actual = blake3::hash(&d);
        return if actual.as_bytes() == h {
            BlobState::Ok(d.len() as u64)
        } else {
            BlobState::Damaged(format!("{} hashes to {}", p.display(), actual.to_hex()))
        };
    }
    let (size, outboard) = record.unwrap_or((d.len() as u64, None));
    if d.len() as u64 != size {
        return BlobState::Damaged(format!(
            "{} is {} bytes, the blob store records {size}",
            p.display(),
            d.len()
        ));
    }
    verify_bytes(&d, h, outboard, data_dir)
}

/// The bytes must hash to `h`, and the outboard must be the one they give
/// (iroh-blobs verifies reads against it).
fn verify_bytes(d: &[u8], h: &[u8; 32], outboard: Option<Outboard>, data_dir: &Path) -> BlobState {
    let ob = bao_tree::io::outboard::PreOrderMemOutboard::create(
        d,
        bao_tree::BlockSize::from_chunk_log(4),
    );
    if ob.root.as_bytes() != h {
        return BlobState::Damaged(format!(
            "its {} bytes hash to {}",
            d.len(),
            ob.root.to_hex()
        ));
    }
    let (stored, where_) = match outboard {
        Some(Outboard::Bytes(Some(b))) => (b, "in blobs.db".to_string()),
        Some(Outboard::Bytes(None)) => {
            return BlobState::Damaged("its inline outboard is missing from blobs.db".into())
        }
        None => {
            let p = data_dir.join(format!("{}.obao4", hex32(h)));
            match std::fs::read(&p) {
                Ok(b) => (b, p.display().to_string()),
                Err(e) => return BlobState::Damaged(format!("{}: {e}", p.display())),
            }
        }
    };
    if stored != ob.data {
        return BlobState::Damaged(format!(
            "its outboard ({where_}, {} bytes) does not match its data ({} expected)",
            stored.len(),
            ob.data.len()
        ));
    }
    BlobState::Ok(d.len() as u64)
}
