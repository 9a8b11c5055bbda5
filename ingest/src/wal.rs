//! A write-ahead log on local disk for live sources, so that a worker killed between two
//! flushes loses nothing it had received.
//!
//! The log is a directory of append-only segment files (`<number>.wal`). Each record is
//! `length (u32) | CRC-32 of the rest (u32) | sequence number (u64) | payload`, little-endian.
//! A source appends what it received and commits (one `write`) before it counts any of it:
//! from then on a killed process loses none of it. The log is synced to disk (on a thread of
//! its own, so the source does not wait) when `sync_bytes` have been written or
//! `sync_interval` has passed since the last sync, bounding what a power cut loses. Landing a flush resets the log: a new segment holds only what was
//! logged but not yet in the flush, and the older segments are deleted. A restarted worker
//! reads the log back ([`Wal::open`]): records come in sequence order, each once (a record
//! kept across a reset is in two segments until the old one is gone), and a record cut off by
//! a crash, or whose checksum fails, ends its segment and is handed back as torn, for
//! quarantine. One worker holds a log at a time (an exclusive lock on `lock`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Where a log lives and how often it is synced.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// The log's directory (created if missing).
    pub dir: PathBuf,
    /// Sync at least this often while records arrive.
    pub sync_interval: Duration,
    /// Sync after this many bytes.
    pub sync_bytes: u64,
}

/// Bytes before a record's payload: length, checksum, sequence number.
const HEADER: usize = 16;

/// A record that could not be read back: where it was and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Torn {
    /// The segment file.
    pub segment: PathBuf,
    /// Its offset there.
    pub offset: u64,
    /// Why it is unreadable.
    pub reason: String,
    /// The bytes from there to the segment's end.
    pub bytes: Vec<u8>,
}

/// What an opened log held: the payloads of the records not yet landed, in order, and the
/// torn records found.
#[derive(Debug, Default)]
pub struct Recovered {
    pub payloads: Vec<Vec<u8>>,
    pub torn: Vec<Torn>,
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    opts: WalOptions,
    file: File,
    segment: u64,
    /// Records appended but not yet committed.
    pending: Vec<u8>,
    /// The sequence number of the first pending record.
    pending_first: u64,
    next_seq: u64,
    unsynced: u64,
    last_sync: Instant,
    /// Bytes committed since the log was opened.
    pub written: u64,
    syncer: Syncer,
    _lock: File,
}

