//! Replication (`src/sync/`) for C: serve a store, pull from a peer once
//! or continuously.

use std::ffi::{c_char, c_void};
use std::sync::Mutex;

use super::castable::{castable, to_boxed_mut_ptr, try_box_from_ptr, try_ref_from_ptr};
use super::error::{cfs_error, cfs_result, Fail};
use super::store::{cfs_store, UserData};
use super::{block, cfs_string, opt_text, text, OptOut, Out};
use cyberfly_store::Store;
use cyberfly_store::{ProgressFn, SyncConfig, SyncHandle, SyncReport, SyncServer};

/// What a sync did (totals so far for a continuous sync). Durations in
/// microseconds; `transfer`, `verify` and `apply` overlap, so they add up
/// to more than `elapsed_us`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cfs_sync_report {
    /// Operations received.
    pub received: u64,
    pub applied: u64,
    /// Already held (same op_id): not applied again.
    pub duplicate: u64,
    /// Older than what the key holds: recorded, no change.
    pub superseded: u64,
    /// Failed the shape, ownership or signature check: dropped.
    pub forged: u64,
    /// Refused by the store for another reason.
    pub rejected: u64,
    pub pages: u64,
    /// Bytes the blob transfer read.
    pub bytes: u64,
    /// The peer's arrival number pulled up to.
    pub watermark: u64,
    /// The peer's last arrival number when last asked.
    pub peer_head: u64,
    pub transfer_us: u64,
    pub verify_us: u64,
    pub apply_us: u64,
    pub checkpoint_us: u64,
    pub elapsed_us: u64,
}

impl From<&SyncReport> for cfs_sync_report {
    fn from(r: &SyncReport) -> Self {
        let us = |d: std::time::Duration| d.as_micros().min(u128::from(u64::MAX)) as u64;
        cfs_sync_report {
            received: r.received,
            applied: r.applied,
            duplicate: r.duplicate,
            superseded: r.superseded,
            forged: r.forged,
            rejected: r.rejected,
            pages: r.pages,
            bytes: r.bytes,
            watermark: r.watermark,
            peer_head: r.peer_head,
            transfer_us: us(r.transfer),
            verify_us: us(r.verify),
            apply_us: us(r.apply),
            checkpoint_us: us(r.checkpoint),
            elapsed_us: us(r.elapsed),
        }
    }
}

/// Called after every page of `cfs_store_sync_from` with the totals so far
/// (valid during the call only), on the thread that called
/// `cfs_store_sync_from`, from inside the library: blocking store calls
/// made from it are refused with `CFS_RESULT_INVALID_ARGUMENT`.
pub type cfs_sync_progress_callback =
    Option<extern "C" fn(userdata: *mut c_void, report: *const cfs_sync_report)>;

/// A serving store (opaque). Free with `cfs_sync_server_free`, before the
/// store.
pub struct cfs_sync_server {
    store: Store,
    server: Option<SyncServer>,
}

/// A continuous sync running in the background (opaque). Free with
/// `cfs_sync_handle_free`, before the store.
pub struct cfs_sync_handle {
    store: Store,
    handle: Mutex<Option<SyncHandle>>,
    last: Mutex<SyncReport>,
}

castable!(OwnershipBox:
    cfs_sync_server => "server",
    cfs_sync_handle => "handle",
);

/// `connect_timeout_ms` 0 keeps the default (10 s).
fn sync_config(
    bind_addr: *const c_char,
    bind_addr_len: usize,
    connect_timeout_ms: u64,
) -> Result<SyncConfig, Fail> {
    let mut c = SyncConfig::default();
    if connect_timeout_ms > 0 {
        c.connect_timeout = std::time::Duration::from_millis(connect_timeout_ms);
    }
    if let Some(b) = opt_text(bind_addr, bind_addr_len, "bind_addr")? {
        c.bind_addr = b
            .parse()
            .map_err(|e| Fail::invalid(format!("bind_addr `{b}` is not ip:port: {e}")))?;
    }
    Ok(c)
}

