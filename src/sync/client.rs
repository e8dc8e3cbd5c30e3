//! The pulling side: fetch pages, verify, apply, checkpoint.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh_blobs::api::TempTag;
use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::{Hash, HashAndFormat};
use tokio::sync::watch;

use super::proto::{self, net_err, Request, Response};
use super::{
    bind_endpoint, endpoint_secret, write_raw, PeerAddr, ProgressFn, SyncConfig, SyncReport,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::oplog::replica;
use crate::oplog::{Outcome, SignedOperation};
use crate::verify::VerifyItem;

/// A page fetched and decoded, its blobs kept by `_tag` until applied.
struct Fetched {
    ops: Vec<SignedOperation>,
    /// Operations whose JSON did not decode: never applied.
    undecodable: u64,
    last: u64,
    bytes: u64,
    _tag: TempTag,
}

/// The network half of a session: the control stream and the blobs
/// connection to one peer.
struct Fetcher {
    store: Engine,
    blobs_conn: Connection,
    send: SendStream,
    recv: RecvStream,
    page_ops: usize,
    _sync_conn: Connection,
}

impl Fetcher {
    async fn connect(
        store: &Engine,
        ep: &iroh::Endpoint,
        peer: &PeerAddr,
        config: &SyncConfig,
    ) -> Result<(Fetcher, [u8; 16], u64)> {
        let connect = |alpn: &'static [u8]| {
            let addr = peer.0.clone();
            async move {
                match tokio::time::timeout(config.connect_timeout, ep.connect(addr, alpn)).await {
                    Ok(Ok(c)) => Ok(c),
                    Ok(Err(e)) => Err(net_err("connect", error_chain(&e))),
                    Err(_) => Err(net_err(
                        "connect",
                        format!("no answer within {:?}", config.connect_timeout),
                    )),
                }
            }
        };
        let sync_conn = connect(proto::ALPN).await?;
        let hello = async {
            let blobs_conn = connect(iroh_blobs::ALPN).await?;
            let (mut send, mut recv) = sync_conn
                .open_bi()
                .await
                .map_err(|e| net_err("open stream", e))?;
            proto::write_frame(&mut send, &Request::Hello { v: proto::VERSION }).await?;
            let (store_id, head) = match proto::read_frame::<Response>(&mut recv).await? {
                Some(Response::Hello { store_id, head, .. }) => (store_id, head),
                Some(Response::Error { message }) => return Err(net_err("peer", message)),
                other => return Err(net_err("hello", format!("unexpected answer {other:?}"))),
            };
            Ok((blobs_conn, send, recv, store_id, head))
        }
        .await;
        let (blobs_conn, send, recv, store_id, head) = match hello {
            Ok(h) => h,
            // A peer that refuses us (access policy) closes the connection
            // with a reason; which step of the hello fails first depends on
            // timing, so report the peer's reason when it closed.
            Err(e) => {
                return Err(
                    match tokio::time::timeout(Duration::from_secs(2), sync_conn.closed()).await {
                        Ok(reason @ iroh::endpoint::ConnectionError::ApplicationClosed(_)) => {
                            net_err("peer", error_chain(&reason))
                        }
                        _ => e,
                    },
                )
            }
        };
        let id: [u8; 16] = hex::decode(&store_id)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| net_err("hello", format!("bad store id `{store_id}`")))?;
        Ok((
            Fetcher {
                store: store.clone(),
                blobs_conn,
                send,
                recv,
                page_ops: config.page_ops,
                _sync_conn: sync_conn,
            },
            id,
            head,
        ))
    }

    /// Ask for the page after `after` (waiting up to `wait_ms` for one) and
    /// fetch it. `Ok((head, None))` when the peer has nothing after `after`.
    async fn fetch(&mut self, after: u64, wait_ms: u32) -> Result<(u64, Option<Fetched>)> {
        let req = Request::Page {
            after,
            max_ops: self.page_ops.min(u32::MAX as usize) as u32,
            wait_ms,
        };
        proto::write_frame(&mut self.send, &req).await?;
        let (head, page) = match proto::read_frame::<Response>(&mut self.recv).await? {
            Some(Response::Page { head, page }) => (head, page),
            Some(Response::Error { message }) => return Err(net_err("peer", message)),
            other => return Err(net_err("page", format!("unexpected answer {other:?}"))),
        };
        let Some(p) = page else {
            return Ok((head, None));
        };
        let hash = Hash::from_str(&p.hash).map_err(|e| net_err("page hash", e))?;
        let api = self.store.blobs().api();
        let content = HashAndFormat::hash_seq(hash);
        // Protect the page locally before it arrives (the store's GC
        // collects whatever no tag or index entry holds).
        let tag = api.tags().temp_tag(content).await.map_err(Error::blobs)?;
        // With value blobs, fetch the sequence itself first: iroh-blobs
        // then sees which of its children are already here (values this
        // store holds) and does not ask for them.
        let mut bytes = 0;
        if p.values > 0 {
            let s = api
                .remote()
                .fetch(self.blobs_conn.clone(), HashAndFormat::raw(hash))
                .complete()
                .await
                .map_err(|e| net_err("fetch page", e))?;
            bytes += s.total_bytes_read();
        }
        let stats = api
            .remote()
            .fetch(self.blobs_conn.clone(), content)
            .complete()
            .await
            .map_err(|e| net_err("fetch page", e))?;
        bytes += stats.total_bytes_read();
        let seq_bytes = api.blobs().get_bytes(hash).await.map_err(Error::blobs)?;
        let hs = HashSeq::try_from(seq_bytes).map_err(|e| net_err("page", e))?;
        let bundle_hash = hs
            .get(0)
            .ok_or_else(|| net_err("page", "empty hash sequence"))?;
        let bundle = api
            .blobs()
            .get_bytes(bundle_hash)
            .await
            .map_err(Error::blobs)?;
        let records = proto::decode_bundle(&bundle)?;
        if records.len() != p.count as usize
            || records.last().map(|r| r.seq) != Some(p.last)
            || records.windows(2).any(|w| w[0].seq >= w[1].seq)
            || records.first().is_some_and(|r| r.seq <= after)
        {
            return Err(net_err("page", "bundle does not match its description"));
        }
        let mut ops = Vec::with_capacity(records.len());
        let mut undecodable = 0;
        for r in records {
            let mut op: SignedOperation = match serde_json::from_slice(&r.json) {
                Ok(op) => op,
                Err(e) => {
                    // Cannot be verified, so never applied.
                    tracing::warn!(seq = r.seq, "sync: undecodable operation dropped: {e}");
                    undecodable += 1;
                    continue;
                }
            };
            if r.child > 0 {
                let h = hs
                    .get(r.child as usize)
                    .ok_or_else(|| net_err("page", "value blob index out of range"))?;
                let v = api.blobs().get_bytes(h).await.map_err(Error::blobs)?;
                op.value = String::from_utf8(v.to_vec())
                    .map_err(|_| net_err("page", "value blob is not UTF-8"))?;
            }
            ops.push(op);
        }
        Ok((
            head,
            Some(Fetched {
                ops,
                undecodable,
                last: p.last,
                bytes,
                _tag: tag,
            }),
        ))
    }
}

