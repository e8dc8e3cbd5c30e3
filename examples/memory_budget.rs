//! Bounded memory: write 1 000 000 keys of 1 KiB and read them all back
//! through a 64 MiB cache (hot 16 + warm 48), with a 64 MiB sled cache. Peak
//! RSS must stay under the cache budgets + the sled cache + 128 MiB.
//!
//! `cargo run --release --example memory_budget [--features mimalloc] --
//! [keys] [trim_ms]` (with the feature: the allocator of the Python wheel,
//! docs/ARCHITECTURE.md "Memory"; without: the system's malloc) — exits
//! non-zero if the budget is exceeded (peak RSS over the whole run, close
//! included). `trim_ms` sets `memory_trim_interval` (default: the config's
//! default; 0 turns trimming off, to see what it saves). Figures are
//! recorded in docs/RELIABILITY.md.

use std::time::Instant;

/// With the feature `mimalloc`, the global allocator of the Python wheel
/// (bindings/python sets the same one).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cyberfly_store::{Config, Durability, Store};

fn status_field(name: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
}

fn vm_hwm_bytes() -> u64 {
    status_field("VmHWM:") * 1024
}

/// Threads of the process now (each that allocates may get a glibc arena).
fn threads() -> u64 {
    status_field("Threads:")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> cyberfly_store::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    const MIB: u64 = 1024 * 1024;
    let (hot, warm, sled) = (16 * MIB, 48 * MIB, 64 * MIB);
    let mut builder = Config::builder();
    if let Some(ms) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        builder = builder.memory_trim_interval(std::time::Duration::from_millis(ms));
    }
    let config = builder
        .hot_cache_bytes(hot)
        .warm_cache_bytes(warm)
        .sled_cache_capacity(sled)
        .durability(Durability::Batch)
        .build()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), config).await?;
    let value: String = "v".repeat(1024);
    let t = Instant::now();
    for start in (0..n).step_by(1000) {
        store
            .set_many(
                (start..(start + 1000).min(n)).map(|i| (format!("key:{i:08}"), value.clone())),
            )
            .await?;
    }
    store.flush().await?;
    let wrote = t.elapsed();
    let after_write = vm_hwm_bytes();
    let t = Instant::now();
    let mut found = 0usize;
    let mut max_threads = threads();
    for start in (0..n).step_by(1000) {
        let keys: Vec<String> = (start..(start + 1000).min(n))
            .map(|i| format!("key:{i:08}"))
            .collect();
        found += store
            .get_many(&keys)
            .await?
            .iter()
            .filter(|v| v.is_some())
            .count();
        max_threads = max_threads.max(threads());
    }
    // and a second pass of single gets over a hot subset (cache hits)
    for i in 0..100_000.min(n) {
        let _ = store.get(&format!("key:{i:08}")).await?;
        if i % 1000 == 0 {
            max_threads = max_threads.max(threads());
        }
    }
    let read = t.elapsed();
    let after_read = vm_hwm_bytes();
    let t_trim = Instant::now();
    cyberfly_store::internals::trim();
    let trim_took = t_trim.elapsed();
    let budget = hot + warm + sled + 128 * MIB;
    let st = store.stats();
    store.close().await?;
    let peak = vm_hwm_bytes();
    println!("keys {n}, found {found}");
    println!(
        "write {wrote:?} ({:.0}/s), read {read:?}",
        n as f64 / wrote.as_secs_f64()
    );
    println!(
        "cache: hot {} MiB, warm {} MiB (configured {} + {} MiB)",
        st.hot_bytes / MIB,
        st.warm_bytes / MIB,
        hot / MIB,
        warm / MIB
    );
    println!(
        "peak RSS after writes {} MiB, after reads {} MiB, overall (close included) {} MiB, budget {} MiB",
        after_write / MIB,
        after_read / MIB,
        peak / MIB,
        budget / MIB
    );
    println!("one malloc_trim at the peak took {trim_took:?}");
    println!("threads during the reads: at most {max_threads}");
    // Remove the GB-sized store before a failing exit (process::exit skips
    // the tempdir's drop).
    drop(dir);
    if found != n {
        eprintln!("FAIL: {} keys missing", n - found);
        std::process::exit(1);
    }
    if peak > budget {
        eprintln!("FAIL: peak RSS over budget");
        std::process::exit(1);
    }
    println!("OK: within budget");
    Ok(())
}
