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
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};

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
            let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
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
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
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
                std::thread::sleep(std::time::Duration::from_millis(50));
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
            let t = std::time::Instant::now();
            for k in &keys {
                let (db, k) = (db.clone(), k.clone());
                pool.run(move || db.get(k.as_bytes()).unwrap())
                    .await
                    .unwrap();
            }
            a.push(t.elapsed().as_secs_f64() * 1e6 / 1000.0);
            let t = std::time::Instant::now();
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
