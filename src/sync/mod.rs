//! Replication between stores over iroh.
//!
//! A store **serves** on an iroh [`Endpoint`](iroh::Endpoint): the
//! iroh-blobs protocol (its blob store, read-only) and `cyberfly-sync/1`
//! ([`proto`]), which answers "operations after arrival number W" with a
//! page: a hash sequence of blobs holding the operations (and, as their own
//! blobs, values over [`SyncConfig::blob_threshold`]). Another store **syncs
//! from** it: fetches each page with iroh-blobs (BLAKE3-verified on the
//! way; value blobs it already holds are not transferred), checks every
//! operation's shape, ownership and signature (a forged one is counted and
//! dropped), applies the rest with [`Engine::apply_replicated`] (last write
//! wins, op_id de-duplication), and records how far it got per peer store,
//! so the next sync resumes there. [`Engine::sync_continuous`] keeps pulling:
//! each request waits (long poll) until the peer has something new.
//!
//! Nothing needs a relay or DNS: the endpoint binds the configured address,
//! relays are off unless [`SyncConfig::relay_url`] names one, and peers are
//! dialled at the direct addresses of their [`PeerAddr`] (a ticket string or
//! `{node id}@{ip:port},…`).

mod client;
#[cfg(test)]
mod loopback_tests;
pub mod proto;
mod server;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iroh::{EndpointAddr, SecretKey};

use crate::engine::writer::{Reply, WriteOp};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::oplog::replica;

pub use client::SyncHandle;
pub use proto::ALPN;
pub use server::SyncServer;

/// How a store serves and syncs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The address the endpoint binds (UDP). Default `0.0.0.0:0`; tests use
    /// `127.0.0.1:0`.
    pub bind_addr: SocketAddr,
    /// A relay server URL; `None` (the default): no relay, direct addresses
    /// only.
    pub relay_url: Option<String>,
    /// Operations per page, at most (default 1 024; a client asks, the
    /// server caps with its own value).
    pub page_ops: usize,
    /// Bytes of operations per page, about (default 8 MiB).
    pub page_bytes: usize,
    /// Values longer than this travel as their own blobs (default 16 KiB).
    pub blob_threshold: usize,
    /// Continuous sync: how long one request waits for new operations
    /// (default 10 s).
    pub poll_wait: Duration,
    /// Continuous sync: pause before reconnecting after a failure (default
    /// 1 s).
    pub retry_after: Duration,
    /// Make what was applied durable and record the watermark every this
    /// many pages (and at the end). Default 8.
    pub checkpoint_pages: u64,
    /// Give up connecting to a peer after this long (default 10 s).
    pub connect_timeout: Duration,
    /// Serving: which peers may connect (to both protocols: the operation
    /// log and every blob of the store). Default: nobody until listed.
    pub access: ServeAccess,
}

/// Who may connect to a serving store. A peer is known by its node id: the
/// id a store dials from and serves under ([`Store::sync_node_id`]), proven
/// by iroh's TLS handshake. A peer not allowed is refused on connecting,
/// before any request, on both ALPNs (`cyberfly-sync/1` and iroh-blobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeAccess {
    /// Only these node ids. Empty (the default): nobody.
    Peers(BTreeSet<iroh::EndpointId>),
    /// Anyone who can reach the address (the log cannot be forged, but
    /// every value of the store can be read).
    Open,
}

impl Default for ServeAccess {
    fn default() -> Self {
        ServeAccess::Peers(BTreeSet::new())
    }
}

impl ServeAccess {
    /// Only the given node ids (hex).
    pub fn peers<I, S>(ids: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for id in ids {
            let id = id.as_ref().trim();
            let n = iroh::EndpointId::from_str(id)
                .map_err(|e| Error::invalid(format!("allowed peer node id `{id}`: {e}")))?;
            set.insert(n);
        }
        Ok(ServeAccess::Peers(set))
    }

    /// Whether a peer with this node id may connect.
    pub fn allows(&self, id: &iroh::EndpointId) -> bool {
        match self {
            ServeAccess::Open => true,
            ServeAccess::Peers(set) => set.contains(id),
        }
    }
}

/// `*`: open; else node ids separated by commas or white space (none:
/// nobody). What the C and Python fronts pass.
impl FromStr for ServeAccess {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.trim() == "*" {
            return Ok(ServeAccess::Open);
        }
        ServeAccess::peers(
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty()),
        )
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            bind_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            relay_url: None,
            page_ops: 1024,
            page_bytes: 8 << 20,
            blob_threshold: 16 << 10,
            poll_wait: Duration::from_secs(10),
            retry_after: Duration::from_secs(1),
            checkpoint_pages: 8,
            connect_timeout: Duration::from_secs(10),
            access: ServeAccess::default(),
        }
    }
}

