//! The store's reader pool: a fixed number of long-lived threads that run
//! its blocking index reads (sled lookups, scans), fed by a channel, each
//! answering through a oneshot.
//!
//! Why not tokio's `spawn_blocking`: its pool is elastic. A loop of single
//! gets grew it to 125 threads (a finished blocking thread is not yet idle
//! when the next job is spawned), and every thread that allocates is a
//! candidate for a glibc arena of its own, which keeps memory freed into it
//! (docs/RELIABILITY.md, "Memory budget"). A fixed pool bounds the threads
//! that allocate on the read path to `Config::reader_threads`.
//!
//! A panic in a job is caught on the reader thread and returned as
//! [`Error::Internal`]; the thread goes on serving. [`ReaderPool::shutdown`]
//! closes the channel: the threads finish what is queued and exit.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed pool of reader threads (see the module docs).
pub(crate) struct ReaderPool {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ids: Vec<ThreadId>,
}

impl ReaderPool {
    /// Start `n` (at least one) reader threads.
    pub(crate) fn new(n: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cyberfly-reader-{i}"))
                .spawn(move || loop {
                    // Holding the lock only while waiting: one idle thread
                    // waits on the channel, the others on the lock.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // channel closed and drained
                    }
                });
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => {
                    drop(tx);
                    for h in threads {
                        let _ = h.join();
                    }
                    return Err(e);
                }
            }
        }
        let ids = threads.iter().map(|h| h.thread().id()).collect();
        Ok(ReaderPool {
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
            ids,
        })
    }

    /// Number of threads the pool started.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.ids.len()
    }

    /// Whether the calling thread is one of this pool's readers.
    pub(crate) fn is_reader_thread(&self) -> bool {
        self.ids.contains(&std::thread::current().id())
    }

    /// Queue `f` on a reader thread now and return a future of its result
    /// (the job is sent at the call, not at the first poll, so several can
    /// run in parallel before any is awaited). [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown); a panic in `f` is an
    /// [`Error::Internal`] carrying the panic message.
    pub(crate) fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (otx, orx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = otx.send(r);
        });
        let sent = {
            let tx = self
                .tx
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match tx.as_ref() {
                Some(tx) => tx.send(job).is_ok(),
                None => false,
            }
        };
        async move {
            if !sent {
                return Err(Error::Closed);
            }
            match orx.await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(panic)) => Err(Error::internal(format!(
                    "reader thread panicked: {}",
                    panic_message(&*panic)
                ))),
                // The job was dropped unrun: only if its thread died.
                Err(_) => Err(Error::internal("reader pool stopped before the job ran")),
            }
        }
    }

    /// Close the channel; with `join`, wait for the threads to finish what
    /// was queued and exit (never joins the calling thread itself), else
    /// let them exit on their own. Idempotent.
    pub(crate) fn shutdown(&self, join: bool) {
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let threads = std::mem::take(
            &mut *self
                .threads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if !join {
            return;
        }
        let me = std::thread::current().id();
        for h in threads {
            if h.thread().id() != me && h.join().is_err() {
                tracing::error!("reader thread panicked outside a job");
            }
        }
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        // Detach: the threads exit once the channel is drained.
        self.shutdown(false);
    }
}

/// Decides whether a cache miss is read on the caller's thread (design
/// rule 2): only from a thread outside any tokio runtime (a Python thread,
/// a C host thread, a blocking Rust caller; never a worker, where a sled
/// call could stall other tasks), only while `Config::inline_read_limit` is
/// not zero, and not while the guard is tripped. A read that takes longer
/// than the limit is slow: its page came from the disk, or the thread was
/// descheduled. Two slow reads among the last eight trip the guard (one
/// alone is most often a preemption, which the pool would not avoid; a
/// disk-bound store is slow read after read): every miss goes to the pool
/// for [`COOLDOWN`],
/// doubled for each further trip in a row up to [`MAX_COOLDOWN`]; the next
/// inline read after that is the probe, and a fast one resets the doubling.
/// So a caller (an event loop) is held by at most about one slow read per
/// cooldown, however slow the disk.
pub(crate) struct InlineGuard {
    limit_ns: u64,
    start: Instant,
    /// Nanoseconds since `start` before which misses go to the pool (0:
    /// not tripped).
    pool_until: AtomicU64,
    trips_in_row: AtomicU32,
    /// Slowness of the last eight inline reads, one bit each (newest low).
    history: AtomicU32,
    /// The longest inline read so far, ns (what an event loop waited).
    pub(crate) longest_ns: AtomicU64,
    pub(crate) trips: AtomicU64,
}

