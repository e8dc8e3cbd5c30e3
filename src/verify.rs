//! ed25519 keys, signatures and verification (ed25519-dalek).
//!
//! - Public keys and signatures travel as lowercase hex, as the node does.
//! - Verification is strict: a weak (small-order) public key or a signature
//!   whose `R` is of small order is invalid, in single *and* batch paths. The
//!   batch equation of ed25519-dalek skips those checks, so they run before
//!   batching; without them the two paths could disagree and two replicas
//!   could reach different verdicts.
//! - A verdict cache keyed by BLAKE3(public key ‖ len ‖ message ‖ signature)
//!   — all three — holds both verdicts. Keying without the public key would
//!   accept a valid (message, signature) under another key.
//! - `verify_many` verifies uncached items in parallel chunks on a rayon pool
//!   with batch verification; a failing chunk falls back to single checks to
//!   name the bad items. Tokio workers never run this CPU work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use moka::sync::Cache;

use crate::error::{Error, Result};

/// Items per batch-verification chunk.
const CHUNK: usize = 256;

/// An ed25519 key pair.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public_key_hex())
    }
}

impl Keypair {
    /// A new random key pair (OS randomness).
    pub fn generate() -> Self {
        Keypair {
            signing: SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// From a 32-byte secret.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        let s: [u8; 32] = secret.try_into().map_err(|_| {
            Error::invalid(format!("a secret key is 32 bytes, got {}", secret.len()))
        })?;
        Ok(Keypair {
            signing: SigningKey::from_bytes(&s),
        })
    }

    /// From a 64-character hex secret.
    pub fn from_secret_hex(hex_secret: &str) -> Result<Self> {
        Self::from_secret(&decode_hex(hex_secret, 32, "secret key")?)
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    /// Sign a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// Decode lowercase or uppercase hex of an exact length.
pub fn decode_hex(s: &str, len: usize, what: &str) -> Result<Vec<u8>> {
    let b = hex::decode(s).map_err(|e| Error::invalid(format!("{what} is not hex: {e}")))?;
    if b.len() != len {
        return Err(Error::invalid(format!(
            "{what} is {} bytes, expected {len}",
            b.len()
        )));
    }
    Ok(b)
}

/// A parsed, pre-checked item: `None` when it is invalid before any curve
/// arithmetic (wrong length, not a point, weak key, small-order R).
fn prepare(pk: &[u8], sig: &[u8]) -> Option<(VerifyingKey, Signature)> {
    let pk: &[u8; 32] = pk.try_into().ok()?;
    let sig: &[u8; 64] = sig.try_into().ok()?;
    let vk = VerifyingKey::from_bytes(pk).ok()?;
    if vk.is_weak() {
        return None;
    }
    let r = CompressedEdwardsY::from_slice(&sig[..32])
        .ok()?
        .decompress()?;
    if r.is_small_order() {
        return None;
    }
    Some((vk, Signature::from_bytes(sig)))
}

/// Verify one signature, strictly, without the cache.
pub fn verify_uncached(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match prepare(public_key, signature) {
        Some((vk, sig)) => vk.verify_strict(message, &sig).is_ok(),
        None => false,
    }
}

/// Counters of a verifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyStats {
    pub verified: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub batches: u64,
    pub batch_fallbacks: u64,
}

/// A verifier with a verdict cache and a CPU pool.
pub struct Verifier {
    cache: Cache<[u8; 32], bool>,
    pool: Arc<rayon::ThreadPool>,
    verified: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    batches: AtomicU64,
    fallbacks: AtomicU64,
}

/// One item to verify: (public key, message, signature), as bytes.
pub type VerifyItem = (Vec<u8>, Vec<u8>, Vec<u8>);

fn cache_key(pk: &[u8], msg: &[u8], sig: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&(pk.len() as u64).to_le_bytes());
    h.update(pk);
    h.update(&(msg.len() as u64).to_le_bytes());
    h.update(msg);
    h.update(sig);
    *h.finalize().as_bytes()
}

