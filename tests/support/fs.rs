//! File helpers shared by the integration tests (included with `#[path]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Every file under `dir` (but `LOCK`'s lock state) with its bytes' hash.
#[allow(dead_code)] // not every test that includes this file uses it
pub fn tree_hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    fn walk(d: &Path, base: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.strip_prefix(base).unwrap().to_path_buf(), "dir".into());
                walk(&p, base, out);
            } else {
                let b = std::fs::read(&p).unwrap();
                out.insert(
                    p.strip_prefix(base).unwrap().to_path_buf(),
                    blake3::hash(&b).to_hex().to_string(),
                );
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}
