//! Signed-operation parsing: JSON and hex inputs. Nothing panics; a parsed
//! operation round-trips through JSON and has a canonical message.
#![no_main]
use cyberfly_store::{check_owner, SignedOperation};
use cyberfly_store::{decode_hex, verify_uncached};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(op) = SignedOperation::from_json(s) {
            let _ = op.check_shape();
            let _ = op.canonical_message();
            let _ = op.legacy_message();
            let back = SignedOperation::from_json(&op.to_json()).expect("round trip");
            // NaN scores compare unequal; compare the canonical bytes instead
            assert_eq!(back.canonical_message(), op.canonical_message());
        }
        let _ = decode_hex(s, 32, "public key");
        let _ = decode_hex(s, 64, "signature");
        if let Some((db, pk)) = s.split_once('|') {
            let _ = check_owner(db, pk);
        }
    }
    if data.len() >= 96 {
        let (pk, rest) = data.split_at(32);
        let (sig, msg) = rest.split_at(64);
        let _ = verify_uncached(pk, msg, sig);
    }
});
