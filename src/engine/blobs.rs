//! Values larger than `inline_threshold`, and raw blobs, live in an
//! iroh-blobs `FsStore`, content-addressed by BLAKE3: identical bytes are
//! stored once.
//!
//! Garbage collection. iroh-blobs deletes blobs only through its own GC loop,
//! which calls a protect callback before each mark-and-sweep; it keeps every
//! tagged or temp-tagged blob. We create no permanent tags: the index is the
//! source of truth for what is live. The rules that make this safe:
//!
//! 1. A write holds a temp tag on its blob from `add` until its index entry is
//!    applied; the writer then moves the tag to `pending`.
//! 2. The protect callback first takes `pending` (those blobs' entries are
//!    already applied), then scans the index for every referenced hash. A blob
//!    committed after the take stays temp-tagged in `pending` until the next
//!    run, so the mark phase that follows sees it as a temp root.
//! 3. Blobs added after the store's `clear_protected` (which runs after the
//!    callback) are protected by iroh itself for the sweep.
//!
//! The loop ticks every `TICK`; the callback returns `Abort` (a cheap no-op)
//! unless the schedule is due or someone asked for a run with
//! [`Blobs::collect`]. iroh offers no public on-demand GC, so a request is
//! answered by the callback of the following tick, which only runs after the
//! requested run finished.

use std::collections::HashSet;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use iroh_blobs::api::TempTag;
use iroh_blobs::store::fs::options::Options;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::{GcConfig, ProtectOutcome};
use iroh_blobs::Hash;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

const TICK: Duration = Duration::from_millis(100);

/// Source of the live set: scans the index (blocking).
pub type LiveFn = Arc<dyn Fn() -> Result<HashSet<[u8; 32]>> + Send + Sync>;

#[derive(Default)]
struct GcState {
    /// Temp tags of blobs whose index entries are applied.
    pending: Vec<TempTag>,
    /// Callers waiting for the next run to start.
    requested: Vec<oneshot::Sender<Result<()>>>,
    /// Callers waiting for the run in progress to finish.
    running: Vec<oneshot::Sender<Result<()>>>,
    last_run: Option<Instant>,
    /// When the run in progress was let go (the callback returned
    /// `Continue`); cleared when the loop calls back, i.e. the run ended.
    run_started: Option<Instant>,
}

impl GcState {
    /// The loop has not called back for `at_least` since it started a run:
    /// iroh-blobs' GC loop ends for good when a run fails.
    fn stalled(&self, at_least: Duration) -> Option<Error> {
        let t = self.run_started.filter(|t| t.elapsed() >= at_least)?;
        Some(Error::Blobs(format!(
            "the blob store's garbage collection has stopped: the run started {:.0?} ago \
             never returned (iroh-blobs ends its GC loop after a failed run; the log \
             says why). Unreferenced blobs are kept until the store is reopened.",
            t.elapsed()
        )))
    }
}

pub struct Blobs {
    store: FsStore,
    gc: Arc<Mutex<GcState>>,
    live: Arc<Mutex<Option<LiveFn>>>,
    /// Set when shutdown begins: a call that fails after it failed because
    /// the store is closing, and says so (`Closed`), not with the blob
    /// store's own "Oneshot recv error".
    shut: AtomicBool,
    /// `blobs/data`: where iroh-blobs keeps blobs over its inline size.
    data_dir: std::path::PathBuf,
}

