//! The tiered read cache: a hot tier (small, no TTL) and a warm tier (larger,
//! with TTL), both holding `Arc` values weighed in bytes.
//!
//! A lookup is synchronous and stays on the caller's thread; a hit clones an
//! `Arc`, never the value. Values enter the warm tier when a miss is resolved
//! and move to the hot tier on their next read.
//!
//! The warm tier is a moka cache (TTL, TinyLFU admission). The hot tier is
//! the path every cached read takes first, so it is a map of its own built
//! for that path: [`HOT_SHARDS`] shards, each a dense vector of entries
//! (keys up to 30 bytes inline) indexed by a `hashbrown` table of their
//! positions, under a `parking_lot` read-write lock,
//! evicted by generalized CLOCK (a use count per entry, up to 3, raised by
//! reads and lowered by the eviction hand, which evicts at 0)
//! within a per-shard byte budget. One hash of the key (foldhash, seeded once
//! per process) picks the epoch stripe, the shard and the table bucket. A hit
//! is one hash, one read lock and an atomic flag load; moka's hit recorded
//! the access time (`Instant::now()`), pushed a read record into its policy
//! channel and hashed with SipHash, about a third of an awaited `get` from
//! Python (docs/PERFORMANCE.md). Admission into a full shard is TinyLFU's:
//! each shard keeps a count-min sketch of its lookups ([`Sketch`]), and a
//! fill or a promotion displaces the least frequent of the next cold
//! entries only if the sketch counts more lookups of the candidate
//! ([`Shard::admit_frequent`]); the warm tier is the admission window, and
//! what admission evicts moves to it ([`Demote`]).
//!
//! Staleness: a reader that resolved a miss from an older index state must not
//! serve that value after the writer replaced it. Each key maps to one of
//! `STRIPES` epoch counters; a value filled into the warm tier carries the
//! epoch its reader loaded *before* reading the index, and a warm lookup
//! whose value's epoch differs from the stripe's current epoch is a miss.
//! The hot tier checks no epoch on a hit (that was one random read of a
//! 2 MiB array per hit, docs/PERFORMANCE.md): instead it never holds a value
//! older than an acknowledged write. The writer, after applying a batch and
//! before acknowledging it, calls [`TieredCache::written`]: per written key
//! it (1) bumps the key's stripe epoch, then (2) takes the key's hot shard's
//! write lock and removes the key. A promotion from warm to hot takes the
//! same shard's write lock, (a) compares the value's epoch with the stripe's
//! current one and refuses a stale value, then (b) inserts. The two critical
//! sections are ordered by the lock:
//!
//! - promoter first: its insert happens before the writer's removal, which
//!   takes the value out again before the acknowledgement;
//! - writer first: the bump (1) happens before the writer's unlock, which
//!   happens before the promoter's lock, so (a) sees the new epoch and
//!   refuses any value read from the index before the write.
//!
//! Either way no stale value is in the hot tier once the write is
//! acknowledged, and a warm value read before the write carries an older
//! epoch, so neither tier serves it afterwards. (An earlier design
//! invalidated both tiers around the bump, costing four moka calls per
//! written key and leaving a window in which a promotion could carry a
//! stale value into the hot tier; the one before this compared epochs on
//! every hot hit.) Stale warm values are not removed: they are overwritten
//! by the next fill or evicted by size or TTL.
//!
//! A hot entry is one allocation, a block ([`Head`]): its expiry, use
//! count and lengths, the key, and the value's text (up to
//! [`INLINE_VALUE`] bytes; a longer value's `Arc<str>`). A hit reads the
//! table's control bytes and slot, then the block, and
//! [`TieredCache::with`] lends the text to the caller's conversion under
//! the read lock ([`ValueRef`]): the Python and C bindings make their own
//! string from it, with nothing cloned or copied before.

use std::alloc::Layout;
use std::hash::BuildHasher;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use hashbrown::HashTable;
use moka::sync::Cache;
use parking_lot::RwLock;

use crate::engine::metrics::Metrics;

/// Epoch stripes: 2 MiB of counters; a write makes the other keys of its
/// stripe miss once, so more stripes mean fewer false misses.
const STRIPES: usize = 1 << 18;
/// Shards of the hot tier (a power of two): enough that two threads rarely
/// meet on one lock, few enough that a small budget still holds entries.
pub const HOT_SHARDS: usize = 64;
/// Bookkeeping bytes charged per hot-tier entry on top of key and value:
/// the block's 24-byte header and malloc's rounding (up to ~40), its
/// pointer in the entries' vector, which may be half empty after it grows
/// (up to 16), the table's 8-byte slot and control byte in a table that
/// may be less than half full (up to ~20), and for a value over
/// [`INLINE_VALUE`] its `Arc<str>` header and rounding (~32): about 110,
/// charged 256 as before the blocks (a 64-byte entry, a 4-byte slot and
/// the value's allocation, about 170), so that a budget holds the same
/// entries. Checked against the real heap by tests/cache_memory.rs.
const HOT_ENTRY_OVERHEAD: usize = 256;
/// The same for the warm tier (moka): moka's entry, key and deque nodes,
/// the `Arc<Cached>` and the `Arc<str>` header measured ~330 bytes
/// requested per entry (tests/cache_memory.rs), plus malloc's chunk headers
/// and rounding on the ~8 allocations. It was 64, which let a full tier
/// hold up to twice its bytes in small values.
const WARM_ENTRY_OVERHEAD: usize = 448;

/// The hash of a key, the same for every store in the process (the writer
/// computes stripes without a cache at hand); seeded at random once (from
/// the OS, through std's `RandomState`), so keys cannot be chosen to collide.
static HASHER: LazyLock<foldhash::fast::FixedState> = LazyLock::new(|| {
    foldhash::fast::FixedState::with_seed(
        std::collections::hash_map::RandomState::new().hash_one(0u64),
    )
});

#[inline]
fn hash(key: &str) -> u64 {
    hash_bytes(key.as_bytes())
}

#[inline]
fn hash_bytes(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

#[inline]
fn stripe_of(h: u64) -> usize {
    // The table uses the low bits (bucket) and the top 7 (tag); take others.
    (h >> 24) as usize % STRIPES
}

#[inline]
fn shard_of(h: u64) -> usize {
    (h >> 44) as usize % HOT_SHARDS
}

/// A cached value.
#[derive(Debug, Clone, PartialEq)]
pub enum CachedValue {
    String(Arc<str>),
}

impl CachedValue {
    fn weight(&self) -> usize {
        match self {
            CachedValue::String(s) => s.len(),
        }
    }
}

/// What the cache holds: the value, its expiry, and the epoch of its key's
/// stripe when it was read from the index.
#[derive(Debug, Clone)]
pub struct Cached {
    pub value: CachedValue,
    pub expires_at_ms: Option<u64>,
    /// Set by [`TieredCache::fill`].
    pub epoch: u64,
}

/// A cache hit: the value (an `Arc` clone) and its expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub value: CachedValue,
    pub expires_at_ms: Option<u64>,
}

fn weight(key: &str, v: &Cached) -> usize {
    key.len() + v.value.weight() + HOT_ENTRY_OVERHEAD
}

#[allow(clippy::borrowed_box)] // moka passes &K
fn weigh(k: &Box<str>, v: &Arc<Cached>) -> u32 {
    (k.len() + v.value.weight() + WARM_ENTRY_OVERHEAD).min(u32::MAX as usize) as u32
}

/// The hash of a key, as the writer records it for
/// [`TieredCache::written`].
#[inline]
pub fn key_hash(key: &str) -> u64 {
    hash(key)
}

/// The most passes of the CLOCK hand an entry's reads buy it.
const MAX_USES: u8 = 3;

/// A read of a hot entry: one more use, up to [`MAX_USES`] (written only
/// when it changes: hits on a hot key stay reads).
///
/// Whether the count was 0 (the entry was not read since it was admitted
/// or since CLOCK's hand last lowered it): only then is the read added to
/// the shard's sketch too, so that most hits touch no sketch line (a cache
/// miss of its own in a sketch of 2 MiB; counting every hit cost the
/// in-order cached `get` about a fifth, counting only these costs the
/// Zipf trace nothing measurable).
#[inline]
fn touch(uses: &AtomicU8) -> bool {
    let u = uses.load(Ordering::Relaxed);
    if u < MAX_USES {
        uses.store(u + 1, Ordering::Relaxed);
        return u == 0;
    }
    false
}

/// A count-min sketch of how often the keys of one shard were looked up
/// (TinyLFU's, as Caffeine's and moka's): 4-bit counters, 16 to a `u64`,
/// four counters a key, all in one 64-byte block (one cache line a
/// lookup), the estimate the least of the four. Every lookup of the shard,
/// hit or miss, adds one (a relaxed load and, below 15, a relaxed store per
/// counter: racing increments may be lost, which only lowers an estimate);
/// after `sample` additions every counter is halved (aging), so the sketch
/// follows what is popular now. It decides admission into a full shard
/// ([`Shard::admit_frequent`]).
/// Cold entries (at 0 uses, in CLOCK's order) an admission compares the
/// candidate with: it displaces the least frequent of them.
const VICTIMS: usize = 8;

