//! Values and the index entry codec.
//!
//! An index entry is a small, versioned binary record:
//!
//! ```text
//! [0]      format version (1)
//! [1]      kind (ValueKind)
//! [2]      flags: 1 = inline, 2 = has expiry, 4 = has signature meta
//! [3..35]  BLAKE3 hash of the value bytes (also the iroh-blobs hash)
//! [35..43] value length, u64 LE
//! [..8]    expiry, ms since the epoch, u64 LE            (if flag 2)
//! [..]     public key, signature (u16 LE length + bytes each), timestamp u64 LE (if flag 4)
//! [..]     the value bytes                              (if flag 1)
//! ```
//!
//! The hash and length come before anything optional so that the garbage
//! collector and the expiry sweeper read index entries without decoding values.

use crate::error::{Error, Result};

pub const ENTRY_VERSION: u8 = 1;
const FLAG_INLINE: u8 = 1;
const FLAG_EXPIRY: u8 = 2;
const FLAG_SIG: u8 = 4;
const HEADER_LEN: usize = 3 + 32 + 8;

/// The nine Cyberfly value types (`StoreType` in the node).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    SortedSet = 4,
    Json = 5,
    Stream = 6,
    TimeSeries = 7,
    Geo = 8,
}

impl ValueKind {
    pub fn from_u8(b: u8) -> Result<Self> {
        Ok(match b {
            0 => ValueKind::String,
            1 => ValueKind::Hash,
            2 => ValueKind::List,
            3 => ValueKind::Set,
            4 => ValueKind::SortedSet,
            5 => ValueKind::Json,
            6 => ValueKind::Stream,
            7 => ValueKind::TimeSeries,
            8 => ValueKind::Geo,
            other => return Err(Error::Corrupt(format!("unknown value kind {other}"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueKind::String => "string",
            ValueKind::Hash => "hash",
            ValueKind::List => "list",
            ValueKind::Set => "set",
            ValueKind::SortedSet => "sorted_set",
            ValueKind::Json => "json",
            ValueKind::Stream => "stream",
            ValueKind::TimeSeries => "timeseries",
            ValueKind::Geo => "geo",
        }
    }

    /// The name Redis's `TYPE` answers for this kind: `string`, `hash`,
    /// `list`, `set`, `zset`, `stream`; the modules' names for Json
    /// (`ReJSON-RL`, RedisJSON) and TimeSeries (`TSDB-TYPE`,
    /// RedisTimeSeries); `geo` for Geo, a type of its own here where Redis
    /// keeps geo members in a `zset` (docs/REDIS.md, deliberate
    /// differences). A missing key is `none` ([`ValueKind::redis_type_of`]).
    pub fn redis_type(self) -> &'static str {
        match self {
            ValueKind::String => "string",
            ValueKind::Hash => "hash",
            ValueKind::List => "list",
            ValueKind::Set => "set",
            ValueKind::SortedSet => "zset",
            ValueKind::Json => "ReJSON-RL",
            ValueKind::Stream => "stream",
            ValueKind::TimeSeries => "TSDB-TYPE",
            ValueKind::Geo => "geo",
        }
    }

    /// Redis's `TYPE` answer for a key of this kind, or `none` for no key.
    pub fn redis_type_of(kind: Option<ValueKind>) -> &'static str {
        kind.map_or("none", ValueKind::redis_type)
    }
}

/// Signature metadata stored with an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigMeta {
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
    pub timestamp_ms: u64,
}

/// Where the value bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Inline in the entry.
    Inline(Vec<u8>),
    /// In the blob store under `Entry::hash`.
    Blob,
}

/// A decoded index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: ValueKind,
    pub hash: [u8; 32],
    pub len: u64,
    pub expires_at_ms: Option<u64>,
    pub sig: Option<SigMeta>,
    pub payload: Payload,
}

impl Entry {
    /// An inline entry for `bytes`, hashing them.
    pub fn inline(kind: ValueKind, bytes: Vec<u8>) -> Self {
        Entry {
            kind,
            hash: *blake3::hash(&bytes).as_bytes(),
            len: bytes.len() as u64,
            expires_at_ms: None,
            sig: None,
            payload: Payload::Inline(bytes),
        }
    }

    /// An entry pointing at a blob.
    pub fn blob(kind: ValueKind, hash: [u8; 32], len: u64) -> Self {
        Entry {
            kind,
            hash,
            len,
            expires_at_ms: None,
            sig: None,
            payload: Payload::Blob,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let inline_len = match &self.payload {
            Payload::Inline(b) => b.len(),
            Payload::Blob => 0,
        };
        let sig_len = self
            .sig
            .as_ref()
            .map(|s| 4 + s.public_key.len() + s.signature.len() + 8)
            .unwrap_or(0);
        let mut out = Vec::with_capacity(HEADER_LEN + 8 + sig_len + inline_len);
        let mut flags = 0;
        if matches!(self.payload, Payload::Inline(_)) {
            flags |= FLAG_INLINE;
        }
        if self.expires_at_ms.is_some() {
            flags |= FLAG_EXPIRY;
        }
        if self.sig.is_some() {
            flags |= FLAG_SIG;
        }
        out.push(ENTRY_VERSION);
        out.push(self.kind as u8);
        out.push(flags);
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.len.to_le_bytes());
        if let Some(e) = self.expires_at_ms {
            out.extend_from_slice(&e.to_le_bytes());
        }
        if let Some(s) = &self.sig {
            // Lengths are bounded by the signed-operation layer (32 and 64 bytes);
            // the codec still refuses to truncate silently.
            let pk = u16::try_from(s.public_key.len()).unwrap_or(u16::MAX);
            let sg = u16::try_from(s.signature.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&pk.to_le_bytes());
            out.extend_from_slice(&s.public_key[..pk as usize]);
            out.extend_from_slice(&sg.to_le_bytes());
            out.extend_from_slice(&s.signature[..sg as usize]);
            out.extend_from_slice(&s.timestamp_ms.to_le_bytes());
        }
        if let Payload::Inline(b) = &self.payload {
            out.extend_from_slice(b);
        }
        out
    }

