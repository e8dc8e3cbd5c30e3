//! `cfs_store`: open and close, string values, many at once (blocking or with
//! a completion callback), scans, blobs, expiry, flush, stats and metrics.

use std::ffi::{c_char, c_void};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};

use super::buffers::str_list;
use super::castable::{
    castable, free_box, opt_ref_from_ptr, to_boxed_mut_ptr, try_box_from_ptr, try_ref_from_ptr,
};
use super::error::Fail;
use super::page::Pages;
use super::{
    array, block, bytes, cfs_bytes, cfs_config, cfs_error, cfs_result, cfs_str, cfs_str_list,
    cfs_str_pair, cfs_str_pair_list, cfs_string, text, text_pairs, texts, OptOut, Out,
};
use cyberfly_store::Config;
use cyberfly_store::{ContentHash, GetMany, Miss, Store};

/// An open store. Every call on it blocks the calling thread until done and
/// is safe from many threads at once; free it with `cfs_store_free` once no
/// other thread uses it.
pub struct cfs_store {
    pub(crate) store: Store,
    callbacks: Mutex<Option<Dispatcher>>,
}

castable!(OwnershipBox:
    cfs_store => "store",
    cfs_scan => "scan",
);

/// The library-owned thread that runs completion callbacks, one at a time,
/// outside the store's async workers (so a callback may call the blocking
/// API).
struct Dispatcher {
    tx: mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<()>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The `void *userdata` of a completion, carried to the callback thread.
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: the pointer is only handed back to the host's callback; what it
// points to is the host's business (documented on the async functions).
unsafe impl Send for UserData {}
impl UserData {
    pub(crate) fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Completion of a call that returns nothing: `result` is `CFS_RESULT_OK` or
/// the failure, with `err` its detailed error (NULL on success) that the
/// callback now owns and frees with `cfs_error_free`.
pub type cfs_done_callback =
    Option<extern "C" fn(userdata: *mut c_void, result: cfs_result, err: *mut cfs_error)>;

/// Completion of `cfs_store_get_many_async`: on success `values` (owned by
/// the callback, freed with `cfs_str_list_free`), NULL on failure; `err` as
/// for `cfs_done_callback`.
pub type cfs_str_list_callback = Option<
    extern "C" fn(
        userdata: *mut c_void,
        result: cfs_result,
        values: *mut cfs_str_list,
        err: *mut cfs_error,
    ),
>;

impl cfs_store {
    fn completion_sender(&self) -> Result<mpsc::Sender<Job>, Fail> {
        let mut g = self
            .callbacks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = g.as_ref() {
            return Ok(d.tx.clone());
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("cyberfly-callbacks".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .map_err(|e| Fail::from(cyberfly_store::Error::Io(e)))?;
        *g = Some(Dispatcher {
            tx: tx.clone(),
            thread,
        });
        Ok(tx)
    }

    /// Wait until every pending completion has been delivered.
    fn drain_callbacks(&self) {
        let d = self
            .callbacks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(Dispatcher { tx, thread }) = d {
            drop(tx);
            // Freed from inside a callback: the thread ends by itself once
            // the callback returns and the queue is empty.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Run `work` on the store's runtime and deliver its outcome with `done` on
/// the callback thread.
pub(crate) fn spawn_completion<T, F, D>(s: &cfs_store, work: F, done: D) -> Result<(), Fail>
where
    T: Send + 'static,
    F: Future<Output = cyberfly_store::Result<T>> + Send + 'static,
    D: FnOnce(Result<T, Fail>) + Send + 'static,
{
    let tx = s.completion_sender()?;
    s.store.handle().spawn(async move {
        let r = work.await.map_err(Fail::from);
        let _ = tx.send(Box::new(move || {
            // Nothing in `done` should panic; never unwind into the thread
            // (the same boundary as every extern function: swallowed).
            crate::boundary::value(|| done(r));
        }));
    });
    Ok(())
}

/// Split an outcome into (code, error object or NULL).
fn outcome<T>(r: &mut Result<T, Fail>) -> (cfs_result, *mut cfs_error) {
    match r {
        Ok(_) => (cfs_result::Ok, std::ptr::null_mut()),
        Err(f) => {
            let f = std::mem::replace(f, Fail::new(f.code, String::new()));
            (f.code, cfs_error::boxed(f))
        }
    }
}

/// Write an optional text result.
pub(crate) fn put_opt_string(out_value: Out<cfs_string>, out_found: Out<bool>, v: Option<&str>) {
    match v {
        Some(v) => {
            out_value.write(cfs_string::from_str(v));
            out_found.write(true);
        }
        None => {
            out_value.write(cfs_string {
                data: std::ptr::null_mut(),
                len: 0,
            });
            out_found.write(false);
        }
    }
}

// ------------------------------------------------------------- lifecycle

/// Open (or create) the store in the directory `path` (`path_len` bytes,
/// not NUL-terminated). `config` may be NULL for the defaults; the store
/// keeps its own copy. On success `*out` receives the handle. The store owns
/// a multi-thread runtime of `runtime_threads` workers. A directory open
/// elsewhere (this or another process) is `CFS_RESULT_ALREADY_OPEN`.
#[no_mangle]
pub extern "C" fn cfs_store_open(
    path: *const c_char,
    path_len: usize,
    config: *const cfs_config,
    out: *mut *mut cfs_store,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let out = Out::new(out, "out")?;
        let p = bytes(path.cast(), path_len, "path")?;
        if p.is_empty() {
            return Err(Fail::invalid("path is empty"));
        }
        let path = path_from_bytes(p)?;
        let config = opt_ref_from_ptr(config).map_or_else(Config::default, |c| c.config.clone());
        let store = Store::open_blocking(path, config)?;
        out.write(to_boxed_mut_ptr(cfs_store {
            store,
            callbacks: Mutex::new(None),
        }));
        Ok(())
    })
}

#[cfg(unix)]
fn path_from_bytes(p: &[u8]) -> Result<PathBuf, Fail> {
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(p)))
}

#[cfg(not(unix))]
fn path_from_bytes(p: &[u8]) -> Result<PathBuf, Fail> {
    std::str::from_utf8(p)
        .map(PathBuf::from)
        .map_err(|e| Fail::new(cfs_result::InvalidUtf8, format!("path: {e}")))
}

/// Flush and close the store, releasing its directory. The handle stays
/// valid (free it with `cfs_store_free`); every later call on it is
/// `CFS_RESULT_CLOSED`. Closing twice is OK. Calls already running on other
/// threads finish or fail with `CFS_RESULT_CLOSED`.
#[no_mangle]
pub extern "C" fn cfs_store_close(store: *mut cfs_store, err: *mut *mut cfs_error) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        block(&s.store, s.store.close())
    })
}

