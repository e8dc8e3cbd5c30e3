//! The one error type of the core. Every variant has a stable numeric code
//! ([`Error::code`]) that the Python and C fronts reuse, so a failure means the
//! same thing whichever door it came through.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable numeric codes, shared with the bindings. Never renumber a code; add new
/// ones at the end of their block.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Not an error (used by the C ABI).
    Ok = 0,
    /// An argument was malformed (empty key, bad hex, NaN, …).
    InvalidArgument = 1,
    /// A configuration value was out of range.
    InvalidConfig = 2,
    /// A key is longer than `Config::max_key_len`.
    KeyTooLong = 3,
    /// A value is larger than `Config::max_value_len`.
    ValueTooLarge = 4,
    /// The store was closed.
    Closed = 5,
    /// The store directory is already open (this or another process).
    AlreadyOpen = 6,
    /// An operation on a key holding another type.
    WrongType = 7,
    /// Stored bytes could not be decoded.
    Corrupt = 8,
    /// A referenced blob is missing from the blob store.
    BlobMissing = 9,
    /// Input/output error from the file system.
    Io = 10,
    /// Error reported by sled.
    Index = 11,
    /// Error reported by the blob store (iroh-blobs).
    Blobs = 12,
    /// A signature did not verify.
    InvalidSignature = 13,
    /// The signer does not own the database.
    NotOwner = 14,
    /// An operation's timestamp is outside the freshness window.
    Stale = 15,
    /// An internal invariant broke (a bug); the message says where.
    Internal = 99,
}

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
            sled::Error::Io(io) => Error::Io(io),
            sled::Error::Corruption { .. } => Error::Corrupt(e.to_string()),
            other => Error::Index(other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("background task failed: {e}"))
    }
}

impl ErrorCode {
    /// A short, static description of the code (the C ABI renders it).
    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::Ok => "ok",
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::InvalidConfig => "invalid config",
            ErrorCode::KeyTooLong => "key too long",
            ErrorCode::ValueTooLarge => "value too large",
            ErrorCode::Closed => "store closed",
            ErrorCode::AlreadyOpen => "store already open",
            ErrorCode::WrongType => "wrong type",
            ErrorCode::Corrupt => "corrupt data",
            ErrorCode::BlobMissing => "blob missing",
            ErrorCode::Io => "i/o error",
            ErrorCode::Index => "index error",
            ErrorCode::Blobs => "blob store error",
            ErrorCode::InvalidSignature => "invalid signature",
            ErrorCode::NotOwner => "not owner",
            ErrorCode::Stale => "stale operation",
            ErrorCode::Internal => "internal error",
        }
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
}
