//! The C ABI's byte inputs: arbitrary (pointer, length) buffers into the
//! functions that parse them. Errors are codes, never crashes or leaks.
#![no_main]
use std::ptr;

use cyberfly_store_capi::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = data.as_ptr() as *const std::ffi::c_char;
    let mut err = ptr::null_mut();
    let mut op = ptr::null_mut();
    cfs_signed_op_from_json(p, data.len(), &mut op, &mut err);
    if !op.is_null() {
        cfs_signed_op_free(op);
    }
    cfs_error_free(err);
    let mut err = ptr::null_mut();
    let mut kp = ptr::null_mut();
    cfs_keypair_from_secret_hex(p, data.len(), &mut kp, &mut err);
    if !kp.is_null() {
        cfs_keypair_free(kp);
    }
    cfs_error_free(err);
    if data.len() >= 96 {
        let mut valid = false;
        let mut err = ptr::null_mut();
        cfs_verify(
            data.as_ptr(),
            32,
            data[96..].as_ptr(),
            data.len() - 96,
            data[32..].as_ptr(),
            64,
            &mut valid,
            &mut err,
        );
        cfs_error_free(err);
    }
});
