//! The one page adapter behind every scan handle (`cfs_scan` over string
//! values, `cfs_op_scan` over the operation log; the core's container
//! sub-scans plug in the same way): a core pager fetched a
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

impl Pager for cyberfly_store::OpLogScan {
    type Item = cyberfly_store::SignedOperation;
    fn next_page(&mut self, store: &Store) -> Result<Option<Vec<Self::Item>>, Fail> {
        block(store, cyberfly_store::OpLogScan::next_page(self))
    }
}

/// The paged scan of one container's sub-entries (`filter_hash`,
/// `filter_list`, `filter_set`); no C call exposes one yet.
impl<T: Send + 'static> Pager for cyberfly_store::SubScan<T> {
    type Item = T;
    fn next_page(&mut self, store: &Store) -> Result<Option<Vec<T>>, Fail> {
        block(store, cyberfly_store::SubScan::next_page(self))
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
        let mut g: MutexGuard<'_, PageState<P>> = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> Store {
        let config = cyberfly_store::Config {
            scan_page_size: 2,
            ..Default::default()
        };
        Store::open_blocking(dir, config).unwrap()
    }

    #[test]
    fn pages_of_every_kind_of_scan() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        for i in 0..5 {
            s.block_on(s.set(&format!("k{i}"), format!("v{i}")))
                .unwrap();
        }
        s.block_on(s.sadd("set", ["a", "b", "c", "d", "e"]))
            .unwrap();

        // Item by item, across pages of 2.
        let keys = Pages::new(s.clone(), s.scan("k"));
        let mut seen = Vec::new();
        while let Some((k, v)) = keys
            .with(|st, store| Ok(st.next(store)?.map(|(k, v)| (k.view().len, v.view().len))))
            .unwrap()
        {
            seen.push((k, v));
        }
        assert_eq!(seen, vec![(2, 2); 5]);

        // Page by page.
        let keys = Pages::new(s.clone(), s.scan("k"));
        let mut n = 0;
        while let Some(p) = keys.with(super::PageState::next_page).unwrap() {
            assert!(!p.is_empty() && p.len() <= 2);
            n += p.len();
        }
        assert_eq!(n, 5);

        // A container sub-scan, handed over item by item.
        let members = Pages::new(s.clone(), s.filter_set("set", ""));
        let mut all = Vec::new();
        while let Some(m) = members.with(super::PageState::take_next).unwrap() {
            all.push(m);
        }
        assert_eq!(all, ["a", "b", "c", "d", "e"]);
        s.block_on(s.close()).unwrap();
    }
}