impl Blobs {
    /// Open the blob store in `dir`. `interval` is the GC schedule (zero: only
    /// on demand).
    /// Open (or create) the blob store under `dir` (after [`check_db`]).
    pub async fn open(dir: &Path, interval: Duration) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let gc: Arc<Mutex<GcState>> = Arc::default();
        let live: Arc<Mutex<Option<LiveFn>>> = Arc::default();
        let cb_gc = Arc::downgrade(&gc);
        let cb_live = Arc::downgrade(&live);
        let add_protected: iroh_blobs::store::ProtectCb = Arc::new(move |set| {
            let gc = cb_gc.clone();
            let live = cb_live.clone();
            protect(gc, live, interval, set)
        });
        let leftovers = clear_temp(&dir.join("temp"))?;
        if leftovers.0 > 0 {
            tracing::info!(
                files = leftovers.0,
                bytes = leftovers.1,
                "removed partial blob imports left by a crash (blobs/temp)"
            );
        }
        let mut opts = Options::new(dir);
        opts.gc = Some(GcConfig {
            interval: TICK,
            add_protected: Some(add_protected),
        });
        let db = dir.join("blobs.db");
        let store = FsStore::load_with_opts(db.clone(), opts)
            .await
            .map_err(|e| {
                // redb's own words for a damaged file ("DB corrupted: …")
                let why = e.to_string();
                let msg = format!("opening the blob store's database {}: {why}", db.display());
                if why.to_ascii_lowercase().contains("corrupt") {
                    Error::Corrupt(msg)
                } else {
                    Error::Blobs(msg)
                }
            })?;
        Ok(Blobs {
            store,
            gc,
            live,
            shut: AtomicBool::new(false),
            data_dir: dir.join("data"),
        })
    }

    /// The iroh-blobs store API (serving and fetching blobs for sync).
    pub(crate) fn api(&self) -> &iroh_blobs::api::Store {
        &self.store
    }

    /// Install the live-set source (the index scan). Until then GC never runs.
    pub fn set_live_source(&self, f: LiveFn) {
        *self.live.lock().expect("gc lock") = Some(f);
    }

    /// A blob-store failure as the caller should see it: `Closed` once the
    /// store is shutting down.
    /// A blob-store error, its causes spelled out: iroh-blobs' own message
    /// is often only "inner error: Error::Io"; the OS error (its words and
    /// errno) is further down the source chain.
    fn fail(&self, e: impl std::error::Error + 'static) -> Error {
        if self.shut.load(Ordering::Acquire) {
            Error::Closed
        } else {
            Error::Blobs(causes(&e))
        }
    }

    /// Store bytes; the returned temp tag protects them until dropped.
    pub async fn add(&self, data: Bytes) -> Result<TempTag> {
        self.store
            .blobs()
            .add_bytes(data)
            .temp_tag()
            .await
            .map_err(|e| self.fail(e))
    }

    /// Read a blob; `None` if the store does not have it (complete).
    pub async fn get(&self, hash: &[u8; 32]) -> Result<Option<Bytes>> {
        let h = Hash::from_bytes(*hash);
        if !self.store.blobs().has(h).await.map_err(|e| self.fail(e))? {
            return Ok(None);
        }
        match self.store.blobs().get_bytes(h).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if self.shut.load(Ordering::Acquire) => Err(self.fail(e)),
            // The store holds it (complete) and cannot read it back.
            Err(e) => Err(damaged(&h, &self.data_dir, &e)),
        }
    }

    /// Read a blob an index entry refers to: `BlobMissing` if the blob
    /// store does not hold it, `Corrupt` if it holds it and its bytes or
    /// outboard do not verify (iroh-blobs verifies every read against the
    /// hash), naming the cause.
    pub async fn get_referenced(&self, hash: &[u8; 32]) -> Result<Bytes> {
        let h = Hash::from_bytes(*hash);
        match self.store.blobs().get_bytes(h).await {
            Ok(b) => Ok(b),
            Err(_) if self.shut.load(Ordering::Acquire) => Err(Error::Closed),
            Err(e) => {
                tracing::error!("blob {h} referenced by the index: {}", causes(&e));
                let file = self.data_dir.join(format!("{}.data", h.to_hex()));
                match self.store.blobs().has(h).await {
                    // Recorded, but its data file is gone (an inline blob
                    // has no file and does not fail this way).
                    Ok(true) if !file.exists() && file.parent().is_some_and(Path::exists) => {
                        Err(Error::BlobMissing(format!(
                            "{h} (data file {} gone; the blob store still records it)",
                            file.display()
                        )))
                    }
                    Ok(true) => Err(damaged(&h, &self.data_dir, &e)),
                    Ok(false) => Err(Error::BlobMissing(h.to_hex())),
                    Err(e2) => Err(self.fail(e2)),
                }
            }
        }
    }

    /// Hand over temp tags of blobs whose entries are now applied.
    pub fn committed(&self, tags: Vec<TempTag>) {
        if tags.is_empty() {
            return;
        }
        self.gc.lock().expect("gc lock").pending.extend(tags);
    }

    /// Commit the blob store's metadata (called for `sync` writes and `flush`).
    pub async fn sync(&self) -> Result<()> {
        self.store.sync_db().await.map_err(|e| self.fail(e))
    }

    /// Run a garbage collection now and wait for it to finish.
    /// A loop known to have stopped (a run outlived `timeout` before) is
    /// reported at once.
    pub async fn collect(&self, timeout: Duration) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let mut g = self.gc.lock().expect("gc lock");
            if let Some(e) = g.stalled(timeout) {
                return Err(e);
            }
            g.requested.push(tx);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::Blobs("blob store closed during collection".into())),
            Err(_) => Err(self
                .gc
                .lock()
                .expect("gc lock")
                .stalled(timeout)
                .unwrap_or_else(|| {
                    Error::Blobs(format!(
                        "garbage collection did not finish within {timeout:?}"
                    ))
                })),
        }
    }

    /// The hashes of the complete blobs in the store.
    pub async fn hashes(&self) -> Result<Vec<[u8; 32]>> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        let mut s = self
            .store
            .blobs()
            .list()
            .stream()
            .await
            .map_err(|e| self.fail(e))?;
        while let Some(h) = s.next().await {
            out.push(*h.map_err(|e| self.fail(e))?.as_bytes());
        }
        Ok(out)
    }

    /// Number of complete blobs in the store.
    pub async fn count(&self) -> Result<usize> {
        Ok(self.hashes().await?.len())
    }

    pub async fn shutdown(&self) -> Result<()> {
        self.shut.store(true, Ordering::Release);
        let waiting = {
            let mut g = self.gc.lock().expect("gc lock");
            g.pending.clear();
            let mut w = std::mem::take(&mut g.requested);
            w.append(&mut g.running);
            w
        };
        for tx in waiting {
            let _ = tx.send(Err(Error::Closed));
        }
        let _ = self.store.sync_db().await;
        self.store.shutdown().await.map_err(Error::blobs)
    }
}

