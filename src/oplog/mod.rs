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
//!
//! One file per concept: `codec` (the operation, its canonical message and
//! signing), `owner` (who may write a database), `lww` (last-write-wins
//! keys, markers and type epochs), `apply` (the writer transaction),
//! `check` (the log check at open and the key layout), `scan` (paging the
//! log) and `replica` (arrival numbers, per-key operation index and Json
//! replay: what converging replicas need).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::clock::now_ms;
use crate::engine::config::LogCheck;
use crate::engine::writer::{Reply, Txn, WriteOp};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::types::geo::check_coords;
use crate::types::{geo, hash, list, set, stream, timeseries, zset};
use crate::value::{Entry, SigMeta, ValueKind};
use crate::verify::{decode_hex, Keypair, VerifyItem};

pub(crate) mod apply;
pub(crate) mod check;
mod codec;
mod lww;
mod owner;
pub(crate) mod replica;
pub(crate) mod restore;
pub(crate) mod scan;

pub use apply::Outcome;
pub(crate) use check::upgrade_log_layout;
pub use check::LoadReport;
pub use codec::{new_op_id, parse_store_type, store_type_name, SignedOperation};
pub use owner::check_owner;
pub use scan::OpLogScan;

#[allow(unused_imports)]
use self::{apply::*, check::*, codec::*, lww::*};

use crate::keyspace::{lww_tag, CHECKED_KEY, LAYOUT_KEY, LOG_COUNT_KEY, NS_LOG, NS_LWW, NS_OPID};

/// `ns | u32 len | key`: the prefix of a key's entries in a namespace.
pub(crate) fn key_prefix(ns: u8, full: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + full.len() + 8 + 32);
    k.push(ns);
    k.extend_from_slice(&(full.len() as u32).to_be_bytes());
    k.extend_from_slice(full.as_bytes());
    k
}

pub(crate) fn be_u64(v: &[u8]) -> Option<u64> {
    v.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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
            let ix = s.engine().index().unwrap();
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
            let ix = s.engine().index().unwrap();
            let mut it = ix.tree.scan_prefix([NS_LOG]);
            it.nth(n).unwrap().unwrap().0
        };
        let damage = |s: &Store, k: &sled::IVec| {
            s.engine()
                .index()
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
        s.engine()
            .index()
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
            let ix = s.engine().index().unwrap();
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
        let ix = s.engine().index().unwrap();
        let pages = replica::ops_after(&ix, 0, 100, usize::MAX).unwrap();
        assert_eq!(pages.len(), 4);
        drop(ix);
        s.close().await.unwrap();
    }
}
