//! sled 0.34 panics on some damaged files instead of returning an error
//! ("tried to serialize Uninitialized", serialization.rs). [`catch`] turns
//! such a panic into `Corrupt` and keeps its text off stderr: the process's
//! panic hook is wrapped once so that it says nothing for a thread inside
//! [`catch`] (a panic anywhere else is reported as before).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use crate::error::{Error, Result};

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Run `f`; a panic inside it is `Corrupt` naming `what` and `path`.
pub fn catch<T>(what: &str, path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_in(what, path, "sled", f)
}

/// [`catch`], the panic attributed to `lib` in the message.
pub fn catch_in<T>(what: &str, path: &Path, lib: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(Error::Corrupt(format!(
            "{what} at {}: the file is damaged ({lib}: {why})",
            path.display()
        )))
    })
}
