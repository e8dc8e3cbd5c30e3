//! The key space of the one sled tree (`data`): every namespace byte,
//! sub-entry tag, last-write-wins sub-tag and reserved `#` key, declared
//! here once (docs/ARCHITECTURE.md, "One tree, namespaces", describes the
//! layouts). The test below checks that they are distinct wherever two of
//! them could meet at the same position of a key.

// ---- namespaces: the first byte of every index key ----

/// `k | user key` → the key's entry (the metadata of every key).
pub const NS_ENTRY: u8 = b'k';
/// `s | u32 BE len | key | u64 BE version | tag | suffix` → a container's
/// sub-entry (hash field, list item, set member, …); tags in [`tag`].
pub const NS_SUB: u8 = b's';
/// `p | BLAKE3 hash` → (): a raw blob pinned by `add_blob`.
pub const NS_PIN: u8 = b'p';
/// `L | u64 BE timestamp | op_id | signer (32 bytes)` → a signed operation.
pub const NS_LOG: u8 = b'L';
/// `o | signer (32 bytes) | op_id` → its `L` key (de-duplication).
pub const NS_OPID: u8 = b'o';
/// `w | u32 BE len | key | sub-tag | …` → last-write-wins markers, the type
/// epoch and the operation count of a key; sub-tags in [`lww_tag`].
pub const NS_LWW: u8 = b'w';
/// `Q | seq (u64 BE)` → log key: what peers pull, in arrival order.
pub const NS_SEQ: u8 = b'Q';
/// `j | u32 BE len | key | u64 BE timestamp | op_id` → (): the operations of
/// a key, every type.
pub const NS_KEY_OPS: u8 = b'j';
/// `#…`: store metadata (the reserved keys below), never a user key's entry.
#[allow(dead_code)] // no key is built from it alone; the test checks the reserved keys start with it
pub const NS_META: u8 = b'#';

/// Sub-entry tags: the byte after `s | len | key | version`.
pub mod tag {
    pub const HASH: u8 = b'h';
    pub const LIST: u8 = b'l';
    pub const SET: u8 = b's';
    pub const ZMEMBER: u8 = b'm';
    pub const ZSCORE: u8 = b'z';
    pub const ZID: u8 = b'i';
    pub const STREAM: u8 = b'x';
    pub const TS: u8 = b't';
    pub const GEO: u8 = b'g';
}

/// Last-write-wins sub-tags: the byte after `w | len | key`.
pub mod lww_tag {
    /// `… | 0 | field/member/point` → (timestamp, op_id) of the last write.
    pub const MEMBER: u8 = 0;
    /// `… | 1` → (timestamp, op_id) of the key's greatest operation.
    pub const KEY: u8 = 1;
    /// `… | 2 | SortedSet member _id` → (timestamp, op_id) of the last write.
    pub const DOC_ID: u8 = 2;
    /// `… | 3` → the key's type epoch.
    pub const EPOCH: u8 = 3;
    /// `… | 4` → u64 BE: operations recorded for the key.
    pub const OP_COUNT: u8 = 4;
}

// ---- reserved keys (namespace `#`) ----

/// u64 BE: the number of operations in the log.
pub const LOG_COUNT_KEY: &[u8] = b"#oplog_count";
/// The last arrival number given out.
pub const SEQ_KEY: &[u8] = b"#oplog_seq";
/// What trusted opens have checked of the log.
pub const CHECKED_KEY: &[u8] = b"#oplog_checked";
/// The layout of the log's `L` and `o` keys.
pub const LAYOUT_KEY: &[u8] = b"#log_layout";
/// 16 random bytes naming this store's log (watermarks are kept per id).
pub const STORE_ID_KEY: &[u8] = b"#store_id";
/// The iroh secret key of this store's sync endpoint (a stable node id).
pub const ENDPOINT_KEY: &[u8] = b"#sync_endpoint_key";
/// `#sync_wm | peer store id` → u64 BE: how far this store has pulled.
pub const WATERMARK_PREFIX: &[u8] = b"#sync_wm|";
/// The nonce of the last clean close's warm-restart snapshot.
pub const NONCE_KEY: &[u8] = b"#warm_restart_nonce";
/// u64 BE: the durability mark last written before a flush (src/engine/mark.rs).
pub const MARK_KEY: &[u8] = b"#durable_mark";

#[cfg(test)]
mod tests {
    use super::*;

    const NAMESPACES: &[u8] = &[
        NS_ENTRY, NS_SUB, NS_PIN, NS_LOG, NS_OPID, NS_LWW, NS_SEQ, NS_KEY_OPS, NS_META,
    ];
    const TAGS: &[u8] = &[
        tag::HASH,
        tag::LIST,
        tag::SET,
        tag::ZMEMBER,
        tag::ZSCORE,
        tag::ZID,
        tag::STREAM,
        tag::TS,
        tag::GEO,
    ];
    const LWW_TAGS: &[u8] = &[
        lww_tag::MEMBER,
        lww_tag::KEY,
        lww_tag::DOC_ID,
        lww_tag::EPOCH,
        lww_tag::OP_COUNT,
    ];
    /// Every reserved key (and key prefix).
    const RESERVED: &[&[u8]] = &[
        LOG_COUNT_KEY,
        SEQ_KEY,
        CHECKED_KEY,
        LAYOUT_KEY,
        STORE_ID_KEY,
        ENDPOINT_KEY,
        WATERMARK_PREFIX,
        NONCE_KEY,
        MARK_KEY,
    ];

    fn distinct(what: &str, xs: &[u8]) {
        for (i, a) in xs.iter().enumerate() {
            for b in &xs[i + 1..] {
                assert_ne!(a, b, "{what}: {a:#04x} is used twice");
            }
        }
    }

    #[test]
    fn namespaces_are_distinct() {
        distinct("namespace", NAMESPACES);
    }

    #[test]
    fn sub_tags_are_distinct() {
        distinct("sub-entry tag", TAGS);
        distinct("last-write-wins sub-tag", LWW_TAGS);
    }

    #[test]
    fn reserved_keys_are_distinct_and_in_the_meta_namespace() {
        for (i, a) in RESERVED.iter().enumerate() {
            assert_eq!(
                a.first(),
                Some(&NS_META),
                "{:?}",
                String::from_utf8_lossy(a)
            );
            for (j, b) in RESERVED.iter().enumerate() {
                // No reserved key is a prefix of another (the watermark
                // prefix included: no other key starts with it).
                assert!(
                    i == j || !b.starts_with(a),
                    "{:?} is a prefix of {:?}",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                );
            }
        }
    }
}
