//! ed25519 key pairs, signing and verification (`src/verify.rs`).

use std::ffi::{c_char, c_void};

use super::castable::{castable, free_box, to_boxed_mut_ptr, try_ref_from_ptr};
use super::error::Fail;
use super::store::{spawn_completion, UserData};
use super::{array, bytes, cfs_error, cfs_result, cfs_store, text, Out};
use cyberfly_store::{verify, verify_many, Keypair, VerifyItem};

/// An ed25519 key pair; free with `cfs_keypair_free`.
pub struct cfs_keypair {
    pub(crate) kp: Keypair,
}

castable!(OwnershipBox: cfs_keypair => "keypair");

/// One (public key, message, signature) to verify: 32, any, 64 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_verify_item {
    pub public_key: *const u8,
    pub public_key_len: usize,
    pub message: *const u8,
    pub message_len: usize,
    pub signature: *const u8,
    pub signature_len: usize,
}

/// Completion of `cfs_store_verify_many_async`: `valid[i]` is the verdict of
/// item `i` (`count` of them, borrowed: valid during the callback only;
/// NULL on failure). `err` is owned by the callback (free with
/// `cfs_error_free`), NULL on success.
pub type cfs_verdicts_callback = Option<
    extern "C" fn(
        userdata: *mut c_void,
        result: cfs_result,
        valid: *const bool,
        count: usize,
        err: *mut cfs_error,
    ),
>;

/// Copy `data` into the caller's buffer (`len` bytes); too small is
/// `CFS_RESULT_BUFFER_TOO_SMALL` and nothing is written.
pub(crate) fn write_buf(buf: *mut u8, len: usize, data: &[u8], what: &str) -> Result<(), Fail> {
    if buf.is_null() {
        return Err(Fail::null(what));
    }
    if len < data.len() {
        return Err(Fail::new(
            cfs_result::BufferTooSmall,
            format!("{what} needs {} bytes, got {len}", data.len()),
        ));
    }
    // SAFETY: the caller promises `len` writable bytes at `buf`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    Ok(())
}

/// `write_buf` of text plus a NUL.
pub(crate) fn write_text(buf: *mut c_char, len: usize, s: &str, what: &str) -> Result<(), Fail> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    write_buf(buf.cast(), len, &v, what)
}

fn keypair<'a>(kp: *const cfs_keypair) -> Result<&'a Keypair, Fail> {
    try_ref_from_ptr(kp).map(|k| &k.kp)
}

/// A new random key pair (OS randomness) into `*out`.
#[no_mangle]
pub extern "C" fn cfs_keypair_generate(out: *mut *mut cfs_keypair) -> cfs_result {
    ffi_boundary!(code, {
        let out = Out::new(out, "out")?;
        out.write(to_boxed_mut_ptr(cfs_keypair {
            kp: Keypair::generate(),
        }));
        Ok(())
    })
}

/// The key pair of a 32-byte secret key.
#[no_mangle]
pub extern "C" fn cfs_keypair_from_secret(
    secret: *const u8,
    secret_len: usize,
    out: *mut *mut cfs_keypair,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let secret = bytes(secret, secret_len, "secret")?;
        let out = Out::new(out, "out")?;
        out.write(to_boxed_mut_ptr(cfs_keypair {
            kp: Keypair::from_secret(secret)?,
        }));
        Ok(())
    })
}

/// The key pair of a secret key given as 64 hex digits.
#[no_mangle]
pub extern "C" fn cfs_keypair_from_secret_hex(
    secret_hex: *const c_char,
    secret_hex_len: usize,
    out: *mut *mut cfs_keypair,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let hex = text(secret_hex, secret_hex_len, "secret_hex")?;
        let out = Out::new(out, "out")?;
        out.write(to_boxed_mut_ptr(cfs_keypair {
            kp: Keypair::from_secret_hex(hex)?,
        }));
        Ok(())
    })
}

/// Free a key pair. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_keypair_free(kp: *mut cfs_keypair) {
    ffi_boundary!(value, { free_box(kp) });
}

/// The 32-byte public key into `buf` (at least 32 bytes).
#[no_mangle]
pub extern "C" fn cfs_keypair_public_key(
    kp: *const cfs_keypair,
    buf: *mut u8,
    len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        write_buf(buf, len, &keypair(kp)?.public_key(), "public key")
    })
}

/// The public key as 64 lowercase hex digits and a NUL into `buf` (at least
/// 65 bytes). Database names owned by this key end with `-{this}`.
#[no_mangle]
pub extern "C" fn cfs_keypair_public_key_hex(
    kp: *const cfs_keypair,
    buf: *mut c_char,
    len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        write_text(buf, len, &keypair(kp)?.public_key_hex(), "public key hex")
    })
}

/// The 32-byte secret key into `buf` (at least 32 bytes).
#[no_mangle]
pub extern "C" fn cfs_keypair_secret(
    kp: *const cfs_keypair,
    buf: *mut u8,
    len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        write_buf(buf, len, &keypair(kp)?.secret_bytes(), "secret key")
    })
}

