//! Signed operations and the operation log.
//!
//! A [`SignedOperation`] carries the Cyberfly node's fields. Its signed
//! message is a canonical, versioned binary encoding of every field that
//! changes the outcome ([`SignedOperation::canonical_message`]); the node's
//! short form `"{db_name}:{key}:{value}"` is accepted only with
//! `Config::legacy_signatures`.
//!
//! Applying an operation (one writer transaction, so all or nothing):
//! 1. shape, ownership (`db_name` ends with `-{public_key}`) and, for new
//!    submissions, freshness are checked; signatures are verified in parallel
//!    batches for `apply_many`;
//! 2. an operation whose (signer, `op_id`) was seen before is a `Duplicate`
//!    no-op (op_ids are scoped to their signer: another owner's op_id
//!    cannot make this one a duplicate);
//! 3. last-write-wins on `(timestamp, op_id)`: per key for String, per key and
//!    path for Json, per key and field for Hash, per key and member for
//!    SortedSet and Geo, per key and point for TimeSeries. List, Set and
//!    Stream operations append (set-add is idempotent), so they have no
//!    "older" write to lose to; `op_id` de-duplication is what keeps them
//!    exactly-once;
//! 4. the value is applied to `{db_name}:{key}` by `store_type`, the entry
//!    gets the signature metadata, and the operation is appended to the log
//!    (`L | timestamp | op_id | signer`) with its de-duplication key
//!    (`o | signer | op_id`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::LogCheck;
use crate::error::{Error, Result};
use crate::replica::{self, Epoch};
use crate::store::{now_ms, Store};
use crate::types::geo::check_coords;
use crate::types::{geo, hash, list, set, stream, timeseries, zset};
use crate::value::{Entry, SigMeta, ValueKind};
use crate::verify::{decode_hex, Keypair, VerifyItem};
use crate::writer::{Reply, Txn, WriteOp};

const DOMAIN: &[u8] = b"cyberfly-op/v1\0";
const NS_OPID: u8 = b'o';
const NS_LOG: u8 = b'L';
const NS_LWW: u8 = b'w';
const LOG_COUNT_KEY: &[u8] = b"#oplog_count";

/// A signed write, with the Cyberfly node's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedOperation {
    pub op_id: String,
    /// ms since the epoch.
    pub timestamp: u64,
    pub db_name: String,
    pub key: String,
    pub value: String,
    /// The node's `StoreType` name: String, Hash, List, Set, SortedSet, Json,
    /// Stream, TimeSeries, Geo.
    pub store_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_fields: Option<Vec<(String, String)>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Lowercase hex, 32 bytes.
    #[serde(default)]
    pub public_key: String,
    /// Lowercase hex, 64 bytes.
    #[serde(default)]
    pub signature: String,
}

/// The node's name of a value kind.
pub fn store_type_name(k: ValueKind) -> &'static str {
    match k {
        ValueKind::String => "String",
        ValueKind::Hash => "Hash",
        ValueKind::List => "List",
        ValueKind::Set => "Set",
        ValueKind::SortedSet => "SortedSet",
        ValueKind::Json => "Json",
        ValueKind::Stream => "Stream",
        ValueKind::TimeSeries => "TimeSeries",
        ValueKind::Geo => "Geo",
    }
}

/// Parse a store type name (the node's, or snake case).
pub fn parse_store_type(s: &str) -> Result<ValueKind> {
    Ok(match s.to_ascii_lowercase().replace('_', "").as_str() {
        "string" => ValueKind::String,
        "hash" => ValueKind::Hash,
        "list" => ValueKind::List,
        "set" => ValueKind::Set,
        "sortedset" | "zset" => ValueKind::SortedSet,
        "json" => ValueKind::Json,
        "stream" => ValueKind::Stream,
        "timeseries" => ValueKind::TimeSeries,
        "geo" => ValueKind::Geo,
        _ => return Err(Error::invalid(format!("unknown store_type `{s}`"))),
    })
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(b: &mut Vec<u8>, v: &Option<T>, f: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        None => b.push(0),
        Some(x) => {
            b.push(1);
            f(b, x);
        }
    }
}

/// A new op_id that sorts by creation within this process: the timestamp
/// (12 hex digits), a process-wide counter (8), then 8 random bytes. Replay
/// follows (timestamp, op_id) order, so operations created in order replay
/// in that order even within one millisecond.
pub fn new_op_id(timestamp_ms: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u32;
    let mut r = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
    format!("{timestamp_ms:012x}{n:08x}{}", hex::encode(r))
}

/// Check that `db_name` is `{name}-{public_key_hex}` with a non-empty name of
/// letters, digits, `_` and `-`, owned by `public_key_hex`.
pub fn check_owner(db_name: &str, public_key_hex: &str) -> Result<()> {
    let pk = public_key_hex.to_ascii_lowercase();
    let Some(name) = db_name
        .strip_suffix(pk.as_str())
        .and_then(|r| r.strip_suffix('-'))
    else {
        return Err(Error::NotOwner(format!(
            "database `{db_name}` does not end with -{pk}"
        )));
    };
    if pk.len() != 64 {
        return Err(Error::NotOwner(
            "public key is not 64 hex characters".into(),
        ));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::NotOwner(format!(
            "database name `{name}` must be non-empty letters, digits, _ or -"
        )));
    }
    Ok(())
}

impl SignedOperation {
    /// A new unsigned operation with a random `op_id` and the current time.
    pub fn new(
        db_name: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
        kind: ValueKind,
    ) -> Self {
        let timestamp = now_ms();
        SignedOperation {
            op_id: new_op_id(timestamp),
            timestamp,
            db_name: db_name.into(),
            key: key.into(),
            value: value.into(),
            store_type: store_type_name(kind).to_owned(),
            field: None,
            score: None,
            json_path: None,
            stream_fields: None,
            ts_timestamp: None,
            longitude: None,
            latitude: None,
            public_key: String::new(),
            signature: String::new(),
        }
    }

    /// The signed message, version 1: a domain tag then every field that
    /// changes the outcome, length-prefixed, options with a presence byte,
    /// numbers big-endian (floats by their bits).
    pub fn canonical_message(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(128 + self.value.len());
        b.extend_from_slice(DOMAIN);
        put_str(&mut b, &self.op_id);
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        put_str(&mut b, &self.db_name);
        put_str(&mut b, &self.key);
        put_str(&mut b, &self.value);
        // The kind, normalised, so that "sorted_set" and "SortedSet" sign alike.
        let kind = parse_store_type(&self.store_type)
            .map(store_type_name)
            .unwrap_or(self.store_type.as_str());
        put_str(&mut b, kind);
        put_opt(&mut b, &self.field, |b, s| put_str(b, s));
        put_opt(&mut b, &self.score, |b, f| {
            b.extend_from_slice(&f.to_bits().to_be_bytes())
        });
        put_opt(&mut b, &self.json_path, |b, s| put_str(b, s));
        put_opt(&mut b, &self.stream_fields, |b, fs| {
            b.extend_from_slice(&(fs.len() as u32).to_be_bytes());
            for (f, v) in fs {
                put_str(b, f);
                put_str(b, v);
            }
        });
        put_opt(&mut b, &self.ts_timestamp, |b, t| {
            b.extend_from_slice(&t.to_be_bytes())
        });
        put_opt(&mut b, &self.longitude, |b, f| {
            b.extend_from_slice(&f.to_bits().to_be_bytes())
        });
        put_opt(&mut b, &self.latitude, |b, f| {
            b.extend_from_slice(&f.to_bits().to_be_bytes())
        });
        b
    }

    /// (public key, canonical message, signature) as bytes, for
    /// `Verifier::verify_many`; undecodable hex gives an empty field, which
    /// verifies as false (`check_shape` names the error first).
    pub fn verify_item(&self) -> VerifyItem {
        (
            hex::decode(&self.public_key).unwrap_or_default(),
            self.canonical_message(),
            hex::decode(&self.signature).unwrap_or_default(),
        )
    }

    /// Whether the signature verifies over the node's short form (only
    /// consulted with `Config::legacy_signatures`).
    pub fn verify_legacy(&self, verifier: &crate::verify::Verifier) -> bool {
        let pk = hex::decode(&self.public_key).unwrap_or_default();
        let sig = hex::decode(&self.signature).unwrap_or_default();
        verifier.verify(&pk, &self.legacy_message(), &sig)
    }