struct Sketch {
    table: Box<[AtomicU64]>,
    /// Blocks of 8 words, minus one (the table is a power of two).
    block_mask: usize,
    additions: AtomicU32,
    sample: u32,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new(0)
    }
}

impl Sketch {
    /// For a shard of about `entries` entries: 16 counters per entry (four
    /// per key and row, as Caffeine sizes it), halved every 10 x `entries`.
    fn new(entries: usize) -> Self {
        if entries == 0 {
            return Sketch {
                table: Box::new([]),
                block_mask: 0,
                additions: AtomicU32::new(0),
                sample: u32::MAX,
            };
        }
        let words = entries.next_power_of_two().max(8);
        Sketch {
            table: (0..words).map(|_| AtomicU64::new(0)).collect(),
            block_mask: words / 8 - 1,
            additions: AtomicU32::new(0),
            sample: (10 * entries).min(u32::MAX as usize / 2) as u32,
        }
    }

    /// The block and the four (word, shift) counters of hash `h`.
    #[inline]
    fn counters(&self, h: u64) -> [(usize, u32); 4] {
        // Remixed: the shard, stripe and table already use bits of `h`.
        let r = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let block = (((r >> 40) as usize) & self.block_mask) << 3;
        let mut out = [(0, 0); 4];
        for (i, o) in out.iter_mut().enumerate() {
            let b = (r >> (i * 8)) as usize;
            *o = (block + (i << 1) + (b & 1), (((b >> 1) & 15) << 2) as u32);
        }
        out
    }

    /// One more lookup of hash `h`.
    #[inline]
    fn increment(&self, h: u64) {
        if self.table.is_empty() {
            return;
        }
        let mut added = false;
        for (w, shift) in self.counters(h) {
            let word = &self.table[w];
            let v = word.load(Ordering::Relaxed);
            if (v >> shift) & 15 < 15 {
                word.store(v + (1 << shift), Ordering::Relaxed);
                added = true;
            }
        }
        if added {
            let n = self.additions.load(Ordering::Relaxed) + 1;
            self.additions.store(n, Ordering::Relaxed);
            if n >= self.sample {
                self.age(n);
            }
        }
    }

    /// Halve every counter, once per `sample` additions (the thread that
    /// moves the count down does it).
    #[cold]
    fn age(&self, n: u32) {
        if self
            .additions
            .compare_exchange(n, n / 2, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        for w in self.table.iter() {
            let v = w.load(Ordering::Relaxed);
            w.store((v >> 1) & 0x7777_7777_7777_7777, Ordering::Relaxed);
        }
    }

    /// The estimated lookups of hash `h` (0 to 15).
    #[inline]
    fn frequency(&self, h: u64) -> u8 {
        if self.table.is_empty() {
            return 0;
        }
        self.counters(h)
            .iter()
            .map(|&(w, shift)| ((self.table[w].load(Ordering::Relaxed) >> shift) & 15) as u8)
            .min()
            .unwrap_or(0)
    }
}

/// Values up to this many bytes are copied into their entry's block (one
/// allocation, one chain of cache misses on a hit); longer ones stay in
/// their `Arc<str>`, which the block holds, so that a Rust hit clones it
/// instead of copying the bytes.
const INLINE_VALUE: usize = 1024;
/// `Head::val_len` of a block holding an `Arc<str>`.
const SHARED: u32 = u32::MAX;

/// The header of a hot-tier entry's block. The block is one allocation:
/// this header, the key's bytes, then the value's bytes (up to
/// [`INLINE_VALUE`]) or, at the next 8-byte boundary, an `Arc<str>`. A
/// hit follows one pointer from the table's slot to the block and reads
/// the key and the value from the same few adjacent lines; with the entry
/// and the value in two allocations (a 64-byte entry in a vector, then
/// the value's `Arc<str>`) a shuffled hit waited for two dependent cache
/// misses after the slot's (docs/PERFORMANCE.md).
#[repr(C)]
struct Head {
    /// `expires_at_ms`, with `u64::MAX` for none (a time never reached).
    expires: u64,
    /// The block's position in its shard's `entries` (for CLOCK's hand and
    /// removal); changed only under the shard's write lock.
    pos: AtomicU32,
    key_len: u32,
    /// The inline value's length, or [`SHARED`].
    val_len: u32,
    /// Generalized CLOCK: reads count up to [`MAX_USES`], the hand counts
    /// down and evicts an entry at 0, so that an entry read often survives
    /// more passes than one read once (closer to keeping the most frequent
    /// keys: Zipf reads, docs/PERFORMANCE.md).
    referenced: AtomicU8,
}

const HEAD: usize = size_of::<Head>();

/// A cached value as the cache lends it to a reader: text in a hot entry's
/// block, or a shared `Arc<str>` (a long value, or a warm hit).
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Inline(&'a str),
    Shared(&'a Arc<str>),
}

impl<'a> ValueRef<'a> {
    #[inline]
    pub fn as_str(self) -> &'a str {
        match self {
            ValueRef::Inline(s) => s,
            ValueRef::Shared(s) => s,
        }
    }

    /// An owned `Arc<str>`: a clone of a shared one, a copy of inline text.
    #[inline]
    pub fn to_arc(self) -> Arc<str> {
        match self {
            ValueRef::Inline(s) => Arc::from(s),
            ValueRef::Shared(s) => s.clone(),
        }
    }

    fn to_cached_value(self) -> CachedValue {
        CachedValue::String(self.to_arc())
    }
}

/// A pointer to a block: what the shard's table holds (8 bytes a slot).
/// The block is owned by the shard's `entries` ([`Block`]).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ptr(NonNull<Head>);

// SAFETY: a block is immutable after it is made but for its atomics, and
// lives as long as the shard's `Block` that owns it; the shard (behind its
// lock) hands out references only for as long as it is borrowed.
unsafe impl Send for Ptr {}
// SAFETY: as above.
unsafe impl Sync for Ptr {}

impl Ptr {
    /// The block, for as long as `owner` (its shard) is borrowed.
    #[inline]
    fn get<'a, O>(self, _owner: &'a O) -> Entry<'a> {
        // SAFETY: the block lives while its shard holds it, and `owner`
        // (the shard, or its entries) is borrowed for 'a.
        Entry(unsafe { self.0.as_ref() })
    }
}

/// A borrowed hot-tier entry.
#[derive(Clone, Copy)]
struct Entry<'a>(&'a Head);

impl<'a> Entry<'a> {
    #[inline]
    fn base(self) -> *const u8 {
        self.0 as *const Head as *const u8
    }

    #[inline]
    fn key(self) -> &'a [u8] {
        // SAFETY: the key's bytes follow the header (Block::new).
        unsafe { std::slice::from_raw_parts(self.base().add(HEAD), self.0.key_len as usize) }
    }

    #[inline]
    fn is(self, key: &str) -> bool {
        self.key() == key.as_bytes()
    }

    #[inline]
    fn value(self) -> ValueRef<'a> {
        let k = self.0.key_len as usize;
        let n = self.0.val_len;
        if n == SHARED {
            // SAFETY: Block::new wrote an Arc<str> at this aligned offset.
            ValueRef::Shared(unsafe { &*(self.base().add(shared_at(k)) as *const Arc<str>) })
        } else {
            // SAFETY: Block::new copied `n` bytes of a str after the key.
            ValueRef::Inline(unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    self.base().add(HEAD + k),
                    n as usize,
                ))
            })
        }
    }

    #[inline]
    fn expires_at_ms(self) -> Option<u64> {
        (self.0.expires != u64::MAX).then_some(self.0.expires)
    }

    #[inline]
    fn pos(self) -> usize {
        self.0.pos.load(Ordering::Relaxed) as usize
    }

    fn value_len(self) -> usize {
        self.value().as_str().len()
    }

    fn weight(self) -> u64 {
        (self.key().len() + self.value_len() + HOT_ENTRY_OVERHEAD) as u64
    }

    #[inline]
    fn prefetch(self) {
        let n = match self.value() {
            ValueRef::Inline(s) => HEAD + self.key().len() + s.len(),
            ValueRef::Shared(s) => {
                prefetch(s.as_ptr().wrapping_sub(16), s.len() + 16);
                return;
            }
        };
        prefetch(self.base(), n);
    }
}

/// The offset of a block's `Arc<str>` after a key of `key_len` bytes.
#[inline]
fn shared_at(key_len: usize) -> usize {
    (HEAD + key_len).next_multiple_of(align_of::<Arc<str>>())
}

/// The owner of one block: frees it (and drops its `Arc<str>`) when dropped.
struct Block(Ptr);

impl Block {
    /// A block's layout: `inline` the value's length when it is copied
    /// in, `None` when the block holds an `Arc<str>`.
    fn layout(key_len: usize, inline: Option<usize>) -> Layout {
        let size = match inline {
            Some(n) => HEAD + key_len + n,
            None => shared_at(key_len) + size_of::<Arc<str>>(),
        };
        Layout::from_size_align(size, align_of::<Head>().max(align_of::<Arc<str>>()))
            .expect("a block's layout")
    }

