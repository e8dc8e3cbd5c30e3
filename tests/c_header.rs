//! The committed C header (include/cyberfly_store.h) is what cbindgen
//! generates from src/capi/ with cbindgen.toml: regenerate it and fail on any
//! difference. After changing src/capi/, rewrite it with
//! `CFS_BLESS_HEADER=1 cargo test --test c_header`.
//!
//! cbindgen reads the source, so this runs without the `capi` feature.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> Vec<u8> {
    let root = root();
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi/mod.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

fn header_path() -> PathBuf {
    root().join("include/cyberfly_store.h")
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
            "{} is stale: it differs from what cbindgen generates from src/capi/ \
             (fresh copy at {}; `diff` them to see the change). Regenerate with \
             CFS_BLESS_HEADER=1 cargo test --test c_header",
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
    // Every #[no_mangle] function under src/capi/ is declared in the header
    // (cbindgen skips items it cannot see, such as macro-generated ones).
    let h = std::fs::read_to_string(header_path()).expect("header");
    let dir = root().join("src/capi");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&dir).expect("src/capi") {
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
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}