type ProtectFuture<'a> =
    Pin<Box<dyn std::future::Future<Output = ProtectOutcome> + Send + Sync + 'a>>;

fn protect<'a>(
    gc: Weak<Mutex<GcState>>,
    live: Weak<Mutex<Option<LiveFn>>>,
    interval: Duration,
    set: &'a mut HashSet<Hash>,
) -> ProtectFuture<'a> {
    Box::pin(async move {
        let Some(gc) = gc.upgrade() else {
            return ProtectOutcome::Abort;
        };
        // The previous run (if any) has finished: we are called again only
        // after it completed.
        let (finished, pending, starting) = {
            let mut g = gc.lock().expect("gc lock");
            g.run_started = None;
            let finished = std::mem::take(&mut g.running);
            let due_by_schedule =
                !interval.is_zero() && g.last_run.map(|t| t.elapsed() >= interval).unwrap_or(true);
            if g.requested.is_empty() && !due_by_schedule {
                drop(g);
                for tx in finished {
                    let _ = tx.send(Ok(()));
                }
                return ProtectOutcome::Abort;
            }
            g.last_run = Some(Instant::now());
            let starting = std::mem::take(&mut g.requested);
            // Rule 2: take the tags of already-applied blobs before scanning.
            let pending = std::mem::take(&mut g.pending);
            (finished, pending, starting)
        };
        for tx in finished {
            let _ = tx.send(Ok(()));
        }
        let source = live
            .upgrade()
            .and_then(|l| l.lock().expect("gc lock").clone());
        let Some(source) = source else {
            fail(&gc, starting, pending, "the store is closing");
            return ProtectOutcome::Abort;
        };
        let scanned = tokio::task::spawn_blocking(move || source()).await;
        match scanned {
            Ok(Ok(hashes)) => {
                set.extend(hashes.into_iter().map(Hash::from_bytes));
                drop(pending);
                let mut g = gc.lock().expect("gc lock");
                g.running.extend(starting);
                g.run_started = Some(Instant::now());
                ProtectOutcome::Continue
            }
            Ok(Err(e)) => {
                fail(&gc, starting, pending, &e.to_string());
                ProtectOutcome::Abort
            }
            Err(e) => {
                fail(&gc, starting, pending, &e.to_string());
                ProtectOutcome::Abort
            }
        }
    })
}

