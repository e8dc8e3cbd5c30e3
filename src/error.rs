//! The one error type of the core. Every variant has a stable numeric code
//! ([`Error::code`]) that the Python and C fronts reuse, so a failure means the
//! same thing whichever door it came through.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error-code table: declared once, here. Each row is
/// `Name = number, "short description", PythonClass, |message| example error;`
/// with the row's doc comment. It generates [`ErrorCode`] (and its
/// `ALL`, `from_u32`, `describe`, `python_name` and `doc`), and the bindings
/// generate their tables from it through [`for_each_error_code!`]: the
/// Python exception classes (bindings/python/src/error.rs) and the C
/// mapping both ways (bindings/c/src/error.rs, where a compile-time check
/// ties the written-out `cfs_result` that cbindgen reads to these numbers).
/// Never renumber a code; add new ones at the end of their block.
#[macro_export]
macro_rules! for_each_error_code {
    ($callback:ident) => {
        $callback! {
            /// Not an error (used by the C ABI).
            Ok = 0, "ok", InternalError, |m| $crate::Error::Internal(m);
            /// An argument was malformed (empty key, bad hex, NaN score, bad JSONPath, ...).
            InvalidArgument = 1, "invalid argument", InvalidArgument, |m| $crate::Error::InvalidArgument(m);
            /// A configuration value was unknown or out of range (the message names the field).
            InvalidConfig = 2, "invalid config", InvalidConfig,
                |m| $crate::Error::InvalidConfig { field: "test", reason: m };
            /// A key is longer than the store's `max_key_len`.
            KeyTooLong = 3, "key too long", KeyTooLong, |_m| $crate::Error::KeyTooLong { len: 2, max: 1 };
            /// A value is larger than the store's `max_value_len`.
            ValueTooLarge = 4, "value too large", ValueTooLarge,
                |_m| $crate::Error::ValueTooLarge { len: 2, max: 1 };
            /// The store was closed; every call after close fails with this.
            Closed = 5, "store closed", StoreClosed, |_m| $crate::Error::Closed;
            /// The store directory is already open, in this process or another.
            AlreadyOpen = 6, "store already open", AlreadyOpen,
                |m| $crate::Error::AlreadyOpen { path: m.into(), detail: "test".into() };
            /// The key holds a value of another type than the operation needs.
            WrongType = 7, "wrong type", WrongType,
                |_m| $crate::Error::WrongType { expected: "hash", actual: "string" };
            /// Stored bytes could not be decoded.
            Corrupt = 8, "corrupt data", Corrupt, |m| $crate::Error::Corrupt(m);
            /// A value refers to a blob the blob store does not hold.
            BlobMissing = 9, "blob missing", BlobMissing, |m| $crate::Error::BlobMissing(m);
            /// An input/output error from the file system.
            Io = 10, "i/o error", IoError, |m| $crate::Error::Io(std::io::Error::other(m));
            /// An error reported by the index (sled).
            Index = 11, "index error", IndexFailure, |m| $crate::Error::Index(m);
            /// An error reported by the blob store (iroh-blobs).
            Blobs = 12, "blob store error", BlobStoreFailure, |m| $crate::Error::Blobs(m);
            /// A signature did not verify.
            InvalidSignature = 13, "invalid signature", InvalidSignature, |_m| $crate::Error::InvalidSignature;
            /// The signer does not own the database it writes to.
            NotOwner = 14, "not owner", NotOwner, |m| $crate::Error::NotOwner(m);
            /// An operation's timestamp is outside the freshness window.
            Stale = 15, "stale operation", Stale, |m| $crate::Error::Stale(m);
            /// An internal invariant broke (a bug in the store); the message says where.
            Internal = 99, "internal error", InternalError, |m| $crate::Error::Internal(m);
        }
    };
}

macro_rules! declare_error_codes {
    ($( $(#[doc = $doc:literal])+ $name:ident = $num:literal, $describe:literal, $py:ident,
        |$m:ident| $example:expr; )*) => {
        /// Stable numeric codes, shared with the bindings (the table is
        /// [`for_each_error_code!`]).
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])+ $name = $num, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code with this number, if any.
            pub const fn from_u32(n: u32) -> Option<ErrorCode> {
                match n {
                    $( $num => Some(ErrorCode::$name), )*
                    _ => None,
                }
            }

            /// A short, static description of the code (the C ABI renders it).
            pub const fn describe(self) -> &'static str {
                match self { $( ErrorCode::$name => $describe, )* }
            }

            /// The name of the Python exception class the code maps to.
            pub const fn python_name(self) -> &'static str {
                match self { $( ErrorCode::$name => stringify!($py), )* }
            }

            /// The code's documentation (its row's doc comment).
            pub const fn doc(self) -> &'static str {
                match self { $( ErrorCode::$name => concat!($($doc),+), )* }
            }

            /// An error of this code carrying `message` where the variant has
            /// room for one (for tests of the bindings' mappings: codes the
            /// store cannot be made to produce on demand, like `Corrupt`).
            pub fn example(self, message: impl Into<String>) -> Error {
                let message: String = message.into();
                match self { $( ErrorCode::$name => { let $m = message; $example } )* }
            }
        }
    };
}