/// Counts of one page.
#[derive(Default)]
struct PageCounts {
    applied: u64,
    duplicate: u64,
    superseded: u64,
    forged: u64,
    rejected: u64,
    verify: Duration,
    apply: Duration,
}

/// Check shape, ownership and signature of every op (dropping and counting
/// the forged ones), then apply the rest.
async fn verify_and_apply(store: &Engine, ops: Vec<SignedOperation>) -> Result<PageCounts> {
    let mut c = PageCounts::default();
    let t0 = Instant::now();
    let mut shaped = Vec::with_capacity(ops.len());
    for op in ops {
        match op.check_shape() {
            Ok(_) => shaped.push(op),
            Err(_) => c.forged += 1,
        }
    }
    let items: Vec<VerifyItem> = shaped
        .iter()
        .map(|op| {
            (
                hex::decode(&op.public_key).unwrap_or_default(),
                op.canonical_message(),
                hex::decode(&op.signature).unwrap_or_default(),
            )
        })
        .collect();
    let verifier = store.verifier().clone();
    let verdicts = verifier.verify_many_async(Arc::new(items)).await?;
    let legacy = store.config().legacy_signatures;
    let mut good = Vec::with_capacity(shaped.len());
    for (op, ok) in shaped.into_iter().zip(verdicts) {
        let ok = ok
            || (legacy && {
                let pk = hex::decode(&op.public_key).unwrap_or_default();
                let sig = hex::decode(&op.signature).unwrap_or_default();
                verifier.verify(&pk, &op.legacy_message(), &sig)
            });
        if ok {
            good.push(op);
        } else {
            c.forged += 1;
        }
    }
    c.verify = t0.elapsed();
    let t1 = Instant::now();
    // Verdicts are cached: the store's own check finds them there.
    for o in crate::oplog::apply::apply_replicated(store, good).await? {
        match o {
            Outcome::Applied => c.applied += 1,
            Outcome::Duplicate => c.duplicate += 1,
            Outcome::Superseded => c.superseded += 1,
            Outcome::Rejected(Error::InvalidSignature | Error::NotOwner(_)) => c.forged += 1,
            // Not a verdict on the operation (the store gave up, e.g. on a
            // document updated concurrently too often): the page is not
            // done, so the watermark must not pass it. The next sync pulls
            // it again; what was applied is found as duplicates.
            Outcome::Rejected(e @ Error::Internal(_)) => return Err(e),
            Outcome::Rejected(e) => {
                tracing::debug!("sync: operation refused: {e}");
                c.rejected += 1;
            }
        }
    }
    c.apply = t1.elapsed();
    Ok(c)
}

