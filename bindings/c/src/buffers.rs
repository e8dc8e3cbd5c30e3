//! Buffers and lists the library hands out, each with its own free function.
//!
//! Owned text is stored with a trailing NUL so that C can use it as a C
//! string; lengths never count it.

use std::ffi::c_char;

use super::castable::{castable, free_box, opt_mut_from_ptr, opt_ref_from_ptr, to_boxed_mut_ptr};
use super::{cfs_str, cfs_str_pair};

/// Owned bytes plus a trailing NUL.
pub(crate) struct Owned(Box<[u8]>);

impl Owned {
    pub(crate) fn new(b: &[u8]) -> Self {
        let mut v = Vec::with_capacity(b.len() + 1);
        v.extend_from_slice(b);
        v.push(0);
        Owned(v.into_boxed_slice())
    }

    pub(crate) fn view(&self) -> cfs_str {
        cfs_str {
            data: self.0.as_ptr().cast(),
            len: self.0.len() - 1,
        }
    }

    fn into_raw(self) -> (*mut u8, usize) {
        let len = self.0.len() - 1;
        (Box::into_raw(self.0).cast::<u8>(), len)
    }

    /// # Safety
    /// `data`/`len` came from [`Owned::into_raw`].
    unsafe fn from_raw(data: *mut u8, len: usize) -> Self {
        // SAFETY: `data` and `len` come from a buffer this library allocated (a boxed slice of `len + 1` bytes), per this function's contract.
        Owned(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len + 1)) })
    }
}

/// Text the library returns (a value, JSON, metrics): `len` bytes of UTF-8 at
/// `data`, followed by a NUL. Free with `cfs_string_free`. A zeroed
/// `cfs_string` (`data` NULL) is empty and safe to free.
#[repr(C)]
#[derive(Debug)]
pub struct cfs_string {
    pub data: *mut c_char,
    pub len: usize,
}

impl cfs_string {
    pub(crate) fn from_str(s: &str) -> Self {
        let (data, len) = Owned::new(s.as_bytes()).into_raw();
        cfs_string {
            data: data.cast(),
            len,
        }
    }
}

/// Bytes the library returns (a blob): `len` bytes at `data` (followed by a
/// NUL, not counted). Free with `cfs_bytes_free`.
#[repr(C)]
#[derive(Debug)]
pub struct cfs_bytes {
    pub data: *mut u8,
    pub len: usize,
}

impl cfs_bytes {
    pub(crate) fn from_slice(b: &[u8]) -> Self {
        let (data, len) = Owned::new(b).into_raw();
        cfs_bytes { data, len }
    }
}

/// Free the text of a `cfs_string` and zero it. NULL, or a zeroed string, is
/// accepted; freeing twice through the same pointer is harmless.
#[no_mangle]
pub extern "C" fn cfs_string_free(s: *mut cfs_string) {
    ffi_boundary!(value, {
        if let Some(s) = opt_mut_from_ptr(s) {
            if !s.data.is_null() {
                // SAFETY: `data`/`len` came from `Owned::into_raw`.
                drop(unsafe { Owned::from_raw(s.data.cast(), s.len) });
            }
            s.data = std::ptr::null_mut();
            s.len = 0;
        }
    });
}

/// Free the bytes of a `cfs_bytes` and zero it. NULL, or a zeroed value, is
/// accepted.
#[no_mangle]
pub extern "C" fn cfs_bytes_free(b: *mut cfs_bytes) {
    ffi_boundary!(value, {
        if let Some(b) = opt_mut_from_ptr(b) {
            if !b.data.is_null() {
                // SAFETY: `data`/`len` came from `Owned::into_raw`.
                drop(unsafe { Owned::from_raw(b.data, b.len) });
            }
            b.data = std::ptr::null_mut();
            b.len = 0;
        }
    });
}

// ---------------------------------------------------------------- lists

/// A list of texts, some possibly absent (`get_many`); free with
/// `cfs_str_list_free`.
pub struct cfs_str_list {
    pub(crate) items: Vec<Option<Owned>>,
}