/// How long misses go to the pool after a slow inline read.
pub(crate) const COOLDOWN: Duration = Duration::from_millis(50);
/// The most the cooldown grows to while probes stay slow.
pub(crate) const MAX_COOLDOWN: Duration = Duration::from_millis(3200);

impl InlineGuard {
    pub(crate) fn new(limit: Duration) -> Self {
        InlineGuard {
            limit_ns: limit.as_nanos().min(u128::from(u64::MAX)) as u64,
            start: Instant::now(),
            pool_until: AtomicU64::new(0),
            trips_in_row: AtomicU32::new(0),
            history: AtomicU32::new(0),
            longest_ns: AtomicU64::new(0),
            trips: AtomicU64::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        (self.start.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64).max(1)
    }

    /// Whether a miss may be read on the calling thread now.
    #[inline]
    pub(crate) fn allowed(&self) -> bool {
        if self.limit_ns == 0 || tokio::runtime::Handle::try_current().is_ok() {
            return false;
        }
        let until = self.pool_until.load(Ordering::Relaxed);
        until == 0 || self.cooled(until)
    }

    #[cold]
    fn cooled(&self, until: u64) -> bool {
        if self.now_ns() < until {
            return false;
        }
        // The first caller after the cooldown probes; the others too (a
        // few probes at once are harmless).
        let _ = self
            .pool_until
            .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
        true
    }

    /// Record an inline read that started at `t0`; trips the guard on the
    /// second slow read among the last eight. Returns whether it tripped.
    /// (The history is updated with a load and a store, not atomically:
    /// two threads may lose a bit, which only delays a trip.)
    #[inline]
    pub(crate) fn record(&self, t0: Instant) -> bool {
        let ns = t0.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        if ns > self.longest_ns.load(Ordering::Relaxed) {
            self.longest_ns.fetch_max(ns, Ordering::Relaxed);
        }
        let slow = ns > self.limit_ns;
        let h = self.history.load(Ordering::Relaxed);
        if !slow {
            if h != 0 {
                self.history.store((h << 1) & 0xff, Ordering::Relaxed);
            }
            if self.trips_in_row.load(Ordering::Relaxed) != 0 && h == 0 {
                self.trips_in_row.store(0, Ordering::Relaxed);
            }
            return false;
        }
        let h = ((h << 1) | 1) & 0xff;
        if h.count_ones() < 2 {
            self.history.store(h, Ordering::Relaxed);
            return false;
        }
        self.history.store(0, Ordering::Relaxed);
        self.trip();
        true
    }

    #[cold]
    fn trip(&self) {
        let n = self.trips_in_row.fetch_add(1, Ordering::Relaxed).min(6);
        let cool = (COOLDOWN * (1 << n)).min(MAX_COOLDOWN);
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.pool_until
            .store(self.now_ns() + cool.as_nanos() as u64, Ordering::Relaxed);
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "(non-string payload)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_trips_on_a_slow_read_and_cools_down() {
        let g = InlineGuard::new(Duration::from_millis(5));
        assert!(g.allowed(), "an OS thread outside a runtime reads inline");
        assert!(!g.record(Instant::now()));
        assert!(g.allowed());
        let t0 = Instant::now() - Duration::from_millis(20);
        assert!(!g.record(t0), "one slow read (a preemption?) does not trip");
        assert!(g.allowed());
        for _ in 0..8 {
            assert!(!g.record(Instant::now()));
        }
        assert!(
            !g.record(t0),
            "eight fast reads later: a first slow one again"
        );
        assert!(!g.record(Instant::now()));
        assert!(g.record(t0), "the second slow read among eight trips");
        assert_eq!(g.trips.load(Ordering::Relaxed), 1);
        assert!(g.longest_ns.load(Ordering::Relaxed) >= 20_000_000);
        assert!(!g.allowed(), "tripped: misses go to the pool");
        std::thread::sleep(COOLDOWN + Duration::from_millis(10));
        assert!(g.allowed(), "the cooldown is over: probe inline");
        // The probe is slow too (a second trip in a row): the cooldown
        // doubles.
        assert!(!g.record(t0));
        assert!(g.record(t0));
        std::thread::sleep(COOLDOWN + Duration::from_millis(10));
        assert!(!g.allowed(), "second trip in a row: 100 ms");
        std::thread::sleep(COOLDOWN);
        assert!(g.allowed());
        assert!(!g.record(Instant::now()));
        assert_eq!(g.trips_in_row.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn guard_never_allows_with_a_zero_limit_or_inside_a_runtime() {
        assert!(!InlineGuard::new(Duration::ZERO).allowed());
        let g = InlineGuard::new(Duration::from_millis(1));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _e = rt.enter();
        assert!(!g.allowed(), "inside a runtime context: the pool");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_jobs_on_a_fixed_set_of_threads() {
        let pool = ReaderPool::new(3).unwrap();
        assert_eq!(pool.size(), 3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let name = pool
                .run(|| std::thread::current().name().unwrap().to_owned())
                .await
                .unwrap();
            assert!(name.starts_with("cyberfly-reader-"), "{name}");
            seen.insert(name);
        }
        assert!(seen.len() <= 3, "{seen:?}");
        // Many at once: all answered, still at most three threads.
        let futs = (0..200u64).map(|i| pool.run(move || (i * 2, std::thread::current().id())));
        let out = futures_util::future::join_all(futs).await;
        let mut ids = std::collections::HashSet::new();
        for (i, r) in out.into_iter().enumerate() {
            let (v, id) = r.unwrap();
            assert_eq!(v, i as u64 * 2);
            ids.insert(id);
        }
        assert!(ids.len() <= 3);
        assert!(ids.iter().all(|id| pool.ids.contains(id)));
        assert!(!pool.is_reader_thread());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_is_an_error_and_the_pool_survives() {
        let pool = ReaderPool::new(1).unwrap();
        let e = pool
            .run(|| -> u32 { panic!("boom in a reader") })
            .await
            .unwrap_err();
        match e {
            Error::Internal(m) => assert!(m.contains("boom in a reader"), "{m}"),
            other => panic!("expected Internal, got {other:?}"),
        }
        // The single thread is still serving.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_joins_and_later_jobs_are_closed() {
        let pool = ReaderPool::new(2).unwrap();
        assert_eq!(pool.threads.lock().unwrap().len(), 2);
        // A queued slow job still completes across a shutdown.
        let slow = {
            let (tx, rx) = oneshot::channel();
            let job: Job = Box::new(move || {
                std::thread::sleep(Duration::from_millis(50));
                let _ = tx.send(5u8);
            });
            pool.tx.lock().unwrap().as_ref().unwrap().send(job).unwrap();
            rx
        };
        pool.shutdown(true);
        assert_eq!(slow.await.unwrap(), 5);
        assert!(pool.threads.lock().unwrap().is_empty());
        assert!(matches!(pool.run(|| 1).await, Err(Error::Closed)));
        pool.shutdown(true); // idempotent
    }

    /// Interleaved A/B in one process: 1 000 sequential sled gets through
    /// the pool against the same through tokio's `spawn_blocking`, 15
    /// rounds each, medians and the ratio; and the process's thread count
    /// after each. A measurement, not a check:
    /// `cargo test --release --lib readers::tests::ab -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn ab_pool_vs_spawn_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let keys: Vec<String> = (0..1000).map(|i| format!("key:{i:08}")).collect();
        for k in &keys {
            db.insert(k.as_bytes(), vec![b'v'; 1024]).unwrap();
        }
        let pool = ReaderPool::new(2).unwrap();
        let threads = || {
            std::fs::read_to_string("/proc/self/status")
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Threads:"))
                .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
                .unwrap_or_default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            let t = Instant::now();
            for k in &keys {
                let (db, k) = (db.clone(), k.clone());
                pool.run(move || db.get(k.as_bytes()).unwrap())
                    .await
                    .unwrap();
            }
            a.push(t.elapsed().as_secs_f64() * 1e6 / 1000.0);
            let t = Instant::now();
            for k in &keys {
                let (db, k) = (db.clone(), k.clone());
                tokio::task::spawn_blocking(move || db.get(k.as_bytes()).unwrap())
                    .await
                    .unwrap();
            }
            b.push(t.elapsed().as_secs_f64() * 1e6 / 1000.0);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|x, y| x.partial_cmp(y).unwrap());
            v[v.len() / 2]
        };
        let (ma, mb) = (median(&mut a), median(&mut b));
        eprintln!(
            "per get: pool {ma:.2} us, spawn_blocking {mb:.2} us, pool/spawn_blocking {:.3}; threads now {}",
            ma / mb,
            threads()
        );
    }
}
