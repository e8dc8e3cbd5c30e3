//! A cold `cfs_store_get` (the C ABI, called from a plain thread: every key
//! a cache miss, read inline) against a raw sled `get` of the same keys, in
//! one process, interleaved round by round; both reopened before each round
//! so that neither sled nor the store has anything cached: the store with
//! `warm_restart` off, or its reopen would bring the hot tier back from the
//! snapshot of the last close (compare.py's `cold_get_after_reopen` row
//! measures that path). Issue 16's target: the C call within 2x of raw
//! sled.
//!
//! ```sh
//! cargo run --release -p cyberfly_store_capi --example cold_get_c -- 100000 5
//! ```

use std::time::Instant;

use cyberfly_store::{Config, Store};
use cyberfly_store_capi::*;

fn main() -> cyberfly_store::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let cf_path = dir.path().join("cf");
    let raw_path = dir.path().join("raw");
    let cfg = Config::default();
    let keys: Vec<String> = (0..n).map(|i| format!("bench:{i:08}")).collect();
    let value = "v".repeat(100);
    {
        let s = Store::open_blocking(&cf_path, cfg.clone())?;
        for c in keys.chunks(1000) {
            s.block_on(s.set_many(c.iter().map(|k| (k.clone(), value.clone()))))?;
        }
        s.close_blocking()?;
        let raw = raw_sled(&raw_path, &cfg)?;
        for c in keys.chunks(1000) {
            let mut b = sled::Batch::default();
            for k in c {
                b.insert(k.as_bytes(), value.as_bytes());
            }
            raw.apply_batch(b).map_err(cyberfly_store::Error::from)?;
        }
        raw.flush().map_err(cyberfly_store::Error::from)?;
    }
    // One shuffled order for both (splitmix64 over the positions).
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = 16u64;
    for i in (1..n).rev() {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        order.swap(i, ((z ^ (z >> 31)) % (i as u64 + 1)) as usize);
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // The C ABI, cold.
        let mut cfgp = std::ptr::null_mut();
        assert_eq!(cfs_config_new(&mut cfgp), cfs_result::Ok);
        assert_eq!(cfs_config_set_warm_restart(cfgp, false), cfs_result::Ok);
        let p = cf_path.to_str().unwrap();
        let mut st = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        assert_eq!(
            cfs_store_open(p.as_ptr().cast(), p.len(), cfgp, &mut st, &mut err),
            cfs_result::Ok
        );
        cfs_config_free(cfgp);
        let t0 = Instant::now();
        for &i in &order {
            let k = &keys[i];
            let mut out = cfs_string {
                data: std::ptr::null_mut(),
                len: 0,
            };
            let mut found = false;
            let r = cfs_store_get(
                st,
                k.as_ptr().cast(),
                k.len(),
                &mut out,
                &mut found,
                &mut err,
            );
            assert!(r == cfs_result::Ok && found && out.len == 100);
            cfs_string_free(&mut out);
        }
        ours.push(n as f64 / t0.elapsed().as_secs_f64());
        cfs_store_free(st);
        // Raw sled, cold.
        let raw = raw_sled(&raw_path, &cfg)?;
        let t0 = Instant::now();
        for &i in &order {
            let v = raw
                .get(keys[i].as_bytes())
                .map_err(cyberfly_store::Error::from)?;
            assert_eq!(v.map(|v| v.len()), Some(100));
        }
        theirs.push(n as f64 / t0.elapsed().as_secs_f64());
        drop(raw);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (a, b) = (med(&mut ours), med(&mut theirs));
    println!("cold cfs_store_get {a:>12.0}/s  rounds {ours:.0?}");
    println!("cold raw sled get  {b:>12.0}/s  rounds {theirs:.0?}");
    println!(
        "ratio C / raw sled {:.2}x (target: within 2x, i.e. >= 0.5x)",
        a / b
    );
    Ok(())
}

fn raw_sled(path: &std::path::Path, cfg: &Config) -> cyberfly_store::Result<sled::Tree> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cfg.sled_cache_capacity)
        .flush_every_ms(Some(cfg.flush_every_ms))
        .open()
        .map_err(cyberfly_store::Error::from)?;
    db.open_tree("data").map_err(cyberfly_store::Error::from)
}