    fn new(key: &str, value: &CachedValue, expires: u64, referenced: u8) -> Block {
        let CachedValue::String(v) = value;
        let inline = v.len() <= INLINE_VALUE;
        let layout = Block::layout(key.len(), inline.then_some(v.len()));
        // SAFETY: the layout is not zero-sized (it holds the header); the
        // writes below stay inside it, the Arc at an aligned offset.
        unsafe {
            let p = std::alloc::alloc(layout);
            let Some(nn) = NonNull::new(p as *mut Head) else {
                std::alloc::handle_alloc_error(layout)
            };
            nn.as_ptr().write(Head {
                expires,
                pos: AtomicU32::new(0),
                key_len: u32::try_from(key.len()).expect("a key is < 4 GiB"),
                val_len: if inline { v.len() as u32 } else { SHARED },
                referenced: AtomicU8::new(referenced),
            });
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(HEAD), key.len());
            if inline {
                std::ptr::copy_nonoverlapping(v.as_ptr(), p.add(HEAD + key.len()), v.len());
            } else {
                (p.add(shared_at(key.len())) as *mut Arc<str>).write(v.clone());
            }
            Block(Ptr(nn))
        }
    }

    #[inline]
    fn entry(&self) -> Entry<'_> {
        self.0.get(self)
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let e = self.entry();
        let k = e.key().len();
        let shared = e.0.val_len == SHARED;
        let layout = Block::layout(k, (!shared).then_some(e.0.val_len as usize));
        // SAFETY: the block was allocated with this layout by Block::new
        // (the same key length and value); nothing refers to it any more
        // (its shard dropped its slot and its entry).
        unsafe {
            let p = self.0 .0.as_ptr() as *mut u8;
            if shared {
                std::ptr::drop_in_place(p.add(shared_at(k)) as *mut Arc<str>);
            }
            std::alloc::dealloc(p, layout);
        }
    }
}

#[inline]
fn rehash(e: Entry<'_>) -> u64 {
    hash_bytes(e.key())
}

/// One shard of the hot tier: the entries' blocks ([`Head`]), owned by a
/// vector in the order they were admitted (CLOCK's hand walks it), and a
/// hash table of pointers to them (8 bytes a bucket, plus hashbrown's
/// control byte). A hit reads the control bytes, the slot and the block.
/// (The entries were 64-byte structs in the vector with the table holding
/// their positions, and the value a third allocation: a shuffled hit then
/// waited on the slot, the entry and the value, one after the other.)
/// Removing an entry moves the last block pointer into its place
/// (`swap_remove`) and updates that block's position; no slot moves.
#[derive(Default)]
struct Shard {
    index: HashTable<Ptr>,
    entries: Vec<Block>,
    hand: usize,
    bytes: u64,
    sketch: Sketch,
}

impl Shard {
    #[inline]
    fn find(&self, h: u64, key: &str) -> Option<Entry<'_>> {
        self.index
            .find(h, |p| p.get(self).is(key))
            .map(|p| p.get(self))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at position `i` of `entries`.
    #[inline]
    fn at(&self, i: usize) -> Entry<'_> {
        self.entries[i].entry()
    }

    /// Insert or replace, evicting by CLOCK so that the shard fits `budget`
    /// (`w <= budget`, `w` the weight of `key` with `value`).
    #[cfg(test)]
    fn insert(&mut self, h: u64, key: &str, value: &Cached, w: u64, budget: u64) {
        self.insert_as(h, key, value, w, budget, true);
    }

    /// [`insert`](Self::insert), a new entry starting with CLOCK's bit
    /// `referenced` (a promotion was read twice: set; a first read or a
    /// write: clear, so that it is the first to go unless read again).
    fn insert_as(
        &mut self,
        h: u64,
        key: &str,
        value: &Cached,
        w: u64,
        budget: u64,
        referenced: bool,
    ) {
        let expires = value.expires_at_ms.unwrap_or(u64::MAX);
        let mut uses = u8::from(referenced);
        if let Some(old) = self.find(h, key) {
            // A block is immutable: the new value gets a new one, in the
            // old one's place, keeping at least one use.
            uses = old.0.referenced.load(Ordering::Relaxed).max(1);
            let pos = old.pos();
            self.remove_at(h, pos);
        }
        // Room first, so the hand never takes the entry it admits.
        while self.bytes + w > budget && !self.entries.is_empty() {
            self.evict_one();
        }
        let pos = u32::try_from(self.entries.len()).expect("a shard holds < 2^32 entries");
        let b = Block::new(key, &value.value, expires, uses);
        b.entry().0.pos.store(pos, Ordering::Relaxed);
        let p = b.0;
        self.entries.push(b);
        self.index
            .insert_unique(h, p, |p| rehash(p.get(&self.entries)));
        self.bytes += w;
        while self.bytes > budget && !self.entries.is_empty() {
            self.evict_one();
        }
    }

    /// Remove the entry at `pos` (its slot hashes to `h`): the last entry
    /// moves into its place (its slot points at its block, which does not
    /// move: only the block's position changes).
    fn remove_at(&mut self, h: u64, pos: usize) {
        let p = self.entries[pos].0;
        if let Ok(o) = self.index.find_entry(h, |&q| q == p) {
            o.remove();
        }
        let b = self.entries.swap_remove(pos);
        self.bytes -= b.entry().weight();
        if let Some(moved) = self.entries.get(pos) {
            moved.entry().0.pos.store(pos as u32, Ordering::Relaxed);
        }
        drop(b);
    }

    /// Advance the hand to the first entry not read since the hand last
    /// passed it, clearing the bits it passes, and evict that entry.
    fn evict_one(&mut self) {
        let n = self.entries.len();
        // MAX_USES + 1 turns find a victim: each counts every entry down.
        for _ in 0..(MAX_USES as usize + 1) * n + 1 {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            let u = &self.at(i).0.referenced;
            let v = u.load(Ordering::Relaxed);
            if v > 0 {
                u.store(v - 1, Ordering::Relaxed);
                continue;
            }
            let h = rehash(self.at(i));
            self.remove_at(h, i);
            // The entry moved into `i` has not been looked at yet.
            self.hand = i;
            return;
        }
    }

    /// Remove the entries whose key hashes to `h` (one, or rarely none; a
    /// full 64-bit collision removes another key too, which is only a miss).
    fn remove_hash(&mut self, h: u64) {
        loop {
            let Some(pos) = self
                .index
                .find(h, |p| rehash(p.get(self)) == h)
                .map(|p| p.get(self).pos())
            else {
                return;
            };
            self.remove_at(h, pos);
        }
    }

    fn clear(&mut self) {
        let sketch = std::mem::take(&mut self.sketch);
        *self = Shard {
            sketch,
            ..Shard::default()
        };
    }

    /// Advance the hand as [`evict_one`](Self::evict_one) does, to the
    /// next entry at 0 uses, and return its position without evicting it
    /// (the hand stays on it).
    fn victim(&mut self) -> usize {
        let n = self.entries.len();
        for _ in 0..(MAX_USES as usize + 1) * n + 1 {
            let i = self.hand % n;
            let u = &self.at(i).0.referenced;
            let v = u.load(Ordering::Relaxed);
            if v == 0 {
                self.hand = i;
                return i;
            }
            u.store(v - 1, Ordering::Relaxed);
            self.hand = (i + 1) % n;
        }
        self.hand % n
    }

    /// TinyLFU admission into a full shard: insert `key` (hash `h`, weight
    /// `w <= budget`) if it fits, or is present, or else if the sketch
    /// counts more lookups of it than of each entry CLOCK would evict for
    /// it. A losing candidate is not inserted and the victim stays under
    /// the hand, to face the next candidate. Whether it was inserted.
    #[allow(clippy::too_many_arguments)]
    fn admit_frequent(
        &mut self,
        h: u64,
        key: &str,
        value: &Cached,
        w: u64,
        budget: u64,
        referenced: bool,
        evicted: &mut Evicted,
    ) -> bool {
        if self.bytes + w > budget && self.find(h, key).is_none() {
            let f = self.sketch.frequency(h);
            while self.bytes + w > budget && !self.entries.is_empty() {
                // The least frequent of the next VICTIMS entries at 0 uses.
                let mut best = (u8::MAX, 0, 0);
                for _ in 0..VICTIMS.min(self.entries.len()) {
                    let v = self.victim();
                    let vh = rehash(self.at(v));
                    let fv = self.sketch.frequency(vh);
                    if fv < best.0 {
                        best = (fv, v, vh);
                    }
                    self.hand = (v + 1) % self.entries.len();
                }
                let (fv, v, vh) = best;
                if fv >= f {
                    return false;
                }
                let e = self.at(v);
                if let Ok(k) = std::str::from_utf8(e.key()) {
                    evicted.push((vh, k.into(), e.value().to_cached_value(), e.expires_at_ms()));
                }
                self.remove_at(vh, v);
            }
        }
        self.insert_as(h, key, value, w, budget, referenced);
        true
    }
}

/// A shard's lock on its own cache lines (two, for the adjacent-line
/// prefetcher): threads reading different shards do not share a line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(RwLock<Shard>);

impl std::ops::Deref for Padded {
    type Target = RwLock<Shard>;
    #[inline]
    fn deref(&self) -> &RwLock<Shard> {
        &self.0
    }
}

