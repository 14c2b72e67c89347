//! The delivery cursor: one line per height delivered, `<height> <hash> <state root>` in hex
//! (`-` for a height verified but executed before), appended and written out in batches: when
//! the source has nothing ready, and at least every 200 ms or 256 lines while it does.
//!
//! It is not what decides the next height (the executor's own answer is, rule 1 of the module
//! doc); it is what lets a restarted loop pin the parent hash of the first height it asks for,
//! refuse a second certified batch at a height it delivered, and show the state root of every
//! height. A torn last line (a crash mid-write) is cut on open; past `2 × KEEP` lines the file
//! is rewritten with the last `KEEP`.

use ordo_types::{Hash, Height};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Heights kept after a rewrite.
const KEEP: usize = 4_096;
/// Lines recorded before they are written out, at most.
const SYNC_EVERY: usize = 256;
/// Longest a recorded line waits to be written out while the loop is busy (it is written at once
/// whenever its source has nothing ready).
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// One height delivered (or verified) by the loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub height: Height,
    pub hash: Hash,
    /// `None` for a height the executor had already executed when the loop started.
    pub state_root: Option<Vec<u8>>,
}

impl Delivered {
    pub fn seen(height: Height, hash: Hash) -> Delivered {
        Delivered {
            height,
            hash,
            state_root: None,
        }
    }

    fn line(&self) -> String {
        let root = self.state_root.as_ref().map_or("-".into(), hex_of);
        format!("{} {} {root}\n", self.height.0, self.hash)
    }

    fn parse(line: &str) -> Option<Delivered> {
        let mut it = line.split(' ');
        let height = Height(it.next()?.parse().ok()?);
        let hash = Hash::from_hex(it.next()?)?;
        let root = match it.next()? {
            "-" => None,
            r => Some(unhex(r)?),
        };
        it.next().is_none().then_some(Delivered {
            height,
            hash,
            state_root: root,
        })
    }
}

#[derive(Debug, Error)]
pub enum CursorError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}: line {line} is not `<height> <hash> <root>`: {text:?}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        text: String,
    },
}

/// The durable record of what was delivered.
#[derive(Debug)]
pub struct Cursor {
    path: PathBuf,
    out: BufWriter<File>,
    /// The last [`KEEP`]-or-more heights, by height.
    heights: BTreeMap<Height, Delivered>,
    lines: usize,
    unsynced: usize,
    synced_at: std::time::Instant,
    background: super::BackgroundSync,
}