    /// The Cyberfly node's short form, `"{db_name}:{key}:{value}"`.
    pub fn legacy_message(&self) -> Vec<u8> {
        format!("{}:{}:{}", self.db_name, self.key, self.value).into_bytes()
    }

    /// Fill `public_key` and `signature` by signing the canonical message.
    pub fn sign(&mut self, kp: &Keypair) {
        self.public_key = kp.public_key_hex();
        self.signature = hex::encode(kp.sign(&self.canonical_message()));
    }

    /// The store key the node writes: `{db_name}:{key}`.
    pub fn full_key(&self) -> String {
        format!("{}:{}", self.db_name, self.key)
    }

    pub fn kind(&self) -> Result<ValueKind> {
        parse_store_type(&self.store_type)
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::invalid(format!("signed operation JSON: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("operations serialize")
    }

    /// Everything checkable without the store: fields per type, ownership,
    /// hex lengths. Returns the kind.
    pub fn check_shape(&self) -> Result<ValueKind> {
        if self.op_id.is_empty() || self.op_id.len() > 256 {
            return Err(Error::invalid("op_id must be 1..=256 bytes"));
        }
        if self.key.is_empty() {
            return Err(Error::invalid("key is empty"));
        }
        let kind = self.kind()?;
        decode_hex(&self.public_key, 32, "public_key")?;
        decode_hex(&self.signature, 64, "signature")?;
        check_owner(&self.db_name, &self.public_key)?;
        match kind {
            ValueKind::Hash if self.field.as_deref().is_none_or(str::is_empty) => {
                return Err(Error::invalid("a Hash operation needs a field"));
            }
            ValueKind::SortedSet => match self.score {
                Some(s) if s.is_finite() => {}
                _ => return Err(Error::invalid("a SortedSet operation needs a finite score")),
            },
            ValueKind::Geo => match (self.longitude, self.latitude) {
                (Some(lo), Some(la)) => check_coords(lo, la)?,
                _ => {
                    return Err(Error::invalid(
                        "a Geo operation needs longitude and latitude",
                    ))
                }
            },
            ValueKind::TimeSeries => {
                let v: f64 = self.value.trim().parse().map_err(|_| {
                    Error::invalid(format!(
                        "time-series value `{}` is not a number",
                        self.value
                    ))
                })?;
                crate::types::finite(v, "time-series value")?;
            }
            ValueKind::Json => {
                serde_json::from_str::<serde_json::Value>(&self.value)
                    .map_err(|e| Error::invalid(format!("Json value: {e}")))?;
                if let Some(p) = &self.json_path {
                    crate::types::json::parse_path(p)?;
                }
            }
            ValueKind::Stream if self.stream_fields.as_ref().is_some_and(|f| f.is_empty()) => {
                return Err(Error::invalid("stream_fields must not be empty"));
            }
            _ => {}
        }
        Ok(kind)
    }
}

/// What applying one operation did.
#[derive(Debug)]
pub enum Outcome {
    Applied,
    /// Older than what the store holds for the same key (and field): no
    /// change, but recorded so that a replay is a duplicate.
    Superseded,
    /// This `op_id` was applied before: no change.
    Duplicate,
    /// Refused with a typed error; nothing changed.
    Rejected(Error),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Superseded => "superseded",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected(_) => "rejected",
        }
    }

    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied)
    }
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Outcome::Rejected(a), Outcome::Rejected(b)) => a.code() == b.code(),
            _ => self.name() == other.name(),
        }
    }
}

/// The result of reading the log at open (or with [`Store::load_log`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub total: u64,
    pub ok: u64,
    /// (log key in hex, error) of entries that do not decode; skipped.
    pub corrupt: Vec<(String, String)>,
    /// op_ids whose signature does not verify (with `LogCheck::Verify`).
    pub invalid_signatures: Vec<String>,
    pub elapsed: Duration,
}

/// The de-duplication key of an operation: `o | signer's public key (32
/// bytes) | op_id`. An operation is identified by (signer, op_id): what
/// the signer controls, so that no owner can make another owner's
/// operation a duplicate by reusing its op_id.
fn opid_key(owner: &[u8], op_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + owner.len() + op_id.len());
    k.push(NS_OPID);
    k.extend_from_slice(owner);
    k.extend_from_slice(op_id.as_bytes());
    k
}

/// `#log_layout`: the layout of the log's `L` and `o` keys. Absent: the
/// first layout (`L | ts | op_id`, `o | op_id`), upgraded at open.
const LAYOUT_KEY: &[u8] = b"#log_layout";
/// `L | ts | op_id | signer (32 bytes)`, `o | signer | op_id`.
const LAYOUT: u8 = 2;

/// Bring the log's keys to the current layout (at open, before the writer
/// runs). A store of the first layout has its `L` keys suffixed with their
/// signer's key, its `o` keys prefixed with it, and its arrival numbers
/// pointed at the new `L` keys, in one atomic batch: a one-off pass over
/// the log. An entry that does not decode keeps its key (it is reported
/// as corrupt at open, as before); a layout this build does not know is
/// `Corrupt`.
pub(crate) fn upgrade_log_layout(ix: &crate::index::Index) -> Result<()> {
    match ix.get_raw(LAYOUT_KEY)? {
        Some(v) if v.as_ref() == [LAYOUT] => return Ok(()),
        Some(v) => {
            return Err(Error::Corrupt(format!(
                "operation log layout {v:?} is not one this version knows ({LAYOUT})"
            )))
        }
        None => {}
    }
    let mut batch = sled::Batch::default();
    let mut moved = std::collections::HashMap::new();
    for item in ix.tree.scan_prefix([NS_LOG]) {
        let (k, v) = item?;
        let Ok(op) = serde_json::from_slice::<SignedOperation>(&v) else {
            continue;
        };
        let owner = replica::owner_of(&op);
        let mut nk = k.to_vec();
        nk.extend_from_slice(&owner);
        let mut old_o = vec![NS_OPID];
        old_o.extend_from_slice(op.op_id.as_bytes());
        if ix.get_raw(&old_o)?.is_some_and(|l| l == k) {
            batch.remove(old_o);
        }
        batch.insert(opid_key(&owner, &op.op_id), nk.clone());
        batch.remove(k.clone());
        batch.insert(nk.clone(), v);
        moved.insert(k.to_vec(), nk);
    }
    if !moved.is_empty() {
        for item in ix.tree.scan_prefix([replica::NS_SEQ]) {
            let (k, v) = item?;
            if let Some(nk) = moved.get(v.as_ref()) {
                batch.insert(k, nk.clone());
            }
        }
        tracing::info!(entries = moved.len(), "operation log: keys upgraded");
    }
    batch.insert(LAYOUT_KEY, &[LAYOUT][..]);
    ix.tree.apply_batch(batch)?;
    // (sled makes writes durable in order: an operation logged later is
    // never durable without the marker)
    if !moved.is_empty() {
        ix.tree.flush()?;
    }
    Ok(())
}

fn lww_key(full: &str, kind: ValueKind, op: &SignedOperation) -> Option<Vec<u8>> {
    // The byte after the key: 0 for a field/member/point, 2 for a SortedSet
    // member's `_id` (members with the same `_id` replace each other, so
    // they share one marker); 1 is the key marker (`replica::marker_key`).
    let (sep, sub): (u8, Option<String>) = match kind {
        ValueKind::String => (0, Some(String::new())),
        ValueKind::Hash => (0, op.field.clone()),
        ValueKind::SortedSet => match zset::doc_id(&op.value) {
            Some(id) => (2, Some(id)),
            None => (0, Some(op.value.clone())),
        },
        ValueKind::Geo => (0, Some(op.value.clone())),
        ValueKind::TimeSeries => (
            0,
            Some(op.ts_timestamp.unwrap_or(op.timestamp as i64).to_string()),
        ),
        // Json is replayed in order instead (`replica::json_replay`); List,
        // Set and Stream commute.
        ValueKind::Json | ValueKind::List | ValueKind::Set | ValueKind::Stream => (0, None),
    };
    let sub = sub?;
    let mut k = vec![NS_LWW];
    k.extend_from_slice(&(full.len() as u32).to_be_bytes());
    k.extend_from_slice(full.as_bytes());
    k.push(sep);
    k.extend_from_slice(sub.as_bytes());
    Some(k)
}

