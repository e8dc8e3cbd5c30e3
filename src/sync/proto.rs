//! The `cyberfly-sync/1` protocol: length-prefixed JSON frames on one
//! bidirectional QUIC stream, and the page bundle.
//!
//! ```text
//! client                                   server
//!   Hello {v}                        →
//!                                    ←     Hello {store_id, head}
//!   Page {after, max_ops, wait_ms}   →     (waits up to wait_ms for ops after `after`)
//!                                    ←     Page {head, page: {hash, count, last}?}
//!   (fetches `hash` as a hash sequence with iroh-blobs, applies, asks again)
//! ```
//!
//! A page is an iroh-blobs **hash sequence** `[bundle, value…]`. The bundle
//! lists the page's operations in arrival order: `CFSP`, u32 count, then per
//! operation u64 seq, u32 child (0: none; else the index in the sequence of
//! the blob holding its value), u32 length and the operation's JSON (with an
//! empty `value` when the value travels as its own blob). Every byte of the
//! page is BLAKE3-verified by iroh-blobs on the way; a value blob already in
//! the receiving store is not transferred again.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ALPN of the sync protocol.
pub const ALPN: &[u8] = b"cyberfly-sync/1";
pub(crate) const VERSION: u32 = 1;
const MAX_FRAME: usize = 1 << 20;
const MAGIC: &[u8; 4] = b"CFSP";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Request {
    Hello {
        v: u32,
    },
    Page {
        after: u64,
        max_ops: u32,
        /// Wait up to this long for operations after `after` (long poll).
        wait_ms: u32,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PageRef {
    /// The hash sequence, hex.
    pub hash: String,
    pub count: u32,
    /// Arrival number of the page's last operation.
    pub last: u64,
    /// How many values travel as their own blobs.
    #[serde(default)]
    pub values: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Response {
    Hello {
        v: u32,
        /// The serving store's id (hex, 16 bytes).
        store_id: String,
        head: u64,
    },
    Page {
        head: u64,
        page: Option<PageRef>,
    },
    Error {
        message: String,
    },
}

pub(crate) fn net_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!("sync: {what}: {e}")))
}

pub(crate) async fn write_frame<T: Serialize>(
    send: &mut iroh::endpoint::SendStream,
    msg: &T,
) -> Result<()> {
    let body = serde_json::to_vec(msg).map_err(Error::internal)?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    send.write_all(&buf).await.map_err(|e| net_err("write", e))
}

/// The next frame, or `None` when the peer finished the stream.
pub(crate) async fn read_frame<T: for<'de> Deserialize<'de>>(
    recv: &mut iroh::endpoint::RecvStream,
) -> Result<Option<T>> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(iroh::endpoint::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(net_err("read", e)),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(net_err("read", format!("frame of {n} bytes")));
    }
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| net_err("read", e))?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| net_err("decode", e))
}

/// One operation of a page bundle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub seq: u64,
    /// Index of the value's blob in the hash sequence (0: inline).
    pub child: u32,
    pub json: Vec<u8>,
}

pub(crate) fn encode_bundle(records: &[Record]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| 16 + r.json.len()).sum();
    let mut b = Vec::with_capacity(8 + size);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for r in records {
        b.extend_from_slice(&r.seq.to_be_bytes());
        b.extend_from_slice(&r.child.to_be_bytes());
        b.extend_from_slice(&(r.json.len() as u32).to_be_bytes());
        b.extend_from_slice(&r.json);
    }
    b
}

pub(crate) fn decode_bundle(b: &[u8]) -> Result<Vec<Record>> {
    let bad = |what: &str| Error::Corrupt(format!("sync page bundle: {what}"));
    if b.get(..4) != Some(MAGIC.as_slice()) {
        return Err(bad("bad magic"));
    }
    let mut pos = 4usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = b.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
        pos += n;
        Ok(s)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().expect("4")) as usize;
    let mut out = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let seq = u64::from_be_bytes(take(8)?.try_into().expect("8"));
        let child = u32::from_be_bytes(take(4)?.try_into().expect("4"));
        let len = u32::from_be_bytes(take(4)?.try_into().expect("4")) as usize;
        let json = take(len)?.to_vec();
        out.push(Record { seq, child, json });
    }
    if pos != b.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_round_trip_and_reject_damage() {
        let rs = vec![
            Record {
                seq: 1,
                child: 0,
                json: b"{}".to_vec(),
            },
            Record {
                seq: 7,
                child: 1,
                json: br#"{"value":""}"#.to_vec(),
            },
        ];
        let b = encode_bundle(&rs);
        assert_eq!(decode_bundle(&b).unwrap(), rs);
        assert!(decode_bundle(&b[..b.len() - 1]).is_err());
        assert!(decode_bundle(&[b.as_slice(), b"x"].concat()).is_err());
        assert!(decode_bundle(b"XXXX\0\0\0\0").is_err());
        assert_eq!(decode_bundle(&encode_bundle(&[])).unwrap(), vec![]);
    }

    #[test]
    fn frames_are_tagged_json() {
        let r = Request::Page {
            after: 3,
            max_ops: 10,
            wait_ms: 0,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"t":"page","after":3,"max_ops":10,"wait_ms":0}"#);
    }
}
