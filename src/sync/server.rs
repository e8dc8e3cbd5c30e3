//! The serving side: an iroh router with the blobs protocol (over the
//! store's own FsStore) and `cyberfly-sync/1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh_blobs::api::TempTag;
use iroh_blobs::hashseq::HashSeq;
use iroh_blobs::BlobFormat;

use super::proto::{self, net_err, Record, Request, Response};
use super::{bind_endpoint, endpoint_secret, ensure_store_id, PeerAddr, ServeAccess, SyncConfig};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::oplog::replica;
use crate::oplog::SignedOperation;

/// A serving store. Dropping it stops serving (abruptly); prefer
/// [`shutdown`](Self::shutdown). Stop serving before closing the store.
#[derive(Debug)]
pub struct SyncServer {
    router: Router,
    addr: PeerAddr,
}

impl SyncServer {
    /// The address peers dial: node id and the bound direct addresses.
    pub fn addr(&self) -> &PeerAddr {
        &self.addr
    }

    /// The address as an iroh endpoint ticket (what `sync_from` takes).
    pub fn ticket(&self) -> String {
        self.addr.to_string()
    }

    /// The node id (hex).
    pub fn node_id(&self) -> String {
        self.addr.node_id()
    }

    /// Stop accepting, close connections and the endpoint. The store stays
    /// open.
    pub async fn shutdown(&self) -> Result<()> {
        self.router
            .shutdown()
            .await
            .map_err(|e| net_err("shutdown", e))
    }
}

pub(super) async fn serve(store: &Engine, config: SyncConfig) -> Result<SyncServer> {
    config.validate()?;
    store.check_open()?;
    let store_id = ensure_store_id(store).await?;
    let secret = endpoint_secret(store).await?;
    let ep = bind_endpoint(
        &config,
        Some(secret),
        vec![proto::ALPN.to_vec(), iroh_blobs::ALPN.to_vec()],
    )
    .await?;
    // The direct addresses: what the endpoint reports, or else the bound
    // sockets themselves (right after binding, before any discovery).
    let mut addr = ep.addr();
    for sa in ep.bound_sockets() {
        if !sa.ip().is_unspecified() {
            addr = addr.with_ip_addr(sa);
        }
    }
    if addr.ip_addrs().next().is_none() {
        // Bound to 0.0.0.0: the endpoint lists its interfaces once it has
        // looked; wait briefly for it.
        let deadline = Instant::now() + Duration::from_secs(2);
        while addr.ip_addrs().next().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            addr = ep.addr();
        }
    }
    let access = Arc::new(config.access.clone());
    let blobs = BlobsHandler {
        store: store.blobs().api().clone(),
        access: access.clone(),
    };
    let sync = Arc::new(SyncHandler {
        store: store.clone(),
        store_id,
        config,
    });
    let router = Router::builder(ep)
        .accept(iroh_blobs::ALPN, blobs)
        .accept(proto::ALPN, sync)
        .spawn();
    tracing::info!(node = %addr.id, "serving sync");
    Ok(SyncServer {
        router,
        addr: PeerAddr(addr),
    })
}

/// iroh-blobs' provider over the store's FsStore. Unlike
/// `iroh_blobs::BlobsProtocol`, shutting the router down leaves the blob
/// store running: it belongs to the store.
#[derive(Debug, Clone)]
struct BlobsHandler {
    store: iroh_blobs::api::Store,
    access: Arc<ServeAccess>,
}

/// The close code and reason a refused peer sees.
const NOT_ALLOWED: (u32, &[u8]) = (403, b"cyberfly: this node id is not allowed to sync");

/// Refuse a peer the access policy does not name: close the connection
/// before reading anything from it.
fn admit(access: &ServeAccess, conn: &Connection, alpn: &str) -> bool {
    let id = conn.remote_id();
    if access.allows(&id) {
        return true;
    }
    tracing::info!(peer = %id, alpn, "refused a peer not allowed to sync");
    conn.close(NOT_ALLOWED.0.into(), NOT_ALLOWED.1);
    false
}

impl ProtocolHandler for BlobsHandler {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        if !admit(&self.access, &conn, "iroh-blobs") {
            return Ok(());
        }
        iroh_blobs::provider::handle_connection(
            conn,
            self.store.clone(),
            iroh_blobs::provider::events::EventSender::DEFAULT,
        )
        .await;
        Ok(())
    }
}

#[derive(Debug)]
struct SyncHandler {
    store: Engine,
    store_id: [u8; 16],
    config: SyncConfig,
}

impl ProtocolHandler for SyncHandler {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        if !admit(&self.config.access, &conn, "cyberfly-sync/1") {
            return Ok(());
        }
        loop {
            let Ok((send, recv)) = conn.accept_bi().await else {
                return Ok(()); // the peer closed the connection
            };
            if let Err(e) = self.serve_stream(send, recv).await {
                tracing::debug!("sync stream ended: {e}");
            }
        }
    }
}