/// Wait for pending completion callbacks, close the store if it is open
/// (errors are dropped: call `cfs_store_close` first to see them), and free
/// the handle. NULL is accepted. No other thread may use the handle during
/// or after this call.
#[no_mangle]
pub extern "C" fn cfs_store_free(store: *mut cfs_store) {
    ffi_boundary!(value, {
        let Some(s) = try_box_from_ptr(store) else {
            return;
        };
        s.drain_callbacks();
        if !s.store.is_closed() {
            if let Err(e) = block(&s.store, s.store.close()) {
                tracing::warn!("cfs_store_free: close failed: {}", e.message);
            }
        }
        drop(s);
    });
}

// ------------------------------------------------------------ string values

/// Set `key` to the text `value`.
#[no_mangle]
pub extern "C" fn cfs_store_set(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let value = text(value, value_len, "value")?;
        // Applied on this thread when the store allows it (set_now).
        match s.store.set_now(key, value, None) {
            Some(r) => Ok(r?),
            None => block(&s.store, s.store.set(key, value)),
        }
    })
}

/// Set `key` to `value`, expiring after `seconds` (at least 1: 0 is
/// `CFS_RESULT_INVALID_ARGUMENT` and writes nothing, as Redis refuses it).
#[no_mangle]
pub extern "C" fn cfs_store_set_ex(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    seconds: u64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let value = text(value, value_len, "value")?;
        match s.store.set_now(key, value, Some(seconds)) {
            Some(r) => Ok(r?),
            None => block(&s.store, s.store.set_ex(key, value, seconds)),
        }
    })
}