/// Serve the store to peers (iroh-blobs and `cyberfly-sync/1`) on an iroh
/// endpoint bound to `bind_addr` ("ip:port"; NULL: "0.0.0.0:0"), without
/// relay or DNS. `allow` names the peers that may connect: their node ids
/// (`cfs_store_sync_node_id`), separated by commas or spaces, or "*" for
/// anyone; NULL or empty: nobody. Others are refused on connecting, for the
/// operation log and for every blob. `*out_server` receives the server; its
/// ticket is what peers pass to `cfs_store_sync_from`.
#[no_mangle]
pub extern "C" fn cfs_store_serve(
    store: *const cfs_store,
    bind_addr: *const c_char,
    bind_addr_len: usize,
    allow: *const c_char,
    allow_len: usize,
    out_server: *mut *mut cfs_sync_server,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_server, "out_server")?;
        let mut config = sync_config(bind_addr, bind_addr_len, 0)?;
        if let Some(a) = opt_text(allow, allow_len, "allow")? {
            config.access = a.parse()?;
        }
        let server = block(&s.store, s.store.serve(config))?;
        out.write(to_boxed_mut_ptr(cfs_sync_server {
            store: s.store.clone(),
            server: Some(server),
        }));
        Ok(())
    })
}

fn server_ref<'a>(p: *const cfs_sync_server) -> Result<&'a SyncServer, Fail> {
    try_ref_from_ptr(p)?
        .server
        .as_ref()
        .ok_or_else(|| Fail::null("server"))
}

/// The server's address as an iroh endpoint ticket (node id and direct
/// addresses) into `*out_ticket`; free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_sync_server_ticket(
    server: *const cfs_sync_server,
    out_ticket: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = server_ref(server)?;
        let out = Out::new(out_ticket, "out_ticket")?;
        out.write(cfs_string::from_str(&s.ticket()));
        Ok(())
    })
}

/// This store's node id (hex) into `*out_node_id`: what a serving peer
/// lists in its `allow` to let this store sync from it. Stable across
/// restarts. Free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_sync_node_id(
    store: *const cfs_store,
    out_node_id: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_node_id, "out_node_id")?;
        let id = block(&s.store, s.store.sync_node_id())?;
        out.write(cfs_string::from_str(&id));
        Ok(())
    })
}

/// The server's address as `{node id}@{ip:port},…` into `*out_address`
/// (also accepted by `cfs_store_sync_from`); free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_sync_server_address(
    server: *const cfs_sync_server,
    out_address: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = server_ref(server)?;
        let out = Out::new(out_address, "out_address")?;
        out.write(cfs_string::from_str(&s.addr().to_direct_string()));
        Ok(())
    })
}

/// Stop serving and free the server (NULL is a no-op). The store stays
/// open.
#[no_mangle]
pub extern "C" fn cfs_sync_server_free(server: *mut cfs_sync_server) {
    ffi_boundary!(value, {
        if let Some(mut b) = try_box_from_ptr(server) {
            if let Some(srv) = b.server.take() {
                let store = b.store.clone();
                let _ = block(&store, async move {
                    let r = srv.shutdown().await;
                    drop(srv);
                    r
                });
            }
        }
    });
}

