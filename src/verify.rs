//! ed25519 keys, signatures and verification.
//!
//! One acceptance rule, everywhere (docs/ARCHITECTURE.md, "The signature
//! rule"): **ZIP-215**, with public keys of small order refused. A
//! signature `(R, s)` of message `M` under public key `A` is valid iff
//!
//! - `A` (32 bytes) decodes to a curve point that is not of small order
//!   (non-canonical encodings of the point are accepted, as ZIP-215 says);
//! - `R` (the first 32 bytes of the signature) decodes to a curve point
//!   (any order, non-canonical encodings accepted);
//! - `s` (the last 32 bytes) is canonical: `s < l`;
//! - `[8](s·B − k·A − R) = 0`, with `k = SHA-512(R ‖ A ‖ M) mod l` over the
//!   bytes as given.
//!
//! The verdict is a function of (public key, message, signature) alone. The
//! single check and the batch equation are the same cofactored equation, so
//! they agree on every input by construction: a leftover torsion term, which
//! the old cofactorless batch cancelled with probability about 1/ord(T),
//! is cancelled by the factor 8 in both. The batch can only err by accepting
//! a set of invalid signatures whose prime-order parts cancel under random
//! 128-bit coefficients (probability 2^-128); a failing batch falls back to
//! single checks. Every signature that ed25519-dalek's cofactorless `verify`
//! (what the Cyberfly node uses) or libsodium accepts is accepted here, but
//! for those under a small-order public key (which anyone can "sign" for).
//!
//! - Public keys and signatures travel as lowercase hex, as the node does.
//! - A verdict cache keyed by BLAKE3(public key ‖ len ‖ message ‖ signature)
//!   — all three — holds both verdicts. Keying without the public key would
//!   accept a valid (message, signature) under another key. The cache is a
//!   set-associative table ([`VerdictCache`]): the keys are BLAKE3 outputs,
//!   already uniform, so their own bytes pick the shard and bucket (no
//!   second hash) and a hit allocates nothing.
//! - `verify_many` verifies uncached items in parallel chunks on a rayon pool
//!   with batch verification; a failing chunk falls back to single checks to
//!   name the bad items. A malformed item (wrong length, not a point) is
//!   invalid on its own and changes no other verdict. Tokio workers never run
//!   this CPU work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha512};

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

/// A public key as the rule sees it: the 32 bytes as given (hashed into
/// `k`) and the point they decode to.
#[derive(Clone, Copy)]
struct PublicKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

/// A parsed public key, or `None` if it is not 32 bytes, not a point, or a
/// point of small order.
fn parse_key(pk: &[u8]) -> Option<PublicKey> {
    let bytes: [u8; 32] = pk.try_into().ok()?;
    let point = CompressedEdwardsY(bytes).decompress()?;
    (!point.is_small_order()).then_some(PublicKey { bytes, point })
}

/// A parsed signature: `R` as given and decoded, and `s`.
#[derive(Clone, Copy)]
struct Sig {
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
}

/// A parsed signature, or `None` if it is not 64 bytes, its `R` is not a
/// point, or its `s` is not canonical.
fn parse_sig(sig: &[u8]) -> Option<Sig> {
    let sig: &[u8; 64] = sig.try_into().ok()?;
    let r_bytes: [u8; 32] = sig[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    Some(Sig { r_bytes, r, s })
}

/// `k = SHA-512(R ‖ A ‖ M) mod l`.
fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(msg);
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&h.finalize());
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The cofactored equation for one parsed item: `[8](s·B − k·A − R) = 0`.
fn verify_parsed(key: &PublicKey, msg: &[u8], sig: &Sig) -> bool {
    let k = challenge(&sig.r_bytes, &key.bytes, msg);
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key.point, &sig.s);
    (sb_minus_ka - sig.r).mul_by_cofactor().is_identity()
}

