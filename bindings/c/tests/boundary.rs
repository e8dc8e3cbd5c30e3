//! Every `extern "C"` function of bindings/c/src/ goes through the panic
//! boundary: its body is exactly one `ffi_boundary!(…)` (see
//! src/boundary.rs). Checked on the source, so a new function that skips
//! the macro fails here.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src/") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Index just past the end of the string or char literal starting at `i`,
/// or `i + 1` for anything else (a lifetime, say).
fn skip_literal(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        }
        b'\'' if b.get(i + 1) == Some(&b'\\') => {
            let mut j = i + 2;
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            j + 1
        }
        b'\'' if b.get(i + 2) == Some(&b'\'') => i + 3,
        _ => i + 1,
    }
}

/// Index just past the bracket matching the one at `open`.
fn matching(b: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                i = skip_literal(b, i);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced brackets");
}

/// The names of the `extern "C"` functions (outside `#[cfg(test)]` modules)
/// whose body is not exactly one `ffi_boundary!(…)`, and how many there are.
fn unguarded(src: &str) -> (Vec<String>, usize) {
    let src = match src.find("#[cfg(test)]\nmod tests") {
        Some(i) => &src[..i],
        None => src,
    };
    let b = src.as_bytes();
    let (mut bad, mut n) = (Vec::new(), 0);
    let needle = "extern \"C\" fn ";
    let mut from = 0;
    while let Some(k) = src[from..].find(needle) {
        let start = from + k + needle.len();
        from = start;
        let name: String = src[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue; // a function pointer type: `extern "C" fn(…)`
        }
        n += 1;
        let params = start + src[start..].find('(').expect("parameters");
        let after = matching(b, params);
        let open = after + src[after..].find('{').expect("body");
        let close = matching(b, open);
        let body = src[open + 1..close - 1].trim();
        let ok = body.starts_with("ffi_boundary!(") && {
            let m = open + 1 + src[open + 1..].find("ffi_boundary!(").unwrap();
            let end = matching(b, m + "ffi_boundary!".len());
            // (a trailing `;` when the function returns nothing)
            matches!(src[end..close - 1].trim(), "" | ";")
        };
        if !ok {
            bad.push(name);
        }
    }
    (bad, n)
}

#[test]
fn every_extern_fn_goes_through_the_boundary() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let (mut bad, mut n) = (Vec::new(), 0);
    for f in &files {
        let src = std::fs::read_to_string(f).expect("read source");
        let (b, k) = unguarded(&src);
        n += k;
        bad.extend(b.into_iter().map(|name| format!("{}: {name}", f.display())));
    }
    assert!(
        n > 150,
        "found only {n} extern functions: is the scan broken?"
    );
    assert!(
        bad.is_empty(),
        "extern \"C\" functions whose body is not one ffi_boundary!(…):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_catches_a_function_without_the_macro() {
    let src = r#"
/// Fine.
#[no_mangle]
pub extern "C" fn cfs_a(p: *const u8) -> usize {
    ffi_boundary!(value, { if p.is_null() { 0 } else { 1 } })
}
pub type cb = Option<extern "C" fn(x: *mut u8)>;
#[no_mangle]
pub extern "C" fn cfs_b(p: *mut u8) {
    if !p.is_null() { drop(p) }
}
#[no_mangle]
pub extern "C" fn cfs_c(err: *mut *mut cfs_error) -> cfs_result {
    let _ = 1;
    ffi_boundary!(err, { Ok(()) })
}
#[no_mangle]
pub extern "C" fn cfs_d() -> cfs_result {
    ffi_boundary!(code, { let _ = "(}"; Ok(()) })
}
"#;
    let (bad, n) = unguarded(src);
    assert_eq!(n, 4);
    assert_eq!(bad, ["cfs_b", "cfs_c"]);
}
