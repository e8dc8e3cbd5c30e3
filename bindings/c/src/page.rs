//! The one page adapter behind every scan handle (`cfs_scan` over string
//! values, `cfs_op_scan` over the operation log): a core pager fetched a
//! page at a time, a buffered page, and the item last handed out (whose
//! views C borrows until the next call). Calls on one scan are serialised.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::block;
use super::error::Fail;
use cyberfly_store::Store;

/// A core scan, as the adapter sees it: the next page of items (converted
/// for C), `None` at the end.
pub(crate) trait Pager {
    type Item;
    fn next_page(&mut self, store: &Store) -> Result<Option<Vec<Self::Item>>, Fail>;
}

impl Pager for cyberfly_store::Scan {
    type Item = (super::buffers::Owned, super::buffers::Owned);
    fn next_page(&mut self, store: &Store) -> Result<Option<Vec<Self::Item>>, Fail> {
        use super::buffers::Owned;
        Ok(
            block(store, cyberfly_store::Scan::next_page(self))?.map(|p| {
                p.into_iter()
                    .map(|(k, v)| (Owned::new(k.as_bytes()), Owned::new(v.as_bytes())))
                    .collect()
            }),
        )
    }
}

impl Pager for cyberfly_store::oplog::OpLogScan {
    type Item = cyberfly_store::oplog::SignedOperation;
    fn next_page(&mut self, store: &Store) -> Result<Option<Vec<Self::Item>>, Fail> {
        block(store, cyberfly_store::oplog::OpLogScan::next_page(self))
    }
}

/// A scan handle's state: the store (kept alive by the scan), the pager,
/// the buffered page and the current item.
pub(crate) struct Pages<P: Pager> {
    store: Store,
    state: Mutex<PageState<P>>,
}

pub(crate) struct PageState<P: Pager> {
    pager: P,
    page: VecDeque<P::Item>,
    current: Option<P::Item>,
}

impl<P: Pager> Pages<P> {
    pub(crate) fn new(store: Store, pager: P) -> Self {
        Pages {
            store,
            state: Mutex::new(PageState {
                pager,
                page: VecDeque::new(),
                current: None,
            }),
        }
    }

    /// Run `f` on the state, the scan's calls serialised.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut PageState<P>, &Store) -> Result<R, Fail>,
    ) -> Result<R, Fail> {
        let mut g: MutexGuard<'_, PageState<P>> =
            self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g, &self.store)
    }
}

impl<P: Pager> PageState<P> {
    /// Refill the buffered page (pages may come back empty before the end);
    /// false at the end.
    fn fill(&mut self, store: &Store) -> Result<bool, Fail> {
        while self.page.is_empty() {
            match self.pager.next_page(store)? {
                Some(p) => self.page.extend(p),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The next item, kept as the current one (C borrows its views until
    /// the next call); `None` at the end.
    pub(crate) fn next(&mut self, store: &Store) -> Result<Option<&P::Item>, Fail> {
        self.current = None;
        if self.fill(store)? {
            self.current = self.page.pop_front();
        }
        Ok(self.current.as_ref())
    }

    /// The next item, handed over; `None` at the end.
    pub(crate) fn take_next(&mut self, store: &Store) -> Result<Option<P::Item>, Fail> {
        self.current = None;
        Ok(if self.fill(store)? {
            self.page.pop_front()
        } else {
            None
        })
    }

    /// The rest of the current page, handed over; `None` at the end.
    pub(crate) fn next_page(&mut self, store: &Store) -> Result<Option<Vec<P::Item>>, Fail> {
        self.current = None;
        Ok(if self.fill(store)? {
            Some(self.page.drain(..).collect())
        } else {
            None
        })
    }
}