    pub fn decode(buf: &[u8]) -> Result<Self> {
        let h = EntryHeader::decode(buf)?;
        let mut r = Reader {
            buf,
            pos: HEADER_LEN,
        };
        let expires_at_ms = if h.flags & FLAG_EXPIRY != 0 {
            Some(r.u64()?)
        } else {
            None
        };
        let sig = if h.flags & FLAG_SIG != 0 {
            let n = r.u16()? as usize;
            let public_key = r.take(n)?.to_vec();
            let n = r.u16()? as usize;
            let signature = r.take(n)?.to_vec();
            let timestamp_ms = r.u64()?;
            Some(SigMeta {
                public_key,
                signature,
                timestamp_ms,
            })
        } else {
            None
        };
        let payload = if h.flags & FLAG_INLINE != 0 {
            let rest = &buf[r.pos..];
            if rest.len() as u64 != h.len {
                return Err(Error::Corrupt(format!(
                    "inline value is {} bytes, entry says {}",
                    rest.len(),
                    h.len
                )));
            }
            Payload::Inline(rest.to_vec())
        } else {
            if r.pos != buf.len() {
                return Err(Error::Corrupt("trailing bytes after blob entry".into()));
            }
            Payload::Blob
        };
        Ok(Entry {
            kind: h.kind,
            hash: h.hash,
            len: h.len,
            expires_at_ms,
            sig,
            payload,
        })
    }
}

/// The fixed-size head of an entry: enough for GC and expiry without decoding
/// the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader {
    pub kind: ValueKind,
    pub flags: u8,
    pub hash: [u8; 32],
    pub len: u64,
}

impl EntryHeader {
    pub fn decode(buf: &[u8]) -> Result<Self> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Corrupt(format!(
                "index entry is {} bytes, shorter than its header",
                buf.len()
            )));
        }
        if buf[0] != ENTRY_VERSION {
            return Err(Error::Corrupt(format!(
                "index entry version {} (this build reads {ENTRY_VERSION})",
                buf[0]
            )));
        }
        let kind = ValueKind::from_u8(buf[1])?;
        let flags = buf[2];
        if flags & !(FLAG_INLINE | FLAG_EXPIRY | FLAG_SIG) != 0 {
            return Err(Error::Corrupt(format!("unknown entry flags {flags:#x}")));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&buf[3..35]);
        let len = u64::from_le_bytes(buf[35..43].try_into().expect("8 bytes"));
        Ok(EntryHeader {
            kind,
            flags,
            hash,
            len,
        })
    }

    pub fn is_inline(&self) -> bool {
        self.flags & FLAG_INLINE != 0
    }

    /// The expiry, read without touching the value.
    pub fn expires_at_ms(&self, buf: &[u8]) -> Option<u64> {
        if self.flags & FLAG_EXPIRY == 0 {
            return None;
        }
        buf.get(HEADER_LEN..HEADER_LEN + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Error::Corrupt("index entry truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
}

/// Decode stored bytes of a String value.
pub fn decode_string(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::Corrupt(format!("string value is not UTF-8: {e}")))
}

/// Hex of a hash, lowercase (the form iroh-blobs prints with `to_hex`).
pub fn hash_hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// Parse a 64-char hex hash.
pub fn parse_hash_hex(s: &str) -> Result<[u8; 32]> {
    blake3::Hash::from_hex(s)
        .map(|h| *h.as_bytes())
        .map_err(|_| Error::invalid(format!("`{s}` is not a 64-character hex BLAKE3 hash")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_entry() -> impl Strategy<Value = Entry> {
        (
            0u8..9,
            any::<[u8; 32]>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of((
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::collection::vec(any::<u8>(), 0..80),
                any::<u64>(),
            )),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            any::<u64>(),
        )
            .prop_map(|(k, hash, exp, sig, inline, blen)| {
                let (payload, len) = match inline {
                    Some(b) => {
                        let l = b.len() as u64;
                        (Payload::Inline(b), l)
                    }
                    None => (Payload::Blob, blen),
                };
                Entry {
                    kind: ValueKind::from_u8(k).unwrap(),
                    hash,
                    len,
                    expires_at_ms: exp,
                    sig: sig.map(|(public_key, signature, timestamp_ms)| SigMeta {
                        public_key,
                        signature,
                        timestamp_ms,
                    }),
                    payload,
                }
            })
    }

    proptest! {
        #[test]
        fn entry_round_trips(e in arb_entry()) {
            let bytes = e.encode();
            prop_assert_eq!(Entry::decode(&bytes).unwrap(), e.clone());
            let h = EntryHeader::decode(&bytes).unwrap();
            prop_assert_eq!(h.hash, e.hash);
            prop_assert_eq!(h.expires_at_ms(&bytes), e.expires_at_ms);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Entry::decode(&bytes);
        }
    }

    #[test]
    fn inline_hash_is_blake3_of_value() {
        let e = Entry::inline(ValueKind::String, b"hello".to_vec());
        assert_eq!(e.hash, *blake3::hash(b"hello").as_bytes());
    }

    #[test]
    fn truncated_entry_is_corrupt() {
        let e = Entry::inline(ValueKind::String, b"hello".to_vec()).encode();
        assert!(matches!(
            Entry::decode(&e[..e.len() - 1]),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(Entry::decode(&e[..10]), Err(Error::Corrupt(_))));
    }
}
