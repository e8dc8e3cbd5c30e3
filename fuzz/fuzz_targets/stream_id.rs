//! Stream ids and range bounds: parsing never panics; a parsed id prints
//! back to an equal id.
#![no_main]
use cyberfly_store::StreamId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(id) = StreamId::parse(s, 0) {
        assert_eq!(StreamId::parse(&id.to_string(), 0).expect("re-parses"), id);
    }
    let _ = StreamId::parse_bound(s, true);
    let _ = StreamId::parse_bound(s, false);
});
