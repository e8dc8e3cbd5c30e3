//! Open an existing store and report how long loading its operation log
//! took, in wall time and in CPU time of the process (CPU time is what the
//! work costs; on a shared machine wall time also counts waiting for a
//! core). Linux only (reads /proc/self/stat).
//!
//! ```sh
//! cargo run --release --example open_log -- PATH [trust|verify|skip] [runs]
//! ```
//!
//! A store with a log to open is what `benches/types.rs` leaves behind with
//! `CYBERFLY_BENCH_LOG_DIR` set.

use std::time::Instant;

use cyberfly_store::{Config, LogCheck, Store};

/// user + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // fields after the command name, which is in parentheses
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: open_log PATH [trust|verify|skip] [runs]");
    let check = LogCheck::parse(&args.next().unwrap_or_else(|| "trust".into())).unwrap();
    let runs: usize = args.next().map(|r| r.parse().unwrap()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..runs {
        let c = Config::builder().log_check(check).build().unwrap();
        let (t, c0) = (Instant::now(), cpu_seconds());
        let s = rt.block_on(Store::open(&path, c)).unwrap();
        let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let r = s.log_report().unwrap();
        println!(
            "{check:?}: wall {wall:.2} s, cpu {cpu:.2} s, ok {} of {}, corrupt {}, invalid {}",
            r.ok,
            r.total,
            r.corrupt.len(),
            r.invalid_signatures.len()
        );
        walls.push(wall);
        cpus.push(cpu);
        rt.block_on(s.close()).unwrap();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median of {runs}: wall {:.2} s, cpu {:.2} s",
        median(&mut walls),
        median(&mut cpus)
    );
}
