//! The consensus WAL checked before the engine starts, so that a WAL torn at any offset never
//! keeps a validator from starting (issue 13).
//!
//! malachite's WAL (`HOME/data/wal/consensus.wal`, one file) is a 12-byte header (version `u32`,
//! sequence = the height `u64`, big-endian) and entries (`flag u8 ‖ length u64 ‖ crc32 u32 ‖
//! data`). The engine's WAL actor opens it with [`Log::open`] in `pre_start` and, when it starts
//! the height the header names, reads every entry back and replays it. What that tolerates:
//!
//! - an empty file: a fresh header is written;
//! - a torn last entry after a whole header: `Log::open` cuts the file back to the last whole
//!   entry (its votes were never acknowledged);
//! - **not** a header cut short (1 to 11 bytes: "Failed to read sequence number" or a short
//!   read), nor an unknown version: `Log::open` fails, the actor fails to start, and the node
//!   never starts (`Actor panicked during startup`);
//! - **not** an entry that fails its CRC when read back: the replay stops on a safety failure and
//!   the node hangs.
//!
//! [`recover`] opens the WAL the same way and reads every entry back. If either would fail on
//! damage, the file is moved aside to `<wal>.damaged-<unix-ms>` (never deleted, for a post-mortem)
//! and the engine starts with an empty WAL: it then replays nothing of the interrupted height.
//! That is safe because the signing guard (`data/sign_state`, fsynced before any signature
//! leaves) refuses every signature that would conflict with one already given; the WAL only
//! spares a restarted validator a round. A torn tail after a whole header is left to malachite:
//! `recover`'s own `Log::open` cuts it exactly as the engine's would. An error that says nothing
//! about the file's contents (a lock held by a running node, permissions, I/O) moves nothing.

use malachitebft_wal::Log;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The WAL header: version (4 bytes) and sequence (8 bytes).
pub const HEADER_LEN: u64 = 12;

/// Most names tried for the damaged copy (`.damaged-<ms>`, then `-1`, `-2`, …) before giving up.
const MAX_ASIDE_NAMES: u32 = 100;

/// What [`recover`] found.
#[derive(Debug)]
pub enum WalCheck {
    /// No WAL yet: the engine creates one.
    Absent,
    /// The WAL opens and every entry reads back; the engine starts on it as it is.
    Healthy {
        /// The height the WAL is at.
        sequence: u64,
        /// Whole entries kept.
        entries: usize,
        /// Bytes of a torn last entry that malachite's `Log::open` cut off (0: none).
        torn_tail: u64,
    },
    /// The WAL was damaged and moved to `damaged`; the engine starts with an empty one.
    Recovered { damaged: PathBuf, damage: Damage },
}

/// How a WAL was damaged.
#[derive(Debug)]
pub enum Damage {
    /// `Log::open` refused it: a header shorter than [`HEADER_LEN`], an unknown version, an entry
    /// length too large to seek over.
    Unopenable { len: u64, error: io::Error },
    /// Entry `index` did not read back (a CRC mismatch): the engine's replay would hang on it.
    Entry { index: usize, error: io::Error },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Unopenable { len, error } => {
                write!(f, "unopenable ({len} bytes, header {HEADER_LEN}): {error}")
            }
            Damage::Entry { index, error } => write!(f, "entry {index} unreadable: {error}"),
        }
    }
}

/// Why [`recover`] could not decide or act; the WAL was not moved.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Reading the WAL failed for a reason that says nothing about its contents: another
    /// process holds its lock (a node running on this home), permissions, I/O.
    #[error("consensus WAL {}: {source}", path.display())]
    Inspect { path: PathBuf, source: io::Error },
    /// The WAL is damaged but could not be moved aside.
    #[error("consensus WAL {} is damaged ({damage}) and could not be moved to {}: {source}",
        path.display(), to.display())]
    MoveAside {
        path: PathBuf,
        to: PathBuf,
        damage: String,
        source: io::Error,
    },
    /// Every name tried for the damaged copy is taken.
    #[error("consensus WAL {} is damaged ({damage}); no free name for its copy after {MAX_ASIDE_NAMES} tries", path.display())]
    NoFreeName { path: PathBuf, damage: String },
}

/// Checks the consensus WAL at `path` before the engine opens it, and moves it aside if the
/// engine could not start on it (module docs). Call it before `EngineBuilder::build`.
pub fn recover(path: &Path) -> Result<WalCheck, WalError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    recover_at(path, now_ms)
}

