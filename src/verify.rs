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
//!   accept a valid (message, signature) under another key. The cache is a
//!   set-associative table ([`VerdictCache`]): the keys are BLAKE3 outputs,
//!   already uniform, so their own bytes pick the shard and bucket (no
//!   second hash) and a hit allocates nothing.
//! - `verify_many` verifies uncached items in parallel chunks on a rayon pool
//!   with batch verification; a failing chunk falls back to single checks to
//!   name the bad items. Tokio workers never run this CPU work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::error::{Error, Result};

/// Items per batch-verification chunk.
const CHUNK: usize = 256;
/// Inputs up to this size are hashed for the verdict cache in one call.
const BLAKE3_CHUNK: usize = 1024;
/// Items per parallel cache-lookup chunk in `verify_many`.
const LOOKUP_CHUNK: usize = 2048;

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

/// The y coordinates (sign bit cleared) of every encoding of a point of
/// small order: the eight torsion points' canonical y values, plus `y + p`
/// for the ones below 19 (the only non-canonical encodings that fit in 255
/// bits). An `R` whose y is in this list decompresses to a small-order point
/// and no other `R` does (test `small_order_blocklist_matches_decompression`),
/// so the check costs no decompression.
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    YS.get_or_init(|| {
        let mut ys: Vec<[u8; 32]> = Vec::new();
        for t in curve25519_dalek::constants::EIGHT_TORSION.iter() {
            let mut y = t.compress().to_bytes();
            y[31] &= 0x7f;
            let mut alt = None;
            if y[0] < 19 && y[1..].iter().all(|b| *b == 0) {
                // p = 2^255 - 19, little-endian: ed ff .. ff 7f
                let mut n = [0xffu8; 32];
                n[0] = 0xed + y[0];
                n[31] = 0x7f;
                alt = Some(n);
            }
            for c in std::iter::once(y).chain(alt) {
                if !ys.contains(&c) {
                    ys.push(c);
                }
            }
        }
        ys
    })
}

/// Whether a signature's `R` encodes a point of small order.
fn small_order_r(r: &[u8; 32]) -> bool {
    let mut y = *r;
    y[31] &= 0x7f;
    small_order_ys().contains(&y)
}

/// A parsed public key, or `None` if it is not a point or is weak.
fn parse_key(pk: &[u8]) -> Option<VerifyingKey> {
    let pk: &[u8; 32] = pk.try_into().ok()?;
    let vk = VerifyingKey::from_bytes(pk).ok()?;
    (!vk.is_weak()).then_some(vk)
}

/// A parsed signature, or `None` if it has the wrong length or its `R` is
/// of small order. (An `R` that is not a point at all fails verification.)
fn parse_sig(sig: &[u8]) -> Option<Signature> {
    let sig: &[u8; 64] = sig.try_into().ok()?;
    let r: &[u8; 32] = sig[..32].try_into().expect("32 bytes");
    (!small_order_r(r)).then(|| Signature::from_bytes(sig))
}

/// A parsed, pre-checked item: `None` when it is invalid before any curve
/// arithmetic (wrong length, not a point, weak key, small-order R).
fn prepare(pk: &[u8], sig: &[u8]) -> Option<(VerifyingKey, Signature)> {
    Some((parse_key(pk)?, parse_sig(sig)?))
}

