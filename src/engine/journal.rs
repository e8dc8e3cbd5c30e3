//! The journal of applied signed operations: the file `oplog.journal`
//! beside `index/`, outside sled, so that an index rolled back behind its
//! durability mark (src/engine/mark.rs) does not take the operations with
//! it (the operation log lives in the index and rolls back with it).
//!
//! One record per operation the writer recorded in the log (applied or
//! superseded): `u32 len (LE) | u32 crc32 of the payload (LE) | payload`,
//! the payload being the operation's JSON, exactly what the log holds
//! (the signature included). The engine knows nothing of operations: the
//! writer appends the records a group staged (`Txn::journal`) after the
//! group's sled apply succeeded, in apply order, in one write.
//!
//! Durability: the file is fdatasync'ed before the index is flushed by the
//! store (every group under `Durability::Sync`, before its writes are
//! acknowledged; whenever the durability mark is written, on `flush()` and
//! at close otherwise), so that every operation an index mark covers is in
//! the durable journal.
//!
//! Damage: a crash can leave the last append unfinished. At open, the
//! records are walked from the length the durability mark records as
//! synced (src/engine/mark.rs; an unfinished append can only be past it),
//! or from the start when the mark records none or the walk from there
//! finds anything amiss (a journal shorter than the mark says, or replaced
//! since); the first record that does not verify (too short,
//! zero length, bad checksum) is skipped over by its length when the record
//! that follows verifies (a damaged record, counted and left in place);
//! otherwise everything from it on is unreadable (a length cannot be
//! trusted, so there is no safe resync past it) and is truncated with a
//! warning naming the bytes. An open never fails because of the journal:
//! the index is the authority. A failed append or sync is logged and stops
//! the journal for the rest of the open (a partial record in the middle
//! would hide the ones after it).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The file beside `index/`.
pub const FILE: &str = "oplog.journal";
/// A record longer than this is taken as damage (a value is at most
/// `Config::max_value_len`, whose upper bound is far below this).
const MAX_RECORD: u32 = 1 << 30;
const HEADER: usize = 8;

/// What walking the journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Records that verified.
    pub records: u64,
    /// Records that did not verify but whose successor did (skipped).
    pub damaged: u64,
    /// Bytes at the end that no record accounts for (an unfinished last
    /// append, or damage past which nothing can be read).
    pub unreadable_bytes: u64,
    /// Where the readable part ends.
    pub end: u64,
    /// Where the walk started: the bytes before were not read (an open
    /// trusts what the durability mark records as synced).
    pub from: u64,
}

/// One item of a walk.
pub enum Item {
    Record(Vec<u8>),
    Damaged,
}

/// A walk over the records of a journal file.
pub struct Reader {
    r: BufReader<File>,
    pos: u64,
    len: u64,
    path: PathBuf,
    pub scan: Scan,
    done: bool,
}

