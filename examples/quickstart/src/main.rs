//! The main example: open a store, write and read strings and blobs, look at
//! the metrics. Run with `scripts/example` (or `cargo run --release -p cyberfly_store_quickstart -- DIR`;
//! a crate of its own, so that no dev-dependency of the core is built).

use cyberfly_store::{Config, Durability, Store};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> cyberfly_store::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cyberfly-quickstart"));
    let config = Config::builder()
        .durability(Durability::Batch)
        .inline_threshold(4096)
        .build()?;
    let store = Store::open(&dir, config).await?;
    println!("opened {}", store.path().display());

    // Strings: keys are "{db_name}:{key}" as in a Cyberfly node.
    store.set("sensors:greeting", "hello, cyberfly").await?;
    println!("get   -> {:?}", store.get("sensors:greeting").await?);

    // Many at once: one atomic group through the writer.
    store
        .set_many((0..1000).map(|i| {
            (
                format!("sensors:temp:{i:04}"),
                format!("{}", 20.0 + f64::from(i) / 100.0),
            )
        }))
        .await?;
    let some = store
        .get_many(&["sensors:temp:0001", "sensors:temp:0999", "sensors:absent"])
        .await?;
    println!("get_many -> {some:?}");

    // A prefix scan streams pages of the index.
    let mut scan = store.scan("sensors:temp:");
    let mut n = 0;
    while let Some(page) = scan.next_page().await? {
        n += page.len();
    }
    println!("scan  -> {n} keys under sensors:temp:");

    // Large values and raw blobs are content-addressed (BLAKE3) in iroh-blobs.
    let doc = "x".repeat(100_000);
    store.set("sensors:big", doc.clone()).await?;
    let hash = store.add_blob(b"raw firmware image".to_vec()).await?;
    println!("blob  -> {hash}");
    assert_eq!(
        store.get_blob(&hash).await?.as_deref(),
        Some(&b"raw firmware image"[..])
    );

    store.flush().await?;
    let st = store.stats();
    println!(
        "stats -> {} writes acked in {} batches, cache hit rate {:.2}",
        st.writes_acked, st.writer_batches, st.hit_rate
    );
    let text = store.metrics_text()?;
    println!(
        "metrics: {} lines of Prometheus text, e.g. {}",
        text.lines().count(),
        text.lines()
            .find(|l| l.starts_with("cyberfly_ops_total"))
            .unwrap_or("")
    );
    store.close().await?;
    println!("closed");
    Ok(())
}