/// Make what was applied durable, then record how far we got.
async fn checkpoint(store: &Engine, peer: &[u8; 16], wm: u64) -> Result<()> {
    store.flush().await?;
    write_raw(
        store,
        vec![(replica::watermark_key(peer), wm.to_be_bytes().to_vec())],
    )
    .await
}

async fn read_watermark(store: &Engine, peer: [u8; 16]) -> Result<u64> {
    store
        .read(move |ix| Ok(replica::read_u64(ix, &replica::watermark_key(&peer))?.unwrap_or(0)))
        .await
}

/// One session against a connected peer. Returns when the peer has nothing
/// more (`stop` is `None`), or when `stop` turns true; the report is
/// updated after every page.
async fn run_session(
    store: &Engine,
    mut fetcher: Fetcher,
    peer_id: [u8; 16],
    config: &SyncConfig,
    report: &Mutex<SyncReport>,
    progress: &Option<ProgressFn>,
    mut stop: Option<watch::Receiver<bool>>,
) -> Result<()> {
    let t_start = Instant::now();
    let elapsed_before = report.lock().expect("report").elapsed;
    let mut wm = read_watermark(store, peer_id).await?;
    {
        // A continuous sync reconnecting to the same peer store continues
        // from what it applied, even if not yet checkpointed.
        let mut r = report.lock().expect("report");
        if r.peer_store == hex::encode(peer_id) {
            wm = wm.max(r.watermark);
        }
        r.peer_store = hex::encode(peer_id);
        r.watermark = wm;
    }
    let wait_ms = if stop.is_some() {
        config.poll_wait.as_millis().min(u128::from(u32::MAX)) as u32
    } else {
        0
    };
    let mut durable = wm;
    let mut unsaved_pages = 0u64;
    let update = |f: &dyn Fn(&mut SyncReport)| {
        let snapshot = {
            let mut r = report.lock().expect("report");
            f(&mut r);
            r.elapsed = elapsed_before + t_start.elapsed();
            r.clone()
        };
        if let Some(p) = progress {
            p(&snapshot);
        }
    };
    // Fetch one page ahead: the next page travels while this one is applied.
    let t = Instant::now();
    let mut next = fetcher.fetch(wm, 0).await?;
    let mut next_time = t.elapsed();
    loop {
        let (head, page) = next;
        update(&|r| {
            r.peer_head = head;
            r.transfer += next_time;
        });
        let Some(page) = page else {
            if durable < wm {
                let t = Instant::now();
                checkpoint(store, &peer_id, wm).await?;
                durable = wm;
                unsaved_pages = 0;
                update(&|r| r.checkpoint += t.elapsed());
            }
            let Some(rx) = stop.as_mut() else {
                return Ok(());
            };
            if *rx.borrow() {
                return Ok(());
            }
            let t = Instant::now();
            next = tokio::select! {
                r = fetcher.fetch(wm, wait_ms) => r?,
                _ = rx.changed() => return Ok(()),
            };
            next_time = t.elapsed();
            continue;
        };
        let last = page.last;
        let n = page.ops.len() as u64 + page.undecodable;
        let undecodable = page.undecodable;
        let bytes = page.bytes;
        let ops = page.ops;
        let tag = page._tag;
        let t = Instant::now();
        let (counts, fetched) = tokio::join!(verify_and_apply(store, ops), async {
            let r = fetcher.fetch(last, 0).await;
            (r, t.elapsed())
        });
        drop(tag);
        let counts = counts?;
        wm = last;
        unsaved_pages += 1;
        update(&|r| {
            r.received += n;
            r.pages += 1;
            r.bytes += bytes;
            r.applied += counts.applied;
            r.duplicate += counts.duplicate;
            r.superseded += counts.superseded;
            r.forged += counts.forged + undecodable;
            r.rejected += counts.rejected;
            r.verify += counts.verify;
            r.apply += counts.apply;
            r.watermark = last;
        });
        if unsaved_pages >= config.checkpoint_pages {
            let t = Instant::now();
            checkpoint(store, &peer_id, wm).await?;
            durable = wm;
            unsaved_pages = 0;
            update(&|r| r.checkpoint += t.elapsed());
        }
        let (r, took) = fetched;
        next = r?;
        next_time = took;
        if stop.as_ref().is_some_and(|rx| *rx.borrow()) {
            if durable < wm {
                checkpoint(store, &peer_id, wm).await?;
            }
            return Ok(());
        }
    }
}