impl Reader {
    /// Open `path` for reading; `None` if there is no file.
    pub fn open(path: &Path) -> Result<Option<Reader>> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io_at(path, e)),
        };
        let len = f.metadata().map_err(|e| Error::io_at(path, e))?.len();
        Ok(Some(Reader {
            r: BufReader::with_capacity(1 << 20, f),
            pos: 0,
            len,
            path: path.to_path_buf(),
            scan: Scan::default(),
            done: false,
        }))
    }

    /// Start the walk at `at` (a record's start) instead of the file's.
    fn from(mut self, at: u64) -> Self {
        self.scan.end = at;
        self.scan.from = at;
        self
    }

    /// The record at `pos` if it verifies, with its total length.
    fn record_at(&mut self, pos: u64) -> Result<Option<(Vec<u8>, u64)>> {
        if self.len - pos < HEADER as u64 {
            return Ok(None);
        }
        let io = |e| Error::io_at(&self.path, e);
        let at = |r: &mut BufReader<File>, cur: u64| -> std::io::Result<()> {
            if cur != pos {
                r.seek(SeekFrom::Start(pos))?;
            }
            Ok(())
        };
        at(&mut self.r, self.pos).map_err(io)?;
        let mut h = [0u8; HEADER];
        self.r.read_exact(&mut h).map_err(io)?;
        let n = u32::from_le_bytes(h[..4].try_into().expect("4 bytes"));
        let sum = u32::from_le_bytes(h[4..].try_into().expect("4 bytes"));
        self.pos = pos + HEADER as u64;
        if n == 0 || n > MAX_RECORD || u64::from(n) > self.len - pos - HEADER as u64 {
            return Ok(None);
        }
        let mut body = vec![0u8; n as usize];
        self.r.read_exact(&mut body).map_err(io)?;
        self.pos += u64::from(n);
        if crc32fast::hash(&body) != sum {
            return Ok(None);
        }
        Ok(Some((body, HEADER as u64 + u64::from(n))))
    }

    /// The length a record at `pos` claims, if its header is there.
    fn claimed_at(&mut self, pos: u64) -> Result<Option<u64>> {
        if self.len - pos < HEADER as u64 {
            return Ok(None);
        }
        let io = |e| Error::io_at(&self.path, e);
        self.r.seek(SeekFrom::Start(pos)).map_err(io)?;
        let mut h = [0u8; 4];
        self.r.read_exact(&mut h).map_err(io)?;
        self.pos = pos + 4;
        Ok(Some(u64::from(u32::from_le_bytes(h))))
    }

    /// The next readable record, or a damaged one skipped; `None` at the
    /// end of what can be read (see `scan` for what was left).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        let start = self.scan.end;
        if start >= self.len {
            self.done = true;
            return Ok(None);
        }
        if let Some((body, n)) = self.record_at(start)? {
            self.scan.records += 1;
            self.scan.end = start + n;
            return Ok(Some(Item::Record(body)));
        }
        // Skip a damaged record by its length only if what follows verifies.
        if let Some(claimed) = self.claimed_at(start)? {
            let next = start + HEADER as u64 + claimed;
            if claimed > 0 && next < self.len && self.record_at(next)?.is_some() {
                self.scan.damaged += 1;
                self.scan.end = next;
                return Ok(Some(Item::Damaged));
            }
        }
        self.scan.unreadable_bytes = self.len - start;
        self.done = true;
        Ok(None)
    }

    /// Walk to the end.
    pub fn finish(mut self) -> Result<Scan> {
        while self.next()?.is_some() {}
        Ok(self.scan)
    }
}

/// The journal of one open store.
pub struct Journal {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: Option<File>,
    /// The file's length (what this open found readable, and appended).
    len: u64,
    /// The length at the last successful sync.
    synced: u64,
    /// Appended since the last sync (and at open: what was found is
    /// synced once before a mark records it).
    dirty: bool,
}

