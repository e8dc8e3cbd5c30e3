//! File helpers shared by the integration tests (included with `#[path]`).

use std::path::Path;

/// Copy a store directory tree, leaving out the directory lock file.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}
