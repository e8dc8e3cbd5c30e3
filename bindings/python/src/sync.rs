//! `src/sync/` for Python: `Store.serve`, `Store.sync_from`,
//! `Store.sync_continuous`, and the `SyncServer` and `SyncHandle` objects.
//!
//! A report is a dict: the counters of `SyncReport` and its durations in
//! seconds. A `progress` callable gets one after every page, called on the
//! event loop that started the sync (through `call_soon_threadsafe`), so it
//! may touch the loop's state; it must not block.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::error::{invalid, to_pyerr};
use super::store::PyStore;
use super::{none, runtime, spawn, Ready, ENTERING, EXITING};
use cyberfly_store::{ProgressFn, ServeAccess, SyncConfig, SyncHandle, SyncReport, SyncServer};

/// A report as a Python dict.
pub(crate) struct PyReport(SyncReport);

impl<'py> IntoPyObject<'py> for PyReport {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = self.0;
        let d = PyDict::new(py);
        d.set_item("peer_store", r.peer_store)?;
        for (k, v) in [
            ("received", r.received),
            ("applied", r.applied),
            ("duplicate", r.duplicate),
            ("superseded", r.superseded),
            ("forged", r.forged),
            ("rejected", r.rejected),
            ("pages", r.pages),
            ("bytes", r.bytes),
            ("watermark", r.watermark),
            ("peer_head", r.peer_head),
        ] {
            d.set_item(k, v)?;
        }
        for (k, v) in [
            ("transfer", r.transfer),
            ("verify", r.verify),
            ("apply", r.apply),
            ("checkpoint", r.checkpoint),
            ("elapsed", r.elapsed),
        ] {
            d.set_item(k, v.as_secs_f64())?;
        }
        Ok(d)
    }
}

fn seconds(what: &str, v: Option<f64>, default: Duration) -> PyResult<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(invalid(format!("{what} must be seconds >= 0, got {s}"))),
    }
}

#[allow(clippy::too_many_arguments)]
fn sync_config(
    bind: Option<&str>,
    relay_url: Option<String>,
    page_ops: Option<usize>,
    checkpoint_pages: Option<u64>,
    poll_wait: Option<f64>,
    retry_after: Option<f64>,
    connect_timeout: Option<f64>,
) -> PyResult<SyncConfig> {
    let mut c = SyncConfig::default();
    if let Some(b) = bind {
        c.bind_addr = b
            .parse()
            .map_err(|e| invalid(format!("bind `{b}` is not ip:port: {e}")))?;
    }
    c.relay_url = relay_url;
    if let Some(n) = page_ops {
        c.page_ops = n;
    }
    if let Some(n) = checkpoint_pages {
        c.checkpoint_pages = n;
    }
    c.poll_wait = seconds("poll_wait", poll_wait, c.poll_wait)?;
    c.retry_after = seconds("retry_after", retry_after, c.retry_after)?;
    c.connect_timeout = seconds("connect_timeout", connect_timeout, c.connect_timeout)?;
    Ok(c)
}

/// Deliver reports to `callback` on the running event loop. Taking the GIL
/// happens on the blocking pool (never on a runtime worker) and not at all
/// once the interpreter is exiting.
fn progress_fn(py: Python<'_>, callback: Option<Py<PyAny>>) -> PyResult<Option<ProgressFn>> {
    let Some(cb) = callback else {
        return Ok(None);
    };
    // Through `BlockingStore` (no event loop): called on a thread of the
    // runtime's blocking pool, with the GIL.
    let lp = if super::is_blocking() {
        None
    } else {
        Some(super::running_loop(py)?.unbind())
    };
    let target = Arc::new((lp, cb));
    let f: ProgressFn = Arc::new(move |r: &SyncReport| {
        if EXITING.load(Ordering::SeqCst) {
            return;
        }
        let (t, r) = (target.clone(), r.clone());
        ENTERING.fetch_add(1, Ordering::SeqCst);
        runtime().spawn_blocking(move || {
            if !EXITING.load(Ordering::SeqCst) {
                Python::attach(|py| {
                    let (lp, cb) = &*t;
                    let sent = PyReport(r).into_pyobject(py).and_then(|d| match lp {
                        Some(lp) => lp.bind(py).call_method1(
                            pyo3::intern!(py, "call_soon_threadsafe"),
                            (cb.bind(py), d),
                        ),
                        None => cb.bind(py).call1((d,)),
                    });
                    if let Err(e) = sent {
                        tracing::debug!("sync progress not delivered: {e}");
                    }
                });
            }
            ENTERING.fetch_sub(1, Ordering::SeqCst);
        });
    });
    Ok(Some(f))
}