impl Journal {
    /// Open (creating) the journal in `store_dir` for appending: walk it
    /// (from `synced`, the length the durability mark records, when the
    /// walk from there is clean), truncate an unreadable tail (with a
    /// warning), and report the walk. The caller holds the store
    /// directory's lock.
    pub fn open(store_dir: &Path, synced: Option<u64>) -> Result<(Journal, Scan)> {
        let path = store_dir.join(FILE);
        let whole = || -> Result<Scan> {
            Ok(match Reader::open(&path)? {
                Some(r) => r.finish()?,
                None => Scan::default(),
            })
        };
        let scan = match (Reader::open(&path)?, synced) {
            (Some(r), Some(at)) if at <= r.len => {
                let tail = r.from(at).finish()?;
                if tail.damaged == 0 && tail.unreadable_bytes == 0 {
                    tail
                } else {
                    whole()?
                }
            }
            (Some(r), _) => r.finish()?,
            (None, _) => Scan::default(),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io_at(&path, e))?;
        if scan.unreadable_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                bytes = scan.unreadable_bytes,
                at = scan.end,
                "operation journal: truncating {} unreadable bytes at its end (an unfinished \
                 last append or damage)",
                scan.unreadable_bytes
            );
            file.set_len(scan.end)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io_at(&path, e))?;
        }
        if scan.damaged > 0 {
            tracing::warn!(
                path = %path.display(),
                damaged = scan.damaged,
                "operation journal: damaged records (left in place, skipped by a recovery replay)"
            );
        }
        Ok((
            Journal {
                path,
                state: Mutex::new(State {
                    file: Some(file),
                    len: scan.end,
                    synced: 0,
                    dirty: true,
                }),
            },
            scan,
        ))
    }

    /// Append records (one write). A failure is logged and stops the
    /// journal for the rest of the open.
    pub fn append(&self, records: &[Vec<u8>]) {
        if records.is_empty() {
            return;
        }
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.len() + HEADER).sum());
        for r in records {
            buf.extend_from_slice(&(r.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(r).to_le_bytes());
            buf.extend_from_slice(r);
        }
        let mut s = self.state.lock();
        let Some(f) = s.file.as_mut() else { return };
        if let Err(e) = f.write_all(&buf) {
            self.stop(&mut s, "append", &e);
            return;
        }
        s.len += buf.len() as u64;
        s.dirty = true;
    }

    /// fdatasync what was appended since the last sync; the length synced
    /// (`None` once the journal stopped: a mark then records none, and the
    /// next open walks the whole file).
    pub fn sync(&self) -> Option<u64> {
        let mut s = self.state.lock();
        let f = s.file.as_ref()?;
        if s.dirty {
            if let Err(e) = f.sync_data() {
                self.stop(&mut s, "sync", &e);
                return None;
            }
            s.dirty = false;
            s.synced = s.len;
        }
        Some(s.synced)
    }

    fn stop(&self, s: &mut State, what: &str, e: &std::io::Error) {
        tracing::error!(
            path = %self.path.display(),
            "operation journal: {what} failed ({e}); the journal is off for the rest of \
             this open (the index is unaffected)"
        );
        s.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(dir: &Path) -> (Vec<Vec<u8>>, Scan) {
        let mut r = Reader::open(&dir.join(FILE)).unwrap().unwrap();
        let mut out = Vec::new();
        while let Some(i) = r.next().unwrap() {
            if let Item::Record(b) = i {
                out.push(b);
            }
        }
        (out, r.scan)
    }

    #[test]
    fn records_round_trip_and_damage_is_told_apart() {
        let d = tempfile::tempdir().unwrap();
        let recs: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i; 10 + i as usize]).collect();
        {
            let (j, s) = Journal::open(d.path(), None).unwrap();
            assert_eq!(s, Scan::default());
            j.append(&recs[..3]);
            j.append(&recs[3..]);
            j.sync();
        }
        let (got, s) = walk(d.path());
        assert_eq!(got, recs);
        assert_eq!((s.records, s.damaged, s.unreadable_bytes), (5, 0, 0));
        let path = d.path().join(FILE);
        let full = std::fs::read(&path).unwrap();
        // A flipped byte inside the second record's payload: skipped.
        let mut b = full.clone();
        b[18 + 8 + 3] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let (got, s) = walk(d.path());
        assert_eq!(got.len(), 4);
        assert_eq!((s.damaged, s.unreadable_bytes), (1, 0));
        // A flipped length: nothing after it can be read.
        let mut b = full.clone();
        b[18] ^= 0x40;
        std::fs::write(&path, &b).unwrap();
        let (got, s) = walk(d.path());
        assert_eq!(got, recs[..1]);
        assert_eq!(s.unreadable_bytes, full.len() as u64 - 18);
        // A torn tail, then garbage: truncated at open.
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let (_, s) = Journal::open(d.path(), None).unwrap();
        assert_eq!((s.records, s.unreadable_bytes), (4, 14 + 8 - 3));
        let mut b = std::fs::read(&path).unwrap();
        b.extend_from_slice(&[0u8; 7]);
        std::fs::write(&path, &b).unwrap();
        let (_, s) = Journal::open(d.path(), None).unwrap();
        assert_eq!((s.records, s.unreadable_bytes), (4, 7));
        let (got, _) = walk(d.path());
        assert_eq!(got, recs[..4]);
    }

    /// An open walks only past the length the mark records as synced; a
    /// torn append past it is cut there; a recorded length that is not a
    /// record's start here (a journal replaced since) or lies past the
    /// file's end gives a walk from the start, and nothing is lost.
    #[test]
    fn an_open_walks_from_the_synced_length_and_falls_back_to_the_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(FILE);
        let recs: Vec<Vec<u8>> = (0..6).map(|i| vec![b'a' + i; 20]).collect();
        let synced = {
            let (j, _) = Journal::open(d.path(), None).unwrap();
            j.append(&recs[..4]);
            let n = j.sync().unwrap();
            j.append(&recs[4..]);
            assert_eq!(j.sync(), Some(n + 2 * 28));
            n
        };
        assert_eq!(synced, 4 * 28);
        let (_, s) = Journal::open(d.path(), Some(synced)).unwrap();
        assert_eq!((s.from, s.records, s.end), (synced, 2, 6 * 28));
        // A torn last append: cut, the synced part not read.
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let (_, s) = Journal::open(d.path(), Some(synced)).unwrap();
        assert_eq!((s.from, s.records, s.unreadable_bytes), (0, 5, 25));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 5 * 28);
        // Not a record's start, and past the end: the whole file, intact.
        for at in [synced + 5, 10 * 28] {
            let (_, s) = Journal::open(d.path(), Some(at)).unwrap();
            assert_eq!((s.from, s.records, s.unreadable_bytes), (0, 5, 0), "{at}");
        }
        assert_eq!(walk(d.path()).0, recs[..5]);
    }
}