/// Syncs the log on a thread of its own, so a source does not wait for the disk: what is
/// written survives the process being killed at once, and a power cut after the next sync.
#[derive(Debug)]
struct Syncer {
    /// A handle of the segment to sync; full while a sync is under way.
    tx: std::sync::mpsc::SyncSender<File>,
    /// The first sync error, reported by the next commit.
    failed: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl Syncer {
    fn start() -> Syncer {
        let (tx, rx) = std::sync::mpsc::sync_channel::<File>(1);
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = failed.clone();
        std::thread::spawn(move || {
            while let Ok(f) = rx.recv() {
                if let Err(e) = f.sync_data()
                    && let Ok(mut slot) = seen.lock()
                {
                    slot.get_or_insert(e);
                }
            }
        });
        Syncer { tx, failed }
    }

    /// Asks for a sync of `file`; false when one is already under way.
    fn request(&self, file: &File) -> std::io::Result<bool> {
        match self.tx.try_send(file.try_clone()?) {
            Ok(()) => Ok(true),
            Err(_) => Ok(false),
        }
    }

    fn error(&self) -> Option<std::io::Error> {
        self.failed.lock().ok().and_then(|mut e| e.take())
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(context.into(), e)
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))? {
        let path = e.map_err(io(format!("listing {}", dir.display())))?.path();
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            out.push((n, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one segment's records (sequence number, payload) and the torn one, if any.
fn read_segment(path: &Path, bytes: &[u8]) -> (Vec<(u64, Vec<u8>)>, Option<Torn>) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let torn = |reason: &str| Torn {
            segment: path.to_path_buf(),
            offset: at as u64,
            reason: reason.to_string(),
            bytes: bytes[at..].to_vec(),
        };
        let Some(header) = bytes.get(at..at + HEADER) else {
            return (out, Some(torn("record header cut off")));
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Some(rest) = bytes.get(at + 8..at + HEADER + len) else {
            return (out, Some(torn("record cut off")));
        };
        if crc32fast::hash(rest) != crc {
            return (out, Some(torn("record checksum mismatch")));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rest[..8]);
        out.push((u64::from_le_bytes(seq), rest[8..].to_vec()));
        at += HEADER + len;
    }
    (out, None)
}

impl Wal {
    /// Opens (or creates) the log in `opts.dir` and reads back what it holds. Fails when
    /// another process holds it.
    pub fn open(opts: WalOptions) -> Result<(Wal, Recovered)> {
        let dir = &opts.dir;
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let lock_path = dir.join("lock");
        let lock =
            File::create(&lock_path).map_err(io(format!("opening {}", lock_path.display())))?;
        lock.try_lock().map_err(|_| {
            Error::Usage(format!(
                "the write-ahead log {} is in use by another worker",
                dir.display()
            ))
        })?;
        let mut recovered = Recovered::default();
        let mut last_seq = None;
        let segs = segments(dir)?;
        for (_, path) in &segs {
            let bytes = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
            let (records, torn) = read_segment(path, &bytes);
            for (seq, payload) in records {
                if last_seq.is_none_or(|l| seq > l) {
                    last_seq = Some(seq);
                    recovered.payloads.push(payload);
                }
            }
            recovered.torn.extend(torn);
        }
        let segment = segs.last().map_or(0, |(n, _)| n + 1);
        let path = segment_path(dir, segment);
        let file = File::create(&path).map_err(io(format!("creating {}", path.display())))?;
        let next_seq = last_seq.map_or(0, |s| s + 1);
        Ok((
            Wal {
                opts,
                file,
                segment,
                pending: Vec::new(),
                pending_first: next_seq,
                next_seq,
                unsynced: 0,
                last_sync: Instant::now(),
                written: 0,
                syncer: Syncer::start(),
                _lock: lock,
            },
            recovered,
        ))
    }

    /// Appends a record whose payload `write` puts at the end of the buffer it is given; it
    /// is in the log after the next [`Wal::commit`].
    pub fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.pending.len();
        self.pending.extend_from_slice(&[0u8; 8]);
        self.pending.extend_from_slice(&self.next_seq.to_le_bytes());
        write(&mut self.pending);
        let len = (self.pending.len() - start - HEADER) as u32;
        let crc = crc32fast::hash(&self.pending[start + 8..]);
        self.pending[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.pending[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.next_seq += 1;
    }

    /// Writes the appended records to the segment (one `write`) and syncs it when due.
    pub fn commit(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending).map_err(io(format!(
                "writing the write-ahead log {}",
                self.opts.dir.display()
            )))?;
            self.unsynced += self.pending.len() as u64;
            self.written += self.pending.len() as u64;
            self.pending.clear();
            self.pending_first = self.next_seq;
        }
        self.sync_if_due()
    }

    /// Starts a sync (in the background) of what was written when `sync_bytes` or
    /// `sync_interval` says so; also called on a timer, so a quiet source's last records
    /// reach the disk. Reports a failed earlier sync.
    pub fn sync_if_due(&mut self) -> Result<()> {
        if let Some(e) = self.syncer.error() {
            return Err(Error::io(
                format!("syncing the write-ahead log {}", self.opts.dir.display()),
                e,
            ));
        }
        if self.unsynced > 0
            && (self.unsynced >= self.opts.sync_bytes
                || self.last_sync.elapsed() >= self.opts.sync_interval)
            && self.syncer.request(&self.file).map_err(io(format!(
                "syncing the write-ahead log {}",
                self.opts.dir.display()
            )))?
        {
            self.unsynced = 0;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(io(format!(
            "syncing the write-ahead log {}",
            self.opts.dir.display()
        )))?;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// After a flush landed: starts a new segment holding `keep`, the payloads of what was
    /// logged but is not in the flush (numbered as the last `keep.len()` committed records),
    /// and deletes the older segments. Call it between a [`Wal::commit`] and the next
    /// [`Wal::append`].
    pub fn reset(&mut self, keep: &[Vec<u8>]) -> Result<()> {
        let next = self.segment + 1;
        let path = segment_path(&self.opts.dir, next);
        let file = File::create(&path).map_err(io(format!("creating {}", path.display())))?;
        let (old_file, old) = (std::mem::replace(&mut self.file, file), self.segment);
        drop(old_file);
        self.segment = next;
        // The kept records keep their sequence numbers: read back with the old segment (a
        // crash before it is deleted), each still counts once. Appended records not yet
        // committed would be numbered after them; a source resets between commits.
        debug_assert!(self.pending.is_empty(), "reset with uncommitted records");
        let next_seq = self.next_seq;
        self.next_seq = self.pending_first.saturating_sub(keep.len() as u64);
        for k in keep {
            self.append(|b| b.extend_from_slice(k));
        }
        self.next_seq = next_seq;
        self.commit()?;
        if !keep.is_empty() {
            self.sync()?;
        }
        for (n, p) in segments(&self.opts.dir)? {
            if n <= old {
                std::fs::remove_file(&p).map_err(io(format!("removing {}", p.display())))?;
            }
        }
        Ok(())
    }

    /// Syncs and closes the log (what it holds is read back by the next [`Wal::open`]).
    pub fn close(mut self) -> Result<()> {
        self.commit()?;
        if self.unsynced > 0 {
            self.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> WalOptions {
        WalOptions {
            dir: dir.to_path_buf(),
            sync_interval: Duration::from_millis(10),
            sync_bytes: 1 << 20,
        }
    }

    fn log(w: &mut Wal, items: &[&str]) {
        for i in items {
            w.append(|b| b.extend_from_slice(i.as_bytes()));
        }
        w.commit().unwrap();
    }

    fn texts(r: &Recovered) -> Vec<String> {
        r.payloads
            .iter()
            .map(|p| String::from_utf8(p.clone()).unwrap())
            .collect()
    }

    #[test]
    fn records_come_back_in_order_and_a_reset_keeps_only_the_unlanded() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, r) = Wal::open(opts(dir.path())).unwrap();
        assert!(r.payloads.is_empty() && r.torn.is_empty());
        log(&mut w, &["a", "b", "c"]);
        // "a" and "b" landed; "c" was logged but not in the flush.
        w.reset(&[b"c".to_vec()]).unwrap();
        log(&mut w, &["d"]);
        // A second worker cannot take the log while this one holds it.
        assert!(Wal::open(opts(dir.path())).is_err());
        drop(w);
        let (w, r) = Wal::open(opts(dir.path())).unwrap();
        assert_eq!(texts(&r), ["c", "d"]);
        assert!(r.torn.is_empty());
        drop(w);
        // Opening without resetting keeps the records (a worker that dies before landing).
        let (_w, r) = Wal::open(opts(dir.path())).unwrap();
        assert_eq!(texts(&r), ["c", "d"]);
    }

    #[test]
    fn a_record_kept_across_a_reset_counts_once_if_the_old_segment_survives() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(opts(dir.path())).unwrap();
        log(&mut w, &["a", "b", "c"]);
        let old = segments(dir.path()).unwrap();
        let kept: Vec<(PathBuf, Vec<u8>)> = old
            .iter()
            .map(|(_, p)| (p.clone(), std::fs::read(p).unwrap()))
            .collect();
        w.reset(&[b"b".to_vec(), b"c".to_vec()]).unwrap();
        log(&mut w, &["d"]);
        drop(w);
        // As if the worker died between writing the new segment and deleting the old one.
        for (p, bytes) in kept {
            std::fs::write(p, bytes).unwrap();
        }
        let (_w, r) = Wal::open(opts(dir.path())).unwrap();
        assert_eq!(texts(&r), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_handed_back_and_the_records_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(opts(dir.path())).unwrap();
        log(&mut w, &["first", "second"]);
        drop(w);
        let (_, seg) = segments(dir.path()).unwrap().pop().unwrap();
        let good = std::fs::read(&seg).unwrap();
        for (cut, reason) in [
            (good.len() - 3, "record cut off"),
            (good.len() - 6 - HEADER + 4, "record header cut off"),
        ] {
            std::fs::write(&seg, &good[..cut]).unwrap();
            let (w, r) = Wal::open(opts(dir.path())).unwrap();
            assert_eq!(texts(&r), ["first"], "{reason}");
            assert_eq!(r.torn.len(), 1);
            assert_eq!(r.torn[0].reason, reason);
            assert_eq!(r.torn[0].bytes, good[HEADER + 5..cut]);
            drop(w);
        }
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&seg, &flipped).unwrap();
        let (_w, r) = Wal::open(opts(dir.path())).unwrap();
        assert_eq!(texts(&r), ["first"]);
        assert_eq!(r.torn[0].reason, "record checksum mismatch");
    }
}