fn lww_value(ts: u64, op_id: &str) -> Vec<u8> {
    let mut v = ts.to_be_bytes().to_vec();
    v.extend_from_slice(op_id.as_bytes());
    v
}

/// What the writer needs besides the op: a prepared whole-value entry
/// (String, Json) and, for Json, the document hash and the key's marker and
/// type epoch it was computed from (all must be unchanged), whether the op
/// changes nothing (a replicated path write with nothing to change), after
/// a replay the signature metadata of the key's greatest operation, and
/// for a rebuilt Json document (an older op of another type moved the
/// epoch) the document's entry, `None` if there is none.
struct Prepared {
    entry: Option<Entry>,
    expect_hash: Option<[u8; 32]>,
    expect_head: Option<Head>,
    noop: bool,
    replay_sig: Option<SigMeta>,
    rebuilt: Option<Option<Entry>>,
}

/// A key's marker, type epoch and operation count as stored.
type Head = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

impl Prepared {
    fn none() -> Self {
        Prepared {
            entry: None,
            expect_hash: None,
            expect_head: None,
            noop: false,
            replay_sig: None,
            rebuilt: None,
        }
    }
}

/// The `since` of a stored type epoch.
fn epoch_since(raw: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
    Ok(raw.map(Epoch::decode).transpose()?.and_then(|e| e.since))
}

const APPLIED: &str = "applied";
const SUPERSEDED: &str = "superseded";
const DUPLICATE: &str = "duplicate";
const CONFLICT: &str = "conflict";
/// A Json document must be rebuilt before the writer (see `Prepared`).
const REBUILD: &str = "rebuild";

/// What an operation does to its key's type epoch (`replica::Epoch`).
enum Step {
    /// Merge it into the key's value (after removing the value when it
    /// replaces a key of another type).
    Apply { epoch: Epoch, replace: bool },
    /// Older than a write of another type: recorded, nothing changes.
    Superseded,
    /// Older than the key's greatest op but newer than the epoch: it
    /// becomes the epoch's `since`; the value is rebuilt without the ops it
    /// replaces.
    Rebuild(Epoch),
}

fn apply_in_txn(
    txn: &mut Txn<'_>,
    op: &SignedOperation,
    kind: ValueKind,
    prep: Prepared,
    fresh: bool,
) -> Result<Reply> {
    let full = op.full_key();
    let owner = replica::owner_of(op);
    let okey = opid_key(&owner, &op.op_id);
    if txn.get_raw(&okey)?.is_some() {
        return Ok(Reply::Str(DUPLICATE.into()));
    }
    let lk = replica::log_key(op.timestamp, &op.op_id, &owner);
    let mk = replica::marker_key(&full);
    let ek = replica::epoch_key(&full);
    let head: Head = (
        txn.get_raw(&mk)?,
        txn.get_raw(&ek)?,
        txn.get_raw(&replica::key_count_key(&full))?,
    );
    // A value computed before the writer is stale if any operation of the
    // key was recorded since (the count moved), or an unsigned write
    // changed the document (its hash).
    if let Some(exp) = &prep.expect_head {
        if head != *exp {
            return Ok(Reply::Str(CONFLICT.into()));
        }
    }
    if let Some(h) = prep.expect_hash {
        if txn.entry(&full)?.map(|e| e.hash) != Some(h) {
            return Ok(Reply::Str(CONFLICT.into()));
        }
    }
    let (marker, epoch_raw, _) = head;
    let newest = replica::is_newer(marker.as_deref(), op.timestamp, &op.op_id);
    // A key written before type epochs existed: its entry's type, no `since`.
    let epoch = match &epoch_raw {
        Some(b) => Some(Epoch::decode(b)?),
        None => txn.entry(&full)?.map(|e| Epoch {
            kind: e.kind,
            since: None,
        }),
    };
    let this = replica::marker_value(op.timestamp, &op.op_id);
    let step = match epoch {
        None => Step::Apply {
            epoch: Epoch { kind, since: None },
            replace: false,
        },
        Some(e) if !e.admits(op.timestamp, &op.op_id) => Step::Superseded,
        Some(e) if e.kind == kind => Step::Apply {
            epoch: e,
            replace: false,
        },
        Some(e) => {
            // A new submission gets the local API's answer for a key that
            // holds another type; replicated ops follow the epoch rule.
            if fresh {
                if let Some(cur) = txn.entry(&full)?.filter(|c| c.kind != kind) {
                    return Err(Error::WrongType {
                        expected: kind.name(),
                        actual: cur.kind.name(),
                    });
                }
            }
            if newest {
                Step::Apply {
                    epoch: Epoch {
                        kind,
                        since: marker.clone(),
                    },
                    replace: true,
                }
            } else {
                Step::Rebuild(Epoch {
                    kind: e.kind,
                    since: Some(this),
                })
            }
        }
    };
    // Log the op with its arrival number and under its key, move the key
    // marker if it is the key's greatest operation so far, and store the
    // type epoch if it changed.
    let record = |txn: &mut Txn<'_>, epoch: Option<&Epoch>| -> Result<()> {
        txn.put_raw(okey.clone(), lk.clone());
        txn.put_raw(lk.clone(), op.to_json().into_bytes());
        let n = txn
            .get_raw(LOG_COUNT_KEY)?
            .and_then(|v| v.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        txn.put_raw(LOG_COUNT_KEY.to_vec(), (n + 1).to_be_bytes().to_vec());
        let seq = replica::next_seq(txn, n)?;
        txn.put_raw(replica::seq_key(seq), lk.clone());
        txn.put_raw(replica::SEQ_KEY.to_vec(), seq.to_be_bytes().to_vec());
        txn.put_raw(
            replica::key_op_key(&full, op.timestamp, &op.op_id),
            Vec::new(),
        );
        replica::bump_key_count(txn, &full)?;
        if newest {
            txn.put_raw(mk.clone(), replica::marker_value(op.timestamp, &op.op_id));
        }
        if let Some(e) = epoch.map(Epoch::encode) {
            if epoch_raw.as_ref() != Some(&e) {
                txn.put_raw(ek.clone(), e);
            }
        }
        Ok(())
    };
    let (epoch, replace) = match step {
        Step::Superseded => {
            record(txn, None)?;
            return Ok(Reply::Str(SUPERSEDED.into()));
        }
        Step::Rebuild(epoch) => {
            let sig = match epoch.kind {
                // The value is the greatest op's, which is newer.
                ValueKind::String => None,
                ValueKind::Json => {
                    let Some(rebuilt) = prep.rebuilt else {
                        return Ok(Reply::Str(REBUILD.into()));
                    };
                    match rebuilt {
                        Some(e) => txn.put_entry(&full, &e),
                        None if txn.entry_exists_raw(&full)? => txn.remove_entry(&full),
                        None => {}
                    }
                    prep.replay_sig
                }
                k => {
                    let since = epoch.since.as_deref().unwrap_or_default();
                    let ops = replica::key_ops_after(txn, &full, &owner, k, since)?;
                    if txn.entry_exists_raw(&full)? {
                        txn.remove_entry(&full);
                    }
                    for o in &ops {
                        merge_into_key(txn, &full, o, k, None)?;
                    }
                    ops.last().map(replica::sig_meta)
                }
            };
            set_sig(txn, &full, sig)?;
            record(txn, Some(&epoch))?;
            return Ok(Reply::Str(APPLIED.into()));
        }
        Step::Apply { epoch, replace } => (epoch, replace),
    };
    if replace && txn.entry_exists_raw(&full)? {
        txn.remove_entry(&full);
    }
    if prep.noop {
        // Nothing to change, but a newest op still names the signer.
        if newest {
            set_sig(txn, &full, Some(replica::sig_meta(op)))?;
        }
        record(txn, Some(&epoch))?;
        let r = if replace { APPLIED } else { SUPERSEDED };
        return Ok(Reply::Str(r.into()));
    }
    if !merge_into_key(txn, &full, op, kind, prep.entry)? {
        record(txn, Some(&epoch))?;
        return Ok(Reply::Str(SUPERSEDED.into()));
    }
    // The entry carries the signature metadata of the key's greatest
    // operation, whatever the arrival order: this op's if it is the newest,
    // the replayed newest for a Json replay, else what it already had.
    let sig = if newest {
        Some(replica::sig_meta(op))
    } else {
        prep.replay_sig
    };
    set_sig(txn, &full, sig)?;
    record(txn, Some(&epoch))?;
    Ok(Reply::Str(APPLIED.into()))
}