impl SyncConfig {
    /// Bound to `127.0.0.1:0`, no relay: what tests and single-host setups use.
    pub fn loopback() -> Self {
        SyncConfig {
            bind_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if self.page_ops == 0 || self.page_bytes == 0 || self.checkpoint_pages == 0 {
            return Err(Error::invalid(
                "sync: page_ops, page_bytes and checkpoint_pages must be positive",
            ));
        }
        Ok(())
    }
}

/// A peer's address: its node id and direct socket addresses (and a relay
/// URL if it uses one). Parses from and prints as an iroh endpoint ticket;
/// also parses `{node id hex}@{ip:port}[,{ip:port}…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr(pub EndpointAddr);

impl PeerAddr {
    /// The `{node id}@{ip:port},…` form.
    pub fn to_direct_string(&self) -> String {
        let addrs: Vec<String> = self.0.ip_addrs().map(ToString::to_string).collect();
        format!("{}@{}", self.0.id, addrs.join(","))
    }

    /// The node id, hex.
    pub fn node_id(&self) -> String {
        self.0.id.to_string()
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = iroh_tickets::endpoint::EndpointTicket::new(self.0.clone());
        write!(f, "{t}")
    }
}

impl FromStr for PeerAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some((id, addrs)) = s.split_once('@') {
            let id = iroh::EndpointId::from_str(id)
                .map_err(|e| Error::invalid(format!("peer node id `{id}`: {e}")))?;
            let mut a = EndpointAddr::new(id);
            for part in addrs.split(',').filter(|p| !p.is_empty()) {
                let sa: SocketAddr = part
                    .parse()
                    .map_err(|e| Error::invalid(format!("peer address `{part}`: {e}")))?;
                a = a.with_ip_addr(sa);
            }
            if a.ip_addrs().next().is_none() {
                return Err(Error::invalid(
                    "peer address needs at least one ip:port after @",
                ));
            }
            return Ok(PeerAddr(a));
        }
        let t = iroh_tickets::endpoint::EndpointTicket::from_str(s)
            .map_err(|e| Error::invalid(format!("peer ticket: {e}")))?;
        Ok(PeerAddr(t.endpoint_addr().clone()))
    }
}

/// What a sync did (totals so far while it runs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// The peer store's id (hex).
    pub peer_store: String,
    /// Operations received.
    pub received: u64,
    pub applied: u64,
    /// Already held (same op_id): not applied again.
    pub duplicate: u64,
    /// Older than what the key holds: recorded, no change.
    pub superseded: u64,
    /// Failed the shape, ownership or signature check: dropped.
    pub forged: u64,
    /// Refused by the store for another reason (e.g. a key of another type).
    pub rejected: u64,
    pub pages: u64,
    /// Bytes the blob transfer read from the network.
    pub bytes: u64,
    /// Arrival number of the peer's last operation received (the watermark).
    pub watermark: u64,
    /// The peer's last arrival number when last asked.
    pub peer_head: u64,
    /// Time spent fetching pages (request, page build, transfer, decode).
    pub transfer: Duration,
    /// Time spent checking signatures and ownership.
    pub verify: Duration,
    /// Time spent applying (the store's writer).
    pub apply: Duration,
    /// Time spent making progress durable and recording the watermark.
    pub checkpoint: Duration,
    /// Wall-clock time; less than the sum of the phases, which overlap.
    pub elapsed: Duration,
}

/// Called with the totals after every page.
pub type ProgressFn = Arc<dyn Fn(&SyncReport) + Send + Sync>;

/// Serve this store to peers: iroh-blobs plus `cyberfly-sync/1` on an
/// endpoint bound per `config`. The endpoint's key is kept in the store,
/// so its node id (and address, with a fixed port) stays the same.
pub(crate) async fn serve(e: &Engine, config: SyncConfig) -> Result<SyncServer> {
    server::serve(e, config).await
}
/// Pull every operation the peer has that this store lacks (until the
/// peer has no more), verifying each, and record the watermark.
pub(crate) async fn sync_from(e: &Engine, peer: &str, config: &SyncConfig) -> Result<SyncReport> {
    sync_from_with_progress(e, peer, config, None).await
}
/// [`sync_from`](Self::sync_from), calling `progress` after every page.
pub(crate) async fn sync_from_with_progress(
    e: &Engine,
    peer: &str,
    config: &SyncConfig,
    progress: Option<ProgressFn>,
) -> Result<SyncReport> {
    config.validate()?;
    let peer: PeerAddr = peer.parse()?;
    client::sync_once(e, &peer, config, progress).await
}
/// Keep pulling from the peer in the background until stopped: each
/// request waits up to `poll_wait` for new operations; failures are
/// retried after `retry_after`.
pub(crate) fn sync_continuous(
    e: &Engine,
    peer: &str,
    config: SyncConfig,
    progress: Option<ProgressFn>,
) -> Result<SyncHandle> {
    config.validate()?;
    let peer: PeerAddr = peer.parse()?;
    Ok(client::spawn_continuous(e, peer, config, progress))
}
/// This store's iroh node id (hex): it serves under it and dials peers
/// from it, so it is what a peer lists in [`ServeAccess::Peers`]. Kept
/// in the index: stable across restarts.
pub(crate) async fn sync_node_id(e: &Engine) -> Result<String> {
    Ok(endpoint_secret(e).await?.public().to_string())
}
/// This store's id (hex): what peers key their watermarks by.
pub(crate) async fn store_id(e: &Engine) -> Result<String> {
    Ok(hex::encode(ensure_store_id(e).await?))
}
/// How far this store has pulled from each peer store: (peer store id
/// hex, arrival number).
pub(crate) async fn sync_watermarks(e: &Engine) -> Result<Vec<(String, u64)>> {
    e.read(|ix| {
        let mut out = Vec::new();
        for item in ix.tree.scan_prefix(replica::WATERMARK_PREFIX) {
            let (k, v) = item?;
            let id = &k[replica::WATERMARK_PREFIX.len()..];
            if let Ok(b) = <[u8; 8]>::try_from(v.as_ref()) {
                out.push((hex::encode(id), u64::from_be_bytes(b)));
            }
        }
        Ok(out)
    })
    .await
}
/// The arrival number of the last operation this store logged.
pub(crate) async fn log_head(e: &Engine) -> Result<u64> {
    e.read(replica::head_seq).await
}