/// A store serving replication (iroh-blobs and `cyberfly-sync/1`). Give
/// `ticket` (or `address`) to the peers that sync from it.
#[pyclass(module = "cyberfly_store._native", name = "SyncServer", frozen)]
pub struct PySyncServer {
    server: Arc<Mutex<Option<SyncServer>>>,
    ticket: String,
    address: String,
    node_id: String,
}

#[pymethods]
impl PySyncServer {
    /// The address as an iroh endpoint ticket (node id and direct addresses).
    #[getter]
    fn ticket(&self) -> String {
        self.ticket.clone()
    }

    /// The address as `{node id}@{ip:port},…`.
    #[getter]
    fn address(&self) -> String {
        self.address.clone()
    }

    /// The node id (hex), stable for a store.
    #[getter]
    fn node_id(&self) -> String {
        self.node_id.clone()
    }

    /// Stop serving (the store stays open). Idempotent.
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let taken = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(s) = taken else {
            return Ready::wrap(py, py.None());
        };
        super::spawn_or_finish(py, async move { none(s.shutdown().await) })
    }

    fn __str__(&self) -> String {
        self.ticket.clone()
    }

    fn __repr__(&self) -> String {
        format!("<SyncServer {}>", self.address)
    }
}

/// A continuous sync running in the background: `report()` for the totals
/// so far, `await stop()` to end it.
#[pyclass(module = "cyberfly_store._native", name = "SyncHandle", frozen)]
pub struct PySyncHandle {
    handle: Arc<Mutex<Option<SyncHandle>>>,
    last: Arc<Mutex<SyncReport>>,
}

#[pymethods]
impl PySyncHandle {
    /// The totals so far (a dict).
    fn report(&self) -> PyReport {
        match self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            Some(h) => PyReport(h.report()),
            None => PyReport(
                self.last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
            ),
        }
    }

    /// Failures so far (each was followed by a reconnect).
    fn errors(&self) -> Vec<String> {
        self.handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(SyncHandle::errors)
            .unwrap_or_default()
    }

    /// Whether it is still running (not stopped).
    #[getter]
    fn running(&self) -> bool {
        self.handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    /// Stop after checkpointing what was applied; returns the totals.
    /// Stopping twice returns the same totals.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let taken = self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let last = self.last.clone();
        let Some(h) = taken else {
            let r = last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            return Ready::wrap(py, PyReport(r).into_pyobject(py)?.into_any().unbind());
        };
        super::spawn_or_finish(py, async move {
            let r = h.stop().await?;
            *last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = r.clone();
            Ok(PyReport(r))
        })
    }
}