fn set_sig(txn: &mut Txn<'_>, full: &str, sig: Option<SigMeta>) -> Result<()> {
    if let Some(sig) = sig {
        if let Some(mut e) = txn.entry(full)? {
            e.sig = Some(sig);
            txn.put_entry(full, &e);
        }
    }
    Ok(())
}

/// Merge one op into the key's value of its type: per field / member /
/// point last-write-wins, ordered placement for List and Stream items.
/// `entry` is the prepared whole value of a String or Json op. Whether it
/// changed anything (`false`: an op of the same field/member is newer).
fn merge_into_key(
    txn: &mut Txn<'_>,
    full: &str,
    op: &SignedOperation,
    kind: ValueKind,
    entry: Option<Entry>,
) -> Result<bool> {
    if let Some(wk) = lww_key(full, kind, op) {
        if let Some(prev) = txn.get_raw(&wk)? {
            if prev.len() >= 8 {
                let pts = u64::from_be_bytes(prev[..8].try_into().expect("8"));
                let pid = &prev[8..];
                if (pts, pid) > (op.timestamp, op.op_id.as_bytes()) {
                    return Ok(false);
                }
            }
        }
        txn.put_raw(wk, lww_value(op.timestamp, &op.op_id));
    }
    match kind {
        ValueKind::String | ValueKind::Json => {
            let entry = entry.ok_or_else(|| Error::internal("whole-value op without an entry"))?;
            if let Some(e) = txn.entry(full)? {
                if e.kind != kind {
                    return Err(Error::WrongType {
                        expected: kind.name(),
                        actual: e.kind.name(),
                    });
                }
            }
            txn.put_entry(full, &entry);
        }
        ValueKind::Hash => {
            let f = op.field.clone().unwrap_or_default();
            hash::txn_hset(txn, full, vec![(f, op.value.clone())])?;
        }
        ValueKind::List => {
            // placed by (timestamp, op_id), not by arrival
            list::txn_insert_ordered(txn, full, op.timestamp, &op.op_id, op.value.clone())?;
        }
        ValueKind::Set => {
            set::txn_sadd(txn, full, vec![op.value.clone()])?;
        }
        ValueKind::SortedSet => {
            zset::txn_zadd(txn, full, vec![(op.value.clone(), op.score.unwrap_or(0.0))])?;
        }
        ValueKind::Stream => {
            let fields = op
                .stream_fields
                .clone()
                .unwrap_or_else(|| vec![("value".into(), op.value.clone())]);
            // The id comes from the operation alone (its timestamp and a
            // hash of its op_id), so every replica gives it the same place.
            let id = stream::op_stream_id(op.timestamp, &op.op_id);
            stream::txn_xadd_at(txn, full, id, fields)?;
        }
        ValueKind::TimeSeries => {
            let v: f64 = op
                .value
                .trim()
                .parse()
                .map_err(|_| Error::invalid("time-series value is not a number"))?;
            let t = op.ts_timestamp.unwrap_or(op.timestamp as i64);
            timeseries::txn_ts_add(txn, full, vec![(t, v)])?;
        }
        ValueKind::Geo => {
            let (lo, la) = (op.longitude.unwrap_or(0.0), op.latitude.unwrap_or(0.0));
            geo::txn_geoadd(txn, full, vec![(lo, la, op.value.clone())])?;
        }
    }
    Ok(true)
}

impl Store {
    /// Apply one newly submitted signed operation. A refused operation is a
    /// typed error (`InvalidSignature`, `NotOwner`, `Stale`, …) and changes
    /// nothing.
    pub async fn apply(&self, op: SignedOperation) -> Result<Outcome> {
        match self.apply_many(vec![op]).await?.pop() {
            Some(Outcome::Rejected(e)) => Err(e),
            Some(o) => Ok(o),
            None => Err(Error::internal("no outcome")),
        }
    }

    /// Apply newly submitted operations, in order, with one outcome each.
    /// Signatures are verified in parallel batches off the async executor.
    pub async fn apply_many(&self, ops: Vec<SignedOperation>) -> Result<Vec<Outcome>> {
        self.apply_ops(ops, true).await
    }

    /// Apply operations loaded from a log or received for sync: like
    /// `apply_many` but never rejected for their age.
    pub async fn apply_replicated(&self, ops: Vec<SignedOperation>) -> Result<Vec<Outcome>> {
        self.apply_ops(ops, false).await
    }