/// The text value of `key`: `*out_found` is false (and `*out_value` zeroed)
/// when the key is absent or expired; otherwise free `*out_value` with
/// `cfs_string_free`. A cache hit is answered without leaving the calling
/// thread. A key holding another type is `CFS_RESULT_WRONG_TYPE`.
#[no_mangle]
pub extern "C" fn cfs_store_get(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_value: *mut cfs_string,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out_value = Out::new(out_value, "out_value")?;
        let out_found = Out::new(out_found, "out_found")?;
        // A hit (copied once, from the cache into the caller's string),
        // or a miss whose page sled holds, on this thread (no hop).
        let hit = s
            .store
            .get_cached_with(key, |v| put_opt_string(out_value, out_found, v));
        let v = match hit {
            Some(r) => return r.map_err(Fail::from),
            None => match s.store.get_miss(key) {
                Miss::Done(r) => r?,
                Miss::Pending(p) => block(&s.store, s.store.finish_get(p))?,
            },
        };
        put_opt_string(out_value, out_found, v.as_deref());
        Ok(())
    })
}

/// Remove `key` (of any type); `*out_existed` (optional) tells whether it
/// existed.
#[no_mangle]
pub extern "C" fn cfs_store_delete(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    out_existed: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let existed = match s.store.delete_now(key) {
            Some(r) => r?,
            None => block(&s.store, s.store.delete(key))?,
        };
        OptOut::new(out_existed).write(existed);
        Ok(())
    })
}

/// Whether `key` holds a value of any type.
#[no_mangle]
pub extern "C" fn cfs_store_exists(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_exists: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_exists, "out_exists")?;
        out.write(block(&s.store, s.store.exists(key))?);
        Ok(())
    })
}

fn owned_items(items: *const cfs_str_pair, count: usize) -> Result<Vec<(String, String)>, Fail> {
    let items = array(items, count, "items")?;
    Ok(text_pairs(items, "items")?
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn owned_keys(keys: *const cfs_str, count: usize) -> Result<Vec<String>, Fail> {
    let keys = array(keys, count, "keys")?;
    Ok(texts(keys, "keys")?
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// Set `count` (key, value) pairs in one atomic group: every item is
/// checked first, and one bad item fails the call with nothing written.
#[no_mangle]
pub extern "C" fn cfs_store_set_many(
    store: *mut cfs_store,
    items: *const cfs_str_pair,
    count: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let items = text_pairs(array(items, count, "items")?, "items")?;
        block(&s.store, s.store.set_many(items))
    })
}

/// `cfs_store_set_many` with a completion callback instead of blocking: the
/// items are copied, the work runs on the store's runtime, and `callback`
/// is called exactly once, with `userdata`, on a library-owned thread (one
/// completion at a time; the callback may call the blocking API but should
/// return promptly). Returns an error, and never calls `callback`, when an
/// argument is bad. `cfs_store_free` waits for pending completions.
#[no_mangle]
pub extern "C" fn cfs_store_set_many_async(
    store: *mut cfs_store,
    items: *const cfs_str_pair,
    count: usize,
    callback: cfs_done_callback,
    userdata: *mut c_void,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let cb = callback.ok_or_else(|| Fail::null("callback"))?;
        let items = owned_items(items, count)?;
        let st = s.store.clone();
        let ud = UserData(userdata);
        spawn_completion(s, async move { st.set_many(items).await }, move |mut r| {
            let (code, e) = outcome(&mut r);
            cb(ud.get(), code, e);
        })
    })
}

/// The text values of `count` keys, in order, into a new list (free with
/// `cfs_str_list_free`); an absent key is an item whose `data` is NULL. Cache
/// hits are answered at once; misses are resolved in parallel.
#[no_mangle]
pub extern "C" fn cfs_store_get_many(
    store: *const cfs_store,
    keys: *const cfs_str,
    count: usize,
    out_values: *mut *mut cfs_str_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let keys = texts(array(keys, count, "keys")?, "keys")?;
        let out = Out::new(out_values, "out_values")?;
        // Hits, then misses read on this thread while that stays fast,
        // then what is left on the reader pool.
        let v = match s.store.get_many_cached(&keys)? {
            GetMany::Done(v) => v,
            pending => match s.store.get_many_inline(pending)? {
                GetMany::Done(v) => v,
                pending => block(&s.store, s.store.get_many_misses(pending))?,
            },
        };
        out.write(str_list(v));
        Ok(())
    })
}