/// Sign `message` (`message_len` bytes); the 64-byte signature goes into
/// `sig_buf` (at least 64 bytes).
#[no_mangle]
pub extern "C" fn cfs_keypair_sign(
    kp: *const cfs_keypair,
    message: *const u8,
    message_len: usize,
    sig_buf: *mut u8,
    sig_buf_len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let kp = keypair(kp)?;
        let msg = bytes(message, message_len, "message")?;
        write_buf(sig_buf, sig_buf_len, &kp.sign(msg), "signature")
    })
}

/// Verify one ed25519 signature under the store's rule (ZIP-215, public
/// keys of small order refused; the same verdict as every other path), with
/// the process-wide verdict cache. A key or signature of the wrong length is a false verdict, not an
/// error.
#[no_mangle]
pub extern "C" fn cfs_verify(
    public_key: *const u8,
    public_key_len: usize,
    message: *const u8,
    message_len: usize,
    signature: *const u8,
    signature_len: usize,
    out_valid: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let pk = bytes(public_key, public_key_len, "public_key")?;
        let msg = bytes(message, message_len, "message")?;
        let sig = bytes(signature, signature_len, "signature")?;
        let out = Out::new(out_valid, "out_valid")?;
        out.write(verify(pk, msg, sig));
        Ok(())
    })
}

fn items(p: *const cfs_verify_item, count: usize) -> Result<Vec<VerifyItem>, Fail> {
    array(p, count, "items")?
        .iter()
        .enumerate()
        .map(|(i, it)| {
            Ok((
                bytes(
                    it.public_key,
                    it.public_key_len,
                    &format!("items[{i}].public_key"),
                )?
                .to_vec(),
                bytes(it.message, it.message_len, &format!("items[{i}].message"))?.to_vec(),
                bytes(
                    it.signature,
                    it.signature_len,
                    &format!("items[{i}].signature"),
                )?
                .to_vec(),
            ))
        })
        .collect()
}

fn write_verdicts(out: *mut bool, out_len: usize, v: &[bool]) -> Result<(), Fail> {
    // SAFETY: bool is one byte in C and Rust.
    write_buf(
        out.cast(),
        out_len,
        unsafe { &*(v as *const [bool] as *const [u8]) },
        "out_valid",
    )
}

/// Verify `count` signatures in parallel batches (process-wide verifier and
/// cache); `out_valid[i]` receives the verdict of item `i` (`out_len` must
/// be at least `count`): the same verdict as `cfs_verify` gives that item.
/// An item with a key or signature of the wrong length is false and changes
/// no other verdict. Blocks the caller.
#[no_mangle]
pub extern "C" fn cfs_verify_many(
    items_ptr: *const cfs_verify_item,
    count: usize,
    out_valid: *mut bool,
    out_len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let items = items(items_ptr, count)?;
        if out_valid.is_null() && count > 0 {
            return Err(Fail::null("out_valid"));
        }
        if out_len < count {
            return Err(Fail::new(
                cfs_result::BufferTooSmall,
                format!("out_valid holds {out_len} verdicts, {count} needed"),
            ));
        }
        let v = verify_many(&items);
        if !v.is_empty() {
            write_verdicts(out_valid, out_len, &v)?;
        }
        Ok(())
    })
}

/// `cfs_verify_many` with the store's verifier (its verdict cache and the
/// counters in `cfs_store_stats_json`).
#[no_mangle]
pub extern "C" fn cfs_store_verify_many(
    store: *const cfs_store,
    items_ptr: *const cfs_verify_item,
    count: usize,
    out_valid: *mut bool,
    out_len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let items = items(items_ptr, count)?;
        if out_valid.is_null() && count > 0 {
            return Err(Fail::null("out_valid"));
        }
        if out_len < count {
            return Err(Fail::new(
                cfs_result::BufferTooSmall,
                format!("out_valid holds {out_len} verdicts, {count} needed"),
            ));
        }
        let verifier = s.store.verifier().clone();
        let v = super::block(
            &s.store,
            verifier.verify_many_async(std::sync::Arc::new(items)),
        )?;
        if !v.is_empty() {
            write_verdicts(out_valid, out_len, &v)?;
        }
        Ok(())
    })
}

/// `cfs_store_verify_many` with a completion callback (see
/// `cfs_store_set_many_async` for how callbacks are run). The items are
/// copied before this returns.
#[no_mangle]
pub extern "C" fn cfs_store_verify_many_async(
    store: *const cfs_store,
    items_ptr: *const cfs_verify_item,
    count: usize,
    callback: cfs_verdicts_callback,
    userdata: *mut c_void,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let cb = callback.ok_or_else(|| Fail::null("callback"))?;
        let items = std::sync::Arc::new(items(items_ptr, count)?);
        let verifier = s.store.verifier().clone();
        let ud = UserData(userdata);
        spawn_completion(
            s,
            async move { verifier.verify_many_async(items).await },
            move |r| match r {
                Ok(v) => cb(
                    ud.get(),
                    cfs_result::Ok,
                    v.as_ptr(),
                    v.len(),
                    std::ptr::null_mut(),
                ),
                Err(f) => {
                    let code = f.code;
                    cb(ud.get(), code, std::ptr::null(), 0, cfs_error::boxed(f));
                }
            },
        )
    })
}
