//! The committed C header (include/cyberfly_store.h, at the top of the
//! workspace) is what cbindgen generates from bindings/c/src/ with
//! bindings/c/cbindgen.toml: regenerate it and fail on any difference. After
//! changing bindings/c/src/, rewrite it with
//! `CFS_BLESS_HEADER=1 cargo test -p cyberfly_store_c --test c_header`.

use std::path::{Path, PathBuf};

/// This crate's directory (bindings/c).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's top level, where include/ is.
fn top() -> PathBuf {
    root().join("../..")
}

fn generate() -> Vec<u8> {
    let root = root();
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

fn header_path() -> PathBuf {
    top().join("include/cyberfly_store.h")
}

#[test]
fn committed_header_is_fresh() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("CFS_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != fresh {
        let tmp = std::env::temp_dir().join("cyberfly_store.h.fresh");
        let _ = std::fs::write(&tmp, &fresh);
        panic!(
            "{} is stale: it differs from what cbindgen generates from bindings/c/src/ \
             (fresh copy at {}; `diff` them to see the change). Regenerate with \
             CFS_BLESS_HEADER=1 cargo test -p cyberfly_store_c --test c_header",
            path.display(),
            tmp.display()
        );
    }
}

#[test]
fn header_version_matches_the_crate() {
    let h = std::fs::read_to_string(header_path()).expect("header");
    let want = format!(
        "#define CYBERFLY_STORE_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        h.contains(&want),
        "cbindgen.toml's CYBERFLY_STORE_VERSION must be the crate's version: {want}"
    );
    let v: Vec<&str> = env!("CARGO_PKG_VERSION").split('.').collect();
    for (name, n) in ["MAJOR", "MINOR", "PATCH"].iter().zip(&v) {
        let d = format!("#define CYBERFLY_STORE_VERSION_{name} {n}");
        assert!(h.contains(&d), "header lacks `{d}`");
    }
}

#[test]
fn header_names_every_exported_function() {
    // Every #[no_mangle] function under bindings/c/src/ is declared in the header
    // (cbindgen skips items it cannot see, such as macro-generated ones).
    let h = std::fs::read_to_string(header_path()).expect("header");
    let dir = root().join("src");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&dir).expect("bindings/c/src") {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("rs") {
            continue;
        }
        let src = std::fs::read_to_string(&p).expect("source");
        let mut lines = src.lines();
        while let Some(l) = lines.next() {
            if l.trim() == "#[no_mangle]" {
                let sig = lines.next().unwrap_or_default();
                if let Some(rest) = sig.split("extern \"C\" fn ").nth(1) {
                    let name = rest.split('(').next().unwrap_or_default();
                    if !h.contains(&format!("{name}(")) {
                        missing.push(format!("{name} ({})", rel(&p)));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "not in the header: {missing:?}");
}

fn rel(p: &Path) -> String {
    p.strip_prefix(top()).unwrap_or(p).display().to_string()
}