    async fn apply_ops(&self, ops: Vec<SignedOperation>, fresh: bool) -> Result<Vec<Outcome>> {
        self.check_open()?;
        let n = ops.len();
        let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
        let mut kinds: Vec<Option<ValueKind>> = vec![None; n];
        let window = self.config().freshness_window_ms;
        let now = now_ms();
        let mut items: Vec<VerifyItem> = Vec::new();
        let mut item_of: Vec<usize> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let checked = op.check_shape().and_then(|k| {
                self.check_key(&op.full_key())?;
                if fresh && now.abs_diff(op.timestamp) > window {
                    return Err(Error::Stale(format!(
                        "timestamp {} is more than {window} ms from now ({now})",
                        op.timestamp
                    )));
                }
                Ok(k)
            });
            match checked {
                Ok(k) => {
                    kinds[i] = Some(k);
                    items.push(op.verify_item());
                    item_of.push(i);
                }
                Err(e) => outcomes[i] = Some(Outcome::Rejected(e)),
            }
        }
        let verifier = self.verifier().clone();
        let verdicts = verifier.verify_many_async(Arc::new(items)).await?;
        for (j, ok) in verdicts.into_iter().enumerate() {
            let i = item_of[j];
            let ok = ok || (self.config().legacy_signatures && ops[i].verify_legacy(&verifier));
            if !ok {
                outcomes[i] = Some(Outcome::Rejected(Error::InvalidSignature));
                kinds[i] = None;
            }
        }
        // Prepare whole values (blobs are added before the writer runs) and
        // build one independent writer request, in order.
        // A Json op is computed from the document as it was read, so two Json
        // ops of one key go to the writer in successive rounds (in order);
        // only a round with a conflict (a concurrent writer) counts against
        // the limit.
        let mut pending: Vec<usize> = (0..n).filter(|i| kinds[*i].is_some()).collect();
        // Ops that move a Json key's type epoch: the document is rebuilt
        // before they go to the writer again.
        let mut rebuild = std::collections::HashSet::new();
        let mut conflict_rounds = 0;
        while !pending.is_empty() && conflict_rounds < 16 {
            let mut wops = Vec::with_capacity(pending.len());
            let mut tags = Vec::new();
            let mut sent = Vec::with_capacity(pending.len());
            let mut json_keys = std::collections::HashSet::new();
            let mut deferred = Vec::new();
            for &i in &pending {
                let kind = kinds[i].expect("checked");
                // one op computed before the writer per key and round: a
                // later one would be computed from a log without the
                // earlier (the writer would refuse it as stale anyway)
                let computed = kind == ValueKind::Json || rebuild.contains(&i);
                if computed && !json_keys.insert(ops[i].full_key()) {
                    deferred.push(i);
                    continue;
                }
                let op = ops[i].clone();
                let prepared = if rebuild.contains(&i) {
                    self.prepare_json_rebuild(&op).await
                } else {
                    self.prepare_op(&op, kind, fresh).await
                };
                match prepared {
                    Ok((prep, tag)) => {
                        tags.extend(tag);
                        wops.push(WriteOp::Update {
                            key: op.full_key(),
                            f: Box::new(move |txn| apply_in_txn(txn, &op, kind, prep, fresh)),
                        });
                        sent.push(i);
                    }
                    Err(e) => outcomes[i] = Some(Outcome::Rejected(e)),
                }
            }
            let replies = self.submit_with(wops, tags, true).await?;
            let mut retry = Vec::new();
            for (i, r) in sent.into_iter().zip(replies) {
                outcomes[i] = Some(match r {
                    Reply::Str(s) if s == APPLIED => Outcome::Applied,
                    Reply::Str(s) if s == SUPERSEDED => Outcome::Superseded,
                    Reply::Str(s) if s == DUPLICATE => Outcome::Duplicate,
                    Reply::Str(s) if s == CONFLICT => {
                        retry.push(i);
                        continue;
                    }
                    Reply::Str(s) if s == REBUILD && rebuild.insert(i) => {
                        deferred.push(i);
                        continue;
                    }
                    Reply::Failed(e) => Outcome::Rejected(e.0),
                    other => Outcome::Rejected(Error::internal(format!("reply {other:?}"))),
                });
            }
            if !retry.is_empty() {
                conflict_rounds += 1;
            }
            // keep the submission order among what is left
            retry.extend(deferred);
            retry.sort_unstable();
            pending = retry;
        }
        for i in pending {
            outcomes[i] = Some(Outcome::Rejected(Error::internal(
                "too many concurrent updates of the same document",
            )));
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Rejected(Error::internal("no outcome"))))
            .collect())
    }

    async fn prepare_op(
        &self,
        op: &SignedOperation,
        kind: ValueKind,
        fresh: bool,
    ) -> Result<(Prepared, Option<iroh_blobs::api::TempTag>)> {
        match kind {
            ValueKind::String => {
                self.check_value(op.value.len())?;
                let (e, t) = self
                    .prepare_entry(ValueKind::String, op.value.clone().into_bytes())
                    .await?;
                let mut p = Prepared::none();
                p.entry = Some(e);
                Ok((p, t))
            }
            ValueKind::Json => self.prepare_json(op, fresh).await,
            _ => {
                self.check_value(op.value.len())?;
                Ok((Prepared::none(), None))
            }
        }
    }

    /// A Json op newer than every op of its key applies to the current
    /// document (a new submission whose path has nothing to change is
    /// refused; a replicated one is recorded as a no-op). An older one
    /// rebuilds the document by replay (`replica::json_history`).
    async fn prepare_json(
        &self,
        op: &SignedOperation,
        fresh: bool,
    ) -> Result<(Prepared, Option<iroh_blobs::api::TempTag>)> {
        let value: serde_json::Value = serde_json::from_str(&op.value)
            .map_err(|e| Error::invalid(format!("Json value: {e}")))?;
        let full = op.full_key();
        let head = self.read_head(&full).await?;
        let (marker, epoch, _) = &head;
        let mut p = Prepared::none();
        let current = match self.read_json_doc(&full).await {
            // A replicated op on a key of another type: the epoch rule
            // decides in the writer (the op replaces it or is older).
            Err(Error::WrongType { .. }) if !fresh => None,
            r => r?,
        };
        p.expect_hash = current.as_ref().map(|(_, h)| *h);
        let doc = if replica::is_newer(marker.as_deref(), op.timestamp, &op.op_id) {
            // the newest op: the rule applied to the current document
            let had_doc = current.is_some();
            let mut doc = current.map(|(d, _)| d);
            if replica::json_apply(&mut doc, op, value) {
                doc
            } else if fresh && had_doc {
                let path = op.json_path.as_deref().unwrap_or("$").trim();
                return Err(Error::invalid(format!("JSONPath `{path}` selects nothing")));
            } else if fresh {
                return Err(Error::invalid(format!(
                    "no document at `{full}`: set it at `$` first"
                )));
            } else {
                None
            }
        } else {
            let o = op.clone();
            let since = epoch_since(epoch.as_deref())?;
            let history = self
                .read(move |ix| {
                    let owner = replica::owner_of(&o);
                    replica::json_history(ix, &o.full_key(), &owner, Some(&o), since.as_deref())
                })
                .await?;
            p.replay_sig = history.last().map(replica::sig_meta);
            replica::json_replay(&history)
        };
        p.expect_head = Some(head);
        let Some(doc) = doc else {
            p.noop = true;
            return Ok((p, None));
        };
        let text = serde_json::to_vec(&doc).map_err(Error::internal)?;
        self.check_value(text.len())?;
        let (e, t) = self.prepare_entry(ValueKind::Json, text).await?;
        p.entry = Some(e);
        Ok((p, t))
    }

    /// The key's marker, type epoch and operation count, as the writer
    /// compares them. Read before anything a value is computed from, so a
    /// write in between makes the value stale, never wrongly fresh.
    async fn read_head(&self, full: &str) -> Result<Head> {
        let (mk, ek, ck) = (
            replica::marker_key(full),
            replica::epoch_key(full),
            replica::key_count_key(full),
        );
        self.read(move |ix| {
            let get =
                |k: &[u8]| -> Result<Option<Vec<u8>>> { Ok(ix.get_raw(k)?.map(|v| v.to_vec())) };
            Ok((get(&mk)?, get(&ek)?, get(&ck)?))
        })
        .await
    }

    /// `op` (of another type, older than the Json key's greatest op) moves
    /// the key's type epoch to itself: the document is replayed from the
    /// key's Json operations greater than `op`.
    async fn prepare_json_rebuild(
        &self,
        op: &SignedOperation,
    ) -> Result<(Prepared, Option<iroh_blobs::api::TempTag>)> {
        let full = op.full_key();
        let head = self.read_head(&full).await?;
        let after = replica::marker_value(op.timestamp, &op.op_id);
        let f = full.clone();
        let owner = replica::owner_of(op);
        let history = self
            .read(move |ix| replica::json_history(ix, &f, &owner, None, Some(&after)))
            .await?;
        let mut p = Prepared::none();
        p.expect_head = Some(head);
        p.replay_sig = history.last().map(replica::sig_meta);
        let mut tag = None;
        p.rebuilt = Some(match replica::json_replay(&history) {
            Some(doc) => {
                let text = serde_json::to_vec(&doc).map_err(Error::internal)?;
                let (e, t) = self.prepare_entry(ValueKind::Json, text).await?;
                tag = t;
                Some(e)
            }
            None => None,
        });
        Ok((p, tag))
    }

    /// Applied operations with `timestamp >= since_ms`, in (timestamp, op_id)
    /// order, a page at a time (for sync and replay).
    pub fn ops_since(&self, since_ms: u64) -> OpLogScan {
        OpLogScan {
            store: self.clone(),
            since: since_ms,
            after: None,
            done: false,
        }
    }

    /// Number of operations in the log.
    pub async fn log_len(&self) -> Result<u64> {
        self.read(|ix| {
            Ok(ix
                .get_raw(LOG_COUNT_KEY)?
                .and_then(|v| v.as_ref().try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0))
        })
        .await
    }

    /// The log check at open. `Verify` re-reads and re-verifies the whole
    /// log. `Trust` checks the shape of each entry once in the store's life:
    /// a persisted record (`#oplog_checked`: arrival number checked
    /// through, entries found well-formed, the corrupt ones) lets a later
    /// open check only the entries that arrived since, reached through
    /// their arrival numbers (`Q` keys). Without a usable record (a new
    /// store, a log older than arrival numbers, an undecodable record) or
    /// when more than half the log is new, the whole log is read. Either
    /// way the report covers the whole log, and the record is rewritten.
    pub(crate) async fn load_log_at_open(
        &self,
        check: LogCheck,
        progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> Result<LoadReport> {
        if check == LogCheck::Skip {
            return Ok(LoadReport::default());
        }
        let t0 = Instant::now();
        let (total, head, record) = self
            .read(|ix| {
                let total = ix
                    .get_raw(LOG_COUNT_KEY)?
                    .and_then(|v| v.as_ref().try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                let record = ix
                    .get_raw(CHECKED_KEY)?
                    .and_then(|v| serde_json::from_slice::<CheckedLog>(&v).ok());
                Ok((total, replica::head_seq(ix)?, record))
            })
            .await?;
        // arrival numbers cover the log exactly (a log from before they
        // existed is numbered by its next write)
        let numbered = head == total;
        let usable = record.filter(|r| {
            check == LogCheck::Trust
                && numbered
                && r.seq <= head
                && r.ok + r.corrupt.len() as u64 == r.seq
                && head - r.seq <= total / 2
        });
        // nothing to record for an empty log, nor when nothing arrived
        let unchanged = total == 0 || usable.as_ref().is_some_and(|r| r.seq == head);
        let (report, shape_ok) = match usable {
            Some(rec) => {
                let progress = progress.clone();
                let report = self
                    .read(move |ix| check_since(ix, rec, head, total, progress))
                    .await?;
                let ok = report.ok;
                (report, ok)
            }
            None => {
                let r = self.load_log(check, progress).await?;
                let ok = r.ok + r.invalid_signatures.len() as u64;
                (r, ok)
            }
        };
        if numbered && !unchanged && report.total == total {
            let rec = CheckedLog {
                seq: head,
                ok: shape_ok,
                corrupt: report.corrupt.clone(),
            };
            let v = serde_json::to_vec(&rec).map_err(Error::internal)?;
            // not fatal: without the record the next open reads the log
            let written = self
                .submit(
                    vec![WriteOp::Update {
                        key: "#oplog".into(),
                        f: Box::new(move |txn| {
                            txn.put_raw(CHECKED_KEY.to_vec(), v);
                            Ok(Reply::Unit)
                        }),
                    }],
                    vec![],
                )
                .await;
            if let Err(e) = written {
                tracing::warn!("could not record the checked log: {e}");
            }
        }
        Ok(LoadReport {
            elapsed: t0.elapsed(),
            ..report
        })
    }

    /// Read the whole log in parallel, decoding every entry and, with
    /// `LogCheck::Verify`, re-verifying every signature. A corrupt entry is
    /// reported and skipped; the load never aborts on one. `progress` gets
    /// (done, total), every `LOAD_CHUNK` entries per range.
    ///
    /// The log's key range is split by timestamp into a few ranges per CPU
    /// thread, each scanned and decoded by one task of the rayon pool (so
    /// the sled scan runs in parallel too, and at most one task per thread
    /// is in flight). Trusting the log checks each entry's shape without
    /// building the operation ([`OpShape`]); verifying builds it and checks
    /// its signature in batches of `LOAD_CHUNK`.
    pub async fn load_log(
        &self,
        check: LogCheck,
        progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> Result<LoadReport> {
        if check == LogCheck::Skip {
            return Ok(LoadReport::default());
        }
        let total = self.log_len().await?;
        let verifier = self.verifier().clone();
        let legacy = self.config().legacy_signatures;
        let t0 = Instant::now();
        self.read(move |ix| {
            use rayon::prelude::*;
            // under a lock, so that the callback sees `done` only grow and
            // its last call is (total, total)
            let done = std::sync::Mutex::new(0u64);
            let tick = |n: usize| {
                let mut d = done
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *d += n as u64;
                if let Some(p) = &progress {
                    p(*d, total);
                }
            };
            // verify a batch of decoded operations into the range's report
            let verify_batch = |ops: &mut Vec<SignedOperation>, part: &mut LoadReport| {
                if check == LogCheck::Verify && !ops.is_empty() {
                    let items: Vec<VerifyItem> =
                        ops.iter().map(SignedOperation::verify_item).collect();
                    for (op, ok) in ops.iter().zip(verifier.verify_many(&items)) {
                        if ok || (legacy && op.verify_legacy(&verifier)) {
                            part.ok += 1;
                        } else {
                            part.invalid_signatures.push(op.op_id.clone());
                        }
                    }
                }
                ops.clear();
            };
            let scan_range = |(lo, hi): (Vec<u8>, Vec<u8>)| -> Result<LoadReport> {
                let mut part = LoadReport::default();
                let mut ops = Vec::new();
                let mut n = 0;
                for item in ix.tree.range(lo..hi) {
                    let (k, v) = item?;
                    let bad = if check == LogCheck::Verify {
                        match serde_json::from_slice::<SignedOperation>(&v) {
                            Ok(op) => {
                                ops.push(op);
                                None
                            }
                            Err(e) => Some(e),
                        }
                    } else {
                        match serde_json::from_slice::<OpShape<'_>>(&v) {
                            Ok(_) => {
                                part.ok += 1;
                                None
                            }
                            Err(e) => Some(e),
                        }
                    };
                    if let Some(e) = bad {
                        part.corrupt.push((hex::encode(&k), e.to_string()));
                    }
                    n += 1;
                    if n == LOAD_CHUNK {
                        verify_batch(&mut ops, &mut part);
                        tick(n);
                        n = 0;
                    }
                }
                verify_batch(&mut ops, &mut part);
                if n > 0 {
                    tick(n);
                }
                Ok(part)
            };
            let ranges = log_ranges(ix, rayon::current_num_threads().max(1) * 4)?;
            let parts: Vec<LoadReport> = ranges
                .into_par_iter()
                .map(scan_range)
                .collect::<Result<_>>()?;
            let mut r = LoadReport {
                total,
                ..Default::default()
            };
            // ranges are in key order and each is scanned in order, so the
            // report lists bad entries in log order
            for p in parts {
                r.ok += p.ok;
                r.corrupt.extend(p.corrupt);
                r.invalid_signatures.extend(p.invalid_signatures);
            }
            r.elapsed = t0.elapsed();
            Ok(r)
        })
        .await
    }
}

/// Entries per progress report (and per verification batch) in `load_log`.
const LOAD_CHUNK: usize = 4096;

/// What a trusted open checked, persisted under `#oplog_checked`: the log
/// through arrival number `seq` holds `ok` well-formed entries and the
/// `corrupt` ones, (log key in hex, error).
#[derive(Serialize, Deserialize)]
struct CheckedLog {
    seq: u64,
    ok: u64,
    corrupt: Vec<(String, String)>,
}

const CHECKED_KEY: &[u8] = b"#oplog_checked";

/// The trusted check of the entries that arrived after `rec.seq`, through
/// `head`, added to the record's counts.
fn check_since(
    ix: &crate::index::Index,
    rec: CheckedLog,
    head: u64,
    total: u64,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
) -> Result<LoadReport> {
    let mut r = LoadReport {
        total,
        ok: rec.ok,
        corrupt: rec.corrupt,
        ..Default::default()
    };
    let mut done = r.ok + r.corrupt.len() as u64;
    if let Some(p) = &progress {
        p(done, total);
    }
    if rec.seq >= head {
        return Ok(r);
    }
    for item in ix
        .tree
        .range(replica::seq_key(rec.seq + 1)..replica::seq_key(head + 1))
    {
        let (_, lk) = item?;
        match ix.tree.get(&lk)? {
            Some(v) => match serde_json::from_slice::<OpShape<'_>>(&v) {
                Ok(_) => r.ok += 1,
                Err(e) => r.corrupt.push((hex::encode(&lk), e.to_string())),
            },
            None => r
                .corrupt
                .push((hex::encode(&lk), "log entry missing".into())),
        }
        done += 1;
        if done.is_multiple_of(LOAD_CHUNK as u64) || done == total {
            if let Some(p) = &progress {
                p(done, total);
            }
        }
    }
    Ok(r)
}

