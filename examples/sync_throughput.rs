//! Replication throughput between two stores on loopback (one process, two
//! stores, the iroh transport between them):
//!
//! ```sh
//! cargo run --release --example sync_throughput            # both workloads
//! cargo run --release --example sync_throughput -- small 100000
//! cargo run --release --example sync_throughput -- large 1000
//! ```
//!
//! Prints operations per second and the cost split into transfer (request,
//! page build on the server, blob transfer, decode), verification
//! (signatures and ownership) and apply (the store's writer), plus the
//! checkpoints (flush and watermark). Transfer of the next page overlaps the
//! apply of the current one, so the phases add up to more than the wall
//! time. Figures go into docs/PERFORMANCE.md.

use std::time::{Duration, Instant};

use cyberfly_store::Keypair;
use cyberfly_store::SignedOperation;
use cyberfly_store::{Config, Store, ValueKind};
use cyberfly_store::{ServeAccess, SyncConfig, SyncReport};

fn config() -> Config {
    Config::builder()
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .build()
        .unwrap()
}

fn small_op(kp: &Keypair, i: usize) -> SignedOperation {
    let db = format!("bench-{}", kp.public_key_hex());
    {
        {
            let mut o = match i % 4 {
                0 => SignedOperation::new(
                    &db,
                    format!("s{i}"),
                    format!("value {i}"),
                    ValueKind::String,
                ),
                1 => {
                    let mut o = SignedOperation::new(
                        &db,
                        format!("h{}", i % 100),
                        format!("v{i}"),
                        ValueKind::Hash,
                    );
                    o.field = Some(format!("f{i}"));
                    o
                }
                2 => SignedOperation::new(&db, "list", format!("item {i}"), ValueKind::List),
                _ => {
                    let mut o = SignedOperation::new(
                        &db,
                        "temps",
                        format!("{}.5", i % 40),
                        ValueKind::TimeSeries,
                    );
                    o.ts_timestamp = Some(i as i64);
                    o
                }
            };
            o.sign(kp);
            o
        }
    }
}

fn large_op(kp: &Keypair, i: usize) -> SignedOperation {
    let db = format!("bench-{}", kp.public_key_hex());
    {
        {
            // 1 MiB, distinct per op
            let mut v = format!("{i:08}:");
            v.push_str(&"abcdefghijklmnop".repeat((1 << 20) / 16));
            v.truncate(1 << 20);
            let mut o = SignedOperation::new(&db, format!("big{i}"), v, ValueKind::String);
            o.sign(kp);
            o
        }
    }
}

fn print(name: &str, n: usize, value_bytes: usize, r: &SyncReport, wall: Duration) {
    let s = |d: Duration| d.as_secs_f64();
    println!("## {name}: {n} operations of {value_bytes} bytes");
    println!(
        "synced {} ops in {:.2} s: {:.0} ops/s, {:.1} MB/s on the wire ({} pages, {} bytes)",
        r.received,
        s(wall),
        r.received as f64 / s(wall),
        r.bytes as f64 / s(wall) / 1e6,
        r.pages,
        r.bytes
    );
    println!(
        "phases: transfer {:.2} s ({:.1} µs/op), verify {:.2} s ({:.1} µs/op), apply {:.2} s ({:.1} µs/op), checkpoint {:.2} s",
        s(r.transfer),
        s(r.transfer) * 1e6 / r.received as f64,
        s(r.verify),
        s(r.verify) * 1e6 / r.received as f64,
        s(r.apply),
        s(r.apply) * 1e6 / r.received as f64,
        s(r.checkpoint)
    );
    println!(
        "outcomes: applied {}, duplicate {}, superseded {}, forged {}, rejected {}\n",
        r.applied, r.duplicate, r.superseded, r.forged, r.rejected
    );
}

async fn run(name: &str, n: usize, value_bytes: usize, op: impl Fn(usize) -> SignedOperation) {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path(), config()).await.unwrap();
    let t = Instant::now();
    let chunk = (64 << 20) / (value_bytes + 200);
    let mut i = 0;
    while i < n {
        let ops: Vec<SignedOperation> = (i..n.min(i + chunk)).map(&op).collect();
        i += ops.len();
        a.apply_many(ops).await.unwrap();
    }
    a.flush().await.unwrap();
    println!(
        "(source store written in {:.2} s)",
        t.elapsed().as_secs_f64()
    );
    let server = a
        .serve(SyncConfig {
            access: ServeAccess::Open,
            ..SyncConfig::loopback()
        })
        .await
        .unwrap();
    let b = Store::open(db.path(), config()).await.unwrap();
    let t = Instant::now();
    let r = b
        .sync_from(&server.ticket(), &SyncConfig::loopback())
        .await
        .unwrap();
    let wall = t.elapsed();
    print(name, n, value_bytes, &r, wall);
    assert_eq!(r.applied as usize, n);
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    server.shutdown().await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Why a page is one bundle and not one blob per operation: the cost of
/// adding small blobs to an iroh-blobs FsStore one by one.
async fn blob_per_op_cost(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = iroh_blobs::store::fs::FsStore::load(dir.path().join("blobs.db"))
        .await
        .unwrap();
    let t = Instant::now();
    let mut tags = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("{i:>300}");
        tags.push(
            store
                .blobs()
                .add_bytes(body.into_bytes())
                .temp_tag()
                .await
                .unwrap(),
        );
    }
    let add = t.elapsed();
    let t = Instant::now();
    for tag in &tags {
        store.blobs().get_bytes(tag.hash()).await.unwrap();
    }
    let get = t.elapsed();
    println!(
        "## one blob per operation: {n} blobs of 300 bytes: add {:.1} µs each ({:.0}/s), read {:.1} µs each\n",
        add.as_secs_f64() * 1e6 / n as f64,
        n as f64 / add.as_secs_f64(),
        get.as_secs_f64() * 1e6 / n as f64
    );
    drop(tags);
    store.shutdown().await.unwrap();
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let count = |d: usize| args.get(1).and_then(|s| s.parse().ok()).unwrap_or(d);
    let kp = Keypair::generate();
    if which == "all" || which == "small" {
        let n = count(100_000);
        run("small values", n, 16, |i| small_op(&kp, i)).await;
    }
    if which == "all" || which == "blobs" {
        blob_per_op_cost(count(20_000)).await;
    }
    if which == "all" || which == "large" {
        let n = count(1000);
        run("1 MiB values", n, 1 << 20, |i| large_op(&kp, i)).await;
    }
}