/// Entries an admission evicted: (hash, key, value, expiry).
type Evicted = Vec<(u64, Box<str>, CachedValue, Option<u64>)>;
/// Evicted entries with their epochs, for the warm tier.
type Demoted = Vec<(Box<str>, Arc<Cached>)>;

/// What an admission needs to move the entries it evicts from the hot tier
/// to the warm tier (demotion) with a correct epoch: the stripes and the
/// writer's group counters. Called under the shard's write lock.
struct Demote<'a> {
    epochs: &'a [AtomicU64],
    generation: &'a AtomicU64,
    done: &'a AtomicU64,
}

impl Demote<'_> {
    /// The evicted entries with the epoch their value is current at, or
    /// none if a write group is under way. Under the shard's lock, a hot
    /// entry is the latest value of its key unless a writer bumped the
    /// key's stripe and has not yet removed the key (it needs this lock):
    /// load the stripe first; if the writer's bump is in it, its group
    /// started before, so the started count read next is ahead of the
    /// finished count and nothing is demoted; if not, the epoch read is
    /// older than that bump, which makes the demoted value stale in the
    /// warm tier.
    fn epochs_of(&self, evicted: Evicted) -> Demoted {
        if evicted.is_empty() {
            return Vec::new();
        }
        let epochs: Vec<u64> = evicted
            .iter()
            .map(|e| self.epochs[stripe_of(e.0)].load(Ordering::SeqCst))
            .collect();
        let started = self.generation.load(Ordering::SeqCst);
        if self.done.load(Ordering::SeqCst) != started {
            return Vec::new();
        }
        evicted
            .into_iter()
            .zip(epochs)
            .map(|((_, k, value, expires_at_ms), epoch)| {
                (
                    k,
                    Arc::new(Cached {
                        value,
                        expires_at_ms,
                        epoch,
                    }),
                )
            })
            .collect()
    }
}

/// The hot tier: sharded, CLOCK-evicted, bounded in bytes per shard.
struct HotTier {
    shards: Box<[Padded]>,
    shard_budget: u64,
}

/// Keys looked up under one round of shard locks by
/// [`TieredCache::with_many`].
const MANY_ROUND: usize = 128;
const _: () = assert!(HOT_SHARDS <= 64); // a shard set is a u64 mask

/// Ask the CPU to load the lines of `len` bytes from `start` (up to four
/// lines), without waiting for them.
#[inline]
fn prefetch(start: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let lines = (start as usize % 64 + len).div_ceil(64).min(4);
        for l in 0..lines {
            // SAFETY: prefetching has no effect on memory and cannot fault.
            #[allow(unused_unsafe)]
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.wrapping_add(l * 64) as *const i8,
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, len);
}

impl HotTier {
    fn new(bytes: u64) -> Self {
        let shard_budget = bytes / HOT_SHARDS as u64;
        // Entries of a full shard, if values were about 64 bytes.
        let entries = (shard_budget / (HOT_ENTRY_OVERHEAD as u64 + 64 + 16)) as usize;
        HotTier {
            shards: (0..HOT_SHARDS)
                .map(|_| {
                    Padded(RwLock::new(Shard {
                        sketch: Sketch::new(entries),
                        ..Shard::default()
                    }))
                })
                .collect(),
            shard_budget,
        }
    }

    /// `f` of the entry's value and expiry, under the shard's read lock
    /// (the value is not cloned).
    /// On a miss `f` is handed back.
    #[inline]
    fn with<R, F: FnOnce(ValueRef<'_>, Option<u64>) -> R>(
        &self,
        h: u64,
        key: &str,
        f: F,
    ) -> Result<R, F> {
        let shard = self.shards[shard_of(h)].read();
        let Some(s) = shard.find(h, key) else {
            shard.sketch.increment(h);
            return Err(f);
        };
        if touch(&s.0.referenced) {
            shard.sketch.increment(h);
        }
        Ok(f(s.value(), s.expires_at_ms()))
    }