/// Run a small raw write on the writer thread.
async fn write_raw(store: &Engine, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
    store
        .submit(
            vec![WriteOp::Update {
                key: "#sync".into(),
                f: Box::new(move |txn| {
                    for (k, v) in pairs {
                        txn.put_raw(k, v);
                    }
                    Ok(Reply::Unit)
                }),
            }],
            vec![],
        )
        .await
        .map(|_| ())
}

/// Read or create (once, on the writer thread) a random value under `key`.
async fn ensure_random<const N: usize>(store: &Engine, key: &'static [u8]) -> Result<[u8; N]> {
    let existing = store
        .read(move |ix| Ok(ix.get_raw(key)?.map(|v| v.to_vec())))
        .await?;
    if let Some(v) = existing.and_then(|v| <[u8; N]>::try_from(v.as_slice()).ok()) {
        return Ok(v);
    }
    let mut fresh = [0u8; N];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut fresh);
    let r = store
        .submit(
            vec![WriteOp::Update {
                key: "#sync".into(),
                f: Box::new(move |txn| {
                    if let Some(v) = txn.get_raw(key)? {
                        return Ok(Reply::Str(hex::encode(v)));
                    }
                    txn.put_raw(key.to_vec(), fresh.to_vec());
                    Ok(Reply::Str(hex::encode(fresh)))
                }),
            }],
            vec![],
        )
        .await?;
    match r.first() {
        Some(Reply::Str(h)) => hex::decode(h)
            .ok()
            .and_then(|v| <[u8; N]>::try_from(v.as_slice()).ok())
            .ok_or_else(|| {
                Error::Corrupt(format!("{} is malformed", String::from_utf8_lossy(key)))
            }),
        other => Err(Error::internal(format!("writer reply {other:?}"))),
    }
}

pub(crate) async fn ensure_store_id(store: &Engine) -> Result<[u8; 16]> {
    ensure_random::<16>(store, replica::STORE_ID_KEY).await
}

pub(crate) async fn endpoint_secret(store: &Engine) -> Result<SecretKey> {
    let b = ensure_random::<32>(store, replica::ENDPOINT_KEY).await?;
    Ok(SecretKey::from_bytes(&b))
}

/// Bind an endpoint: only the configured IP socket, relays off unless
/// configured, no address lookup (no DNS).
pub(crate) async fn bind_endpoint(
    config: &SyncConfig,
    secret: Option<SecretKey>,
    alpns: Vec<Vec<u8>>,
) -> Result<iroh::Endpoint> {
    let mut b = iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
        .relay_mode(iroh::RelayMode::Disabled)
        .clear_ip_transports()
        .bind_addr(config.bind_addr)
        .map_err(|e| Error::invalid(format!("sync bind address: {e}")))?
        .alpns(alpns);
    if let Some(url) = &config.relay_url {
        let url: iroh::RelayUrl = url
            .parse()
            .map_err(|e| Error::invalid(format!("relay url `{url}`: {e}")))?;
        b = b.relay_mode(iroh::RelayMode::custom([url]));
    }
    if let Some(sk) = secret {
        b = b.secret_key(sk);
    }
    b.bind().await.map_err(|e| proto::net_err("bind", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses_parse_both_forms() {
        let sk = SecretKey::from_bytes(&[7u8; 32]);
        let a = EndpointAddr::new(sk.public()).with_ip_addr("127.0.0.1:4000".parse().unwrap());
        let p = PeerAddr(a);
        let ticket = p.to_string();
        assert_eq!(ticket.parse::<PeerAddr>().unwrap(), p);
        let direct = p.to_direct_string();
        assert!(direct.ends_with("@127.0.0.1:4000"), "{direct}");
        assert_eq!(direct.parse::<PeerAddr>().unwrap(), p);
        for bad in ["", "xyz", "abc@127.0.0.1:1", &format!("{}@", sk.public())] {
            assert!(bad.parse::<PeerAddr>().is_err(), "{bad}");
        }
    }
}