fn shared_pool() -> Arc<rayon::ThreadPool> {
    static POOL: OnceLock<Arc<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("cyberfly-verify-{i}"))
                .build()
                .expect("verification thread pool"),
        )
    })
    .clone()
}

impl Verifier {
    /// A verifier caching up to `cache_entries` verdicts, on the process-wide
    /// verification pool (one thread per core).
    pub fn new(cache_entries: u64) -> Self {
        Verifier {
            cache: Cache::new(cache_entries),
            pool: shared_pool(),
            verified: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// The process-wide verifier used by the module-level functions.
    pub fn global() -> &'static Verifier {
        static V: OnceLock<Verifier> = OnceLock::new();
        V.get_or_init(|| Verifier::new(1 << 20))
    }

    /// Verify one signature (cached).
    pub fn verify(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let k = cache_key(public_key, message, signature);
        if let Some(v) = self.cache.get(&k) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return v;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let v = verify_uncached(public_key, message, signature);
        self.verified.fetch_add(1, Ordering::Relaxed);
        self.cache.insert(k, v);
        v
    }

    /// Verdicts for many items, in order; blocks the caller while the pool
    /// works (call from a blocking context, or use
    /// [`verify_many_async`](Self::verify_many_async)).
    pub fn verify_many(&self, items: &[VerifyItem]) -> Vec<bool> {
        let mut out = vec![false; items.len()];
        let mut todo: Vec<(usize, [u8; 32])> = Vec::new();
        for (i, (pk, msg, sig)) in items.iter().enumerate() {
            let k = cache_key(pk, msg, sig);
            match self.cache.get(&k) {
                Some(v) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    out[i] = v;
                }
                None => todo.push((i, k)),
            }
        }
        self.misses.fetch_add(todo.len() as u64, Ordering::Relaxed);
        if todo.is_empty() {
            return out;
        }
        use rayon::prelude::*;
        let verdicts: Vec<(usize, [u8; 32], bool)> = self.pool.install(|| {
            todo.par_chunks(CHUNK)
                .flat_map_iter(|chunk| self.verify_chunk(items, chunk))
                .collect()
        });
        self.verified
            .fetch_add(verdicts.len() as u64, Ordering::Relaxed);
        for (i, k, v) in verdicts {
            self.cache.insert(k, v);
            out[i] = v;
        }
        out
    }

    fn verify_chunk(
        &self,
        items: &[VerifyItem],
        chunk: &[(usize, [u8; 32])],
    ) -> Vec<(usize, [u8; 32], bool)> {
        let mut good = Vec::with_capacity(chunk.len());
        let mut out = Vec::with_capacity(chunk.len());
        for &(i, k) in chunk {
            let (pk, _, sig) = &items[i];
            match prepare(pk, sig) {
                Some(p) => good.push((i, k, p)),
                None => out.push((i, k, false)),
            }
        }
        if good.is_empty() {
            return out;
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        let msgs: Vec<&[u8]> = good
            .iter()
            .map(|(i, _, _)| items[*i].1.as_slice())
            .collect();
        let sigs: Vec<Signature> = good.iter().map(|(_, _, (_, s))| *s).collect();
        let keys: Vec<VerifyingKey> = good.iter().map(|(_, _, (k, _))| *k).collect();
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            out.extend(good.iter().map(|(i, k, _)| (*i, *k, true)));
        } else {
            // Name the bad ones.
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            for (i, k, (vk, sig)) in &good {
                let ok = vk.verify_strict(&items[*i].1, sig).is_ok();
                out.push((*i, *k, ok));
            }
        }
        out
    }

