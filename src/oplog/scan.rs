//! Scanning the log: [`OpLogScan`], `ops_since`, `log_len`.

use super::*;

/// Applied operations with `timestamp >= since_ms`, in (timestamp, op_id)
/// order, a page at a time (for sync and replay).
pub(crate) fn ops_since(e: &Engine, since_ms: u64) -> OpLogScan {
    OpLogScan {
        store: e.clone(),
        since: since_ms,
        after: None,
        done: false,
    }
}
/// Number of operations in the log.
pub(crate) async fn log_len(e: &Engine) -> Result<u64> {
    e.read(|ix| {
        Ok(ix
            .get_raw(LOG_COUNT_KEY)?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    })
    .await
}

/// A paged scan of the operation log.
pub struct OpLogScan {
    store: Engine,
    since: u64,
    after: Option<Vec<u8>>,
    done: bool,
}

impl OpLogScan {
    /// The next page of operations; `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SignedOperation>>> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.config().scan_page_size.max(64);
        let after = self.after.clone().unwrap_or_else(|| {
            let mut k = vec![NS_LOG];
            k.extend_from_slice(&self.since.to_be_bytes());
            k
        });
        let first = self.after.is_none();
        let (rows, last) = self
            .store
            .read(move |ix| {
                use std::ops::Bound;
                let lower = if first {
                    Bound::Included(after)
                } else {
                    Bound::Excluded(after)
                };
                let mut rows = Vec::new();
                let mut last = None;
                for item in ix.tree.range::<Vec<u8>, _>((lower, Bound::Unbounded)) {
                    let (k, v) = item?;
                    if k.first() != Some(&NS_LOG) {
                        break;
                    }
                    last = Some(k.to_vec());
                    match serde_json::from_slice::<SignedOperation>(&v) {
                        Ok(op) => rows.push(op),
                        Err(e) => tracing::warn!("skipping corrupt log entry: {e}"),
                    }
                    if rows.len() >= page {
                        break;
                    }
                }
                Ok((rows, last))
            })
            .await?;
        match last {
            None => {
                self.done = true;
                Ok(None)
            }
            Some(l) => {
                self.after = Some(l);
                if rows.len() < page {
                    self.done = true;
                }
                if rows.is_empty() {
                    return Ok(None);
                }
                Ok(Some(rows))
            }
        }
    }

    pub async fn collect_all(mut self) -> Result<Vec<SignedOperation>> {
        let mut all = Vec::new();
        while let Some(p) = self.next_page().await? {
            all.extend(p);
        }
        Ok(all)
    }
}
