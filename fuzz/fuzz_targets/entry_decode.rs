//! Index entries and container metadata: decoding arbitrary bytes never
//! panics, and whatever decodes re-encodes to itself.
#![no_main]
use cyberfly_store::internals::Meta;
use cyberfly_store::internals::{Entry, EntryHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Entry::decode(data) {
        let again = e.encode();
        assert_eq!(Entry::decode(&again).expect("re-decodes"), e);
        let h = EntryHeader::decode(&again).expect("header");
        assert_eq!(h.hash, e.hash);
        assert_eq!(h.expires_at_ms(&again), e.expires_at_ms);
    }
    let _ = EntryHeader::decode(data).map(|h| h.expires_at_ms(data));
    if let Ok(m) = Meta::decode(data) {
        assert_eq!(Meta::decode(&m.encode()).expect("re-decodes"), m);
    }
});
