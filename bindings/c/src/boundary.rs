//! The panic boundary: [`ffi_boundary!`] wraps the body of every `extern "C"`
//! function of this crate (`tests/boundary.rs` checks it), so that no Rust
//! panic ever unwinds into C.
//!
//! - A fallible call with a `cfs_error **err` parameter:
//!   `ffi_boundary!(err, { ... })`; the body is a `Result<(), Fail>`.
//!   A panic becomes `CFS_RESULT_PANIC`, with an error object naming the
//!   panic in `*err`.
//! - A fallible call without one: `ffi_boundary!(code, { ... })`; a panic
//!   becomes `CFS_RESULT_PANIC`.
//! - A call that returns no result (the frees, list accessors,
//!   `cfs_version`, the error accessors): `ffi_boundary!(value, { ... })`.
//!   A panic is swallowed and the call returns its type's [`OnPanic`] value:
//!   nothing for a free, 0 for a length, an absent (NULL) view for an item,
//!   an empty string for text, `CFS_RESULT_PANIC` for a code. Never an
//!   abort.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{cfs_error, cfs_result, Fail};
use super::{cfs_str, cfs_str_pair};

/// Wrap the body of an `extern "C"` function (see the module documentation
/// for the three forms). Declared first in `lib.rs` (`#[macro_use]`), so
/// every module sees it.
macro_rules! ffi_boundary {
    (code, $body:block) => {
        $crate::boundary::guard(
            ::std::ptr::null_mut(),
            || -> ::std::result::Result<(), $crate::error::Fail> { $body },
        )
    };
    (value, $body:block) => {
        $crate::boundary::value(|| $body)
    };
    ($err:expr, $body:block) => {
        $crate::boundary::guard(
            $err,
            || -> ::std::result::Result<(), $crate::error::Fail> { $body },
        )
    };
}

/// What a call that returns no `cfs_result` returns when its body panicked.
pub(crate) trait OnPanic {
    fn on_panic() -> Self;
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

impl OnPanic for usize {
    fn on_panic() -> Self {
        0
    }
}

impl OnPanic for cfs_result {
    fn on_panic() -> Self {
        cfs_result::Panic
    }
}

impl OnPanic for *const c_char {
    fn on_panic() -> Self {
        c"".as_ptr()
    }
}

impl OnPanic for cfs_str {
    fn on_panic() -> Self {
        cfs_str::NONE
    }
}

impl OnPanic for cfs_str_pair {
    fn on_panic() -> Self {
        cfs_str_pair::NONE
    }
}

impl OnPanic for super::cfs_scored {
    fn on_panic() -> Self {
        super::cfs_scored {
            member: cfs_str::NONE,
            score: 0.0,
        }
    }
}

impl OnPanic for super::cfs_geo_match {
    fn on_panic() -> Self {
        super::cfs_geo_match {
            member: cfs_str::NONE,
            has_distance: false,
            distance: 0.0,
            has_coord: false,
            longitude: 0.0,
            latitude: 0.0,
        }
    }
}

impl OnPanic for super::cfs_op_outcome {
    fn on_panic() -> Self {
        super::cfs_op_outcome {
            outcome: super::cfs_outcome::Rejected,
            code: cfs_result::Panic,
            message: cfs_str::NONE,
        }
    }
}

/// Types whose out-of-range value is their `Default` (plain numbers).
macro_rules! on_panic_default {
    ($($t:ty),*) => {
        $( impl OnPanic for $t {
            fn on_panic() -> Self {
                <$t>::default()
            }
        } )*
    };
}

on_panic_default!(super::cfs_ts_point, super::cfs_geo_pos);

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic".to_owned()
    }
}

/// Drop a panic payload; dropping one can itself panic: never let it unwind.
fn drop_payload(p: Box<dyn Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(p)));
}

/// Run `f` behind the panic boundary. On failure, hand a new `cfs_error` to
/// `err` (when it is not NULL) and return the code.
pub(crate) fn guard(err: *mut *mut cfs_error, f: impl FnOnce() -> Result<(), Fail>) -> cfs_result {
    let fail = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return cfs_result::Ok,
        Ok(Err(fail)) => fail,
        Err(p) => {
            let m = panic_message(&*p);
            drop_payload(p);
            Fail::new(cfs_result::Panic, m)
        }
    };
    let code = fail.code;
    if !err.is_null() {
        // SAFETY: the caller promises `err` is writable when not NULL.
        unsafe { err.write(cfs_error::boxed(fail)) };
    }
    code
}

/// Run `f` behind the panic boundary; a panic is swallowed and yields
/// `T::on_panic()`.
pub(crate) fn value<T: OnPanic>(f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            drop_payload(p);
            T::on_panic()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{cfs_error_code, cfs_error_free, cfs_error_message};

    #[test]
    fn panics_become_codes() {
        let mut err: *mut cfs_error = std::ptr::null_mut();
        let r = guard(&mut err, || panic!("boom"));
        assert_eq!(r, cfs_result::Panic);
        assert_eq!(cfs_error_code(err), cfs_result::Panic);
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let m = unsafe { std::ffi::CStr::from_ptr(cfs_error_message(err)) };
        assert!(m.to_str().unwrap().contains("boom"));
        cfs_error_free(err);
    }

    #[test]
    fn panics_without_a_result_are_swallowed() {
        let r: usize = ffi_boundary!(value, { panic!("boom") });
        assert_eq!(r, 0);
        let r: cfs_str = ffi_boundary!(value, { panic!("boom") });
        assert!(r.data.is_null());
        let r = ffi_boundary!(code, { panic!("boom") });
        assert_eq!(r, cfs_result::Panic);
    }
}