/// Batch verification of `(message, signature, key index)` items with the
/// public key terms merged per distinct key: ed25519-dalek's `verify_batch`
/// equation (cofactorless, random 128-bit `z_i`)
///
/// `(-Σ z_i s_i) B + Σ z_i R_i + Σ_i (z_i k_i) A_i = 0`, `k_i = H(R_i ‖ A_i ‖ M_i)`,
///
/// with `Σ_i (z_i k_i) A_i` computed as `Σ_A (Σ_{i: A_i = A} z_i k_i) A`:
/// the same sum, with one point per distinct key instead of one per
/// signature (a database's operations are signed by few keys, so the
/// multiscalar multiplication has about half the points). `z_i` come from
/// the OS (unpredictable to a signer, which is what makes the batch sound);
/// `s` must be canonical and `R` a valid point, as in `verify_batch`.
/// Weak keys and small-order `R` are rejected before (`parse_key`,
/// `parse_sig`). Returns whether every signature is valid.
fn verify_batch_by_key(batch: &[(&[u8], &Signature, u32)], keys: &[VerifyingKey]) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use sha2::{Digest, Sha512};

    let n = batch.len();
    let mut random = vec![0u8; 16 * n];
    if rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut random).is_err() {
        return false; // no randomness: the caller checks one by one
    }
    let mut b_coeff = Scalar::ZERO;
    let mut a_coeffs = vec![Scalar::ZERO; keys.len()];
    let mut z_r = Vec::with_capacity(n);
    let mut points = Vec::with_capacity(n);
    for (j, (msg, sig, ki)) in batch.iter().enumerate() {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes())) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(*sig.r_bytes()).decompress() else {
            return false;
        };
        let a = &keys[*ki as usize];
        let mut h = Sha512::new();
        h.update(sig.r_bytes());
        h.update(a.as_bytes());
        h.update(msg);
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&h.finalize());
        let k = Scalar::from_bytes_mod_order_wide(&wide);
        let z = Scalar::from(u128::from_le_bytes(
            random[16 * j..16 * (j + 1)].try_into().expect("16 bytes"),
        ));
        b_coeff += z * s;
        a_coeffs[*ki as usize] += z * k;
        z_r.push(z);
        points.push(r);
    }
    let id = EdwardsPoint::vartime_multiscalar_mul(
        std::iter::once(-b_coeff).chain(z_r).chain(a_coeffs),
        std::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
            .chain(points)
            .chain(keys.iter().map(|k| k.to_edwards())),
    );
    id.is_identity()
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

/// Slots per bucket of the verdict cache.
const WAYS: usize = 8;
/// Tag bits of a verdict-cache slot.
const VALID: u8 = 1;
const GOOD: u8 = 2;
const REFERENCED: u8 = 4;

/// One lock stripe of the verdict cache: `WAYS` slots per bucket, keys and
/// tags in separate arrays (a bucket's tags are one 8-byte word).
struct Shard {
    keys: Vec<[u8; 32]>,
    tags: Vec<u8>,
}

/// The verdict cache: a fixed-size, set-associative table of
/// (BLAKE3 key → verdict), striped over up to 64 mutexes.
///
/// - The key is a BLAKE3 output, uniformly distributed, so bytes 0..8 pick
///   the shard and bytes 8..16 the bucket; no hashing on top (moka hashed
///   every lookup again with SipHash and kept per-entry nodes and access
///   records).
/// - A lookup compares at most `WAYS` full 32-byte keys in one bucket; a
///   hit sets the slot's referenced bit; nothing allocates after
///   construction.
/// - Eviction is CLOCK within the bucket: a full bucket replaces the first
///   slot (from a key-dependent start) whose referenced bit is clear,
///   clearing the bits it passes, so a verdict that is read again survives
///   a sweep of one-off inserts.
/// - Capacity is the requested number of entries rounded up to a power of
///   two; with 8 ways a bucket overflows (and evicts early) only rarely
///   before the table is about 80 % full.
pub struct VerdictCache {
    shards: Box<[Mutex<Shard>]>,
    shard_shift: u32,
    bucket_mask: usize,
}

