//! JSONPath inputs against JSON documents: the first line is the path, the
//! rest the document. Parsing, querying and setting never panic.
#![no_main]
use cyberfly_store::internals::set_at_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (path, doc) = s.split_once('\n').unwrap_or((s, "{}"));
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(doc) else {
        let mut empty = serde_json::json!({"a": [1, {"b": null}]});
        let _ = set_at_path(&mut empty, path, &serde_json::json!(1));
        return;
    };
    let _ = set_at_path(&mut doc, path, &serde_json::json!({"x": 1}));
});