fn fail(
    gc: &Mutex<GcState>,
    waiters: Vec<oneshot::Sender<Result<()>>>,
    pending: Vec<TempTag>,
    why: &str,
) {
    tracing::warn!("blob gc skipped: {why}");
    // Keep the tags: without a scan we cannot prove those blobs are referenced.
    gc.lock().expect("gc lock").pending.extend(pending);
    for tx in waiters {
        let _ = tx.send(Err(Error::Blobs(format!(
            "garbage collection skipped: {why}"
        ))));
    }
}

/// Before anything of the store is opened: a `blobs.db` that is gone
/// while blob data files remain under `dir` is `Corrupt` (every blob-backed
/// value would read as missing), unless `recovery`.
pub(crate) fn check_db(dir: &Path, recovery: bool) -> Result<()> {
    let orphaned = orphaned_data_files(dir)?;
    if orphaned > 0 {
        let msg = format!(
            "{}: the blob store's database is missing or empty while {orphaned} blob data \
             files remain in data/: every blob-backed value would read as missing. \
             Restore blobs.db, or open with recovery enabled to go on without it",
            dir.join("blobs.db").display()
        );
        if !recovery {
            return Err(Error::Corrupt(msg));
        }
        tracing::error!("recovery open: {msg}");
    }
    Ok(())
}

/// Blob data files (`data/*.data`) when `blobs.db` does not exist; 0 when
/// it does or there are none.
fn orphaned_data_files(dir: &Path) -> Result<usize> {
    // An empty file is as good as none: redb makes a new, empty database
    // of it (a truncated `blobs.db` opened silently with every blob gone).
    match std::fs::metadata(dir.join("blobs.db")) {
        Ok(m) if m.len() > 0 => return Ok(0),
        _ => {}
    }
    let data = dir.join("data");
    match std::fs::read_dir(&data) {
        Ok(it) => Ok(it
            .filter_map(std::result::Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "data"))
            .count()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io_at(&data, e)),
    }
}

/// A blob the store holds but cannot read back intact; names its data
/// file when it has one (an inline blob lives in `blobs.db`).
fn damaged(h: &Hash, data_dir: &Path, e: &(dyn std::error::Error + 'static)) -> Error {
    let file = data_dir.join(format!("{}.data", h.to_hex()));
    let file = if file.exists() {
        format!("; data file {}", file.display())
    } else {
        String::new()
    };
    Error::Corrupt(format!(
        "blob {h} is damaged: the blob store holds it but cannot read it back \
         intact ({}{file}); run `cyberfly-store check` on the closed store",
        causes(e)
    ))
}

/// `e` and every source under it, `: `-separated, repeats left out, with
/// bao-tree's verification errors in words (their `Display` is their
/// `Debug`: "LeafHashMismatch(0)", "Io(Custom { kind: … })"), wherever an
/// outer message embeds them.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(e);
    while let Some(s) = next {
        let m = s.to_string();
        match bao_words(s) {
            Some(w) if out.contains(&m) => out = out.replace(&m, &w),
            Some(w) => push_cause(&mut out, &w),
            None if out.contains(&m) => {}
            None => push_cause(&mut out, &m),
        }
        next = s.source();
    }
    out
}

