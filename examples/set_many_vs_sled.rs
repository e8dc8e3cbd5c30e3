//! Interleaved A/B of `set_many` against raw sled batches on the same data,
//! in one process: round by round, 1 000 fresh keys with 100-byte values go
//! to the store, then 1 000 to a plain sled tree with the store's sled
//! settings. Interleaving keeps a loaded machine's noise out of the ratio.
//!
//! `cargo run --release --example set_many_vs_sled [rounds]`

use std::time::{Duration, Instant};

use cyberfly_store::{Config, Durability, Store};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> cyberfly_store::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir()?;
    let cfg = Config::builder().durability(Durability::Batch).build()?;
    let store = Store::open(dir.path().join("store"), cfg.clone()).await?;
    let raw = sled::Config::new()
        .path(dir.path().join("raw"))
        .cache_capacity(cfg.sled_cache_capacity)
        .flush_every_ms(Some(cfg.flush_every_ms))
        .open()
        .map_err(cyberfly_store::Error::from)?;
    let tree = raw.open_tree("data").map_err(cyberfly_store::Error::from)?;
    let value = "v".repeat(100);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let items: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("bench:{r:05}:{i:04}"), value.clone()))
            .collect();
        let t = Instant::now();
        store.set_many(items.clone()).await?;
        ours.push(t.elapsed());
        // The raw side runs right here, on the async worker, with no thread
        // hop at all: the strictest baseline.
        let t = Instant::now();
        let mut b = sled::Batch::default();
        for (k, v) in &items {
            // the same bytes the store writes: namespace + key, entry
            let mut key = vec![b'k'];
            key.extend_from_slice(k.as_bytes());
            let mut e = vec![0u8; 43];
            e.extend_from_slice(v.as_bytes());
            b.insert(key, e);
        }
        tree.apply_batch(b).map_err(cyberfly_store::Error::from)?;
        theirs.push(t.elapsed());
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "set_many_1000: {:?} ({:.0}/s); raw sled batch_1000: {:?} ({:.0}/s); ratio {:.2}",
        o,
        1000.0 / o.as_secs_f64(),
        t,
        1000.0 / t.as_secs_f64(),
        t.as_secs_f64() / o.as_secs_f64()
    );
    store.close().await?;
    Ok(())
}