/// [`recover`] with the clock given: a damaged WAL goes to `<path>.damaged-<now_ms>`.
pub fn recover_at(path: &Path, now_ms: u64) -> Result<WalCheck, WalError> {
    let _span = tracing::info_span!("wal.recover", wal = %path.display()).entered();
    let inspect_err = |source| WalError::Inspect {
        path: path.to_owned(),
        source,
    };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(WalCheck::Absent),
        Err(e) => return Err(inspect_err(e)),
    };
    let damage = match inspect(path, len).map_err(inspect_err)? {
        Ok(healthy) => {
            log_healthy(&healthy, len);
            return Ok(healthy);
        }
        Err(damage) => damage,
    };
    let damaged = move_aside(path, now_ms, &damage)?;
    tracing::error!(
        wal = %path.display(),
        damaged = %damaged.display(),
        bytes = len,
        %damage,
        "CONSENSUS WAL DAMAGED: kept aside, the engine starts with an empty WAL and replays \
         nothing of the interrupted height; the signing guard (data/sign_state) still refuses \
         every conflicting signature, so this cannot cause a double sign"
    );
    Ok(WalCheck::Recovered { damaged, damage })
}

/// Opens the WAL as the engine does and reads every entry back. `Ok(Err(_))` is damage; `Err`
/// an error that says nothing about the contents. The lock `Log::open` takes is released on
/// return.
fn inspect(path: &Path, len: u64) -> io::Result<Result<WalCheck, Damage>> {
    let mut log = match Log::open(path) {
        Ok(log) => log,
        Err(error) if is_damage(&error, len) => {
            return Ok(Err(Damage::Unopenable { len, error }));
        }
        Err(e) => return Err(e),
    };
    let kept = log.size_bytes()?;
    let (sequence, entries) = (log.sequence(), log.len());
    // `Log::open` counted `entries` whole entries, so the iterator stops after as many.
    for (index, entry) in log.iter()?.enumerate() {
        if let Err(error) = entry {
            return Ok(Err(Damage::Entry { index, error }));
        }
    }
    Ok(Ok(WalCheck::Healthy {
        sequence,
        entries,
        torn_tail: len.saturating_sub(kept),
    }))
}

/// Whether an error of `Log::open` on a file of `len` bytes is about its contents. A short read
/// counts only when the header itself is short: `Log::open` reports any failure to read the
/// sequence as `UnexpectedEof`, an I/O error included.
fn is_damage(error: &io::Error, len: u64) -> bool {
    match error.kind() {
        ErrorKind::InvalidData => true,
        ErrorKind::UnexpectedEof => len < HEADER_LEN,
        _ => false,
    }
}

fn log_healthy(check: &WalCheck, len: u64) {
    if let WalCheck::Healthy {
        sequence,
        entries,
        torn_tail,
    } = check
    {
        if *torn_tail > 0 {
            tracing::warn!(
                height = sequence,
                entries,
                torn_tail,
                bytes = len,
                "consensus WAL had a torn last entry; malachite cut it off (it was never acknowledged)"
            );
        } else {
            tracing::debug!(
                height = sequence,
                entries,
                bytes = len,
                "consensus WAL intact"
            );
        }
    }
}

/// Renames `path` to the first free `<path>.damaged-<now_ms>[-n]` and syncs the directory, so
/// that the engine's fresh WAL never replaces the damaged one on disk.
fn move_aside(path: &Path, now_ms: u64, damage: &Damage) -> Result<PathBuf, WalError> {
    for n in 0..MAX_ASIDE_NAMES {
        let to = aside_name(path, now_ms, n);
        let failed = |source| WalError::MoveAside {
            path: path.to_owned(),
            to: to.clone(),
            damage: damage.to_string(),
            source,
        };
        if to.try_exists().map_err(failed)? {
            continue;
        }
        std::fs::rename(path, &to).map_err(failed)?;
        sync_dir(path).map_err(failed)?;
        return Ok(to);
    }
    Err(WalError::NoFreeName {
        path: path.to_owned(),
        damage: damage.to_string(),
    })
}