/// Pull every operation the peer (`peer`: a ticket or `{node id}@ip:port`)
/// has and this store lacks, verifying each; blocks until done. The client
/// endpoint binds `bind_addr` (NULL: "0.0.0.0:0") and gives up connecting
/// after `connect_timeout_ms` (0: 10 s). `progress` (may be NULL) is called
/// after every page with `userdata`. `*out_report` (optional, may be NULL)
/// receives the totals. A peer that does not allow this store's node id
/// refuses it: `CFS_RESULT_IO`, the message says "not allowed".
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn cfs_store_sync_from(
    store: *const cfs_store,
    peer: *const c_char,
    peer_len: usize,
    bind_addr: *const c_char,
    bind_addr_len: usize,
    connect_timeout_ms: u64,
    progress: cfs_sync_progress_callback,
    userdata: *mut c_void,
    out_report: *mut cfs_sync_report,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let peer = text(peer, peer_len, "peer")?;
        let config = sync_config(bind_addr, bind_addr_len, connect_timeout_ms)?;
        let progress: Option<ProgressFn> = progress.map(|cb| {
            let ud = Mutex::new(UserData(userdata));
            let f: ProgressFn = std::sync::Arc::new(move |r: &SyncReport| {
                let c = cfs_sync_report::from(r);
                let ud = ud
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get();
                cb(ud, &c);
            });
            f
        });
        let r = block(
            &s.store,
            s.store.sync_from_with_progress(peer, &config, progress),
        )?;
        OptOut::new(out_report).write(cfs_sync_report::from(&r));
        Ok(())
    })
}

/// Start pulling from the peer continuously in the background (each request
/// waits for new operations; failures are retried). `*out_handle` receives
/// the handle: poll it with `cfs_sync_handle_report`, end it with
/// `cfs_sync_handle_stop` or `cfs_sync_handle_free`. `bind_addr` and
/// `connect_timeout_ms` as for `cfs_store_sync_from`.
#[no_mangle]
pub extern "C" fn cfs_store_sync_start(
    store: *const cfs_store,
    peer: *const c_char,
    peer_len: usize,
    bind_addr: *const c_char,
    bind_addr_len: usize,
    connect_timeout_ms: u64,
    out_handle: *mut *mut cfs_sync_handle,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let peer = text(peer, peer_len, "peer")?;
        let out = Out::new(out_handle, "out_handle")?;
        let config = sync_config(bind_addr, bind_addr_len, connect_timeout_ms)?;
        let h = s.store.sync_continuous(peer, config, None)?;
        out.write(to_boxed_mut_ptr(cfs_sync_handle {
            store: s.store.clone(),
            handle: Mutex::new(Some(h)),
            last: Mutex::new(SyncReport::default()),
        }));
        Ok(())
    })
}

impl cfs_sync_handle {
    fn stop(&self) -> Result<SyncReport, Fail> {
        let h = self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(h) = h {
            *last = block(&self.store, h.stop())?;
        }
        Ok(last.clone())
    }
}

/// The totals of a continuous sync so far into `*out_report`.
#[no_mangle]
pub extern "C" fn cfs_sync_handle_report(
    handle: *const cfs_sync_handle,
    out_report: *mut cfs_sync_report,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let h = try_ref_from_ptr(handle)?;
        let out = Out::new(out_report, "out_report")?;
        let r = match h
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            Some(running) => running.report(),
            None => h
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        };
        out.write(cfs_sync_report::from(&r));
        Ok(())
    })
}

/// Stop a continuous sync (after checkpointing what it applied) and write
/// its totals into `*out_report` (optional, may be NULL). Stopping twice is
/// not an error. The handle is still freed with `cfs_sync_handle_free`.
#[no_mangle]
pub extern "C" fn cfs_sync_handle_stop(
    handle: *const cfs_sync_handle,
    out_report: *mut cfs_sync_report,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let h = try_ref_from_ptr(handle)?;
        let r = h.stop()?;
        OptOut::new(out_report).write(cfs_sync_report::from(&r));
        Ok(())
    })
}