/// `cfs_store_get_many` with a completion callback (see
/// `cfs_store_set_many_async` for how callbacks are run).
#[no_mangle]
pub extern "C" fn cfs_store_get_many_async(
    store: *const cfs_store,
    keys: *const cfs_str,
    count: usize,
    callback: cfs_str_list_callback,
    userdata: *mut c_void,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let cb = callback.ok_or_else(|| Fail::null("callback"))?;
        let keys = owned_keys(keys, count)?;
        let st = s.store.clone();
        let ud = UserData(userdata);
        spawn_completion(s, async move { st.get_many(&keys).await }, move |mut r| {
            let (code, e) = outcome(&mut r);
            let list = match r {
                Ok(v) => str_list(v),
                Err(_) => std::ptr::null_mut(),
            };
            cb(ud.get(), code, list, e);
        })
    })
}

// ------------------------------------------------------------------ scans

/// A prefix scan over string values, in key order, fetched a page at a time
/// (`scan_page_size` entries per trip to the index). Create with
/// `cfs_scan_new`, free with `cfs_scan_free`. One scan is used by one thread
/// at a time (calls on it are serialised).
pub struct cfs_scan {
    pages: Pages<cyberfly_store::Scan>,
}

/// Start a scan of the string values whose key starts with `prefix` (may be
/// empty).
#[no_mangle]
pub extern "C" fn cfs_scan_new(
    store: *const cfs_store,
    prefix: *const c_char,
    prefix_len: usize,
    out: *mut *mut cfs_scan,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let prefix = text(prefix, prefix_len, "prefix")?;
        let out = Out::new(out, "out")?;
        s.store.check_open()?;
        out.write(to_boxed_mut_ptr(cfs_scan {
            pages: Pages::new(s.store.clone(), s.store.scan(prefix)),
        }));
        Ok(())
    })
}

/// The next (key, value): `*out_found` false at the end. The views borrow
/// from the scan and stay valid until the next call on it or its free.
#[no_mangle]
pub extern "C" fn cfs_scan_next(
    scan: *mut cfs_scan,
    out_key: *mut cfs_str,
    out_value: *mut cfs_str,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let sc = try_ref_from_ptr(scan)?;
        let out_key = Out::new(out_key, "out_key")?;
        let out_value = Out::new(out_value, "out_value")?;
        let out_found = Out::new(out_found, "out_found")?;
        sc.pages.with(|st, store| {
            match st.next(store)? {
                Some((k, v)) => {
                    out_key.write(k.view());
                    out_value.write(v.view());
                    out_found.write(true);
                }
                None => {
                    out_key.write(cfs_str::NONE);
                    out_value.write(cfs_str::NONE);
                    out_found.write(false);
                }
            }
            Ok(())
        })
    })
}

/// The next page of (key, value) pairs into a new list (free with
/// `cfs_str_pair_list_free`); `*out_page` is NULL at the end.
#[no_mangle]
pub extern "C" fn cfs_scan_next_page(
    scan: *mut cfs_scan,
    out_page: *mut *mut cfs_str_pair_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let sc = try_ref_from_ptr(scan)?;
        let out = Out::new(out_page, "out_page")?;
        let page = sc.pages.with(super::page::PageState::next_page)?;
        out.write(match page {
            Some(items) => to_boxed_mut_ptr(cfs_str_pair_list { items }),
            None => std::ptr::null_mut(),
        });
        Ok(())
    })
}

/// Free a scan. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_scan_free(scan: *mut cfs_scan) {
    ffi_boundary!(value, { free_box(scan) });
}

// ------------------------------------------------------------------ blobs

/// A BLAKE3 content hash (as iroh-blobs reports it).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct cfs_hash {
    pub bytes: [u8; 32],
}

castable!(OwnershipRef: cfs_hash => "hash");

/// Store `len` raw bytes content-addressed (kept until
/// `cfs_store_remove_blob`); `*out_hash` receives their BLAKE3 hash.
#[no_mangle]
pub extern "C" fn cfs_store_add_blob(
    store: *mut cfs_store,
    data: *const u8,
    len: usize,
    out_hash: *mut cfs_hash,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let data = bytes(data, len, "data")?;
        let out = Out::new(out_hash, "out_hash")?;
        let h = block(&s.store, s.store.add_blob(data.to_vec()))?;
        out.write(cfs_hash { bytes: h.0 });
        Ok(())
    })
}