impl VerdictCache {
    pub fn new(entries: u64) -> Self {
        let slots = (entries.max(WAYS as u64) as usize).next_power_of_two();
        let shards = (slots / 4096).clamp(1, 64);
        let per_shard = slots / shards;
        VerdictCache {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        // zeroed allocations: pages are committed on first use
                        keys: vec![[0u8; 32]; per_shard],
                        tags: vec![0u8; per_shard],
                    })
                })
                .collect(),
            shard_shift: 64 - shards.trailing_zeros(),
            bucket_mask: per_shard / WAYS - 1,
        }
    }

    /// Slots the table holds.
    pub fn capacity(&self) -> usize {
        self.shards.len() * (self.bucket_mask + 1) * WAYS
    }

    fn locate(&self, k: &[u8; 32]) -> (std::sync::MutexGuard<'_, Shard>, usize) {
        let a = u64::from_le_bytes(k[..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(k[8..16].try_into().expect("8 bytes"));
        // `checked_shr`: one shard gives a shift of 64
        let shard = a.checked_shr(self.shard_shift).unwrap_or(0) as usize;
        let guard = self.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (guard, (b as usize & self.bucket_mask) * WAYS)
    }

    /// The cached verdict of `k`, if any.
    pub fn get(&self, k: &[u8; 32]) -> Option<bool> {
        let (mut sh, base) = self.locate(k);
        for w in base..base + WAYS {
            if sh.tags[w] & VALID != 0 && sh.keys[w] == *k {
                sh.tags[w] |= REFERENCED;
                return Some(sh.tags[w] & GOOD != 0);
            }
        }
        None
    }

    /// Cache the verdict of `k`.
    pub fn insert(&self, k: [u8; 32], verdict: bool) {
        let (mut sh, base) = self.locate(&k);
        let tag = VALID | if verdict { GOOD } else { 0 };
        let mut empty = None;
        for w in base..base + WAYS {
            if sh.tags[w] & VALID == 0 {
                empty.get_or_insert(w);
            } else if sh.keys[w] == k {
                sh.tags[w] = tag | (sh.tags[w] & REFERENCED);
                return;
            }
        }
        let slot = empty.unwrap_or_else(|| {
            // CLOCK: at most WAYS + 1 steps, since each step clears a bit
            let start = k[16] as usize % WAYS;
            let mut i = 0;
            loop {
                let w = base + (start + i) % WAYS;
                if sh.tags[w] & REFERENCED == 0 {
                    break w;
                }
                sh.tags[w] &= !REFERENCED;
                i += 1;
            }
        });
        sh.keys[slot] = k;
        sh.tags[slot] = tag;
    }
}

/// A verifier with a verdict cache and a CPU pool.
pub struct Verifier {
    cache: VerdictCache,
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
    let n = 16 + pk.len() + msg.len() + sig.len();
    if n <= BLAKE3_CHUNK {
        // One contiguous buffer and one `blake3::hash` call: the streaming
        // hasher's per-update buffering cost about a quarter of a hit.
        // Same bytes, same key as the streaming form below.
        let mut buf = [0u8; BLAKE3_CHUNK];
        let mut at = 0;
        for part in [
            &(pk.len() as u64).to_le_bytes()[..],
            pk,
            &(msg.len() as u64).to_le_bytes()[..],
            msg,
            sig,
        ] {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        return *blake3::hash(&buf[..n]).as_bytes();
    }
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
            cache: VerdictCache::new(cache_entries),
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
    ///
    /// First every item is hashed and looked up in the verdict cache (on
    /// the pool, in parallel, for large inputs); only the misses go to
    /// batch verification, whose verdicts the workers cache.
    pub fn verify_many(&self, items: &[VerifyItem]) -> Vec<bool> {
        self.verify_many_chunked(items, CHUNK)
    }

    /// [`verify_many`](Self::verify_many) with batches of `chunk` items
    /// (for benchmarks comparing chunk sizes in one process).
    #[doc(hidden)]
    pub fn verify_many_chunked(&self, items: &[VerifyItem], chunk: usize) -> Vec<bool> {
        use rayon::prelude::*;
        let chunk = chunk.max(1);
        let mut out = vec![false; items.len()];
        let lookup = |base: usize, items: &[VerifyItem], out: &mut [bool]| {
            let mut todo = Vec::new();
            for (j, (pk, msg, sig)) in items.iter().enumerate() {
                let k = cache_key(pk, msg, sig);
                match self.cache.get(&k) {
                    Some(v) => out[j] = v,
                    None => todo.push((base + j, k)),
                }
            }
            todo
        };
        let todo: Vec<(usize, [u8; 32])> = if items.len() >= 2 * LOOKUP_CHUNK {
            self.pool.install(|| {
                items
                    .par_chunks(LOOKUP_CHUNK)
                    .zip(out.par_chunks_mut(LOOKUP_CHUNK))
                    .enumerate()
                    .flat_map_iter(|(c, (it, o))| lookup(c * LOOKUP_CHUNK, it, o))
                    .collect()
            })
        } else {
            lookup(0, items, &mut out)
        };
        self.hits
            .fetch_add((items.len() - todo.len()) as u64, Ordering::Relaxed);
        self.misses.fetch_add(todo.len() as u64, Ordering::Relaxed);
        if todo.is_empty() {
            return out;
        }
        let verdicts: Vec<(usize, bool)> = self.pool.install(|| {
            todo.par_chunks(chunk)
                .flat_map_iter(|chunk| self.verify_chunk(items, chunk))
                .collect()
        });
        self.verified
            .fetch_add(verdicts.len() as u64, Ordering::Relaxed);
        for (i, v) in verdicts {
            out[i] = v;
        }
        out
    }

    /// Batch-verify one chunk of misses and cache the verdicts. Public keys
    /// are parsed (decompressed) once per distinct key in the chunk: the
    /// operations of a database are signed by its one owner.
    fn verify_chunk(
        &self,
        items: &[VerifyItem],
        chunk: &[(usize, [u8; 32])],
    ) -> Vec<(usize, bool)> {
        // Distinct keys of the chunk, each parsed once (an index into
        // `keys` per item): the batch equation then has one term per key.
        let mut key_index: std::collections::HashMap<&[u8], Option<u32>> =
            std::collections::HashMap::new();
        let mut keys: Vec<VerifyingKey> = Vec::new();
        let mut good = Vec::with_capacity(chunk.len());
        let mut out = Vec::with_capacity(chunk.len());
        for &(i, k) in chunk {
            let (pk, _, sig) = &items[i];
            let ki = *key_index.entry(pk.as_slice()).or_insert_with(|| {
                parse_key(pk).map(|vk| {
                    keys.push(vk);
                    (keys.len() - 1) as u32
                })
            });
            match ki.zip(parse_sig(sig)) {
                Some((ki, sig)) => good.push((i, k, ki, sig)),
                None => {
                    self.cache.insert(k, false);
                    out.push((i, false));
                }
            }
        }
        if good.is_empty() {
            return out;
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
        let batch: Vec<(&[u8], &Signature, u32)> = good
            .iter()
            .map(|(i, _, ki, sig)| (items[*i].1.as_slice(), sig, *ki))
            .collect();
        let all_ok = verify_batch_by_key(&batch, &keys);
        if !all_ok {
            // Name the bad ones.
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        for (i, k, ki, sig) in &good {
            let ok = all_ok || keys[*ki as usize].verify_strict(&items[*i].1, sig).is_ok();
            self.cache.insert(*k, ok);
            out.push((*i, ok));
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

    /// The batch equation with one term per distinct key agrees with
    /// strict single checks: all valid (many keys per chunk, one key, keys
    /// repeated out of order) passes; each kind of bad item fails the whole
    /// batch — a tampered message, a signature under another key, a
    /// non-canonical `s` (`s + l`, which the single check rejects too), an
    /// `R` that is not a point.
    #[test]
    fn batch_by_key_matches_strict_single_checks() {
        let kps: Vec<Keypair> = (0..40).map(|_| Keypair::generate()).collect();
        let keys: Vec<VerifyingKey> = kps
            .iter()
            .map(|k| parse_key(&k.public_key()).unwrap())
            .collect();
        let mk = |n: usize, nkeys: usize| -> Vec<(Vec<u8>, Signature, u32)> {
            (0..n)
                .map(|i| {
                    let ki = (i * 7) % nkeys;
                    let m = format!("m{i}").into_bytes();
                    let sig = Signature::from_bytes(&kps[ki].sign(&m));
                    (m, sig, ki as u32)
                })
                .collect()
        };
        let check = |items: &[(Vec<u8>, Signature, u32)]| {
            let batch: Vec<(&[u8], &Signature, u32)> = items
                .iter()
                .map(|(m, s, k)| (m.as_slice(), s, *k))
                .collect();
            let single = items
                .iter()
                .all(|(m, s, k)| keys[*k as usize].verify_strict(m, s).is_ok());
            let b = verify_batch_by_key(&batch, &keys);
            assert_eq!(b, single);
            b
        };
        assert!(check(&mk(256, 40)));
        assert!(check(&mk(100, 1)));
        assert!(check(&mk(1, 3)));

        let mut bad = mk(256, 40);
        bad[100].0 = b"tampered".to_vec();
        assert!(!check(&bad));

        let mut bad = mk(256, 40);
        bad[7].2 = (bad[7].2 + 1) % 40; // valid signature, wrong key
        assert!(!check(&bad));

        // s + l: the same point equation, a non-canonical scalar
        let mut bad = mk(64, 5);
        let mut raw = bad[9].1.to_bytes();
        // l = (l - 1) + 1
        let l: [u8; 32] = (-curve25519_dalek::scalar::Scalar::ONE).to_bytes();
        let mut carry = 1u16;
        for j in 0..32 {
            let t = raw[32 + j] as u16 + l[j] as u16 + carry;
            raw[32 + j] = t as u8;
            carry = t >> 8;
        }
        assert_eq!(carry, 0, "s + l fits in 256 bits");
        bad[9].1 = Signature::from_bytes(&raw);
        assert!(!check(&bad));

        // an R that does not decompress (y = 2 is not on the curve)
        let mut bad = mk(64, 5);
        let mut raw = bad[3].1.to_bytes();
        raw[..32].copy_from_slice(&{
            let mut y = [0u8; 32];
            y[0] = 2;
            y
        });
        bad[3].1 = Signature::from_bytes(&raw);
        assert!(
            curve25519_dalek::edwards::CompressedEdwardsY(raw[..32].try_into().unwrap())
                .decompress()
                .is_none()
        );
        assert!(!check(&bad));
    }

    /// `verify_many` over chunks of many distinct keys (more than the old
    /// per-chunk list of 32) names exactly the bad items.
    #[test]
    fn verify_many_with_many_keys_per_chunk() {
        let v = Verifier::new(10_000);
        let kps: Vec<Keypair> = (0..100).map(|_| Keypair::generate()).collect();
        let mut items: Vec<VerifyItem> = (0..2000)
            .map(|i| {
                let kp = &kps[i % 100];
                let m = format!("message {i}").into_bytes();
                (kp.public_key().to_vec(), m.clone(), kp.sign(&m).to_vec())
            })
            .collect();
        items[1234].0 = kps[5].public_key().to_vec(); // another key
        items[99].1.push(b'!');
        let r = v.verify_many(&items);
        let bad: Vec<usize> = (0..r.len()).filter(|i| !r[*i]).collect();
        assert_eq!(bad, vec![99, 1234]);
        assert_eq!(v.stats().batch_fallbacks, 2);
    }

    /// The encoding check of a small-order `R` agrees with decompressing
    /// it, on every small-order encoding and on ordinary points.
    #[test]
    fn small_order_blocklist_matches_decompression() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        assert_eq!(small_order_ys().len(), 7);
        let mut candidates: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|t| t.compress().to_bytes())
            .collect();
        // every y below 19, and its non-canonical form y + p
        for y in 0u8..19 {
            let mut c = [0u8; 32];
            c[0] = y;
            candidates.push(c);
            let mut n = [0xffu8; 32];
            n[0] = 0xed + y;
            n[31] = 0x7f;
            candidates.push(n);
        }
        // ordinary points: public keys and signatures' R
        for _ in 0..64 {
            let kp = Keypair::generate();
            candidates.push(kp.public_key());
            candidates.push(kp.sign(b"m")[..32].try_into().unwrap());
        }
        let mut blocked = 0;
        for c in candidates {
            for sign in [0u8, 0x80] {
                let mut e = c;
                e[31] = (e[31] & 0x7f) | sign;
                let small = CompressedEdwardsY(e)
                    .decompress()
                    .is_some_and(|p| p.is_small_order());
                assert_eq!(small_order_r(&e), small, "{}", hex::encode(e));
                blocked += usize::from(small);
            }
        }
        assert!(blocked >= 24, "{blocked}");
    }
}