/// The log's key range split into at most `parts` consecutive ranges of
/// equal timestamp span, covering every `L` key.
fn log_ranges(ix: &crate::index::Index, parts: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let end = vec![NS_LOG + 1];
    let ts = |k: &[u8]| {
        k.get(1..9)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    };
    let mut it = ix.tree.scan_prefix([NS_LOG]);
    let (first, last) = match (it.next().transpose()?, it.next_back().transpose()?) {
        (Some((a, _)), Some((b, _))) => (ts(&a), ts(&b)),
        _ => return Ok(vec![(vec![NS_LOG], end)]),
    };
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(vec![(vec![NS_LOG], end)]);
    };
    let span = u128::from(last - first) + 1;
    let mut bounds = vec![vec![NS_LOG]];
    for i in 1..parts as u128 {
        let t = first as u128 + span * i / parts as u128;
        let mut k = vec![NS_LOG];
        k.extend_from_slice(&(t as u64).to_be_bytes());
        if Some(&k) != bounds.last() {
            bounds.push(k);
        }
    }
    bounds.push(end);
    Ok(bounds
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect())
}

/// The shape of a logged [`SignedOperation`], borrowed: the same fields,
/// types and defaults, so it accepts exactly the entries that decode as an
/// operation (test `op_shape_accepts_what_signed_operation_accepts`), but
/// builds no strings. Trusting the log checks this much per entry at open.
#[derive(Deserialize)]
#[allow(dead_code)] // read only by serde: decoding is the check
struct OpShape<'a> {
    #[serde(borrow)]
    op_id: std::borrow::Cow<'a, str>,
    timestamp: u64,
    #[serde(borrow)]
    db_name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    key: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    value: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    store_type: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    field: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default, borrow)]
    json_path: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    stream_fields: Option<Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>>,
    #[serde(default)]
    ts_timestamp: Option<i64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default, borrow)]
    public_key: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    signature: std::borrow::Cow<'a, str>,
}