/// The bytes of a blob: `*out_found` false (and `*out_data` zeroed) when the
/// store does not hold it; otherwise free `*out_data` with `cfs_bytes_free`.
#[no_mangle]
pub extern "C" fn cfs_store_get_blob(
    store: *const cfs_store,
    hash: *const cfs_hash,
    out_data: *mut cfs_bytes,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let h = try_ref_from_ptr(hash)?;
        let out_data = Out::new(out_data, "out_data")?;
        let out_found = Out::new(out_found, "out_found")?;
        match block(&s.store, s.store.get_blob(&ContentHash(h.bytes)))? {
            Some(b) => {
                out_data.write(cfs_bytes::from_slice(&b));
                out_found.write(true);
            }
            None => {
                out_data.write(cfs_bytes {
                    data: std::ptr::null_mut(),
                    len: 0,
                });
                out_found.write(false);
            }
        }
        Ok(())
    })
}

/// Stop keeping a blob added with `cfs_store_add_blob` (it is collected
/// unless a value refers to it); `*out_existed` (optional) tells whether it
/// was kept.
#[no_mangle]
pub extern "C" fn cfs_store_remove_blob(
    store: *mut cfs_store,
    hash: *const cfs_hash,
    out_existed: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let h = try_ref_from_ptr(hash)?;
        let r = block(&s.store, s.store.remove_blob(&ContentHash(h.bytes)))?;
        OptOut::new(out_existed).write(r);
        Ok(())
    })
}

/// Collect, now, the blobs that no key or pin refers to, and wait for it.
#[no_mangle]
pub extern "C" fn cfs_store_collect_garbage(
    store: *mut cfs_store,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        block(&s.store, s.store.collect_garbage())
    })
}

/// After an open with `cfs_config_set_recovery(config, true)` of an index
/// that was behind its durability mark, or that could not be opened at all
/// (moved aside, an empty one started: `damaged_index` is its new path,
/// otherwise null): `*out_json` is an object with
/// `recorded_mark`, `index_mark` (or null), `marks_lost` (or null),
/// `damaged_index` (or null),
/// `unreferenced_blobs` (hex hashes of blobs no key refers to any more:
/// values of lost keys among them, readable with `cfs_store_get_blob`
/// during this open) and `journal`: what was restored from the operation
/// journal, an object with `read`, `restored`, `present`, `rejected`,
/// `damaged` and `unreadable_bytes` (null when the journal is off);
/// `null` when nothing was lost. Free it with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_recovery_json(
    store: *const cfs_store,
    out_json: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_json, "out_json")?;
        let j = match block(&s.store, s.store.recovery())? {
            None => serde_json::Value::Null,
            Some(r) => serde_json::json!({
                "recorded_mark": r.recorded_mark,
                "index_mark": r.index_mark,
                "unreferenced_blobs": r.unreferenced_blobs,
                "marks_lost": r.marks_lost,
                "damaged_index": r.damaged_index,
                "journal": r.journal.map(|j| serde_json::json!({
                    "read": j.read,
                    "restored": j.restored,
                    "present": j.present,
                    "rejected": j.rejected,
                    "damaged": j.damaged,
                    "unreadable_bytes": j.unreadable_bytes,
                })),
            }),
        };
        out.write(cfs_string::from_str(&j.to_string()));
        Ok(())
    })
}

/// Verify the closed store in the directory `path` (`path_len` bytes, not
/// NUL-terminated) without changing it: index, blobs and operation log
/// against each other. `*out_json` receives the report, an object with
/// `clean` (true when no problem was found), counts (`keys`,
/// `blob_values`, `blobs`, `log_entries`, …), `recorded_mark` and
/// `index_mark`, `unreferenced_blobs` and `stray_blob_files` (not
/// problems), and `problems`: objects with `kind`, `message` and the
/// problem's fields. Damage is reported there with `CFS_RESULT_OK`; an
/// open store is `CFS_RESULT_ALREADY_OPEN`, a directory that cannot be read
/// `CFS_RESULT_IO`. Free the string with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_check(
    path: *const c_char,
    path_len: usize,
    out_json: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let out = Out::new(out_json, "out_json")?;
        let p = bytes(path.cast(), path_len, "path")?;
        if p.is_empty() {
            return Err(Fail::invalid("path is empty"));
        }
        let report = cyberfly_store::check(path_from_bytes(p)?)?;
        out.write(cfs_string::from_str(&report.to_json().to_string()));
        Ok(())
    })
}