fn push_cause(out: &mut String, m: &str) {
    if !out.is_empty() {
        out.push_str(": ");
    }
    out.push_str(m);
}

/// A bao-tree encode or decode error (also inside an `io::Error`) in words.
fn bao_words(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use bao_tree::io::{DecodeError as D, EncodeError as E};
    let node = |n: &bao_tree::TreeNode| {
        format!(
            "level {}, around byte offset {}",
            n.level(),
            n.mid().to_bytes()
        )
    };
    let at = |c: &bao_tree::ChunkNum| format!("byte offset {}", c.to_bytes());
    // The two mismatches both enums report.
    let leaf = |c| format!("the data of the block at {} does not match its hash", at(c));
    let parent = |n| format!("the outboard's hashes ({}) do not match", node(n));
    if let Some(e) = e.downcast_ref::<E>() {
        return Some(match e {
            E::LeafHashMismatch(c) => leaf(c),
            E::ParentHashMismatch(n) => parent(n),
            E::ParentWrite(n) => format!("the reader stopped while sending hashes ({})", node(n)),
            E::LeafWrite(c) => format!("the reader stopped while sending the data at {}", at(c)),
            E::SizeMismatch => "the data file's size is not the size the outboard records".into(),
            E::Io(io) => io_words(io),
        });
    }
    if let Some(e) = e.downcast_ref::<D>() {
        return Some(match e {
            D::LeafHashMismatch(c) => leaf(c),
            D::ParentHashMismatch(n) => parent(n),
            D::LeafNotFound(c) => format!("the data ends before {}", at(c)),
            D::ParentNotFound(n) => format!("the outboard ends before its hashes at {}", node(n)),
            D::Io(io) => io_words(io),
        });
    }
    let io = e.downcast_ref::<std::io::Error>()?;
    bao_words(io.get_ref()?)
}

/// An I/O error as its inner error's words, or std's ("No space left on
/// device (os error 28)").
fn io_words(e: &std::io::Error) -> String {
    e.get_ref()
        .and_then(|inner| bao_words(inner))
        .unwrap_or_else(|| e.to_string())
}

/// Remove the partial imports a crash left in `blobs/temp` (iroh-blobs
/// writes an import there before moving it into place, and never looks at
/// the directory again). Called at open, before the blob store loads and
/// while the store's directory lock is held, so no import of this or
/// another process can be in flight. Returns (files, bytes) removed.
pub(crate) fn clear_temp(temp: &Path) -> Result<(u64, u64)> {
    let entries = match std::fs::read_dir(temp) {
        Ok(it) => it,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e.into()),
    };
    let (mut files, mut bytes) = (0, 0);
    for e in entries {
        let e = e?;
        let path = e.path();
        if path.extension().is_some_and(|x| x == "temp") && e.file_type()?.is_file() {
            bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path)?;
            files += 1;
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::causes;
    use bao_tree::io::{DecodeError, EncodeError};
    use bao_tree::ChunkNum;

    /// An error whose message embeds its source's, as iroh-blobs' do.
    #[derive(Debug)]
    struct Outer(EncodeError);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "encode error: {}", self.0)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn bao_errors_are_in_words() {
        let m = causes(&Outer(EncodeError::LeafHashMismatch(ChunkNum(3))));
        assert_eq!(
            m,
            "encode error: the data of the block at byte offset 3072 does not match its hash"
        );
        let io = std::io::Error::from_raw_os_error(28);
        let m = causes(&Outer(EncodeError::Io(io)));
        assert!(
            m.starts_with("encode error: No space left on device (os error 28)"),
            "{m}"
        );
        assert!(!m.contains("Os {"), "{m}");
        // Inside an io::Error, as iroh-blobs also hands them on.
        let wrapped = std::io::Error::other(DecodeError::LeafNotFound(ChunkNum(2)));
        assert_eq!(causes(&wrapped), "the data ends before byte offset 2048");
    }
}