    /// `verify_many` off the async executor: the work runs on the rayon pool
    /// and the future completes when it is done.
    pub async fn verify_many_async(
        self: &Arc<Self>,
        items: Arc<Vec<VerifyItem>>,
    ) -> Result<Vec<bool>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        self.pool.spawn(move || {
            let _ = tx.send(me.verify_many(&items));
        });
        rx.await
            .map_err(|_| Error::internal("verification pool dropped a job"))
    }

    pub fn stats(&self) -> VerifyStats {
        VerifyStats {
            verified: self.verified.load(Ordering::Relaxed),
            cache_hits: self.hits.load(Ordering::Relaxed),
            cache_misses: self.misses.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            batch_fallbacks: self.fallbacks.load(Ordering::Relaxed),
        }
    }
}

/// Verify with the process-wide verifier (cached).
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    Verifier::global().verify(public_key, message, signature)
}

/// Verify many with the process-wide verifier.
pub fn verify_many(items: &[VerifyItem]) -> Vec<bool> {
    Verifier::global().verify_many(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip() {
        let kp = Keypair::generate();
        let sig = kp.sign(b"hello");
        assert!(verify_uncached(&kp.public_key(), b"hello", &sig));
        assert!(!verify_uncached(&kp.public_key(), b"hellO", &sig));
        let kp2 = Keypair::from_secret_hex(&hex::encode(kp.secret_bytes())).unwrap();
        assert_eq!(kp2.public_key_hex(), kp.public_key_hex());
        assert!(Keypair::from_secret(&[1; 31]).is_err());
        assert!(Keypair::from_secret_hex("zz").is_err());
        assert_eq!(kp.public_key_hex().len(), 64);
        assert_eq!(kp.public_key_hex(), kp.public_key_hex().to_lowercase());
    }

    /// The poisoning test: a valid (message, signature) under key A must be
    /// rejected under key B even right after A's verdict was cached.
    #[test]
    fn cache_is_keyed_by_public_key_too() {
        let v = Verifier::new(1000);
        let (a, b) = (Keypair::generate(), Keypair::generate());
        let sig = a.sign(b"msg");
        assert!(v.verify(&a.public_key(), b"msg", &sig));
        assert!(v.verify(&a.public_key(), b"msg", &sig), "cached");
        assert_eq!(v.stats().cache_hits, 1);
        assert!(!v.verify(&b.public_key(), b"msg", &sig));
        assert!(
            !v.verify(&b.public_key(), b"msg", &sig),
            "negative verdict cached"
        );
        assert!(v.verify(&a.public_key(), b"msg", &sig));
    }

    #[test]
    fn weak_keys_and_small_order_r_are_rejected() {
        // The identity point (small order) as a public key, with a signature
        // made of the identity as R and s = 0: this satisfies the plain
        // verification equation for every message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(!verify_uncached(&identity, b"anything", &sig));
        let v = Verifier::new(100);
        let kp = Keypair::generate();
        let good = kp.sign(b"m");
        let items = vec![
            (identity.to_vec(), b"anything".to_vec(), sig.to_vec()),
            (kp.public_key().to_vec(), b"m".to_vec(), good.to_vec()),
        ];
        assert_eq!(v.verify_many(&items), vec![false, true]);
    }

    #[test]
    fn verify_many_names_the_forgery_in_a_batch() {
        let v = Verifier::new(10_000);
        let kps: Vec<Keypair> = (0..8).map(|_| Keypair::generate()).collect();
        let mut items: Vec<VerifyItem> = (0..1000)
            .map(|i| {
                let kp = &kps[i % 8];
                let m = format!("message {i}").into_bytes();
                (kp.public_key().to_vec(), m.clone(), kp.sign(&m).to_vec())
            })
            .collect();
        items[617].1 = b"tampered".to_vec();
        items[3].2 = vec![0; 10]; // wrong length
        let r = v.verify_many(&items);
        assert_eq!(r.iter().filter(|x| !**x).count(), 2);
        assert!(!r[617] && !r[3]);
        assert!(v.stats().batch_fallbacks >= 1);
        // second pass: all from the cache
        let before = v.stats().cache_hits;
        assert_eq!(v.verify_many(&items), r);
        assert_eq!(v.stats().cache_hits - before, 1000);
    }
}