pub(super) async fn sync_once(
    store: &Engine,
    peer: &PeerAddr,
    config: &SyncConfig,
    progress: Option<ProgressFn>,
) -> Result<SyncReport> {
    store.check_open()?;
    // Dial from the store's node id: what a peer's allow list names.
    let ep = bind_endpoint(config, Some(endpoint_secret(store).await?), vec![]).await?;
    let report = Mutex::new(SyncReport::default());
    let r = async {
        let (fetcher, peer_id, _) = Fetcher::connect(store, &ep, peer, config).await?;
        run_session(store, fetcher, peer_id, config, &report, &progress, None).await
    }
    .await;
    ep.close().await;
    r?;
    Ok(report.into_inner().expect("report"))
}

/// A continuous sync running in the background.
pub struct SyncHandle {
    stop: watch::Sender<bool>,
    report: Arc<Mutex<SyncReport>>,
    errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHandle")
            .field("report", &self.report())
            .finish()
    }
}

impl SyncHandle {
    /// The totals so far.
    pub fn report(&self) -> SyncReport {
        self.report.lock().expect("report").clone()
    }

    /// Failures so far (each was followed by a reconnect).
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("errors").clone()
    }

    /// Stop (after the page being applied, which is checkpointed) and
    /// return the totals.
    pub async fn stop(self) -> Result<SyncReport> {
        let _ = self.stop.send(true);
        let report = self.report.clone();
        self.task
            .await
            .map_err(|e| Error::internal(format!("sync task: {e}")))?;
        let r = report.lock().expect("report").clone();
        Ok(r)
    }
}

pub(super) fn spawn_continuous(
    store: &Engine,
    peer: PeerAddr,
    config: SyncConfig,
    progress: Option<ProgressFn>,
) -> SyncHandle {
    let (stop_tx, stop_rx) = watch::channel(false);
    let report = Arc::new(Mutex::new(SyncReport::default()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let (s, r, e) = (store.clone(), report.clone(), errors.clone());
    let task = store.handle().spawn(async move {
        let mut stop = stop_rx;
        let mut ep: Option<iroh::Endpoint> = None;
        loop {
            if *stop.borrow() || s.is_closed() {
                break;
            }
            if ep.is_none() {
                let bound = match endpoint_secret(&s).await {
                    Ok(sk) => bind_endpoint(&config, Some(sk), vec![]).await,
                    Err(err) => Err(err),
                };
                match bound {
                    Ok(b) => ep = Some(b),
                    Err(err) => {
                        e.lock().expect("errors").push(err.to_string());
                        break;
                    }
                }
            }
            let endpoint = ep.as_ref().expect("bound");
            // Connecting may take a while when the peer is down: stop wins.
            let connected = tokio::select! {
                c = Fetcher::connect(&s, endpoint, &peer, &config) => Some(c),
                _ = stop.changed() => None,
            };
            let failed = match connected {
                None => break,
                Some(Err(err)) => Some(err),
                Some(Ok((fetcher, peer_id, _))) => {
                    let rx = stop.clone();
                    run_session(&s, fetcher, peer_id, &config, &r, &progress, Some(rx))
                        .await
                        .err()
                }
            };
            let Some(err) = failed else {
                continue;
            };
            if matches!(err, Error::Closed) {
                break;
            }
            tracing::debug!("continuous sync: {err}; retrying");
            e.lock().expect("errors").push(err.to_string());
            tokio::select! {
                _ = tokio::time::sleep(config.retry_after) => {}
                _ = stop.changed() => break,
            }
        }
        if let Some(ep) = ep {
            ep.close().await;
        }
    });
    SyncHandle {
        stop: stop_tx,
        report,
        errors,
        task,
    }
}

/// An error and its sources, one line (iroh's connect errors keep the
/// peer's close reason in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(src) = next {
        let m = src.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        next = src.source();
    }
    s
}
