//! libcyberfly_store.{so,a}: the C ABI of `cyberfly_store_capi`
//! (bindings/c/src/) under the library name C programs link with. Its
//! `#[no_mangle]` functions are exported from both libraries as they are.

pub use cyberfly_store_capi::*;
