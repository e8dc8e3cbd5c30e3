//! The wall clock, in milliseconds since the Unix epoch: what expiry,
//! operation timestamps and freshness checks read. A module of its own so
//! that the writer, the types and the op log take it without importing the
//! store.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
