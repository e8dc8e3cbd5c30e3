//! Instruction counts of a verdict-cache hit, for callgrind (wall time on a
//! shared machine is too noisy for a ~1 µs operation):
//!
//! ```sh
//! cargo build --release --example verdict_hits
//! valgrind --tool=callgrind --toggle-collect='verdict_hits::hits_*' \
//!     target/release/examples/verdict_hits
//! ```
//!
//! Divide the instructions of `hits_table` / `hits_moka` by the hits they
//! make (printed). Without valgrind it prints wall-clock rates too.

use std::hint::black_box;
use std::time::Instant;

use cyberfly_store::{Keypair, Verifier, VerifyItem};

const ITEMS: usize = 2_000;
const ROUNDS: usize = 5;

fn key(pk: &[u8], m: &[u8], s: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&(pk.len() as u64).to_le_bytes());
    h.update(pk);
    h.update(&(m.len() as u64).to_le_bytes());
    h.update(m);
    h.update(s);
    *h.finalize().as_bytes()
}

/// The verifier's hit path: `Verifier::verify` on cached items.
#[inline(never)]
fn hits_table(v: &Verifier, items: &[VerifyItem]) -> usize {
    let mut n = 0;
    for _ in 0..ROUNDS {
        n += items
            .iter()
            .filter(|(pk, m, s)| v.verify(black_box(pk), m, s))
            .count();
    }
    n
}

/// The same with a moka cache (the verifier's store before the table).
#[inline(never)]
fn hits_moka(c: &moka::sync::Cache<[u8; 32], bool>, items: &[VerifyItem]) -> usize {
    let mut n = 0;
    for _ in 0..ROUNDS {
        n += items
            .iter()
            .filter(|(pk, m, s)| c.get(&key(black_box(pk), m, s)).unwrap_or(false))
            .count();
    }
    n
}

/// BLAKE3 of the key alone, to split the hit's cost.
#[inline(never)]
fn hits_hash_only(items: &[VerifyItem]) -> usize {
    let mut n = 0;
    for _ in 0..ROUNDS {
        n += items
            .iter()
            .filter(|(pk, m, s)| key(black_box(pk), m, s)[0] & 1 == 0)
            .count();
    }
    n
}

fn main() {
    // messages of the size of a signed operation's canonical message
    let kps: Vec<Keypair> = (0..16).map(|_| Keypair::generate()).collect();
    let items: Vec<VerifyItem> = (0..ITEMS)
        .map(|i| {
            let kp = &kps[i % kps.len()];
            let m = format!("{:0>180}", format!("message number {i}")).into_bytes();
            (kp.public_key().to_vec(), m.clone(), kp.sign(&m).to_vec())
        })
        .collect();
    let v = Verifier::new(1 << 20);
    assert!(v.verify_many(&items).iter().all(|x| *x));
    let moka = moka::sync::Cache::new(1 << 20);
    for (pk, m, s) in &items {
        moka.insert(key(pk, m, s), true);
    }
    let hits = ITEMS * ROUNDS;
    let t = Instant::now();
    assert_eq!(hits_table(&v, &items), hits);
    let table = t.elapsed();
    let t = Instant::now();
    assert_eq!(hits_moka(&moka, &items), hits);
    let moka_t = t.elapsed();
    let t = Instant::now();
    black_box(hits_hash_only(&items));
    let hash_t = t.elapsed();
    let rate = |d: std::time::Duration| hits as f64 / d.as_secs_f64();
    println!(
        "{hits} hits per function (message {} bytes)",
        items[0].1.len()
    );
    println!(
        "table: {:.0}/s, moka: {:.0}/s, BLAKE3 alone: {:.0}/s",
        rate(table),
        rate(moka_t),
        rate(hash_t)
    );
}