    /// [`with`](Self::with) for up to [`MANY_ROUND`] keys (hashes `hs`),
    /// `out[j]` = `Some(f(value, expiry))` for each hot key and `None` for
    /// the others. The shards the keys fall in are read-locked once each,
    /// in ascending order, for the whole round: the lookups then run without
    /// an atomic read-modify-write between them, so the CPU overlaps their
    /// cache misses (one lock per key serialized them), and the values'
    /// lines are prefetched before `f` touches them. Returns the hits.
    ///
    /// No deadlock: writers and promotions hold one shard lock at a time,
    /// and a round locks each shard at most once, in one order.
    fn with_many<K: AsRef<str>, R>(
        &self,
        hs: &[u64],
        keys: &[K],
        f: &mut impl FnMut(ValueRef<'_>, Option<u64>) -> R,
        out: &mut Vec<Option<R>>,
    ) -> u64 {
        debug_assert!(hs.len() == keys.len() && keys.len() <= MANY_ROUND);
        let mut mask = 0u64;
        for &h in hs {
            mask |= 1 << shard_of(h);
        }
        let mut guards: [Option<parking_lot::RwLockReadGuard<'_, Shard>>; HOT_SHARDS] =
            [const { None }; HOT_SHARDS];
        let mut bits = mask;
        while bits != 0 {
            let s = bits.trailing_zeros() as usize;
            guards[s] = Some(self.shards[s].read());
            bits &= bits - 1;
        }
        let mut found: [Option<Entry<'_>>; MANY_ROUND] = [None; MANY_ROUND];
        for (j, (&h, k)) in hs.iter().zip(keys).enumerate() {
            let shard = guards[shard_of(h)].as_ref().expect("locked above");
            if let Some(e) = shard.find(h, k.as_ref()) {
                if touch(&e.0.referenced) {
                    shard.sketch.increment(h);
                }
                e.prefetch();
                found[j] = Some(e);
            } else {
                shard.sketch.increment(h);
            }
        }
        let mut hits = 0;
        for e in &found[..keys.len()] {
            out.push(e.map(|e| {
                hits += 1;
                f(e.value(), e.expires_at_ms())
            }));
        }
        hits
    }

    /// Promote `value` unless its key's stripe moved past the value's epoch:
    /// the check is made under the shard's write lock, which the writer
    /// takes after bumping the stripe to remove the key (module doc).
    /// Whether the entry was admitted (stale, or larger than a shard's
    /// budget: not).
    fn promote(
        &self,
        h: u64,
        key: &str,
        value: &Cached,
        stripe: &AtomicU64,
        demote: Option<&Demote<'_>>,
    ) -> (bool, Demoted) {
        let w = weight(key, value) as u64;
        if w > self.shard_budget {
            return (false, Vec::new());
        }
        let mut shard = self.shards[shard_of(h)].write();
        if stripe.load(Ordering::SeqCst) != value.epoch {
            return (false, Vec::new());
        }
        let mut evicted = Vec::new();
        let ok = shard.admit_frequent(h, key, value, w, self.shard_budget, true, &mut evicted);
        let out = demote.map(|d| d.epochs_of(evicted)).unwrap_or_default();
        drop(shard);
        (ok, out)
    }

    /// Admit `value` only into free room of its shard (no eviction), as a
    /// new entry not yet referenced, or replace the key's entry. With
    /// `stripe`, refuse a value whose epoch the stripe moved past (checked
    /// under the write lock, as in [`promote`](Self::promote)). Whether it
    /// was admitted.
    fn admit(&self, h: u64, key: &str, value: &Cached, stripe: Option<&AtomicU64>) -> bool {
        self.admit_as(h, key, value, stripe, None).0
    }

    /// [`admit`](Self::admit), and with `frequent`, into a full shard too
    /// when the sketch counts more lookups of the key than of the entries
    /// it would displace ([`Shard::admit_frequent`]).
    fn admit_as(
        &self,
        h: u64,
        key: &str,
        value: &Cached,
        stripe: Option<&AtomicU64>,
        frequent: Option<&Demote<'_>>,
    ) -> (bool, Demoted) {
        let w = weight(key, value) as u64;
        if w > self.shard_budget {
            return (false, Vec::new());
        }
        let mut shard = self.shards[shard_of(h)].write();
        if let Some(stripe) = stripe {
            if stripe.load(Ordering::SeqCst) != value.epoch {
                return (false, Vec::new());
            }
        }
        if let Some(d) = frequent {
            let mut evicted = Vec::new();
            let ok = shard.admit_frequent(h, key, value, w, self.shard_budget, false, &mut evicted);
            let out = d.epochs_of(evicted);
            drop(shard);
            return (ok, out);
        }
        if shard.bytes + w > self.shard_budget && shard.find(h, key).is_none() {
            return (false, Vec::new());
        }
        shard.insert_as(h, key, value, w, self.shard_budget, false);
        (true, Vec::new())
    }

    fn remove(&self, h: u64) {
        self.shards[shard_of(h)].write().remove_hash(h);
    }

    fn clear(&self) {
        for s in self.shards.iter() {
            s.write().clear();
        }
    }

    /// (entries, weighted bytes).
    fn size(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let s = s.read();
            (n + s.len() as u64, b + s.bytes)
        })
    }
}

pub struct TieredCache {
    hot: HotTier,
    warm: Cache<Box<str>, Arc<Cached>>,
    epochs: Box<[AtomicU64]>,
    /// Bumped by [`written`](Self::written) before it touches any key: a
    /// preload that loaded it before reading an entry admits the entry only
    /// if no write group began since ([`preload`](Self::preload)).
    generation: AtomicU64,
    /// Write groups finished ([`written`](Self::written) returned): equal
    /// to `generation` when none is under way (demotion, [`Demote`]).
    done: AtomicU64,
}

impl TieredCache {
    pub fn new(hot_bytes: u64, warm_bytes: u64, warm_ttl: Duration) -> Self {
        let warm = Cache::builder()
            .max_capacity(warm_bytes)
            .weigher(weigh)
            .time_to_live(warm_ttl)
            .build();
        TieredCache {
            hot: HotTier::new(hot_bytes),
            warm,
            epochs: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            generation: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    fn demote(&self) -> Demote<'_> {
        Demote {
            epochs: &self.epochs,
            generation: &self.generation,
            done: &self.done,
        }
    }

    /// Entries an admission evicted from the hot tier go to the warm tier.
    fn demoted(&self, entries: Demoted) {
        for (k, v) in entries {
            self.warm.insert(k, v);
        }
    }

    /// The epoch to pass to [`fill`](Self::fill); load it before reading the index.
    #[inline]
    pub fn epoch(&self, key: &str) -> u64 {
        self.epochs[stripe_of(hash(key))].load(Ordering::SeqCst)
    }

    /// Look a key up in both tiers, promoting warm hits to the hot tier, and
    /// return `f` of its value and expiry (`None` on a miss). A hot hit
    /// calls `f` under the shard's read lock, so the value is not cloned;
    /// keep `f` short. A warm value older than the last write to its stripe
    /// is a miss; the hot tier holds no such value (module doc).
    #[inline]
    pub fn with<R>(
        &self,
        key: &str,
        m: &Metrics,
        f: impl FnOnce(ValueRef<'_>, Option<u64>) -> R,
    ) -> Option<R> {
        let h = hash(key);
        match self.hot.with(h, key, f) {
            Ok(r) => {
                m.hot_hits.inc();
                Some(r)
            }
            Err(f) => self.with_warm(h, key, m, f),
        }
    }

    /// [`with`](Self::with) for many keys: `f` of each key's value and
    /// expiry, in order, `None` for a miss (the warm tier is tried for the
    /// keys the hot tier misses, one by one). Faster than a loop of `with`:
    /// the hot lookups of up to 128 keys share one round of shard locks.
    pub fn with_many<K: AsRef<str>, R>(
        &self,
        keys: &[K],
        m: &Metrics,
        mut f: impl FnMut(ValueRef<'_>, Option<u64>) -> R,
    ) -> Vec<Option<R>> {
        let mut out = Vec::with_capacity(keys.len());
        let mut hs = [0u64; MANY_ROUND];
        let mut hits = 0;
        for round in keys.chunks(MANY_ROUND) {
            let hs = &mut hs[..round.len()];
            for (h, k) in hs.iter_mut().zip(round) {
                *h = hash(k.as_ref());
            }
            let start = out.len();
            hits += self.hot.with_many(hs, round, &mut f, &mut out);
            for (j, (&h, k)) in hs.iter().zip(round).enumerate() {
                if out[start + j].is_none() {
                    out[start + j] = self.with_warm(h, k.as_ref(), m, &mut f);
                }
            }
        }
        m.hot_hits.inc_by(hits);
        out
    }

    /// [`with`](Self::with) returning the value (an `Arc` clone) and expiry.
    #[inline]
    pub fn get(&self, key: &str, m: &Metrics) -> Option<Hit> {
        self.with(key, m, |v, e| Hit {
            value: v.to_cached_value(),
            expires_at_ms: e,
        })
    }

    #[cold]
    fn with_warm<R>(
        &self,
        h: u64,
        key: &str,
        m: &Metrics,
        f: impl FnOnce(ValueRef<'_>, Option<u64>) -> R,
    ) -> Option<R> {
        let stripe = &self.epochs[stripe_of(h)];
        let current = stripe.load(Ordering::SeqCst);
        if let Some(v) = self.warm.get(key) {
            if v.epoch == current {
                m.warm_hits.inc();
                let (ok, demoted) = self.hot.promote(h, key, &v, stripe, Some(&self.demote()));
                if ok {
                    self.warm.invalidate(key);
                }
                self.demoted(demoted);
                let CachedValue::String(s) = &v.value;
                return Some(f(ValueRef::Shared(s), v.expires_at_ms));
            }
        }
        m.misses.inc();
        None
    }

    /// Insert a value read from the index after loading `epoch` (unless a
    /// write to the key's stripe already happened): into the hot tier
    /// while its shard has free room (admission on first read: the next
    /// read is a hot hit, docs/ARCHITECTURE.md "Reads"), else into the
    /// warm tier, from which a second read promotes it (the frequency
    /// filter of a full hot tier).
    pub fn fill(&self, key: &str, epoch: u64, value: Arc<Cached>) {
        let h = hash(key);
        let stripe = &self.epochs[stripe_of(h)];
        if stripe.load(Ordering::SeqCst) != epoch {
            return;
        }
        let mut v = (*value).clone(); // clones an Arc<str>, not the text
        v.epoch = epoch;
        let (ok, demoted) = self
            .hot
            .admit_as(h, key, &v, Some(stripe), Some(&self.demote()));
        self.demoted(demoted);
        if ok {
            return;
        }
        if stripe.load(Ordering::SeqCst) == epoch {
            self.warm.insert(key.into(), Arc::new(v));
        }
    }

    /// [`fill`](Self::fill) into the warm tier only (as every fill did
    /// before admission on first read; the tests of the warm tier use it).
    #[cfg(test)]
    pub fn fill_warm(&self, key: &str, epoch: u64, value: Arc<Cached>) {
        if self.epoch(key) != epoch {
            return;
        }
        let mut v = (*value).clone();
        v.epoch = epoch;
        self.warm.insert(key.into(), Arc::new(v));
    }

    /// The write generation, to load before reading an entry for
    /// [`preload`](Self::preload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Admit a value read from the index by the warm-up after open into
    /// free room of the hot tier, unless a write group began since
    /// `generation` was loaded (checked under the shard's write lock: a
    /// group that begins after the check removes the key after the insert,
    /// as for a promotion). Whether it was admitted (`false` also when the
    /// shard is full).
    pub fn preload(&self, key: &str, generation: u64, value: &Cached) -> bool {
        let h = hash(key);
        let w = weight(key, value) as u64;
        if w > self.hot.shard_budget {
            return false;
        }
        let mut shard = self.hot.shards[shard_of(h)].write();
        if self.generation.load(Ordering::SeqCst) != generation
            || shard.bytes + w > self.hot.shard_budget
            || shard.find(h, key).is_some()
        {
            return false;
        }
        shard.insert_as(h, key, value, w, self.hot.shard_budget, false);
        true
    }

    /// Whether [`write_through`](Self::write_through) can admit anything
    /// (the hot tier has a budget).
    pub fn writes_through(&self) -> bool {
        self.hot.shard_budget > 0
    }

    /// Called by the writer after [`written`](Self::written), before the
    /// acknowledgement, with the string values it just wrote (`(hash, key,
    /// value)`): each is admitted into free room of the hot tier, so that
    /// a read right after a write is a hit. No eviction: a bulk load does
    /// not push out what readers use. No epoch check is needed: the writer
    /// is the only one that changes the index, and a later write removes
    /// the key again (in `written`) before it is acknowledged.
    pub fn write_through(&self, values: impl Iterator<Item = (u64, String, Cached)>) {
        for (h, key, v) in values {
            self.hot.admit(h, &key, &v, None);
        }
    }

    /// Called by the writer after it applied writes to the keys with these
    /// hashes ([`key_hash`]), before acknowledging them: per key, bump its
    /// stripe's epoch, then remove the key from the hot tier (in this order:
    /// module doc).
    pub fn written(&self, hashes: impl Iterator<Item = u64>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for h in hashes {
            self.epochs[stripe_of(h)].fetch_add(1, Ordering::SeqCst);
            self.hot.remove(h);
        }
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    /// `written` by key (for tests and callers outside the writer).
    pub fn invalidate<'a>(&self, keys: impl Iterator<Item = &'a str>) {
        self.written(keys.map(hash));
    }

    pub fn clear(&self) {
        for e in self.epochs.iter() {
            e.fetch_add(1, Ordering::SeqCst);
        }
        self.hot.clear();
        self.warm.invalidate_all();
    }

    /// `f(key, value, expiry)` for each entry of the hot tier, shard by
    /// shard, under each shard's read lock while `f` runs (keep it short).
    /// For the warm-restart snapshot at close (`src/engine/snapshot.rs`), which
    /// loads it back with [`preload`](Self::preload).
    pub fn for_each_hot(&self, mut f: impl FnMut(&[u8], ValueRef<'_>, Option<u64>)) {
        for s in self.hot.shards.iter() {
            let s = s.read();
            for b in &s.entries {
                let e = b.entry();
                f(e.key(), e.value(), e.expires_at_ms());
            }
        }
    }

    /// (entries, weighted bytes) per tier: (hot, warm).
    pub fn sizes(&self) -> ((u64, u64), (u64, u64)) {
        self.warm.run_pending_tasks();
        (
            self.hot.size(),
            (self.warm.entry_count(), self.warm.weighted_size()),
        )
    }
}

/// A string value the writer just wrote, for the cache's write-through:
/// `(hash, key, value)` of an inline, unexpired string entry under an
/// index key of the entry namespace; `None` for anything else.
pub(crate) fn written_string(
    raw_key: &[u8],
    entry: &[u8],
    now_ms: u64,
) -> Option<(u64, String, Cached)> {
    let key = raw_key.strip_prefix(&[crate::keyspace::NS_ENTRY])?;
    let key = std::str::from_utf8(key).ok()?;
    let e = crate::value::Entry::decode(entry).ok()?;
    if e.kind != crate::value::ValueKind::String
        || matches!(e.expires_at_ms, Some(t) if t <= now_ms)
    {
        return None;
    }
    let crate::value::Payload::Inline(bytes) = e.payload else {
        return None;
    };
    let s = crate::value::decode_string(bytes).ok()?;
    Some((
        key_hash(key),
        key.to_owned(),
        Cached {
            value: CachedValue::String(s.into()),
            expires_at_ms: e.expires_at_ms,
            epoch: 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &str) -> Arc<Cached> {
        Arc::new(Cached {
            value: CachedValue::String(s.into()),
            expires_at_ms: None,
            epoch: 0,
        })
    }

    /// Fill and read `key` twice: it ends in the hot tier.
    fn promote(c: &TieredCache, m: &Metrics, key: &str, v: &str) {
        c.fill_warm(key, c.epoch(key), val(v));
        assert!(c.get(key, m).is_some());
    }

    #[test]
    fn fill_then_promote() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        assert!(c.get("k", &m).is_none());
        let e = c.epoch("k");
        c.fill_warm("k", e, val("v"));
        // first read: warm hit, promoted
        assert!(c.get("k", &m).is_some());
        assert_eq!(m.warm_hits.get(), 1);
        // second read: hot hit, the text lent from the entry's block (a
        // small value is copied into it at promotion, not cloned per hit)
        let a = c.with("k", &m, |v, _| v.as_str().as_ptr()).unwrap();
        let b = c
            .with("k", &m, |v, _| {
                matches!(v, ValueRef::Inline("v")).then(|| v.as_str().as_ptr())
            })
            .unwrap();
        assert_eq!(Some(a), b);
        assert_eq!(m.hot_hits.get(), 2);
        assert_eq!(m.misses.get(), 1);
        let ((hot_n, hot_b), (warm_n, _)) = c.sizes();
        assert_eq!((hot_n, warm_n), (1, 0), "moved, not copied");
        assert_eq!(hot_b, (1 + 1 + HOT_ENTRY_OVERHEAD) as u64);
    }

    #[test]
    fn stale_fill_is_dropped() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let e = c.epoch("k");
        // a write lands between the reader's index read and its fill
        c.invalidate(std::iter::once("k"));
        c.fill_warm("k", e, val("old"));
        assert!(c.get("k", &m).is_none());
    }

    /// A value filled before a write is never served after it, from either
    /// tier, even if it was promoted in between.
    #[test]
    fn a_write_hides_older_values_in_both_tiers() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let e = c.epoch("k");
        c.fill_warm("k", e, val("old"));
        assert!(c.get("k", &m).is_some()); // promoted to hot
        c.fill_warm("k2", c.epoch("k2"), val("x"));
        c.invalidate(std::iter::once("k"));
        assert!(c.get("k", &m).is_none(), "hot value is stale");
        // a fill that loaded its epoch before the write is refused
        c.fill_warm("k", e, val("old"));
        assert!(c.get("k", &m).is_none());
        let e2 = c.epoch("k");
        c.fill_warm("k", e2, val("new"));
        assert_eq!(
            c.get("k", &m).unwrap().value,
            CachedValue::String("new".into())
        );
        // promoted again: the hot entry is replaced, not duplicated
        assert_eq!(
            c.get("k", &m).unwrap().value,
            CachedValue::String("new".into())
        );
        assert_eq!(c.sizes().0 .0, 1);
    }

    #[test]
    fn weigher_bounds_bytes() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(0, 10_000, Duration::from_secs(60));
        let big: String = "x".repeat(1000);
        for i in 0..100 {
            let k = format!("k{i}");
            c.fill_warm(&k, c.epoch(&k), val(&big));
        }
        let (_, (_, warm_bytes)) = c.sizes();
        assert!(warm_bytes <= 10_000, "warm tier holds {warm_bytes} bytes");
        let _ = c.get("k1", &m);
    }

    /// The hot tier holds at most its budget in bytes, whatever is promoted.
    #[test]
    fn hot_tier_is_bounded_in_bytes() {
        let m = Metrics::new().unwrap();
        let budget = 64 * 1024;
        let c = TieredCache::new(budget, 64 << 20, Duration::from_secs(60));
        let v = "v".repeat(200);
        for i in 0..5_000 {
            promote(&c, &m, &format!("key:{i}"), &v);
        }
        let ((n, bytes), _) = c.sizes();
        assert!(bytes <= budget, "hot tier holds {bytes} bytes");
        assert!(n > 0 && n < 5_000, "{n} entries");
        // what it reports is what it holds (keys of 5 to 8 bytes)
        let per = (200 + HOT_ENTRY_OVERHEAD) as u64;
        assert!(bytes >= n * (per + 5) && bytes <= n * (per + 8));
    }

    /// A value larger than a shard's share of the budget is not promoted: it
    /// stays in the warm tier and is still served from there.
    #[test]
    fn oversized_values_stay_warm() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(HOT_SHARDS as u64 * 1024, 1 << 20, Duration::from_secs(60));
        let big = "x".repeat(4096);
        promote(&c, &m, "big", &big);
        assert!(c.get("big", &m).is_some());
        assert_eq!(m.warm_hits.get(), 2);
        assert_eq!(m.hot_hits.get(), 0);
        assert_eq!(c.sizes().0, (0, 0));
    }

    /// CLOCK: an entry read since the hand last passed survives an eviction
    /// that takes an unread one; with every entry read, one still goes.
    #[test]
    fn clock_keeps_entries_that_are_read() {
        let mut s = Shard::default();
        let w = weight("k0", &val("k0")) as u64; // every key and value: 2 bytes
        let ins = |s: &mut Shard, k: &str| s.insert(hash(k), k, &val(k), w, 4 * w);
        for k in ["k0", "k1", "k2", "k3"] {
            ins(&mut s, k);
        }
        // the hand passed (bits cleared), then k1 and k2 were read
        for b in &s.entries {
            let e = b.entry();
            let read = matches!(e.key(), b"k1" | b"k2");
            e.0.referenced.store(u8::from(read), Ordering::Relaxed);
        }
        ins(&mut s, "k4");
        let has = |s: &Shard, k: &str| s.find(hash(k), k).is_some();
        assert!(has(&s, "k1") && has(&s, "k2") && has(&s, "k4"));
        assert!(
            has(&s, "k0") != has(&s, "k3"),
            "exactly one unread entry evicted"
        );
        assert_eq!((s.bytes, s.len()), (4 * w, 4));
        // every entry read: the hand clears the bits and still evicts one
        for b in &s.entries {
            b.entry().0.referenced.store(MAX_USES, Ordering::Relaxed);
        }
        ins(&mut s, "k5");
        assert!(has(&s, "k5"));
        assert_eq!((s.bytes, s.len()), (4 * w, 4));
    }

    #[test]
    fn long_and_short_keys() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        // Keys and values of every length class, a value just under, at and
        // over the inline limit (copied into the block, or its Arc kept).
        let long = "k".repeat(1000);
        let edge = "e".repeat(30);
        let values = [
            String::new(),
            "é".to_owned(),
            "v".repeat(INLINE_VALUE - 1),
            "w".repeat(INLINE_VALUE),
            "x".repeat(INLINE_VALUE + 1),
        ];
        let keys = [long.as_str(), edge.as_str(), "", "é", "k"];
        for (k, v) in keys.iter().zip(&values) {
            promote(&c, &m, k, v);
        }
        for (k, v) in keys.iter().zip(&values) {
            assert_eq!(
                c.get(k, &m).unwrap().value,
                CachedValue::String(v.as_str().into())
            );
            let inline = c
                .with(k, &m, |v, _| matches!(v, ValueRef::Inline(_)))
                .unwrap();
            assert_eq!(inline, v.len() <= INLINE_VALUE, "{k}");
        }
        assert!(c.get(&long[1..], &m).is_none());
        assert_eq!(m.hot_hits.get(), 10);
    }

    /// Readers and promoters on several threads: every hit is the value
    /// filled for that key, and the budget holds.
    #[test]
    fn concurrent_reads_and_promotions() {
        let budget = 256 * 1024;
        let c = Arc::new(TieredCache::new(budget, 64 << 20, Duration::from_secs(60)));
        let m = Arc::new(Metrics::new().unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (c, m) = (c.clone(), m.clone());
                std::thread::spawn(move || {
                    for round in 0..3 {
                        for i in 0..3_000 {
                            let k = format!("k{}", (i * 7 + t * 1_000 + round) % 4_000);
                            match c.get(&k, &m) {
                                Some(v) => assert_eq!(v.value, CachedValue::String(k.into())),
                                None => c.fill_warm(&k, c.epoch(&k), val(&k)),
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ((n, bytes), _) = c.sizes();
        assert!(bytes <= budget && n > 0, "{n} entries, {bytes} bytes");
        assert!(m.hot_hits.get() > 0);
    }

    /// A write removes the key from the hot tier (a hot hit checks no
    /// epoch, so without the removal the old value would be served).
    #[test]
    fn a_write_removes_the_key_from_the_hot_tier() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        promote(&c, &m, "k", "old");
        promote(&c, &m, "other", "x");
        assert_eq!(c.sizes().0 .0, 2);
        c.invalidate(std::iter::once("k"));
        let ((n, bytes), _) = c.sizes();
        assert_eq!((n, bytes), (1, (5 + 1 + HOT_ENTRY_OVERHEAD) as u64));
        assert!(c.get("k", &m).is_none());
        assert!(c.get("other", &m).is_some(), "other keys stay");
    }

    /// A promotion that read its warm value before a write, and reaches the
    /// shard's lock after the writer removed the key, is refused: the
    /// stripe's epoch is checked under the lock.
    #[test]
    fn a_promotion_after_a_write_is_refused() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let h = hash("k");
        let stripe = &c.epochs[stripe_of(h)];
        let mut old = (*val("old")).clone();
        old.epoch = c.epoch("k");
        c.invalidate(std::iter::once("k"));
        assert!(
            !c.hot.promote(h, "k", &old, stripe, None).0,
            "stale value promoted"
        );
        assert!(c.get("k", &m).is_none());
        old.epoch = c.epoch("k");
        assert!(c.hot.promote(h, "k", &old, stripe, None).0);
        assert!(c.get("k", &m).is_some());
    }

    /// One writer per key group bumps a version (index first, then the cache
    /// call, then the acknowledgement) while readers read, fill and promote
    /// on other threads: no read returns a version older than one already
    /// acknowledged when the read began.
    #[test]
    fn no_stale_read_after_an_acknowledged_write() {
        no_stale_read(false);
    }

    /// The same with `with_many`: a batch holds several shard locks at
    /// once while the writer removes keys and readers promote them.
    #[test]
    fn no_stale_batch_read_after_an_acknowledged_write() {
        no_stale_read(true);
    }

    fn no_stale_read(batch: bool) {
        const KEYS: usize = 64;
        // A hot tier of about two entries a shard: fills and promotions
        // also find it full, so both tiers serve.
        let c = Arc::new(TieredCache::new(64 * 600, 1 << 20, Duration::from_secs(60)));
        let m = Arc::new(Metrics::new().unwrap());
        let index: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
        let acked: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
        let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("k{i}")).collect());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|t| {
                let (c, m, index, acked, keys, stop) = (
                    c.clone(),
                    m.clone(),
                    index.clone(),
                    acked.clone(),
                    keys.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || {
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        i = (i + 7) % KEYS;
                        if batch {
                            // 40 keys from i on, with repeats (i, i+1, i, i+3, ...).
                            let idx: Vec<usize> = (0..40)
                                .map(|j| (i + if j % 2 == 0 { j / 4 } else { j }) % KEYS)
                                .collect();
                            let floors: Vec<u64> = idx
                                .iter()
                                .map(|&j| acked[j].load(Ordering::SeqCst))
                                .collect();
                            let ks: Vec<&str> = idx.iter().map(|&j| keys[j].as_str()).collect();
                            let got =
                                c.with_many(&ks, &m, |v, _| v.as_str().parse::<u64>().unwrap());
                            for ((&j, floor), v) in idx.iter().zip(floors).zip(got) {
                                match v {
                                    Some(v) => assert!(
                                        v >= floor,
                                        "k{j}: read {v} after {floor} was acked"
                                    ),
                                    None => {
                                        let e = c.epoch(&keys[j]);
                                        let v = index[j].load(Ordering::SeqCst);
                                        c.fill_warm(&keys[j], e, val(&v.to_string()));
                                    }
                                }
                            }
                            continue;
                        }
                        let k = &keys[i];
                        let floor = acked[i].load(Ordering::SeqCst);
                        match c.get(k, &m) {
                            Some(hit) => {
                                let CachedValue::String(v) = hit.value;
                                let v: u64 = v.parse().unwrap();
                                assert!(v >= floor, "{k}: read {v} after {floor} was acked");
                            }
                            None => {
                                let e = c.epoch(k);
                                let v = index[i].load(Ordering::SeqCst);
                                // Both fills: first-read admission into
                                // the hot tier, and the warm tier.
                                if (i + t) % 2 == 0 {
                                    c.fill(k, e, val(&v.to_string()));
                                } else {
                                    c.fill_warm(k, e, val(&v.to_string()));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for round in 1..=2_000u64 {
            for i in (0..KEYS).filter(|i| i % 8 == (round % 8) as usize) {
                index[i].store(round, Ordering::SeqCst);
                c.invalidate(std::iter::once(keys[i].as_str()));
                if round % 3 == 0 {
                    // Write-through of the value just written.
                    let k = keys[i].clone();
                    c.write_through(std::iter::once((
                        hash(&k),
                        k,
                        (*val(&round.to_string())).clone(),
                    )));
                }
                acked[i].store(round, Ordering::SeqCst);
            }
            if round % 64 == 0 {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert!(
            m.hot_hits.get() > 0 && m.warm_hits.get() > 0,
            "both tiers served"
        );
    }

    /// Admission on first read: a fill goes to the hot tier while its shard
    /// has room (the next read is a hot hit, not a warm hit and a
    /// promotion), to the warm tier once it is full, and never when a
    /// write moved the stripe; write-through admits only into free room.
    #[test]
    fn fill_admits_to_hot_while_there_is_room() {
        let m = Metrics::new().unwrap();
        // Shards of 400 bytes: one entry each (weight ~ 259 + key + value).
        let c = TieredCache::new(64 * 400, 1 << 20, Duration::from_secs(60));
        c.fill("k", c.epoch("k"), val("v"));
        assert_eq!(c.sizes().0 .0, 1, "admitted on first read");
        assert!(c.get("k", &m).is_some());
        assert_eq!((m.hot_hits.get(), m.warm_hits.get()), (1, 0));
        // Keys of k's shard: the shard is full, so they go warm.
        let h = shard_of(hash("k"));
        let same: Vec<String> = (0..100_000)
            .map(|i| format!("x{i}"))
            .filter(|x| shard_of(hash(x)) == h)
            .take(3)
            .collect();
        c.fill(&same[0], c.epoch(&same[0]), val("w"));
        let ((hot_n, _), (warm_n, _)) = c.sizes();
        assert_eq!((hot_n, warm_n), (1, 1), "a full shard sends fills warm");
        // Write-through into a full shard does not evict either.
        let k1 = same[1].clone();
        c.write_through(std::iter::once((
            hash(&k1),
            k1.clone(),
            (*val("t")).clone(),
        )));
        assert!(c.get(&k1, &m).is_none());
        // A write through k itself replaces its entry.
        c.invalidate(std::iter::once("k"));
        c.write_through(std::iter::once((
            hash("k"),
            "k".to_owned(),
            (*val("new")).clone(),
        )));
        assert_eq!(
            c.get("k", &m).unwrap().value,
            CachedValue::String("new".into())
        );
        // A fill that loaded its epoch before a write is refused.
        let e = c.epoch("k");
        c.invalidate(std::iter::once("k"));
        c.fill("k", e, val("old"));
        assert!(c.get("k", &m).is_none());
    }

    /// The warm-up's preload admits into free room only, and refuses an
    /// entry read before a write group began (its value may be stale).
    #[test]
    fn preload_refuses_values_read_before_a_write() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let g = c.generation();
        assert!(c.preload("a", g, &val("1")));
        assert!(!c.preload("a", g, &val("2")), "present: not replaced");
        c.invalidate(std::iter::once("other"));
        assert!(!c.preload("b", g, &val("old")), "a write group began");
        assert!(c.get("b", &m).is_none());
        assert!(c.preload("b", c.generation(), &val("new")));
        assert_eq!(
            c.get("b", &m).unwrap().value,
            CachedValue::String("new".into())
        );
    }

    /// `with_many` answers as `with` key by key, across rounds of more than
    /// `MANY_ROUND` keys, for hot, warm, absent and repeated keys.
    #[test]
    fn with_many_matches_with() {
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let m = Metrics::new().unwrap();
        for i in 0..300 {
            let k = format!("k{i}");
            c.fill_warm(&k, c.epoch(&k), val(&format!("v{i}")));
            if i % 3 != 0 {
                assert!(c.get(&k, &m).is_some()); // promoted: hot
            }
        }
        // Keys 0..400 (300.. absent), then repeats of hot, warm and absent.
        let mut keys: Vec<String> = (0..400).map(|i| format!("k{i}")).collect();
        keys.extend(["k1", "k1", "k3", "k350", "k2", "k3"].map(String::from));
        let hot0 = m.hot_hits.get();
        let many = c.with_many(&keys, &m, |v, e| (v.to_arc(), e));
        assert_eq!(many.len(), keys.len());
        let hot_many = m.hot_hits.get() - hot0;
        // 200 hot of 0..300 (every third was warm), then k1, k1, k2, and k3
        // twice: its warm hit in the first round promoted it.
        assert_eq!(hot_many, 200 + 5);
        for (k, got) in keys.iter().zip(&many) {
            let want = c.with(k, &m, |v, e| (v.to_arc(), e));
            assert_eq!(got, &want, "{k}");
            if let Some(i) = k.strip_prefix('k').and_then(|i| i.parse::<usize>().ok()) {
                assert_eq!(got.is_some(), i < 300, "{k}");
            }
        }
    }

    /// The dense layout's bookkeeping (swap_remove and repointed slots)
    /// against a model: random inserts, replacements, removals and
    /// evictions, then every key the shard holds is found with its value,
    /// and index, entries and bytes agree.
    #[test]
    fn shard_matches_a_model_under_churn() {
        use std::collections::HashMap;
        let mut s = Shard::default();
        let mut model: HashMap<String, String> = HashMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let budget = 40 * weight("k00", &val("v00000")) as u64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = format!("k{:02}", x % 97);
            if x.is_multiple_of(5) {
                s.remove_hash(hash(&k));
                model.remove(&k);
            } else {
                let v = format!("v{step:05}");
                let w = weight(&k, &val(&v)) as u64;
                s.insert(hash(&k), &k, &val(&v), w, budget);
                model.insert(k, v);
            }
            // Evicted keys leave the model too; the rest must agree.
            model.retain(|k, _| s.find(hash(k), k).is_some());
            assert_eq!(s.len(), model.len());
            assert_eq!(s.index.len(), s.entries.len());
            assert!(s.bytes <= budget);
        }
        assert!(model.len() > 20, "the budget holds ~40 entries");
        let mut bytes = 0;
        for (k, v) in &model {
            let e = s.find(hash(k), k).expect("held");
            assert_eq!(e.value().as_str(), v, "{k}");
            bytes += e.weight();
        }
        assert_eq!(bytes, s.bytes);
    }

    /// A Zipf(0.99) trace over 200 000 keys of ~100-byte values through a
    /// cache of 8 MiB (7 hot, 1 warm, as compare.py's step `zipf`), read as
    /// the store reads (a lookup, then a fill on a miss), against two
    /// references over the same reads: the ideal static top-k (the most
    /// popular keys that fit the same 8 MiB at the hot tier's charge, which
    /// knows the distribution) and a perfect-history LFU (exact counts of
    /// every key since the trace began, as many entries, the least counted
    /// one evicted: the best an online policy can know of the popularity).
    ///
    /// With 400 000 reads a key near the cache's boundary (rank ~20 000) is
    /// read about 1.5 times in the whole trace, so no online policy can tell
    /// it from its neighbours: the perfect-history LFU reaches 0.951x of the
    /// ideal on this trace (0.942x on compare.py's), our cache 0.946x
    /// (0.925x before frequency admission).
    #[test]
    fn zipf_hit_rate_at_least_a_perfect_history_lfu() {
        let t = ZipfTrace::new(200_000, 400_000, 0.99, 99);
        let (hot, warm) = (7 << 20, 1 << 20);
        let hit = t.replay(hot, warm);
        let (ideal, lfu) = (t.ideal(hot + warm), t.perfect_lfu(hot + warm));
        eprintln!(
            "zipf 400k: hit rate {hit:.4} ({:.3}x), perfect-history LFU {lfu:.4} ({:.3}x), ideal {ideal:.4}",
            hit / ideal,
            lfu / ideal
        );
        assert!(
            hit >= 0.99 * lfu,
            "hit rate {hit:.4} < 0.99 x perfect-history LFU {lfu:.4}"
        );
    }

    /// Issue 16's target, 0.95 of the ideal static top-k, on a trace long
    /// enough for the popularity to be knowable: 1 000 000 reads (0.967x;
    /// 2 000 000 give 0.971x, 4 000 000 0.973x).
    #[test]
    fn zipf_hit_rate_target() {
        let t = ZipfTrace::new(200_000, 1_000_000, 0.99, 99);
        let (hot, warm) = (7 << 20, 1 << 20);
        let hit = t.replay(hot, warm);
        let ideal = t.ideal(hot + warm);
        eprintln!(
            "zipf 1M: hit rate {hit:.4}, ideal {ideal:.4}, {:.3}x",
            hit / ideal
        );
        assert!(
            hit >= 0.95 * ideal,
            "hit rate {hit:.4} < 0.95 x ideal {ideal:.4}"
        );
    }

    /// A seeded Zipf(`alpha`) trace of reads over `nkeys` keys (ranks
    /// shuffled: popularity is not key order).
    struct ZipfTrace {
        keys: Vec<String>,
        /// Key indices, in read order.
        reads: Vec<usize>,
        /// Probability of each key index.
        prob: Vec<f64>,
    }

    impl ZipfTrace {
        fn new(nkeys: usize, reads: usize, alpha: f64, seed: u64) -> Self {
            let mut x = seed;
            let mut next = move || {
                // splitmix64
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            };
            let weights: Vec<f64> = (0..nkeys)
                .map(|r| 1.0 / ((r + 1) as f64).powf(alpha))
                .collect();
            let mut cum = Vec::with_capacity(nkeys);
            let mut total = 0.0;
            for w in &weights {
                total += w;
                cum.push(total);
            }
            let mut perm: Vec<usize> = (0..nkeys).collect();
            for i in (1..nkeys).rev() {
                perm.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut prob = vec![0.0; nkeys];
            for (r, w) in weights.iter().enumerate() {
                prob[perm[r]] = w / total;
            }
            let reads = (0..reads)
                .map(|_| {
                    let u = (next() >> 11) as f64 / (1u64 << 53) as f64 * total;
                    perm[cum.partition_point(|&c| c < u).min(nkeys - 1)]
                })
                .collect();
            let keys = (0..nkeys).map(|i| format!("zipf:{i:08}")).collect();
            ZipfTrace { keys, reads, prob }
        }

        /// Entries of the 100-byte value that `bytes` hold at the hot
        /// tier's charge.
        fn entries(&self, bytes: u64) -> usize {
            (bytes / weight(&self.keys[0], &val(&"z".repeat(100))) as u64) as usize
        }

        /// The ideal static top-k's hit rate for `bytes`.
        fn ideal(&self, bytes: u64) -> f64 {
            let mut p = self.prob.clone();
            p.sort_by(|a, b| b.total_cmp(a));
            p[..self.entries(bytes)].iter().sum()
        }

        /// The hit rate of `TieredCache` (`hot` + `warm` bytes) over the
        /// last three quarters of the reads.
        fn replay(&self, hot: u64, warm: u64) -> f64 {
            let value = val(&"z".repeat(100));
            let m = Metrics::new().unwrap();
            let c = TieredCache::new(hot, warm, Duration::from_secs(3600));
            let (mut hits0, mut lookups0) = (0, 0);
            for (i, &k) in self.reads.iter().enumerate() {
                if i == self.reads.len() / 4 {
                    hits0 = m.hot_hits.get() + m.warm_hits.get();
                    lookups0 = hits0 + m.misses.get();
                }
                let key = &self.keys[k];
                if c.get(key, &m).is_none() {
                    c.fill(key, c.epoch(key), value.clone());
                }
            }
            let hits = m.hot_hits.get() + m.warm_hits.get() - hits0;
            let lookups = m.hot_hits.get() + m.warm_hits.get() + m.misses.get() - lookups0;
            hits as f64 / lookups as f64
        }

        /// A perfect-history LFU of as many entries as `bytes` hold at the
        /// hot tier's charge: every key's exact count since the start; on
        /// a miss the key replaces the least counted entry if it is now
        /// counted more. The hit rate over the last three quarters.
        fn perfect_lfu(&self, bytes: u64) -> f64 {
            use std::cmp::Reverse;
            use std::collections::BinaryHeap;
            let cap = self.entries(bytes);
            let mut count = vec![0u32; self.keys.len()];
            let mut held = vec![false; self.keys.len()];
            let (mut len, mut hits, mut lookups) = (0, 0u64, 0u64);
            // (count, key) of held keys; stale pairs skipped when popped.
            let mut heap = BinaryHeap::new();
            for (i, &k) in self.reads.iter().enumerate() {
                count[k] += 1;
                let c = count[k];
                let measured = i >= self.reads.len() / 4;
                lookups += u64::from(measured);
                if held[k] {
                    hits += u64::from(measured);
                    heap.push(Reverse((c, k)));
                } else if len < cap {
                    held[k] = true;
                    len += 1;
                    heap.push(Reverse((c, k)));
                } else {
                    let (vc, v) = loop {
                        let Reverse((vc, v)) = *heap.peek().expect("a held key");
                        if held[v] && count[v] == vc {
                            break (vc, v);
                        }
                        heap.pop();
                    };
                    if c > vc {
                        heap.pop();
                        held[v] = false;
                        held[k] = true;
                        heap.push(Reverse((c, k)));
                    }
                }
            }
            hits as f64 / lookups as f64
        }
    }
}