/// A paged scan of the operation log.
pub struct OpLogScan {
    store: Store,
    since: u64,
    after: Option<Vec<u8>>,
    done: bool,
}

impl OpLogScan {
    /// The next page of operations; `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SignedOperation>>> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.config().scan_page_size.max(64);
        let after = self.after.clone().unwrap_or_else(|| {
            let mut k = vec![NS_LOG];
            k.extend_from_slice(&self.since.to_be_bytes());
            k
        });
        let first = self.after.is_none();
        let (rows, last) = self
            .store
            .read(move |ix| {
                use std::ops::Bound;
                let lower = if first {
                    Bound::Included(after)
                } else {
                    Bound::Excluded(after)
                };
                let mut rows = Vec::new();
                let mut last = None;
                for item in ix.tree.range::<Vec<u8>, _>((lower, Bound::Unbounded)) {
                    let (k, v) = item?;
                    if k.first() != Some(&NS_LOG) {
                        break;
                    }
                    last = Some(k.to_vec());
                    match serde_json::from_slice::<SignedOperation>(&v) {
                        Ok(op) => rows.push(op),
                        Err(e) => tracing::warn!("skipping corrupt log entry: {e}"),
                    }
                    if rows.len() >= page {
                        break;
                    }
                }
                Ok((rows, last))
            })
            .await?;
        match last {
            None => {
                self.done = true;
                Ok(None)
            }
            Some(l) => {
                self.after = Some(l);
                if rows.len() < page {
                    self.done = true;
                }
                if rows.is_empty() {
                    return Ok(None);
                }
                Ok(Some(rows))
            }
        }
    }

    pub async fn collect_all(mut self) -> Result<Vec<SignedOperation>> {
        let mut all = Vec::new();
        while let Some(p) = self.next_page().await? {
            all.extend(p);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_rules() {
        let pk = "ab".repeat(32);
        assert!(check_owner(&format!("mydb-{pk}"), &pk).is_ok());
        assert!(check_owner(&format!("my_db-2-{pk}"), &pk).is_ok());
        assert!(check_owner(&format!("-{pk}"), &pk).is_err(), "empty name");
        assert!(check_owner(&format!("my db-{pk}"), &pk).is_err(), "space");
        assert!(check_owner(&format!("mydb{pk}"), &pk).is_err(), "no dash");
        let other = "cd".repeat(32);
        assert!(matches!(
            check_owner(&format!("mydb-{other}"), &pk),
            Err(Error::NotOwner(_))
        ));
    }

    #[test]
    fn canonical_message_covers_every_field() {
        let kp = Keypair::generate();
        let mut op = SignedOperation::new(
            format!("db-{}", kp.public_key_hex()),
            "k",
            "v",
            ValueKind::SortedSet,
        );
        op.score = Some(1.0);
        op.sign(&kp);
        let base = op.canonical_message();
        let mut variants = Vec::new();
        let mut o = op.clone();
        o.score = Some(2.0);
        variants.push(o);
        let mut o = op.clone();
        o.timestamp += 1;
        variants.push(o);
        let mut o = op.clone();
        o.op_id.push('x');
        variants.push(o);
        let mut o = op.clone();
        o.store_type = "Set".into();
        variants.push(o);
        let mut o = op.clone();
        o.field = Some(String::new());
        variants.push(o);
        for v in variants {
            assert_ne!(v.canonical_message(), base);
        }
        // "ab" + "c" vs "a" + "bc" must differ (length prefixes)
        let mut a = op.clone();
        a.key = "ab".into();
        a.value = "c".into();
        let mut b = op.clone();
        b.key = "a".into();
        b.value = "bc".into();
        assert_ne!(a.canonical_message(), b.canonical_message());
        assert!(crate::verify::verify_uncached(
            &kp.public_key(),
            &base,
            &hex::decode(&op.signature).unwrap()
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corrupt_and_forged_log_entries_are_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let kp = Keypair::generate();
        {
            let s = Store::open(dir.path(), crate::Config::default())
                .await
                .unwrap();
            let ops: Vec<SignedOperation> = (0..100)
                .map(|i| {
                    let mut o = SignedOperation::new(
                        format!("db-{}", kp.public_key_hex()),
                        format!("k{i}"),
                        "v",
                        ValueKind::String,
                    );
                    o.sign(&kp);
                    o
                })
                .collect();
            s.apply_many(ops).await.unwrap();
            // Damage the log on disk, behind the writer's back: one entry
            // that does not decode, one whose signature no longer matches.
            let ix = s.index().unwrap();
            let mut it = ix.tree.scan_prefix([NS_LOG]);
            let (k1, _) = it.next().unwrap().unwrap();
            let (k2, v2) = it.next().unwrap().unwrap();
            drop(it);
            ix.tree.insert(&k1, &b"{not json"[..]).unwrap();
            let mut forged: SignedOperation = serde_json::from_slice(&v2).unwrap();
            forged.value = "tampered".into();
            ix.tree.insert(&k2, forged.to_json().as_bytes()).unwrap();
            drop(ix);
            s.close().await.unwrap();
        }
        let c = crate::Config::builder()
            .log_check(LogCheck::Verify)
            .build()
            .unwrap();
        let s = Store::open(dir.path(), c).await.unwrap();
        let r = s.log_report().unwrap();
        assert_eq!(r.total, 100);
        assert_eq!(r.corrupt.len(), 1, "{r:?}");
        assert_eq!(r.invalid_signatures.len(), 1, "{r:?}");
        assert_eq!(r.ok, 98);
        // trusting the log only finds the corrupt one
        let t = s.load_log(LogCheck::Trust, None).await.unwrap();
        assert_eq!(
            (t.ok, t.corrupt.len(), t.invalid_signatures.len()),
            (99, 1, 0)
        );
        // the corrupt entry is skipped by ops_since too
        assert_eq!(s.ops_since(0).collect_all().await.unwrap().len(), 99);
        s.close().await.unwrap();
    }

    #[test]
    fn json_round_trip_and_shape() {
        let kp = Keypair::generate();
        let mut op = SignedOperation::new(
            format!("db-{}", kp.public_key_hex()),
            "k",
            "1.5",
            ValueKind::TimeSeries,
        );
        op.sign(&kp);
        let back = SignedOperation::from_json(&op.to_json()).unwrap();
        assert_eq!(back, op);
        assert_eq!(op.check_shape().unwrap(), ValueKind::TimeSeries);
        let mut bad = op.clone();
        bad.value = "NaN".into();
        assert!(bad.check_shape().is_err());
        let mut bad = op.clone();
        bad.public_key = "zz".into();
        assert_eq!(
            bad.check_shape().unwrap_err().code(),
            crate::ErrorCode::InvalidArgument
        );
        assert!(SignedOperation::from_json("{").is_err());
    }
    #[test]
    fn op_shape_accepts_what_signed_operation_accepts() {
        use serde_json::json;
        let kp = Keypair::generate();
        let mut op = SignedOperation::new(
            format!("db-{}", kp.public_key_hex()),
            "k",
            "v \"é\\n",
            ValueKind::Stream,
        );
        op.field = Some("f".into());
        op.score = Some(1.5);
        op.json_path = Some("$.a".into());
        op.stream_fields = Some(vec![("a".into(), "b".into())]);
        op.ts_timestamp = Some(-3);
        op.longitude = Some(1.0);
        op.latitude = Some(2.0);
        op.sign(&kp);
        let full = serde_json::to_value(&op).unwrap();
        let mut samples = vec![
            op.to_json(),
            format!("{}x", op.to_json()),
            op.to_json()
                .replacen("\"op_id\"", "\"op_id\":\"a\",\"op_id\"", 1),
            "{not json".into(),
            String::new(),
            "[]".into(),
            "null".into(),
            "{}".into(),
        ];
        for field in full.as_object().unwrap().keys() {
            let values = [
                None,
                Some(json!(null)),
                Some(json!(7)),
                Some(json!(-1.5)),
                Some(json!("x")),
                Some(json!([["a", "b"]])),
                Some(json!({"a": 1})),
            ];
            for v in values {
                let mut m = full.clone();
                match v {
                    None => {
                        m.as_object_mut().unwrap().remove(field);
                    }
                    Some(v) => m[field] = v,
                }
                samples.push(m.to_string());
            }
        }
        let mut accepted = 0;
        for s in &samples {
            let a = serde_json::from_str::<SignedOperation>(s).is_ok();
            let b = serde_json::from_str::<OpShape<'_>>(s).is_ok();
            assert_eq!(a, b, "{s}");
            accepted += usize::from(a);
        }
        // both outcomes occur
        assert!(accepted > 10 && accepted < samples.len() - 10, "{accepted}");
    }

    /// A trusted open reads only what arrived since the last check, and
    /// keeps reporting the corrupt entries found before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trusted_open_checks_each_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let kp = Keypair::generate();
        let ops = |r: std::ops::Range<usize>| -> Vec<SignedOperation> {
            r.map(|i| {
                let mut o = SignedOperation::new(
                    format!("db-{}", kp.public_key_hex()),
                    format!("k{i}"),
                    "v",
                    ValueKind::String,
                );
                o.sign(&kp);
                o
            })
            .collect()
        };
        let nth_log_key = |s: &Store, n: usize| -> sled::IVec {
            let ix = s.index().unwrap();
            let mut it = ix.tree.scan_prefix([NS_LOG]);
            it.nth(n).unwrap().unwrap().0
        };
        let damage = |s: &Store, k: &sled::IVec| {
            s.index()
                .unwrap()
                .tree
                .insert(k, &b"{not json"[..])
                .unwrap();
        };
        let trust = crate::Config::default;
        assert_eq!(trust().log_check, LogCheck::Trust);
        let (k1, k2);
        {
            let s = Store::open(dir.path(), trust()).await.unwrap();
            s.apply_many(ops(0..100)).await.unwrap();
            k1 = nth_log_key(&s, 0);
            damage(&s, &k1);
            s.close().await.unwrap();
        }
        {
            // first trusted open since the 100 arrived: reads them all
            let s = Store::open(dir.path(), trust()).await.unwrap();
            let r = s.log_report().unwrap();
            assert_eq!((r.total, r.ok, r.corrupt.len()), (100, 99, 1), "{r:?}");
            assert_eq!(r.corrupt[0].0, hex::encode(&k1));
            // damaged after its check: trusted opens no longer read it
            k2 = nth_log_key(&s, 1);
            damage(&s, &k2);
            s.apply_many(ops(100..110)).await.unwrap();
            s.close().await.unwrap();
        }
        let seen = Arc::new(AtomicU64::new(0));
        let seen2 = seen.clone();
        let s = Store::open_with_progress(
            dir.path(),
            trust(),
            Arc::new(move |done, total| {
                assert!(done <= total);
                seen2.store(done, Ordering::SeqCst);
            }),
        )
        .await
        .unwrap();
        let r = s.log_report().unwrap();
        assert_eq!((r.total, r.ok, r.corrupt.len()), (110, 109, 1), "{r:?}");
        assert_eq!(r.corrupt[0].0, hex::encode(&k1));
        assert_eq!(seen.load(Ordering::SeqCst), 110);
        // reading the whole log finds both
        let full = s.load_log(LogCheck::Trust, None).await.unwrap();
        assert_eq!((full.ok, full.corrupt.len()), (108, 2), "{full:?}");
        let v = s.load_log(LogCheck::Verify, None).await.unwrap();
        assert_eq!((v.ok, v.corrupt.len()), (108, 2), "{v:?}");
        // an undecodable record means a full read at the next open
        s.index()
            .unwrap()
            .tree
            .insert(CHECKED_KEY, &b"?"[..])
            .unwrap();
        s.close().await.unwrap();
        let s = Store::open(dir.path(), trust()).await.unwrap();
        let r = s.log_report().unwrap();
        assert_eq!((r.total, r.ok, r.corrupt.len()), (110, 108, 2), "{r:?}");
        s.close().await.unwrap();
    }

    /// A store of the first log layout (`L | ts | op_id`, `o | op_id`) is
    /// upgraded at open: duplicates are still found, replays still read
    /// the key's operations, the log and its arrival numbers are intact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_of_the_first_layout_is_upgraded_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let kp = Keypair::generate();
        let d = format!("db-{}", kp.public_key_hex());
        let t = 1_700_000_000_000u64;
        let mk = |key: &str, v: &str, kind, ts: u64, path: Option<&str>| {
            let mut o = SignedOperation::new(d.clone(), key, v, kind);
            o.timestamp = ts;
            o.op_id = format!("op{ts}");
            o.json_path = path.map(str::to_owned);
            o.sign(&kp);
            o
        };
        let first = vec![
            mk("s", "v", ValueKind::String, t, None),
            mk("j", r#"{"a":{}}"#, ValueKind::Json, t + 1, None),
            mk("j", "2", ValueKind::Json, t + 5, Some("$.a.c")),
        ];
        let late = mk("j", "1", ValueKind::Json, t + 3, Some("$.a.b"));
        let want = {
            let dir = tempfile::tempdir().unwrap();
            let s = Store::open(dir.path(), crate::Config::default())
                .await
                .unwrap();
            let mut all = first.clone();
            all.push(late.clone());
            s.apply_replicated(all).await.unwrap();
            let d = s.state_digest().await.unwrap();
            s.close().await.unwrap();
            d
        };
        {
            let s = Store::open(dir.path(), crate::Config::default())
                .await
                .unwrap();
            s.apply_replicated(first.clone()).await.unwrap();
            // back to the first layout, behind the writer
            let ix = s.index().unwrap();
            let mut renamed = std::collections::HashMap::new();
            let rows: Vec<_> = ix.tree.scan_prefix([NS_LOG]).map(|r| r.unwrap()).collect();
            for (k, v) in rows {
                let old = k[..k.len() - 32].to_vec();
                ix.tree.remove(&k).unwrap();
                ix.tree.insert(&old, v).unwrap();
                renamed.insert(k.to_vec(), old);
            }
            let rows: Vec<_> = ix.tree.scan_prefix([NS_OPID]).map(|r| r.unwrap()).collect();
            for (k, v) in rows {
                ix.tree.remove(&k).unwrap();
                let mut old = vec![NS_OPID];
                old.extend_from_slice(&k[33..]);
                ix.tree.insert(old, renamed[v.as_ref()].clone()).unwrap();
            }
            let rows: Vec<_> = ix
                .tree
                .scan_prefix([replica::NS_SEQ])
                .map(|r| r.unwrap())
                .collect();
            for (k, v) in rows {
                ix.tree.insert(k, renamed[v.as_ref()].clone()).unwrap();
            }
            ix.tree.remove(LAYOUT_KEY).unwrap();
            drop(ix);
            s.close().await.unwrap();
        }
        let c = crate::Config::builder()
            .log_check(LogCheck::Verify)
            .build()
            .unwrap();
        let s = Store::open(dir.path(), c).await.unwrap();
        let r = s.log_report().unwrap();
        assert_eq!((r.total, r.ok, r.corrupt.len()), (3, 3, 0), "{r:?}");
        assert_eq!(s.ops_since(0).collect_all().await.unwrap(), first);
        let out = s.apply_replicated(first.clone()).await.unwrap();
        assert!(out.iter().all(|o| *o == Outcome::Duplicate), "{out:?}");
        // an older path write replays the key's operations
        let out = s.apply_replicated(vec![late]).await.unwrap();
        assert!(out[0].is_applied(), "{out:?}");
        assert_eq!(s.state_digest().await.unwrap(), want);
        let ix = s.index().unwrap();
        let pages = replica::ops_after(&ix, 0, 100, usize::MAX).unwrap();
        assert_eq!(pages.len(), 4);
        drop(ix);
        s.close().await.unwrap();
    }
}