/// A list of (key, value) texts (`hgetall`, a scan page); free with
/// `cfs_str_pair_list_free`.
pub struct cfs_str_pair_list {
    pub(crate) items: Vec<(Owned, Owned)>,
}

/// A sorted-set member with its score (input of `zadd`, items of `zrange`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_scored {
    pub member: cfs_str,
    pub score: f64,
}

/// A list of members with scores; free with `cfs_scored_list_free`.
pub struct cfs_scored_list {
    pub(crate) items: Vec<(Owned, f64)>,
}

/// A time-series point.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct cfs_ts_point {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// A list of time-series points; free with `cfs_ts_point_list_free`.
pub struct cfs_ts_point_list {
    pub(crate) items: Vec<cfs_ts_point>,
}

/// A geo member's position (items of `geopos`); `found` is false for a
/// member that is not in the set.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct cfs_geo_pos {
    pub found: bool,
    pub longitude: f64,
    pub latitude: f64,
}

/// A list of positions; free with `cfs_geo_pos_list_free`.
pub struct cfs_geo_pos_list {
    pub(crate) items: Vec<cfs_geo_pos>,
}

/// One match of a radius query: the member, its distance (in the query's
/// unit) when asked for, its position when asked for.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_geo_match {
    pub member: cfs_str,
    pub has_distance: bool,
    pub distance: f64,
    pub has_coord: bool,
    pub longitude: f64,
    pub latitude: f64,
}

/// A list of radius matches; free with `cfs_geo_match_list_free`.
pub struct cfs_geo_match_list {
    pub(crate) items: Vec<(Owned, cyberfly_store::GeoMatch)>,
}

/// A list of stream entries, each an id and (field, value) pairs; free with
/// `cfs_stream_entry_list_free`.
pub struct cfs_stream_entry_list {
    pub(crate) items: Vec<(Owned, Vec<(Owned, Owned)>)>,
}

castable!(OwnershipRef:
    cfs_string => "string",
    cfs_bytes => "bytes",
);

castable!(OwnershipBox:
    cfs_str_list => "list",
    cfs_str_pair_list => "list",
    cfs_scored_list => "list",
    cfs_ts_point_list => "list",
    cfs_geo_pos_list => "list",
    cfs_geo_match_list => "list",
    cfs_stream_entry_list => "list",
);

fn pair_view(p: &(Owned, Owned)) -> cfs_str_pair {
    cfs_str_pair {
        key: p.0.view(),
        value: p.1.view(),
    }
}