for_each_error_code!(declare_error_codes);

/// Every failure a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("invalid config: {field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },

    #[error("key is {len} bytes, over the maximum of {max}")]
    KeyTooLong { len: usize, max: usize },

    #[error("value is {len} bytes, over the maximum of {max}")]
    ValueTooLarge { len: usize, max: usize },

    #[error("the store is closed")]
    Closed,

    #[error("store at {path} is already open ({detail})")]
    AlreadyOpen { path: PathBuf, detail: String },

    #[error("wrong type: key holds a {actual}, operation needs a {expected}")]
    WrongType {
        expected: &'static str,
        actual: &'static str,
    },

    #[error("corrupt data: {0}")]
    Corrupt(String),

    #[error("blob {0} is missing from the blob store")]
    BlobMissing(String),

    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    #[error("index (sled) error: {0}")]
    Index(String),

    #[error("blob store error: {0}")]
    Blobs(String),

    #[error("invalid signature")]
    InvalidSignature,

    #[error("not owner: {0}")]
    NotOwner(String),

    #[error("stale operation: {0}")]
    Stale(String),

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::InvalidConfig { .. } => ErrorCode::InvalidConfig,
            Error::KeyTooLong { .. } => ErrorCode::KeyTooLong,
            Error::ValueTooLarge { .. } => ErrorCode::ValueTooLarge,
            Error::Closed => ErrorCode::Closed,
            Error::AlreadyOpen { .. } => ErrorCode::AlreadyOpen,
            Error::WrongType { .. } => ErrorCode::WrongType,
            Error::Corrupt(_) => ErrorCode::Corrupt,
            Error::BlobMissing(_) => ErrorCode::BlobMissing,
            Error::Io(_) => ErrorCode::Io,
            Error::Index(_) => ErrorCode::Index,
            Error::Blobs(_) => ErrorCode::Blobs,
            Error::InvalidSignature => ErrorCode::InvalidSignature,
            Error::NotOwner(_) => ErrorCode::NotOwner,
            Error::Stale(_) => ErrorCode::Stale,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }

    /// An I/O error on `path`, the path and the OS's words (with errno) in
    /// the message.
    pub(crate) fn io_at(path: &std::path::Path, e: std::io::Error) -> Self {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    }

    pub(crate) fn blobs(e: impl std::fmt::Display) -> Self {
        Error::Blobs(e.to_string())
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        match e {
            // sled keeps the first I/O error of its flusher and answers it
            // to every later call, even once the cause is gone (issue 18,
            // point 7): say so, with the OS's words and errno.
            sled::Error::Io(io) => Error::Io(std::io::Error::new(
                io.kind(),
                format!(
                    "the index (sled) failed: {io}{}; sled stays failed after an I/O \
                     error, so every later write, flush and close fails the same way: \
                     close the store and open it again from a new process once the cause \
                     is fixed (for example, disk space freed): this process keeps \
                     sled's lock on the index",
                    errno_name(&io).map_or_else(String::new, |n| format!(" [{n}]")),
                ),
            )),
            sled::Error::Corruption { .. } => Error::Corrupt(e.to_string()),
            other => Error::Index(other.to_string()),
        }
    }
}

/// The symbolic name of a few errno values a store meets (the OS's words
/// are in the error's own text).
#[cfg(target_os = "linux")]
pub(crate) fn errno_name(e: &std::io::Error) -> Option<&'static str> {
    Some(match e.raw_os_error()? {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        12 => "ENOMEM",
        13 => "EACCES",
        24 => "EMFILE",
        27 => "EFBIG",
        28 => "ENOSPC",
        30 => "EROFS",
        122 => "EDQUOT",
        _ => return None,
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn errno_name(_: &std::io::Error) -> Option<&'static str> {
    None
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("background task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        // The bindings publish these numbers; changing one breaks users.
        assert_eq!(Error::invalid("x").code() as u32, 1);
        assert_eq!(Error::Closed.code() as u32, 5);
        assert_eq!(
            Error::WrongType {
                expected: "hash",
                actual: "list"
            }
            .code() as u32,
            7
        );
        assert_eq!(Error::InvalidSignature.code() as u32, 13);
        assert_eq!(Error::internal("x").code() as u32, 99);
    }

    #[test]
    fn the_table_round_trips() {
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u32(c as u32), Some(c));
            if c != ErrorCode::Ok {
                assert_eq!(c.example("m").code(), c, "{c:?}");
            }
            assert!(!c.describe().is_empty() && !c.doc().is_empty());
        }
        let names: std::collections::HashSet<_> = ErrorCode::ALL
            .iter()
            .filter(|c| **c != ErrorCode::Ok)
            .map(|c| c.python_name())
            .collect();
        assert_eq!(
            names.len(),
            ErrorCode::ALL.len() - 1,
            "one Python class per code"
        );
        assert_eq!(ErrorCode::from_u32(16), None);
    }
}
