//! The tokio runtime the integration tests drive a store on (included with
//! `#[path]`): two workers, as on the machines the suite runs on.

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