/// Number of items (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_str_list_len(list: *const cfs_str_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Item `i`, borrowed from the list (valid until it is freed); `data` is NULL
/// for an absent value or an index out of range.
#[no_mangle]
pub extern "C" fn cfs_str_list_get(list: *const cfs_str_list, i: usize) -> cfs_str {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .and_then(|o| o.as_ref())
            .map_or(cfs_str::NONE, Owned::view)
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_str_list_free(list: *mut cfs_str_list) {
    ffi_boundary!(value, { free_box(list) });
}

/// Number of pairs (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_str_pair_list_len(list: *const cfs_str_pair_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Pair `i`, borrowed from the list; both views are NULL out of range.
#[no_mangle]
pub extern "C" fn cfs_str_pair_list_get(list: *const cfs_str_pair_list, i: usize) -> cfs_str_pair {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .map_or(cfs_str_pair::NONE, pair_view)
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_str_pair_list_free(list: *mut cfs_str_pair_list) {
    ffi_boundary!(value, { free_box(list) });
}

/// Number of members (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_scored_list_len(list: *const cfs_scored_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Member `i` with its score, borrowed; `member.data` is NULL out of range.
#[no_mangle]
pub extern "C" fn cfs_scored_list_get(list: *const cfs_scored_list, i: usize) -> cfs_scored {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).and_then(|l| l.items.get(i)).map_or(
            cfs_scored {
                member: cfs_str::NONE,
                score: 0.0,
            },
            |(m, s)| cfs_scored {
                member: m.view(),
                score: *s,
            },
        )
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_scored_list_free(list: *mut cfs_scored_list) {
    ffi_boundary!(value, { free_box(list) });
}

/// Number of points (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_ts_point_list_len(list: *const cfs_ts_point_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Point `i` (zeroed out of range).
#[no_mangle]
pub extern "C" fn cfs_ts_point_list_get(list: *const cfs_ts_point_list, i: usize) -> cfs_ts_point {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .copied()
            .unwrap_or_default()
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_ts_point_list_free(list: *mut cfs_ts_point_list) {
    ffi_boundary!(value, { free_box(list) });
}

/// Number of positions (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_geo_pos_list_len(list: *const cfs_geo_pos_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Position `i` (`found` false out of range).
#[no_mangle]
pub extern "C" fn cfs_geo_pos_list_get(list: *const cfs_geo_pos_list, i: usize) -> cfs_geo_pos {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .copied()
            .unwrap_or_default()
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_geo_pos_list_free(list: *mut cfs_geo_pos_list) {
    ffi_boundary!(value, { free_box(list) });
}

/// Number of matches (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_geo_match_list_len(list: *const cfs_geo_match_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Match `i`, borrowed; `member.data` is NULL out of range.
#[no_mangle]
pub extern "C" fn cfs_geo_match_list_get(
    list: *const cfs_geo_match_list,
    i: usize,
) -> cfs_geo_match {
    ffi_boundary!(value, {
        // The absent match, also what a panic returns.
        let none = <cfs_geo_match as crate::boundary::OnPanic>::on_panic();
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .map_or(none, |(m, g)| cfs_geo_match {
                member: m.view(),
                has_distance: g.distance.is_some(),
                distance: g.distance.unwrap_or(0.0),
                has_coord: g.coord.is_some(),
                longitude: g.coord.map_or(0.0, |c| c.0),
                latitude: g.coord.map_or(0.0, |c| c.1),
            })
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_geo_match_list_free(list: *mut cfs_geo_match_list) {
    ffi_boundary!(value, { free_box(list) });
}

/// Number of entries (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_stream_entry_list_len(list: *const cfs_stream_entry_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// The id (`"{ms}-{seq}"`) of entry `i`, borrowed; NULL out of range.
#[no_mangle]
pub extern "C" fn cfs_stream_entry_list_id(
    list: *const cfs_stream_entry_list,
    i: usize,
) -> cfs_str {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .map_or(cfs_str::NONE, |e| e.0.view())
    })
}

/// Number of (field, value) pairs of entry `i` (0 out of range).
#[no_mangle]
pub extern "C" fn cfs_stream_entry_list_field_count(
    list: *const cfs_stream_entry_list,
    i: usize,
) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .map_or(0, |e| e.1.len())
    })
}

/// Field `j` of entry `i`, borrowed; NULL views out of range.
#[no_mangle]
pub extern "C" fn cfs_stream_entry_list_field(
    list: *const cfs_stream_entry_list,
    i: usize,
    j: usize,
) -> cfs_str_pair {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list)
            .and_then(|l| l.items.get(i))
            .and_then(|e| e.1.get(j))
            .map_or(cfs_str_pair::NONE, pair_view)
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_stream_entry_list_free(list: *mut cfs_stream_entry_list) {
    ffi_boundary!(value, { free_box(list) });
}

// ------------------------------------------------------------ constructors

pub(crate) fn str_list<S: AsRef<str>>(v: Vec<Option<S>>) -> *mut cfs_str_list {
    to_boxed_mut_ptr(cfs_str_list {
        items: v
            .into_iter()
            .map(|o| o.map(|s| Owned::new(s.as_ref().as_bytes())))
            .collect(),
    })
}

pub(crate) fn pair_list<A: AsRef<str>, B: AsRef<str>>(v: Vec<(A, B)>) -> *mut cfs_str_pair_list {
    to_boxed_mut_ptr(cfs_str_pair_list {
        items: v
            .into_iter()
            .map(|(a, b)| {
                (
                    Owned::new(a.as_ref().as_bytes()),
                    Owned::new(b.as_ref().as_bytes()),
                )
            })
            .collect(),
    })
}
