//! Result codes (declared once: `cfs_result`, mapped to and from the core's
//! table by `c_codes`) and the error object. The panic boundary is in
//! `boundary.rs`.

use std::ffi::{c_char, CString};

use super::castable::{castable, free_box, opt_ref_from_ptr, to_boxed_mut_ptr};

use cyberfly_store::{Error, ErrorCode};

/// The result of every fallible call. 0 is success; 1..=99 are the core's
/// stable error codes (shared with the Python module); 100 and up can only
/// come from the C boundary.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_result {
    Ok = 0,
    /// An argument was malformed (empty key, NaN score, bad enum value, …).
    InvalidArgument = 1,
    /// A configuration value was out of range (the message names the field).
    InvalidConfig = 2,
    /// A key is longer than the configured maximum.
    KeyTooLong = 3,
    /// A value is larger than the configured maximum.
    ValueTooLarge = 4,
    /// The store was closed.
    Closed = 5,
    /// The store directory is already open (in this or another process).
    AlreadyOpen = 6,
    /// The key holds a value of another type.
    WrongType = 7,
    /// Stored bytes could not be decoded.
    Corrupt = 8,
    /// A referenced blob is missing from the blob store.
    BlobMissing = 9,
    /// An input/output error.
    Io = 10,
    /// An error reported by the index (sled).
    Index = 11,
    /// An error reported by the blob store (iroh-blobs).
    Blobs = 12,
    /// A signature did not verify.
    InvalidSignature = 13,
    /// The signer does not own the database.
    NotOwner = 14,
    /// An operation's timestamp is outside the freshness window.
    Stale = 15,
    /// An internal invariant broke (a bug).
    Internal = 99,
    /// A required pointer argument was NULL.
    NullPointer = 100,
    /// A Rust panic was caught at the boundary (a bug).
    Panic = 101,
    /// A text argument was not valid UTF-8.
    InvalidUtf8 = 102,
    /// A caller's buffer was too small; what fits was written.
    BufferTooSmall = 103,
}

/// The C mapping, generated from the core's error-code table
/// (`for_each_error_code!`): `from_u32` and `core_code` list every row, and
/// a compile-time check fails the build when a row's number differs from the
/// `cfs_result` of the same name above (written out because cbindgen reads
/// the enum from source and cannot expand macros).
macro_rules! c_codes {
    ($( $(#[doc = $doc:literal])+ $name:ident = $num:literal, $describe:literal, $py:ident,
        |$m:ident| $example:expr; )*) => {
        const _: () = { $( assert!(cfs_result::$name as u32 == $num); )* };

        impl cfs_result {
            /// The code with this number, if any.
            pub fn from_u32(n: u32) -> Option<Self> {
                Some(match n {
                    $( $num => cfs_result::$name, )*
                    100 => cfs_result::NullPointer,
                    101 => cfs_result::Panic,
                    102 => cfs_result::InvalidUtf8,
                    103 => cfs_result::BufferTooSmall,
                    _ => return None,
                })
            }
        }

        /// The core code with the same number as `r`.
        fn core_code(r: cfs_result) -> Option<ErrorCode> {
            match r {
                $( cfs_result::$name => Some(ErrorCode::$name), )*
                _ => None,
            }
        }
    };
}

cyberfly_store::for_each_error_code!(c_codes);

impl cfs_result {
    /// A short static description.
    pub fn describe(self) -> &'static str {
        match self {
            cfs_result::NullPointer => "null pointer argument",
            cfs_result::Panic => "panic caught at the C boundary",
            cfs_result::InvalidUtf8 => "text argument is not valid UTF-8",
            cfs_result::BufferTooSmall => "buffer too small",
            other => core_code(other).map_or("unknown result code", ErrorCode::describe),
        }
    }
}

impl From<ErrorCode> for cfs_result {
    fn from(c: ErrorCode) -> Self {
        cfs_result::from_u32(c as u32).unwrap_or(cfs_result::Internal)
    }
}

/// A failure on its way to the caller: code and message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: cfs_result,
    pub(crate) message: String,
}