/// Write the 64 lowercase hex digits of `hash` and a NUL into `buf` (at
/// least 65 bytes, else `CFS_RESULT_BUFFER_TOO_SMALL` and nothing written).
#[no_mangle]
pub extern "C" fn cfs_hash_to_hex(
    hash: *const cfs_hash,
    buf: *mut c_char,
    len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let h = try_ref_from_ptr(hash)?;
        if buf.is_null() {
            return Err(Fail::null("buf"));
        }
        if len < 65 {
            return Err(Fail::new(
                cfs_result::BufferTooSmall,
                format!("a hash needs 65 bytes of buffer, got {len}"),
            ));
        }
        let hex = ContentHash(h.bytes).to_hex();
        // SAFETY: `buf` has at least 65 writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(hex.as_ptr(), buf.cast::<u8>(), 64);
            buf.add(64).write(0);
        }
        Ok(())
    })
}

/// Parse 64 hex digits into `*out_hash`.
#[no_mangle]
pub extern "C" fn cfs_hash_from_hex(
    hex: *const c_char,
    hex_len: usize,
    out_hash: *mut cfs_hash,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let hex = text(hex, hex_len, "hex")?;
        let out = Out::new(out_hash, "out_hash")?;
        out.write(cfs_hash {
            bytes: ContentHash::from_hex(hex)?.0,
        });
        Ok(())
    })
}

// ------------------------------------------------- flush, stats, metrics

/// Make every write acknowledged before this call durable.
#[no_mangle]
pub extern "C" fn cfs_store_flush(store: *mut cfs_store, err: *mut *mut cfs_error) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        block(&s.store, s.store.flush())
    })
}

/// A snapshot of the store's counters as a JSON object (operation counts,
/// cache hits by tier, hit rate, cache sizes, writer batches, latency
/// percentiles, GC runs, signature verification counters, and the report of
/// the operation-log load at open or null) into `*out_json`; free with
/// `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_stats_json(
    store: *const cfs_store,
    out_json: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_json, "out_json")?;
        let st = s.store.stats();
        let vs = s.store.verifier().stats();
        let ops: serde_json::Map<String, serde_json::Value> = st
            .ops
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let j = serde_json::json!({
            "ops": ops,
            "hot_hits": st.hot_hits,
            "warm_hits": st.warm_hits,
            "misses": st.misses,
            "hit_rate": st.hit_rate,
            "hot_entries": st.hot_entries,
            "hot_bytes": st.hot_bytes,
            "warm_entries": st.warm_entries,
            "warm_bytes": st.warm_bytes,
            "writer_batches": st.writer_batches,
            "writes_acked": st.writes_acked,
            "mean_batch_size": st.mean_batch_size,
            "queue_depth": st.queue_depth,
            "write_latency_p50": st.write_latency_p50,
            "write_latency_p99": st.write_latency_p99,
            "read_miss_latency_p50": st.read_miss_latency_p50,
            "read_miss_latency_p99": st.read_miss_latency_p99,
            "gc_runs": st.gc_runs,
            "inline_reads": st.inline_reads,
            "inline_writes": st.inline_writes,
            "pool_reads": st.pool_reads,
            "longest_inline_read": st.longest_inline_read,
            "inline_guard_trips": st.inline_guard_trips,
            "verify": {
                "verified": vs.verified,
                "cache_hits": vs.cache_hits,
                "cache_misses": vs.cache_misses,
                "batches": vs.batches,
                "batch_fallbacks": vs.batch_fallbacks,
            },
            "log_load": s.store.log_report().map(|r| serde_json::json!({
                "total": r.total,
                "ok": r.ok,
                "corrupt": r.corrupt.len(),
                "invalid_signatures": r.invalid_signatures.len(),
                "elapsed_ms": r.elapsed.as_secs_f64() * 1000.0,
            })),
        });
        out.write(cfs_string::from_str(&j.to_string()));
        Ok(())
    })
}

/// A BLAKE3 digest (64 hex characters) of the store's whole logical state:
/// two stores holding the same data have the same digest, and a refused
/// operation leaves it unchanged. Free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_state_digest(
    store: *const cfs_store,
    out_digest: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_digest, "out_digest")?;
        let d = block(&s.store, s.store.state_digest())?;
        out.write(cfs_string::from_str(&d));
        Ok(())
    })
}

/// The store's metrics in the Prometheus text exposition format into
/// `*out_text`; free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_metrics_text(
    store: *const cfs_store,
    out_text: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_text, "out_text")?;
        out.write(cfs_string::from_str(&s.store.metrics_text()?));
        Ok(())
    })
}