fn aside_name(path: &Path, now_ms: u64, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".damaged-{now_ms}"));
    if n > 0 {
        name.push(format!("-{n}"));
    }
    PathBuf::from(name)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const SEQUENCE: u64 = 41;
    const NOW: u64 = 1_700_000_000_123;

    /// A WAL written with malachite's own `Log`, as the engine writes one: a reset to the
    /// height, then entries.
    struct Built {
        bytes: Vec<u8>,
        payloads: Vec<Vec<u8>>,
        /// Where each entry ends.
        ends: Vec<u64>,
    }

    fn build(entries: usize) -> Built {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        let mut log = Log::open(&path).unwrap();
        log.reset(SEQUENCE).unwrap();
        let (mut payloads, mut ends) = (vec![], vec![]);
        for i in 0..entries {
            let payload: Vec<u8> = (0..1 + i * 7 % 40).map(|b| (b ^ i) as u8).collect();
            log.append(&payload).unwrap();
            ends.push(log.size_bytes().unwrap());
            payloads.push(payload);
        }
        log.flush().unwrap();
        drop(log);
        Built {
            bytes: fs::read(&path).unwrap(),
            payloads,
            ends,
        }
    }

    /// What the engine does with the WAL at `path`: `Log::open`, then read every entry back.
    fn engine_reads(path: &Path) -> (u64, Vec<Vec<u8>>) {
        let mut log = Log::open(path).expect("the engine's Log::open");
        let sequence = log.sequence();
        let entries = log.iter().unwrap().collect::<io::Result<Vec<_>>>();
        (
            sequence,
            entries.expect("the engine's replay reads every entry"),
        )
    }

    /// Every file in `dir`, by name.
    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Tears a copy of `wal` at every offset `0..=len`, runs [`recover_at`], and checks the
    /// exact outcome, then that the engine's open and replay succeed on what is left.
    fn tear_everywhere(wal: &Built) {
        let len = wal.bytes.len() as u64;
        for cut in 0..=len {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("consensus.wal");
            let torn = &wal.bytes[..cut as usize];
            fs::write(&path, torn).unwrap();
            let check = recover_at(&path, NOW).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            let whole = wal.ends.iter().filter(|end| **end <= cut).count();
            match check {
                WalCheck::Recovered { damaged, damage } => {
                    assert!(
                        (1..HEADER_LEN).contains(&cut),
                        "cut {cut}: recovered ({damage})"
                    );
                    assert!(matches!(damage, Damage::Unopenable { len, .. } if len == cut));
                    assert_eq!(damaged, aside_name(&path, NOW, 0), "cut {cut}");
                    assert_eq!(fs::read(&damaged).unwrap(), torn, "cut {cut}: copy kept");
                    assert!(!path.exists(), "cut {cut}: the engine starts a fresh WAL");
                    assert_eq!(engine_reads(&path), (0, vec![]), "cut {cut}");
                }
                WalCheck::Healthy {
                    sequence,
                    entries,
                    torn_tail,
                } => {
                    let (want_seq, kept) = match cut {
                        0 => (0, HEADER_LEN), // malachite writes a fresh header
                        _ => (
                            SEQUENCE,
                            wal.ends[..whole].last().copied().unwrap_or(HEADER_LEN),
                        ),
                    };
                    assert!(cut == 0 || cut >= HEADER_LEN, "cut {cut}: not recovered");
                    assert_eq!((sequence, entries), (want_seq, whole), "cut {cut}");
                    assert_eq!(torn_tail, cut.saturating_sub(kept), "cut {cut}");
                    let left = fs::read(&path).unwrap();
                    if cut >= HEADER_LEN {
                        assert_eq!(
                            left,
                            &wal.bytes[..kept as usize],
                            "cut {cut}: a prefix kept"
                        );
                    }
                    assert_eq!(
                        files(dir.path()),
                        ["consensus.wal"],
                        "cut {cut}: nothing aside"
                    );
                    let (seq, read) = engine_reads(&path);
                    assert_eq!((seq, read.as_slice()), (want_seq, &wal.payloads[..whole]));
                }
                WalCheck::Absent => panic!("cut {cut}: absent"),
            }
        }
    }

    #[test]
    fn the_header_length_is_malachites() {
        assert_eq!(HEADER_LEN, malachitebft_wal::constants::HEADER_SIZE);
    }

    #[test]
    fn a_header_only_wal_torn_at_every_offset_starts() {
        let wal = build(0);
        assert_eq!(wal.bytes.len() as u64, HEADER_LEN);
        tear_everywhere(&wal);
    }

    #[test]
    fn a_one_entry_wal_torn_at_every_offset_starts() {
        tear_everywhere(&build(1));
    }

    #[test]
    fn a_long_wal_torn_at_every_offset_starts() {
        let wal = build(30);
        assert!(wal.bytes.len() > 900, "{} bytes", wal.bytes.len());
        tear_everywhere(&wal);
    }

    /// The facts the module docs state, checked on malachite itself: without [`recover`] a
    /// header cut short keeps the engine's `Log::open` from succeeding (issue 13), and a torn
    /// tail after a whole header is cut by `Log::open` alone.
    #[test]
    fn malachite_alone_refuses_a_short_header_and_cuts_a_torn_tail() {
        let wal = build(3);
        for cut in 1..wal.bytes.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("consensus.wal");
            fs::write(&path, &wal.bytes[..cut]).unwrap();
            let opened = Log::open(&path);
            if (cut as u64) < HEADER_LEN {
                let e = opened.expect_err("a short header");
                assert!(is_damage(&e, cut as u64), "cut {cut}: {e}");
            } else {
                drop(opened.unwrap());
                let whole = wal.ends.iter().filter(|end| **end <= cut as u64).count();
                assert_eq!(engine_reads(&path).1, &wal.payloads[..whole], "cut {cut}");
            }
        }
    }

    #[test]
    fn an_intact_wal_is_left_byte_for_byte() {
        let wal = build(5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        fs::write(&path, &wal.bytes).unwrap();
        let check = recover_at(&path, NOW).unwrap();
        assert!(
            matches!(
                check,
                WalCheck::Healthy {
                    sequence: SEQUENCE,
                    entries: 5,
                    torn_tail: 0
                }
            ),
            "{check:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), wal.bytes);
        assert_eq!(files(dir.path()), ["consensus.wal"]);
    }

    #[test]
    fn an_unknown_version_is_kept_aside() {
        let mut wal = build(2);
        wal.bytes[3] = 2;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        fs::write(&path, &wal.bytes).unwrap();
        let check = recover_at(&path, NOW).unwrap();
        let WalCheck::Recovered { damaged, damage } = check else {
            panic!("{check:?}")
        };
        assert!(
            matches!(&damage, Damage::Unopenable { error, .. } if error.kind() == ErrorKind::InvalidData),
            "{damage}"
        );
        assert_eq!(fs::read(damaged).unwrap(), wal.bytes);
        assert_eq!(engine_reads(&path), (0, vec![]));
    }

    /// A flipped bit opens (`Log::open` does not check CRCs) but fails on reading back, where
    /// the engine's replay would hang on a safety failure.
    #[test]
    fn an_entry_failing_its_crc_is_kept_aside() {
        let mut wal = build(3);
        let second_data = wal.ends[0] as usize + 13;
        wal.bytes[second_data] ^= 0x01;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        fs::write(&path, &wal.bytes).unwrap();
        let mut log = Log::open(&path).unwrap();
        let read: Vec<_> = log.iter().unwrap().collect();
        assert!(
            read[1].is_err(),
            "malachite reads the flipped entry back as an error"
        );
        drop(log);
        let check = recover_at(&path, NOW).unwrap();
        let WalCheck::Recovered { damaged, damage } = check else {
            panic!("{check:?}")
        };
        assert!(matches!(damage, Damage::Entry { index: 1, .. }), "{damage}");
        assert_eq!(fs::read(damaged).unwrap(), wal.bytes);
        assert_eq!(engine_reads(&path), (0, vec![]));
    }

    /// A WAL locked by a running node is never moved, even when it looks damaged.
    #[test]
    fn a_locked_wal_is_an_error_and_stays() {
        let wal = build(1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        fs::write(&path, &wal.bytes).unwrap();
        let held = Log::open(&path).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(5)
            .unwrap();
        let e = recover_at(&path, NOW).unwrap_err();
        assert!(matches!(&e, WalError::Inspect { .. }), "{e}");
        assert!(e.to_string().contains("lock"), "{e}");
        assert_eq!(files(dir.path()), ["consensus.wal"]);
        assert_eq!(fs::read(&path).unwrap(), &wal.bytes[..5]);
        drop(held);
    }

    #[test]
    fn a_damaged_copy_never_replaces_an_older_one() {
        let wal = build(1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        fs::write(aside_name(&path, NOW, 0), b"older").unwrap();
        fs::write(&path, &wal.bytes[..5]).unwrap();
        let check = recover_at(&path, NOW).unwrap();
        let WalCheck::Recovered { damaged, .. } = check else {
            panic!("{check:?}")
        };
        assert_eq!(damaged, aside_name(&path, NOW, 1));
        assert_eq!(fs::read(aside_name(&path, NOW, 0)).unwrap(), b"older");
        assert_eq!(fs::read(&damaged).unwrap(), &wal.bytes[..5]);
        assert_eq!(
            files(dir.path()),
            [
                format!("consensus.wal.damaged-{NOW}"),
                format!("consensus.wal.damaged-{NOW}-1")
            ]
        );
    }

    #[test]
    fn an_absent_wal_is_left_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        assert!(matches!(recover_at(&path, NOW), Ok(WalCheck::Absent)));
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_directory_in_place_of_the_wal_is_an_error_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.wal");
        fs::create_dir(&path).unwrap();
        let e = recover_at(&path, NOW).unwrap_err();
        assert!(matches!(e, WalError::Inspect { .. }), "{e}");
        assert!(path.is_dir());
        assert_eq!(files(dir.path()), ["consensus.wal"]);
    }
}