impl SyncHandler {
    async fn serve_stream(
        &self,
        mut send: iroh::endpoint::SendStream,
        mut recv: iroh::endpoint::RecvStream,
    ) -> Result<()> {
        // The tags of the last page served: its blobs stay until the peer
        // asks for the next page (it has fetched this one by then) or leaves.
        let mut held: Vec<TempTag> = Vec::new();
        while let Some(req) = proto::read_frame::<Request>(&mut recv).await? {
            let resp = match self.answer(req, &mut held).await {
                Ok(r) => r,
                Err(e) => Response::Error {
                    message: e.to_string(),
                },
            };
            proto::write_frame(&mut send, &resp).await?;
        }
        let _ = send.finish();
        Ok(())
    }

    async fn answer(&self, req: Request, held: &mut Vec<TempTag>) -> Result<Response> {
        match req {
            Request::Hello { v } => {
                if v != proto::VERSION {
                    return Err(Error::invalid(format!("sync protocol version {v}")));
                }
                Ok(Response::Hello {
                    v: proto::VERSION,
                    store_id: hex::encode(self.store_id),
                    head: self.store.read(replica::head_seq).await?,
                })
            }
            Request::Page {
                after,
                max_ops,
                wait_ms,
            } => {
                let mut head = self.store.read(replica::head_seq).await?;
                if head <= after && wait_ms > 0 {
                    head = self.wait_for_more(after, wait_ms).await?;
                }
                if head <= after {
                    return Ok(Response::Page { head, page: None });
                }
                let max_ops = (max_ops as usize).clamp(1, self.config.page_ops);
                let (tags, page) = self.build_page(after, max_ops).await?;
                // The previous page is fetched: let its blobs go.
                *held = tags;
                Ok(Response::Page { head, page })
            }
        }
    }

    /// Wait until the log has operations after `after`, up to `wait_ms`.
    /// The log's head is read every 20 ms (one index read).
    async fn wait_for_more(&self, after: u64, wait_ms: u32) -> Result<u64> {
        let deadline = Instant::now() + Duration::from_millis(u64::from(wait_ms));
        loop {
            let head = self.store.read(replica::head_seq).await?;
            if head > after || Instant::now() >= deadline {
                return Ok(head);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One page: read the operations, put large values in their own blobs,
    /// then the bundle, then the hash sequence. Returns the temp tags that
    /// keep them until the peer has fetched them.
    async fn build_page(
        &self,
        after: u64,
        max_ops: usize,
    ) -> Result<(Vec<TempTag>, Option<proto::PageRef>)> {
        let page_bytes = self.config.page_bytes;
        let rows = self
            .store
            .read(move |ix| replica::ops_after(ix, after, max_ops, page_bytes))
            .await?;
        let Some(&(last, _)) = rows.last() else {
            return Ok((Vec::new(), None));
        };
        let blobs = self.store.blobs();
        let threshold = self.config.blob_threshold;
        let mut tags = Vec::new();
        let mut children = Vec::new();
        let mut records = Vec::with_capacity(rows.len());
        for (seq, body) in rows {
            if body.len() <= threshold {
                records.push(Record {
                    seq,
                    child: 0,
                    json: body.to_vec(),
                });
                continue;
            }
            let mut op: SignedOperation = serde_json::from_slice(&body)
                .map_err(|e| Error::Corrupt(format!("logged operation: {e}")))?;
            if op.value.len() <= threshold {
                records.push(Record {
                    seq,
                    child: 0,
                    json: body.to_vec(),
                });
                continue;
            }
            let value = std::mem::take(&mut op.value);
            let tag = blobs.add(Bytes::from(value.into_bytes())).await?;
            children.push(tag.hash());
            tags.push(tag);
            records.push(Record {
                seq,
                child: children.len() as u32,
                json: op.to_json().into_bytes(),
            });
        }
        let count = records.len() as u32;
        let values = children.len() as u32;
        let bundle = blobs
            .add(Bytes::from(proto::encode_bundle(&records)))
            .await?;
        let mut seq_hashes = vec![bundle.hash()];
        seq_hashes.extend(children);
        tags.push(bundle);
        let hs: HashSeq = seq_hashes.into_iter().collect();
        let root = blobs
            .api()
            .blobs()
            .add_bytes_with_opts((hs.into_inner(), BlobFormat::HashSeq))
            .temp_tag()
            .await
            .map_err(Error::blobs)?;
        let hash = root.hash().to_hex();
        tags.push(root);
        Ok((
            tags,
            Some(proto::PageRef {
                hash,
                count,
                last,
                values,
            }),
        ))
    }
}