/// Batch verification of `(message, signature, key index)` items with the
/// public-key terms merged per distinct key: the cofactored batch equation
/// of ZIP-215 (random 128-bit `z_i` from the OS)
///
/// `[8]((-Σ z_i s_i) B + Σ z_i R_i + Σ_i (z_i k_i) A_i) = 0`,
///
/// with `Σ_i (z_i k_i) A_i` computed as `Σ_A (Σ_{i: A_i = A} z_i k_i) A`:
/// one point per distinct key instead of one per signature (a database's
/// operations are signed by few keys). The factor 8 removes every torsion
/// component whatever the `z_i`, so the batch accepts exactly when every
/// item passes [`verify_parsed`] (up to a 2^-128 chance of accepting
/// invalid items whose prime-order parts cancel). Returns whether every
/// signature is valid.
fn verify_batch_by_key(batch: &[(&[u8], &Sig, u32)], keys: &[PublicKey]) -> bool {
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
        let k = challenge(&sig.r_bytes, &keys[*ki as usize].bytes, msg);
        let z = Scalar::from(u128::from_le_bytes(
            random[16 * j..16 * (j + 1)].try_into().expect("16 bytes"),
        ));
        b_coeff += z * sig.s;
        a_coeffs[*ki as usize] += z * k;
        z_r.push(z);
        points.push(sig.r);
    }
    let sum = EdwardsPoint::vartime_multiscalar_mul(
        std::iter::once(-b_coeff).chain(z_r).chain(a_coeffs),
        std::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
            .chain(points)
            .chain(keys.iter().map(|k| k.point)),
    );
    sum.mul_by_cofactor().is_identity()
}

/// Verify one signature under the store's rule (module comment), without
/// the cache. Malformed input (wrong lengths, not a point) is invalid.
pub fn verify_uncached(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match (parse_key(public_key), parse_sig(signature)) {
        (Some(key), Some(sig)) => verify_parsed(&key, message, &sig),
        _ => false,
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
        let mut keys: Vec<PublicKey> = Vec::new();
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
        let batch: Vec<(&[u8], &Sig, u32)> = good
            .iter()
            .map(|(i, _, ki, sig)| (items[*i].1.as_slice(), sig, *ki))
            .collect();
        let all_ok = verify_batch_by_key(&batch, &keys);
        if !all_ok {
            // Name the bad ones.
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        for (i, k, ki, sig) in &good {
            let ok = all_ok || verify_parsed(&keys[*ki as usize], &items[*i].1, sig);
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
    fn weak_keys_are_rejected() {
        // The identity point (small order) as a public key, with a signature
        // made of the identity as R and s = 0: this satisfies the verification
        // equation for every message; the rule refuses small-order keys.
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

    /// The batch equation with one term per distinct key agrees with the
    /// single check: all valid (many keys per chunk, one key, keys repeated
    /// out of order) passes; a tampered message or a signature under another
    /// key fails the whole batch. A non-canonical `s` (`s + l`) and an `R`
    /// that is not a point are refused before any batch.
    #[test]
    fn batch_by_key_matches_single_checks() {
        let kps: Vec<Keypair> = (0..40).map(|_| Keypair::generate()).collect();
        let keys: Vec<PublicKey> = kps
            .iter()
            .map(|k| parse_key(&k.public_key()).unwrap())
            .collect();
        let mk = |n: usize, nkeys: usize| -> Vec<(Vec<u8>, Sig, u32)> {
            (0..n)
                .map(|i| {
                    let ki = (i * 7) % nkeys;
                    let m = format!("m{i}").into_bytes();
                    let sig = parse_sig(&kps[ki].sign(&m)).unwrap();
                    (m, sig, ki as u32)
                })
                .collect()
        };
        let check = |items: &[(Vec<u8>, Sig, u32)]| {
            let batch: Vec<(&[u8], &Sig, u32)> = items
                .iter()
                .map(|(m, s, k)| (m.as_slice(), s, *k))
                .collect();
            let single = items
                .iter()
                .all(|(m, s, k)| verify_parsed(&keys[*k as usize], m, s));
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
        let kp = &kps[0];
        let mut raw = kp.sign(b"m");
        assert!(verify_uncached(&kp.public_key(), b"m", &raw));
        let l: [u8; 32] = (-Scalar::ONE).to_bytes(); // l - 1
        let mut carry = 1u16;
        for j in 0..32 {
            let t = u16::from(raw[32 + j]) + u16::from(l[j]) + carry;
            raw[32 + j] = t as u8;
            carry = t >> 8;
        }
        assert_eq!(carry, 0, "s + l fits in 256 bits");
        assert!(parse_sig(&raw).is_none());
        assert!(!verify_uncached(&kp.public_key(), b"m", &raw));

        // an R that does not decompress (y = 2 is not on the curve)
        let mut raw = kp.sign(b"m");
        raw[..32].copy_from_slice(&{
            let mut y = [0u8; 32];
            y[0] = 2;
            y
        });
        assert!(CompressedEdwardsY(raw[..32].try_into().unwrap())
            .decompress()
            .is_none());
        assert!(parse_sig(&raw).is_none());
        assert!(!verify_uncached(&kp.public_key(), b"m", &raw));
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
}