impl Fail {
    pub(crate) fn new(code: cfs_result, message: impl Into<String>) -> Self {
        Fail {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Self {
        Fail::new(cfs_result::NullPointer, format!("{what} is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Fail::new(cfs_result::InvalidArgument, message)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::new(e.code().into(), e.to_string())
    }
}

/// A detailed error: a code and a message. Handed out through a
/// `cfs_error **err` parameter; free it with `cfs_error_free`.
pub struct cfs_error {
    code: cfs_result,
    message: CString,
}

impl cfs_error {
    pub(crate) fn boxed(f: Fail) -> *mut cfs_error {
        let msg = f.message.replace('\0', "\\0");
        let message = CString::new(msg).unwrap_or_default();
        to_boxed_mut_ptr(cfs_error {
            code: f.code,
            message,
        })
    }
}

castable!(OwnershipBox: cfs_error => "err");

/// The code of an error object (`CFS_RESULT_NULL_POINTER` for NULL).
#[no_mangle]
pub extern "C" fn cfs_error_code(err: *const cfs_error) -> cfs_result {
    ffi_boundary!(value, {
        match opt_ref_from_ptr(err) {
            Some(e) => e.code,
            None => cfs_result::NullPointer,
        }
    })
}

/// The message of an error object, NUL-terminated, valid until
/// `cfs_error_free`. An empty string for NULL.
#[no_mangle]
pub extern "C" fn cfs_error_message(err: *const cfs_error) -> *const c_char {
    ffi_boundary!(value, {
        match opt_ref_from_ptr(err) {
            Some(e) => e.message.as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// Free an error object. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_error_free(err: *mut cfs_error) {
    ffi_boundary!(value, { free_box(err) });
}

/// Render a result code as text into `buf` (`len` bytes, NUL-terminated).
/// `*out_written` (optional) receives the number of bytes written, NUL not
/// counted. Returns `CFS_RESULT_BUFFER_TOO_SMALL` when the text was cut to
/// fit (what fits is still written, NUL-terminated, when `len` > 0).
/// Unknown codes render as "unknown result code".
#[no_mangle]
pub extern "C" fn cfs_result_message(
    code: u32,
    buf: *mut c_char,
    len: usize,
    out_written: *mut usize,
) -> cfs_result {
    ffi_boundary!(code, {
        if buf.is_null() {
            return Err(Fail::null("buf"));
        }
        let msg = cfs_result::from_u32(code).map_or("unknown result code", cfs_result::describe);
        let n = msg.len().min(len.saturating_sub(1));
        if len > 0 {
            // SAFETY: the caller promises `len` writable bytes at `buf`.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
                buf.add(n).write(0);
            }
        }
        super::OptOut::new(out_written).write(n);
        if n < msg.len() {
            Err(Fail::new(cfs_result::BufferTooSmall, "message truncated"))
        } else {
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_core() {
        for n in 0..=200u32 {
            if let Some(r) = cfs_result::from_u32(n) {
                assert_eq!(r as u32, n);
                if n < 100 {
                    let c = core_code(r).expect("a core code");
                    assert_eq!(cfs_result::from(c), r);
                    assert_eq!(r.describe(), c.describe());
                }
            }
        }
        assert_eq!(cfs_result::from(Error::Closed.code()), cfs_result::Closed);
    }

    #[test]
    fn result_message_truncates() {
        let mut buf = [0 as c_char; 8];
        let mut n = 0usize;
        let r = cfs_result_message(5, buf.as_mut_ptr(), buf.len(), &mut n);
        assert_eq!(r, cfs_result::BufferTooSmall);
        assert_eq!(n, 7);
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(s.to_str().unwrap(), "store c");
        let mut big = [0 as c_char; 64];
        let r = cfs_result_message(5, big.as_mut_ptr(), big.len(), &mut n);
        assert_eq!(r, cfs_result::Ok);
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let s = unsafe { std::ffi::CStr::from_ptr(big.as_ptr()) };
        assert_eq!(s.to_str().unwrap(), "store closed");
    }
}