#[pymethods]
impl PyStore {
    /// Serve this store to peers over iroh: the blobs protocol and
    /// `cyberfly-sync/1`, on an endpoint bound to `bind` ("ip:port"; default
    /// "0.0.0.0:0"), with no relay unless `relay_url` is given. Returns a
    /// `SyncServer` whose `ticket` peers pass to `sync_from`. `allow` names
    /// the peers that may connect: a list of node ids (their
    /// `sync_node_id()`), or "*" for anyone; default: nobody. Others are
    /// refused on connecting, for the operation log and for every blob.
    #[pyo3(signature = (*, bind=None, relay_url=None, allow=None))]
    fn serve<'py>(
        &self,
        py: Python<'py>,
        bind: Option<&str>,
        relay_url: Option<String>,
        allow: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut config = sync_config(bind, relay_url, None, None, None, None, None)?;
        if let Some(a) = allow {
            config.access = if let Ok(text) = a.extract::<String>() {
                text.parse()
            } else {
                ServeAccess::peers(a.extract::<Vec<String>>()?)
            }
            .map_err(to_pyerr)?;
        }
        let s = self.s();
        spawn(py, async move {
            let server = s.serve(config).await?;
            Ok(PySyncServer {
                ticket: server.ticket(),
                address: server.addr().to_direct_string(),
                node_id: server.node_id(),
                server: Arc::new(Mutex::new(Some(server))),
            })
        })
    }

    /// Pull every operation the peer (a ticket or `{node id}@ip:port`) has
    /// and this store lacks, verifying each (forged ones are counted and
    /// dropped), and record how far it got so the next call resumes.
    /// `progress(report)` is called on this event loop after every page.
    /// Returns the report (a dict).
    #[pyo3(signature = (peer, *, progress=None, bind=None, relay_url=None, page_ops=None, checkpoint_pages=None, connect_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn sync_from<'py>(
        &self,
        py: Python<'py>,
        peer: String,
        progress: Option<Py<PyAny>>,
        bind: Option<&str>,
        relay_url: Option<String>,
        page_ops: Option<usize>,
        checkpoint_pages: Option<u64>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let config = sync_config(
            bind,
            relay_url,
            page_ops,
            checkpoint_pages,
            None,
            None,
            connect_timeout,
        )?;
        let progress = progress_fn(py, progress)?;
        let s = self.s();
        spawn(py, async move {
            s.sync_from_with_progress(&peer, &config, progress)
                .await
                .map(PyReport)
        })
    }

    /// Keep pulling from the peer in the background until stopped: each
    /// request waits up to `poll_wait` seconds for new operations; failures
    /// are retried after `retry_after` seconds. Returns a `SyncHandle`.
    /// Needs a running event loop when `progress` is given.
    #[pyo3(signature = (peer, *, progress=None, bind=None, relay_url=None, page_ops=None, poll_wait=None, retry_after=None, connect_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn sync_continuous(
        &self,
        py: Python<'_>,
        peer: String,
        progress: Option<Py<PyAny>>,
        bind: Option<&str>,
        relay_url: Option<String>,
        page_ops: Option<usize>,
        poll_wait: Option<f64>,
        retry_after: Option<f64>,
        connect_timeout: Option<f64>,
    ) -> PyResult<PySyncHandle> {
        let config = sync_config(
            bind,
            relay_url,
            page_ops,
            None,
            poll_wait,
            retry_after,
            connect_timeout,
        )?;
        let progress = progress_fn(py, progress)?;
        let s = self.s();
        // The task is spawned on the store's runtime handle.
        let h = s
            .sync_continuous(&peer, config, progress)
            .map_err(to_pyerr)?;
        Ok(PySyncHandle {
            handle: Arc::new(Mutex::new(Some(h))),
            last: Arc::default(),
        })
    }

    /// This store's node id (hex): it serves under it and dials peers from
    /// it, so it is what a serving peer lists in `allow`. Stable across
    /// restarts.
    fn sync_node_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { s.sync_node_id().await })
    }

    /// This store's id as its peers know it (hex).
    fn store_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { s.store_id().await })
    }

    /// How far this store has pulled from each peer store:
    /// {peer store id: arrival number}.
    fn sync_watermarks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move {
            s.sync_watermarks()
                .await
                .map(|v| v.into_iter().collect::<std::collections::BTreeMap<_, _>>())
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySyncServer>()?;
    m.add_class::<PySyncHandle>()?;
    Ok(())
}
