//! Handles: every opaque type C holds a pointer to implements [`Castable`],
//! and every conversion between such a pointer and Rust goes through the
//! functions below (as in rustls-ffi). A NULL where a handle is required is
//! `CFS_RESULT_NULL_POINTER` with the message "`{Castable::NAME}` is NULL".

use super::error::Fail;

/// How C holds a handle type.
pub(crate) trait Ownership {}

/// Created by the library as a `Box`, handed to C with
/// [`to_boxed_mut_ptr`], released with [`free_box`] (or taken back with
/// [`try_box_from_ptr`]).
pub(crate) struct OwnershipBox;
impl Ownership for OwnershipBox {}

/// Owned by C (a plain struct C fills in and passes by pointer): only ever
/// borrowed.
pub(crate) struct OwnershipRef;
impl Ownership for OwnershipRef {}

/// A type C holds by pointer.
pub(crate) trait Castable {
    /// Box or Ref.
    type Ownership: Ownership;
    /// The parameter name in "… is NULL" messages.
    const NAME: &'static str;
}

/// Implement [`Castable`]: `castable!(Box: cfs_store => "store", …)`.
macro_rules! castable {
    ($own:ident: $($t:ty => $name:literal),* $(,)?) => {
        $( impl $crate::castable::Castable for $t {
            type Ownership = $crate::castable::$own;
            const NAME: &'static str = $name;
        } )*
    };
}
pub(crate) use castable;

/// Borrow a required handle.
pub(crate) fn try_ref_from_ptr<'a, C: Castable>(p: *const C) -> Result<&'a C, Fail> {
    // SAFETY: a non-NULL handle came from this library (or, for
    // `OwnershipRef`, points to a readable value) and is not freed.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null(C::NAME))
}

/// Borrow a handle that may be NULL.
pub(crate) fn opt_ref_from_ptr<'a, C: Castable>(p: *const C) -> Option<&'a C> {
    // SAFETY: as for `try_ref_from_ptr`.
    unsafe { p.as_ref() }
}

/// Borrow mutably a value C owns and may pass as NULL (a `cfs_string` or
/// `cfs_bytes` to free and zero).
pub(crate) fn opt_mut_from_ptr<'a, C: Castable<Ownership = OwnershipRef>>(
    p: *mut C,
) -> Option<&'a mut C> {
    // SAFETY: a non-NULL pointer points to a writable value this library
    // filled, not used elsewhere during the call.
    unsafe { p.as_mut() }
}

/// Borrow a required handle mutably (the caller does not share it with
/// another thread during the call: documented on the calls that take one).
pub(crate) fn try_mut_from_ptr<'a, C: Castable<Ownership = OwnershipBox>>(
    p: *mut C,
) -> Result<&'a mut C, Fail> {
    // SAFETY: as for `try_ref_from_ptr`, and not shared during the call.
    unsafe { p.as_mut() }.ok_or_else(|| Fail::null(C::NAME))
}

/// Hand a new handle to C.
pub(crate) fn to_boxed_mut_ptr<C: Castable<Ownership = OwnershipBox>>(v: C) -> *mut C {
    Box::into_raw(Box::new(v))
}

/// Take a handle back from C (`None` for NULL); C must not use it again.
pub(crate) fn try_box_from_ptr<C: Castable<Ownership = OwnershipBox>>(p: *mut C) -> Option<Box<C>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: `p` came from `to_boxed_mut_ptr` and is not used again.
        Some(unsafe { Box::from_raw(p) })
    }
}

/// Free a handle; NULL is accepted.
pub(crate) fn free_box<C: Castable<Ownership = OwnershipBox>>(p: *mut C) {
    drop(try_box_from_ptr(p));
}
