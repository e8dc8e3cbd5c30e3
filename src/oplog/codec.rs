//! The operation codec: [`SignedOperation`], its canonical signed message,
//! store-type names and op_ids.

use super::*;

const DOMAIN: &[u8] = b"cyberfly-op/v1\0";

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
            b.extend_from_slice(&f.to_bits().to_be_bytes());
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
            b.extend_from_slice(&t.to_be_bytes());
        });
        put_opt(&mut b, &self.longitude, |b, f| {
            b.extend_from_slice(&f.to_bits().to_be_bytes());
        });
        put_opt(&mut b, &self.latitude, |b, f| {
            b.extend_from_slice(&f.to_bits().to_be_bytes());
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
            ValueKind::Stream if self.stream_fields.as_ref().is_some_and(Vec::is_empty) => {
                return Err(Error::invalid("stream_fields must not be empty"));
            }
            _ => {}
        }
        Ok(kind)
    }
}