impl Cursor {
    /// Opens (or creates) the cursor at `path`.
    pub fn open(path: &Path) -> Result<Cursor, CursorError> {
        let io = |e| CursorError::Io(path.to_path_buf(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        // Only complete lines count: a crash may leave the last one torn.
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut heights = BTreeMap::new();
        let mut lines = 0;
        for (i, line) in String::from_utf8_lossy(text.get(..complete).unwrap_or_default())
            .lines()
            .enumerate()
        {
            let d = Delivered::parse(line).ok_or_else(|| CursorError::Corrupt {
                path: path.to_path_buf(),
                line: i + 1,
                text: line.chars().take(120).collect(),
            })?;
            heights.insert(d.height, d);
            lines += 1;
        }
        if complete < text.len() {
            let f = OpenOptions::new().write(true).open(path).map_err(io)?;
            f.set_len(complete as u64).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut c = Cursor {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            heights,
            lines,
            unsynced: 0,
            synced_at: std::time::Instant::now(),
            background: super::BackgroundSync::default(),
        };
        c.trim();
        Ok(c)
    }

    /// Where a loop whose executor has executed up to `executed` opens its source: just after
    /// the highest recorded height at or below `executed`, with that height's hash as the
    /// parent (the genesis parent at height 1). Heights between are verified and recorded
    /// again, not delivered.
    pub fn resume_from(&self, executed: Height) -> (Height, Option<Hash>) {
        match self.heights.range(..=executed).next_back() {
            Some((h, d)) => (Height(h.0 + 1), Some(d.hash)),
            None if self.heights.is_empty() || executed.0 == 0 => (Height(1), None),
            // The executor is behind everything kept: ask from its height without a pinned
            // parent (each header is still checked against its certificate).
            None => (Height(executed.0 + 1), None),
        }
    }

    /// The hash recorded at `h`, if it is still kept.
    pub fn hash_at(&self, h: Height) -> Option<Hash> {
        self.heights.get(&h).map(|d| d.hash)
    }

    /// What was recorded at `h`, if it is still kept.
    pub fn get(&self, h: Height) -> Option<&Delivered> {
        self.heights.get(&h)
    }

    /// The highest height recorded.
    pub fn last(&self) -> Option<&Delivered> {
        self.heights.values().next_back()
    }

    /// Records `d` (written out by the next [`Cursor::sync`], or within [`SYNC_EVERY`] lines).
    pub fn record(&mut self, d: Delivered) -> Result<(), CursorError> {
        self.out
            .write_all(d.line().as_bytes())
            .map_err(|e| CursorError::Io(self.path.clone(), e))?;
        self.heights.insert(d.height, d);
        self.lines += 1;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY || self.synced_at.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
        }
        if self.lines >= 2 * KEEP {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Writes every recorded line out to the file (what a killed process keeps) and syncs it
    /// to disk in the background.
    pub fn sync(&mut self) -> Result<(), CursorError> {
        if self.unsynced == 0 {
            return Ok(());
        }
        let io = |e| CursorError::Io(self.path.clone(), e);
        self.out.flush().map_err(io)?;
        self.background.sync(self.out.get_ref()).map_err(io)?;
        self.unsynced = 0;
        self.synced_at = std::time::Instant::now();
        Ok(())
    }

    fn trim(&mut self) {
        while self.heights.len() > KEEP {
            self.heights.pop_first();
        }
    }

    /// Rewrites the file with the last [`KEEP`] heights (write aside, fsync, rename).
    fn rewrite(&mut self) -> Result<(), CursorError> {
        self.trim();
        let io = |e| CursorError::Io(self.path.clone(), e);
        self.out.flush().map_err(io)?;
        let aside = self.path.with_extension("rewrite");
        let mut w = BufWriter::new(File::create(&aside).map_err(io)?);
        for d in self.heights.values() {
            w.write_all(d.line().as_bytes()).map_err(io)?;
        }
        w.flush().map_err(io)?;
        w.get_ref().sync_all().map_err(io)?;
        std::fs::rename(&aside, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        self.out = BufWriter::new(file);
        self.lines = self.heights.len();
        self.unsynced = 0;
        Ok(())
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if self.out.flush().is_ok() {
            let _ = self.out.get_ref().sync_data();
        }
    }
}

fn hex_of(b: &Vec<u8>) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2 * b.len());
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(h: u64, root: Option<u8>) -> Delivered {
        Delivered {
            height: Height(h),
            hash: Hash([h as u8; 32]),
            state_root: root.map(|r| vec![r; 3]),
        }
    }

    #[test]
    fn records_survive_a_reopen_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c/cursor.log");
        let mut c = Cursor::open(&path).expect("open");
        assert_eq!(c.resume_from(Height(0)), (Height(1), None));
        for h in 1..=3 {
            c.record(d(h, Some(h as u8))).expect("record");
        }
        c.record(d(4, None)).expect("record");
        drop(c);
        // A torn fifth line.
        let mut f = OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(b"5 0505").expect("write");
        drop(f);
        let c = Cursor::open(&path).expect("reopen");
        assert_eq!(c.last(), Some(&d(4, None)));
        assert_eq!(c.get(Height(2)), Some(&d(2, Some(2))));
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count(),
            4
        );
        // The executor at 2: resume at 3 with 2's hash pinned; the executor ahead of the
        // cursor: after the last recorded height.
        assert_eq!(c.resume_from(Height(2)), (Height(3), Some(Hash([2; 32]))));
        assert_eq!(c.resume_from(Height(9)), (Height(5), Some(Hash([4; 32]))));
    }

    #[test]
    fn a_corrupt_line_is_refused_with_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cursor.log");
        std::fs::write(&path, format!("{}garbage\n", d(1, None).line())).expect("write");
        let Err(CursorError::Corrupt { line, .. }) = Cursor::open(&path) else {
            panic!("a corrupt line must be refused");
        };
        assert_eq!(line, 2);
    }

    #[test]
    fn the_file_is_rewritten_with_the_last_heights() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cursor.log");
        let mut c = Cursor::open(&path).expect("open");
        let n = 2 * KEEP as u64 + 10;
        for h in 1..=n {
            c.record(d(h, Some(1))).expect("record");
        }
        drop(c);
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert!(lines < 2 * KEEP, "{lines} lines after the rewrite");
        let c = Cursor::open(&path).expect("reopen");
        assert_eq!(c.last().map(|d| d.height), Some(Height(n)));
        assert_eq!(c.hash_at(Height(1)), None);
        // An executor behind what is kept is asked from its own height, unpinned.
        assert_eq!(c.resume_from(Height(3)), (Height(4), None));
    }
}