/// Stop (if running) and free a continuous sync (NULL is a no-op).
#[no_mangle]
pub extern "C" fn cfs_sync_handle_free(handle: *mut cfs_sync_handle) {
    ffi_boundary!(value, {
        if let Some(b) = try_box_from_ptr(handle) {
            // Errors are dropped: call `cfs_sync_handle_stop` to see them.
            let _ = b.stop();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::{cfs_store_free, cfs_store_open, cfs_string_free};
    use super::*;

    fn open(dir: &std::path::Path) -> *mut cfs_store {
        let p = dir.to_str().unwrap();
        let mut s = std::ptr::null_mut();
        let r = cfs_store_open(
            p.as_ptr().cast(),
            p.len(),
            std::ptr::null(),
            &mut s,
            std::ptr::null_mut(),
        );
        assert_eq!(r, cfs_result::Ok);
        s
    }

    extern "C" fn count(ud: *mut c_void, r: *const cfs_sync_report) {
        // SAFETY: the test passes a u64 and the library a valid report.
        unsafe { *(ud as *mut u64) = (*r).received };
    }

    #[test]
    fn serve_sync_and_follow_from_c() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ca, cb) = (open(da.path()), open(db.path()));
        let kp = cyberfly_store::Keypair::generate();
        let mut op = cyberfly_store::SignedOperation::new(
            format!("c-{}", kp.public_key_hex()),
            "k",
            "v",
            cyberfly_store::ValueKind::String,
        );
        op.sign(&kp);
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let a = unsafe { &(*ca).store };
        a.block_on(a.apply(op)).unwrap();
        let bind = "127.0.0.1:0";
        let mut server = std::ptr::null_mut();
        let r = cfs_store_serve(
            ca,
            bind.as_ptr().cast(),
            bind.len(),
            "*".as_ptr().cast(),
            1,
            &mut server,
            std::ptr::null_mut(),
        );
        assert_eq!(r, cfs_result::Ok);
        let mut ticket = cfs_string {
            data: std::ptr::null_mut(),
            len: 0,
        };
        assert_eq!(
            cfs_sync_server_ticket(server, &mut ticket, std::ptr::null_mut()),
            cfs_result::Ok
        );
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let t = unsafe { std::slice::from_raw_parts(ticket.data as *const u8, ticket.len) };
        let t = std::str::from_utf8(t).unwrap().to_owned();
        cfs_string_free(&mut ticket);
        let mut seen = 0u64;
        let mut report = cfs_sync_report::default();
        let r = cfs_store_sync_from(
            cb,
            t.as_ptr().cast(),
            t.len(),
            bind.as_ptr().cast(),
            bind.len(),
            0,
            Some(count),
            (&mut seen as *mut u64).cast(),
            &mut report,
            std::ptr::null_mut(),
        );
        assert_eq!(r, cfs_result::Ok);
        assert_eq!((report.received, report.applied, seen), (1, 1, 1));
        // a malformed peer is an argument error
        let r = cfs_store_sync_from(
            cb,
            "nope".as_ptr().cast(),
            4,
            std::ptr::null(),
            0,
            0,
            None,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(r, cfs_result::InvalidArgument);
        let mut h = std::ptr::null_mut();
        let r = cfs_store_sync_start(
            cb,
            t.as_ptr().cast(),
            t.len(),
            bind.as_ptr().cast(),
            bind.len(),
            0,
            &mut h,
            std::ptr::null_mut(),
        );
        assert_eq!(r, cfs_result::Ok);
        assert_eq!(
            cfs_sync_handle_report(h, &mut report, std::ptr::null_mut()),
            cfs_result::Ok
        );
        assert_eq!(
            cfs_sync_handle_stop(h, &mut report, std::ptr::null_mut()),
            cfs_result::Ok
        );
        assert_eq!(
            cfs_sync_handle_stop(h, std::ptr::null_mut(), std::ptr::null_mut()),
            cfs_result::Ok
        );
        cfs_sync_handle_free(h);
        assert_eq!(
            cfs_sync_server_ticket(std::ptr::null(), &mut ticket, std::ptr::null_mut()),
            cfs_result::NullPointer
        );
        cfs_sync_server_free(server);
        cfs_store_free(ca);
        cfs_store_free(cb);
    }
}
